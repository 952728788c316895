`timescale 1ns / 1ps
// Width converter at the end of a streaming design: N beats of W bits (beat i in bits
// [i*W +: W]) -> one beat of N*W bits. Takes beats only while its output is empty.
module hwflow_gather #(
    parameter integer W = 8,
    parameter integer N = 2
) (
    input  wire           clk,
    input  wire           rst,      // synchronous, active high
    input  wire           s_valid,
    output wire           s_ready,
    input  wire [W-1:0]   s_data,
    output wire           m_valid,
    input  wire           m_ready,
    output wire [N*W-1:0] m_data
);
  localparam integer CW = (N > 1) ? $clog2(N) : 1;
  localparam [CW-1:0] LAST = CW'(N - 1);
  reg [N*W-1:0] buffer;
  reg [CW-1:0] cnt;
  reg full;
  assign s_ready = ~full & ~rst;
  assign m_valid = full;
  assign m_data = buffer;
  wire take = s_valid & s_ready;

  genvar i;
  generate
    for (i = 0; i < N; i = i + 1) begin : g_beat
      always @(posedge clk) begin
        if (take && cnt == CW'(i)) buffer[i*W +: W] <= s_data;
      end
    end
  endgenerate
  always @(posedge clk) begin
    if (rst) begin
      cnt <= {CW{1'b0}};
      full <= 1'b0;
    end else begin
      if (take) cnt <= (cnt == LAST) ? {CW{1'b0}} : cnt + 1'b1;
      if (take && cnt == LAST) full <= 1'b1;
      else if (m_ready) full <= 1'b0;
    end
  end
endmodule
