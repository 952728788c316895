// Hand-written test design for the power flow (tests/test_power_*.py): two neurons with
// hard-wired 4-bit weights over eight signed 4-bit inputs, ReLU, one pipeline register.
// It implements the contract wrapper (docs/INTERFACES.md section 4) so the power flow can be
// developed and tested without the generated RTL. Element i of the input vector is in
// s_axis_tdata[i*4 +: 4]; output j in m_axis_tdata[j*8 +: 8] (unsigned, saturated).
module dot_neuron #(
    parameter signed [31:0] W0 = 0, W1 = 0, W2 = 0, W3 = 0,
    parameter signed [31:0] W4 = 0, W5 = 0, W6 = 0, W7 = 0
) (
    input  wire [31:0] x,
    output wire [7:0]  y
);
  wire signed [3:0] e0 = x[3:0],   e1 = x[7:4],   e2 = x[11:8],  e3 = x[15:12];
  wire signed [3:0] e4 = x[19:16], e5 = x[23:20], e6 = x[27:24], e7 = x[31:28];
  wire signed [11:0] acc = e0 * W0 + e1 * W1 + e2 * W2 + e3 * W3
                         + e4 * W4 + e5 * W5 + e6 * W6 + e7 * W7;
  // ReLU then saturate to 8 bits unsigned
  assign y = acc[11] ? 8'd0 : (|acc[10:8] ? 8'hff : acc[7:0]);
endmodule

module dot_core (
    input  wire        clk,
    input  wire        rst,
    input  wire        s_axis_tvalid,
    output wire        s_axis_tready,
    input  wire [31:0] s_axis_tdata,
    output wire        m_axis_tvalid,
    input  wire        m_axis_tready,
    output wire [15:0] m_axis_tdata
);
  wire [7:0] y0, y1;
  dot_neuron #(.W0(3), .W1(-2), .W2(5), .W3(-7), .W4(1), .W5(6), .W6(-4), .W7(2)) n0 (.x(s_axis_tdata), .y(y0));
  dot_neuron #(.W0(-5), .W1(4), .W2(-1), .W3(7), .W4(-3), .W5(2), .W6(5), .W7(-6)) n1 (.x(s_axis_tdata), .y(y1));

  reg        out_valid;
  reg [15:0] out_data;
  assign s_axis_tready = !out_valid || m_axis_tready;
  assign m_axis_tvalid = out_valid;
  assign m_axis_tdata  = out_data;

  always @(posedge clk) begin
    if (rst) begin
      out_valid <= 1'b0;
      out_data  <= 16'd0;
    end else if (s_axis_tready) begin
      out_valid <= s_axis_tvalid;
      if (s_axis_tvalid) out_data <= {y1, y0};
    end
  end
endmodule
