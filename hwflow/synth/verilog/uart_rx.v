// uart_rx -- 8N1 UART receiver (hand-written primitive of the hwflow board top).
//
// CLKS_PER_BIT clock cycles per bit (clock frequency / baud rate, rounded). The line is
// synchronised with two flip-flops; a falling edge starts a frame, the start bit is
// re-checked at its middle (a glitch shorter than half a bit is ignored) and every data
// bit is sampled at its middle, LSB first. A frame whose stop bit is low is dropped and
// flagged on `frame_error` for one cycle instead of producing a byte.
`default_nettype none
// Registers carry FPGA power-up values (for the time before the power-on reset) and are also
// reset; Verilator warns about that combination, which is intended here.
/* verilator lint_off PROCASSINIT */
module uart_rx #(
    parameter integer CLKS_PER_BIT = 104
) (
    input  wire       clk,
    input  wire       rst,          // synchronous, active high
    input  wire       rx,           // serial line, idle high
    output reg  [7:0] data,
    output reg        valid,        // one cycle: `data` holds a received byte
    output reg        frame_error   // one cycle: stop bit was low, byte dropped
);
    localparam integer CW = $clog2(CLKS_PER_BIT + 1);
    /* verilator lint_off WIDTHTRUNC */
    localparam [CW-1:0] LAST = CLKS_PER_BIT - 1;
    localparam [CW-1:0] HALF = (CLKS_PER_BIT - 1) / 2;
    /* verilator lint_on WIDTHTRUNC */
    localparam [1:0] IDLE = 2'd0, START = 2'd1, DATA = 2'd2, STOP = 2'd3;

    reg       rx_meta = 1'b1, rx_sync = 1'b1;
    reg [1:0] state = IDLE;
    reg [CW-1:0] count = 0;
    reg [2:0] bit_index = 0;
    reg [7:0] shift = 0;

    always @(posedge clk) begin
        rx_meta <= rx;
        rx_sync <= rx_meta;
    end

    always @(posedge clk) begin
        valid <= 1'b0;
        frame_error <= 1'b0;
        if (rst) begin
            state <= IDLE;
            count <= 0;
            bit_index <= 0;
        end else begin
            case (state)
                IDLE: if (!rx_sync) begin
                    state <= START;
                    count <= 0;
                end
                START: if (count == HALF) begin
                    // middle of the start bit: still low -> a real frame
                    count <= 0;
                    bit_index <= 0;
                    state <= rx_sync ? IDLE : DATA;
                end else count <= count + 1'b1;
                DATA: if (count == LAST) begin
                    count <= 0;
                    shift <= {rx_sync, shift[7:1]};
                    bit_index <= bit_index + 1'b1;
                    if (bit_index == 3'd7) state <= STOP;
                end else count <= count + 1'b1;
                STOP: if (count == LAST) begin
                    count <= 0;
                    state <= IDLE;
                    if (rx_sync) begin
                        data <= shift;
                        valid <= 1'b1;
                    end else frame_error <= 1'b1;
                end else count <= count + 1'b1;
            endcase
        end
    end
endmodule
`default_nettype wire
