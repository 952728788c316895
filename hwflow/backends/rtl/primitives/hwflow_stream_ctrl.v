`timescale 1ns / 1ps
// Valid/ready control for a fixed-latency pipeline with initiation interval 1.
//
// The pipeline moves forward (`ce`) whenever its last stage is empty or its content is
// being taken (m_ready), so a beat is never dropped and throughput is one beat per cycle while the
// consumer is ready. `valid_q` tracks which register stage holds a real beat.
// `load[i]`: register stage i takes a new value only when a real beat moves into it, so
// bubbles (no s_valid) and a stalled pipeline leave the data registers and the logic
// behind them still (no switching power for beats that carry nothing).
// s_ready depends combinationally on m_ready (allowed by AXI-Stream: ready may depend
// on the other side's ready; valid never depends on ready here).
module hwflow_stream_ctrl #(
    parameter integer LATENCY = 2
) (
    input  wire clk,
    input  wire rst,      // synchronous, active high
    input  wire s_valid,
    output wire s_ready,
    output wire m_valid,
    input  wire m_ready,
    output wire [LATENCY-1:0] load
);
  reg [LATENCY-1:0] valid_q;
  wire ce;  // the pipeline moves
  integer i;

  assign ce      = m_ready | ~valid_q[LATENCY-1];
  assign s_ready = ce & ~rst;
  assign m_valid = valid_q[LATENCY-1];
  assign load    = {LATENCY{ce}} & {valid_q[LATENCY-2:0], s_valid};

  always @(posedge clk) begin
    if (rst) begin
      valid_q <= {LATENCY{1'b0}};
    end else if (ce) begin
      valid_q[0] <= s_valid;
      for (i = 1; i < LATENCY; i = i + 1) valid_q[i] <= valid_q[i-1];
    end
  end
endmodule
