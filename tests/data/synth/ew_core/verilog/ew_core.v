// Hand-written test core with the hwflow wrapper interface (docs/INTERFACES.md section 4):
// four signed 6-bit elements in, four signed 9-bit elements out, y = 3*x - 1, registered
// (one pipeline stage that honours back-pressure). Used by the board-top tests as a design
// whose answer is known without the RTL generator.
`default_nettype none
module ew_core (
    input  wire clk,
    input  wire rst,
    input  wire s_axis_tvalid,
    output wire s_axis_tready,
    input  wire [23:0] s_axis_tdata,
    output reg  m_axis_tvalid,
    input  wire m_axis_tready,
    output reg  [35:0] m_axis_tdata
);
    assign s_axis_tready = !m_axis_tvalid || m_axis_tready;
    integer i;
    always @(posedge clk) begin
        if (rst) m_axis_tvalid <= 1'b0;
        else if (s_axis_tready) begin
            m_axis_tvalid <= s_axis_tvalid;
            for (i = 0; i < 4; i = i + 1)
                m_axis_tdata[i*9 +: 9] <= 9'sd3 * $signed({{3{s_axis_tdata[i*6+5]}}, s_axis_tdata[i*6 +: 6]}) - 9'sd1;
        end
    end
endmodule
`default_nettype wire
