`timescale 1ns / 1ps
// Sliding-window unit of a streaming convolution: a feature map of H x W pixels (one
// pixel = C elements of EW bits per beat, raster order) in, one KH x KW window per output
// pixel out (one beat of KH*KW*C elements: element (ky*KW + kx)*C + c is channel c of
// window pixel (ky, kx), ky = 0 the top row), stride SH x SW, zero padding PT/PL/PB/PR.
//
// The unit walks the padded map (H+PT+PB) x (W+PL+PR) in raster order, one position per
// step: a real position takes an input beat, a padding position uses ZP (the integer code
// of the reference's zero) without one. Padding positions before the first real pixel
// wait for that pixel's beat, so every image sees the same timing whenever it arrives.
// Line buffers: one memory of W+PL+PR words, word px = the KH-1 rows above at column px
// (row py-1 in the low bits), read one step ahead (synchronous read: block RAM) and
// rewritten at each step. A window is emitted after the step at its bottom-right pixel.
// Back-pressure: no step while the output register holds a beat nobody takes.
module hwflow_swu #(
    parameter integer C = 1,
    parameter integer EW = 8,
    parameter integer H = 8,
    parameter integer W = 8,
    parameter integer KH = 3,
    parameter integer KW = 3,
    parameter integer SH = 1,
    parameter integer SW = 1,
    parameter integer PT = 0,
    parameter integer PL = 0,
    parameter integer PB = 0,
    parameter integer PR = 0,
    parameter integer ZP = 0
) (
    input  wire                    clk,
    input  wire                    rst,      // synchronous, active high
    input  wire                    s_valid,
    output wire                    s_ready,
    input  wire [C*EW-1:0]         s_data,
    output reg                     m_valid,
    input  wire                    m_ready,
    output reg  [KH*KW*C*EW-1:0]   m_data
);
  localparam integer HP = H + PT + PB;
  localparam integer WP = W + PL + PR;
  localparam integer PX = C * EW;
  localparam integer YW = $clog2(HP + 1);
  localparam integer XW = $clog2(WP + 1);
  localparam [EW-1:0] ZPV = EW'(ZP);
  localparam integer AW = (WP > 1) ? $clog2(WP) : 1;  // line buffer address

  reg [YW-1:0] py;
  reg [XW-1:0] px;
  // verilator lint_off UNSIGNED
  // verilator lint_off CMPCONST
  wire pad = (py < YW'(PT)) | (py >= YW'(PT + H)) | (px < XW'(PL)) | (px >= XW'(PL + W));
  wire before_first = (py < YW'(PT)) | ((py == YW'(PT)) & (px < XW'(PL)));
  wire emit = (py >= YW'(KH - 1)) && (((py - YW'(KH - 1)) % YW'(SH)) == 0) &&
              (px >= XW'(KW - 1)) && (((px - XW'(KW - 1)) % XW'(SW)) == 0);
  // verilator lint_on CMPCONST
  // verilator lint_on UNSIGNED
  wire ce = ~m_valid | m_ready;
  wire step = ~rst & ce & (s_valid | (pad & ~before_first));
  assign s_ready = ~rst & ce & ~pad;
  wire [PX-1:0] v = pad ? {C{ZPV}} : s_data;
  wire [XW-1:0] px_next = (px == XW'(WP - 1)) ? {XW{1'b0}} : px + 1'b1;

  always @(posedge clk) begin
    if (rst) begin
      py <= {YW{1'b0}};
      px <= {XW{1'b0}};
    end else if (step) begin
      px <= px_next;
      if (px == XW'(WP - 1)) py <= (py == YW'(HP - 1)) ? {YW{1'b0}} : py + 1'b1;
    end
  end

  // column of the window at px: col[ky*PX +: PX] = row py-(KH-1-ky)
  wire [KH*PX-1:0] col;
  assign col[(KH-1)*PX +: PX] = v;
  genvar ky, kx;
  generate
    if (KH > 1) begin : g_lines
      localparam integer LW = (KH - 1) * PX;
      reg [LW-1:0] lines[0:WP-1];
      reg [LW-1:0] rd;  // lines[px]: slot j (bits j*PX) = row py-1-j
      // px and px_next are below WP: their low AW bits are the address
      // verilator lint_off UNUSEDSIGNAL
      wire [XW-1:0] ra = px_next, wa = px;
      // verilator lint_on UNUSEDSIGNAL
      always @(posedge clk) begin
        if (step) rd <= lines[ra[AW-1:0]];
      end
      if (KH > 2) begin : g_shift
        always @(posedge clk) begin
          if (step) lines[wa[AW-1:0]] <= {rd[LW-PX-1:0], v};
        end
      end else begin : g_one
        always @(posedge clk) begin
          if (step) lines[wa[AW-1:0]] <= v;
        end
      end
      for (ky = 0; ky < KH - 1; ky = ky + 1) begin : g_col
        assign col[ky*PX +: PX] = rd[(KH-2-ky)*PX +: PX];
      end
    end
  endgenerate

  // the window: KW-1 earlier columns in registers, the new column last
  wire [KH*KW*PX-1:0] nwin;
  generate
    for (ky = 0; ky < KH; ky = ky + 1) begin : g_row
      assign nwin[(ky*KW + KW-1)*PX +: PX] = col[ky*PX +: PX];
      if (KW > 1) begin : g_hist
        reg [(KW-1)*PX-1:0] hist;  // columns px-KW+1 .. px-1 of row ky
        for (kx = 0; kx < KW - 1; kx = kx + 1) begin : g_kx
          assign nwin[(ky*KW + kx)*PX +: PX] = hist[kx*PX +: PX];
        end
        if (KW > 2) begin : g_sh
          always @(posedge clk) begin
            if (step) hist <= {col[ky*PX +: PX], hist[(KW-1)*PX-1:PX]};
          end
        end else begin : g_one
          always @(posedge clk) begin
            if (step) hist <= col[ky*PX +: PX];
          end
        end
      end
    end
  endgenerate

  always @(posedge clk) begin
    if (rst) m_valid <= 1'b0;
    else if (ce) m_valid <= step & emit;
  end
  always @(posedge clk) begin
    if (step & emit) m_data <= nwin;
  end
endmodule
