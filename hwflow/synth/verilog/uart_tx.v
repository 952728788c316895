// uart_tx -- 8N1 UART transmitter (hand-written primitive of the hwflow board top).
//
// Takes a byte on a valid/ready handshake and shifts out start bit, 8 data bits LSB first
// and one stop bit, CLKS_PER_BIT clock cycles each. `ready` is high while idle.
`default_nettype none
// Registers carry FPGA power-up values (for the time before the power-on reset) and are also
// reset; Verilator warns about that combination, which is intended here.
/* verilator lint_off PROCASSINIT */
module uart_tx #(
    parameter integer CLKS_PER_BIT = 104
) (
    input  wire       clk,
    input  wire       rst,       // synchronous, active high
    input  wire [7:0] data,
    input  wire       valid,
    output wire       ready,
    output reg        tx = 1'b1  // serial line, idle high
);
    localparam integer CW = $clog2(CLKS_PER_BIT + 1);
    /* verilator lint_off WIDTHTRUNC */
    localparam [CW-1:0] LAST = CLKS_PER_BIT - 1;
    /* verilator lint_on WIDTHTRUNC */

    reg [CW-1:0] count = 0;
    reg [3:0] bits_left = 0;     // 0 = idle; 10 = start + 8 data + stop
    reg [8:0] shift = 9'h1ff;    // bits still to send after the current one, LSB next

    assign ready = (bits_left == 0);

    always @(posedge clk) begin
        if (rst) begin
            tx <= 1'b1;
            bits_left <= 0;
            count <= 0;
        end else if (bits_left == 0) begin
            if (valid) begin
                tx <= 1'b0;                // start bit
                shift <= {1'b1, data};     // then data LSB first, then the stop bit
                bits_left <= 4'd10;
                count <= 0;
            end
        end else if (count == LAST) begin
            count <= 0;
            bits_left <= bits_left - 1'b1;
            if (bits_left != 1) begin
                tx <= shift[0];
                shift <= {1'b1, shift[8:1]};
            end
        end else count <= count + 1'b1;
    end
endmodule
`default_nettype wire
