// Hand-written test core with the hwflow wrapper interface: an 8-bit value delayed through
// 750 register stages (6,000 flip-flops, more than an iCE40UP5K has). Used to test the fit
// check end to end; synthesis is quick because there is no logic to optimise.
`default_nettype none
module delay_core #(parameter integer STAGES = 750) (
    input  wire clk,
    input  wire rst,
    input  wire s_axis_tvalid,
    output wire s_axis_tready,
    input  wire [7:0] s_axis_tdata,
    output wire m_axis_tvalid,
    input  wire m_axis_tready,
    output wire [7:0] m_axis_tdata
);
    reg [7:0] data [0:STAGES-1];
    reg [STAGES-1:0] valid;
    wire ce = !valid[STAGES-1] || m_axis_tready;
    assign s_axis_tready = ce;
    assign m_axis_tvalid = valid[STAGES-1];
    assign m_axis_tdata = data[STAGES-1];
    integer i;
    always @(posedge clk) begin
        if (rst) valid <= 0;
        else if (ce) valid <= {valid[STAGES-2:0], s_axis_tvalid};
        if (ce) begin
            data[0] <= s_axis_tdata;
            for (i = 1; i < STAGES; i = i + 1) data[i] <= data[i-1];
        end
    end
endmodule
`default_nettype wire
