`timescale 1ns / 1ps
// Width converter at the start of a streaming convolution: one beat of N*W bits (beat i in
// bits [i*W +: W]) -> N beats of W bits, one per cycle. Takes a beat only when empty.
module hwflow_scatter #(
    parameter integer W = 8,
    parameter integer N = 2
) (
    input  wire           clk,
    input  wire           rst,      // synchronous, active high
    input  wire           s_valid,
    output wire           s_ready,
    input  wire [N*W-1:0] s_data,
    output wire           m_valid,
    input  wire           m_ready,
    output wire [W-1:0]   m_data
);
  localparam integer CW = (N > 1) ? $clog2(N) : 1;
  localparam [CW-1:0] LAST = CW'(N - 1);
  reg [N*W-1:0] buffer;
  reg [CW-1:0] cnt;
  reg full;
  assign s_ready = ~full & ~rst;
  assign m_valid = full;
  assign m_data = buffer[cnt*W +: W];
  wire take = s_valid & s_ready;
  wire pop = full & m_ready;
  always @(posedge clk) begin
    if (take) buffer <= s_data;
  end
  always @(posedge clk) begin
    if (rst) begin
      cnt <= {CW{1'b0}};
      full <= 1'b0;
    end else begin
      if (take) full <= 1'b1;
      else if (pop && cnt == LAST) full <= 1'b0;
      if (pop) cnt <= (cnt == LAST) ? {CW{1'b0}} : cnt + 1'b1;
    end
  end
endmodule
