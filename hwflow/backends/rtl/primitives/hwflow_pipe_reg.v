`timescale 1ns / 1ps
// One pipeline register level with clock enable (no reset: validity is tracked by
// hwflow_stream_ctrl, so data registers need none, which saves area and routing).
module hwflow_pipe_reg #(
    parameter integer W = 1
) (
    input  wire         clk,
    input  wire         ce,
    input  wire [W-1:0] d,
    output reg  [W-1:0] q
);
  always @(posedge clk) begin
    if (ce) q <= d;
  end
endmodule
