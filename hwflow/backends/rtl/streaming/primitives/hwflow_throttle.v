`timescale 1ns / 1ps
// Input throttle of a streaming design: passes a beat at most once every II cycles.
// With II no shorter than the busiest unit's occupancy, every input meets an empty
// pipeline, so each one sees the same latency (the top-level contract: fixed latency,
// one input every II cycles at full rate).
module hwflow_throttle #(
    parameter integer II = 1
) (
    input  wire clk,
    input  wire rst,      // synchronous, active high
    input  wire s_valid,
    output wire s_ready,
    output wire m_valid,
    input  wire m_ready
);
  localparam integer GW = (II > 1) ? $clog2(II) : 1;
  reg [GW-1:0] gap;
  wire open_ = (gap == {GW{1'b0}});
  assign s_ready = open_ & m_ready & ~rst;
  assign m_valid = open_ & s_valid;
  always @(posedge clk) begin
    if (rst) gap <= {GW{1'b0}};
    else if (s_valid & s_ready) gap <= GW'(II - 1);
    else if (!open_) gap <= gap - 1'b1;
  end
endmodule
