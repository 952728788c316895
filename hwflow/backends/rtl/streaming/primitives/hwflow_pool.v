`timescale 1ns / 1ps
// Streaming max pooling, K x K windows at stride K (no padding; rows and columns past the
// last whole window are dropped, as ONNX MaxPool floors): pixels (C elements of EW bits)
// in raster order in, one pooled pixel out after the bottom-right pixel of each window.
// A row of partial maxima (W/K pixels) holds the windows in progress.
module hwflow_pool #(
    parameter integer C = 1,
    parameter integer EW = 8,
    parameter integer SIGNED = 0,
    parameter integer H = 4,
    parameter integer W = 4,
    parameter integer K = 2
) (
    input  wire            clk,
    input  wire            rst,      // synchronous, active high
    input  wire            s_valid,
    output wire            s_ready,
    input  wire [C*EW-1:0] s_data,
    output reg             m_valid,
    input  wire            m_ready,
    output reg  [C*EW-1:0] m_data
);
  localparam integer OH = H / K;
  localparam integer OW = W / K;
  localparam integer YW = $clog2(H + 1);
  localparam integer XW = $clog2(W + 1);
  localparam integer KW_ = $clog2(K + 1);
  localparam integer OXW = $clog2(OW + 1);

  reg [YW-1:0] y;
  reg [XW-1:0] x;
  reg [KW_-1:0] ky, kx;
  reg [OXW-1:0] ox;
  wire ce = ~m_valid | m_ready;
  assign s_ready = ~rst & ce;
  wire take = s_valid & s_ready;
  // verilator lint_off CMPCONST
  // verilator lint_off UNSIGNED
  wire in_win = (y < YW'(OH * K)) & (x < XW'(OW * K));
  // verilator lint_off UNUSEDSIGNAL
  wire [OXW-1:0] oxc = (ox > OXW'(OW - 1)) ? OXW'(OW - 1) : ox;
  // verilator lint_on UNUSEDSIGNAL
  // verilator lint_on UNSIGNED
  // verilator lint_on CMPCONST
  localparam integer OAW = (OW > 1) ? $clog2(OW) : 1;
  wire [OAW-1:0] oxi = oxc[OAW-1:0];
  wire first = (ky == 0) & (kx == 0);
  wire last = (ky == KW_'(K - 1)) & (kx == KW_'(K - 1));

  reg [C*EW-1:0] part[0:OW-1];
  wire [C*EW-1:0] cur = part[oxi];
  wire [C*EW-1:0] mx;
  genvar c;
  generate
    for (c = 0; c < C; c = c + 1) begin : g_c
      wire [EW-1:0] a = cur[c*EW +: EW];
      wire [EW-1:0] b = s_data[c*EW +: EW];
      wire gt;
      if (SIGNED != 0) begin : g_s
        assign gt = $signed(b) > $signed(a);
      end else begin : g_u
        assign gt = b > a;
      end
      assign mx[c*EW +: EW] = (first | gt) ? b : a;
    end
  endgenerate

  always @(posedge clk) begin
    if (take & in_win) part[oxi] <= mx;
  end
  always @(posedge clk) begin
    if (rst) begin
      y <= {YW{1'b0}};
      x <= {XW{1'b0}};
      ky <= {KW_{1'b0}};
      kx <= {KW_{1'b0}};
      ox <= {OXW{1'b0}};
    end else if (take) begin
      if (x == XW'(W - 1)) begin
        x <= {XW{1'b0}};
        kx <= {KW_{1'b0}};
        ox <= {OXW{1'b0}};
        if (y == YW'(H - 1)) begin
          y <= {YW{1'b0}};
          ky <= {KW_{1'b0}};
        end else begin
          y <= y + 1'b1;
          ky <= (ky == KW_'(K - 1)) ? {KW_{1'b0}} : ky + 1'b1;
        end
      end else begin
        x <= x + 1'b1;
        kx <= (kx == KW_'(K - 1)) ? {KW_{1'b0}} : kx + 1'b1;
        if (kx == KW_'(K - 1)) ox <= ox + 1'b1;
      end
    end
  end
  always @(posedge clk) begin
    if (rst) m_valid <= 1'b0;
    else if (ce) m_valid <= take & in_win & last;
  end
  always @(posedge clk) begin
    if (take & in_win & last) m_data <= mx;
  end
endmodule
