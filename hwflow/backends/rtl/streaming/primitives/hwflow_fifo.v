`timescale 1ns / 1ps
// Small first-word-fall-through FIFO (registers), valid/ready on both sides.
// s_ready depends only on the fill level (a register), so ready never ripples backwards
// through a chain of units in one cycle.
module hwflow_fifo #(
    parameter integer W = 8,
    parameter integer DEPTH = 2
) (
    input  wire         clk,
    input  wire         rst,      // synchronous, active high
    input  wire         s_valid,
    output wire         s_ready,
    input  wire [W-1:0] s_data,
    output wire         m_valid,
    input  wire         m_ready,
    output wire [W-1:0] m_data
);
  localparam integer AW = (DEPTH > 1) ? $clog2(DEPTH) : 1;
  localparam integer NW = $clog2(DEPTH + 1);
  localparam [AW-1:0] LAST = AW'(DEPTH - 1);
  localparam [NW-1:0] FULL = NW'(DEPTH);

  reg [W-1:0] mem[0:DEPTH-1];
  reg [AW-1:0] rd, wr;
  reg [NW-1:0] count;
  assign s_ready = (count != FULL);
  assign m_valid = (count != {NW{1'b0}});
  assign m_data  = mem[rd];
  wire push = s_valid & s_ready;
  wire pop = m_valid & m_ready;

  always @(posedge clk) begin
    if (push) mem[wr] <= s_data;
  end
  always @(posedge clk) begin
    if (rst) begin
      rd <= {AW{1'b0}};
      wr <= {AW{1'b0}};
      count <= {NW{1'b0}};
    end else begin
      if (push) wr <= (wr == LAST) ? {AW{1'b0}} : wr + 1'b1;
      if (pop) rd <= (rd == LAST) ? {AW{1'b0}} : rd + 1'b1;
      if (push & ~pop) count <= count + 1'b1;
      else if (pop & ~push) count <= count - 1'b1;
    end
  end
endmodule
