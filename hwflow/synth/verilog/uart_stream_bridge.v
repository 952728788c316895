// uart_stream_bridge -- UART <-> valid/ready stream bridge of the hwflow board top
// (hand-written; the framing is specified in docs/uart_framing.md).
//
// Host -> board:  0xA5 + IN_BYTES bytes   run one inference on that input vector
//                 0xA6                    ask for the design information
// Board -> host:  0xA5 + OUT_BYTES bytes  the output vector of one inference
//                 0xA6 + IN_W (2 bytes) + OUT_W (2 bytes) + DESIGN_ID (4 bytes)
// Vectors travel little-endian: byte k carries tdata[8k+7:8k]; bits above IN_W/OUT_W in
// the last byte are zero (ignored on input). Any other byte between frames is ignored.
// A frame that stops for more than TIMEOUT_BITS bit times, or a byte with a bad stop
// bit, is dropped and the receiver waits for the next command byte.
`default_nettype none
// Registers carry FPGA power-up values (for the time before the power-on reset) and are also
// reset; Verilator warns about that combination, which is intended here.
/* verilator lint_off PROCASSINIT */
module uart_stream_bridge #(
    parameter integer IN_W = 8,
    parameter integer OUT_W = 8,
    parameter integer CLKS_PER_BIT = 104,
    parameter integer TIMEOUT_BITS = 1152,     // ~10 ms at 115200 baud
    parameter [31:0] DESIGN_ID = 32'h0
) (
    input  wire             clk,
    input  wire             rst,               // synchronous, active high
    input  wire             uart_rx,
    output wire             uart_tx,
    // to the core (s_axis of the core)
    output reg              m_axis_tvalid = 1'b0,
    input  wire             m_axis_tready,
    output wire [IN_W-1:0]  m_axis_tdata,
    // from the core (m_axis of the core)
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    input  wire [OUT_W-1:0] s_axis_tdata,
    // status for LEDs
    output reg              done_toggle = 1'b0, // toggles with every answer
    output reg              error = 1'b0        // sticky: dropped frame or overrun
);
    localparam [7:0] CMD_INFER = 8'hA5, CMD_INFO = 8'hA6;
    localparam integer IN_BYTES = (IN_W + 7) / 8;
    localparam integer OUT_BYTES = (OUT_W + 7) / 8;
    localparam integer INFO_BYTES = 8;
    localparam integer PAYLOAD_BYTES = (OUT_BYTES > INFO_BYTES) ? OUT_BYTES : INFO_BYTES;
    localparam integer TX_BYTES = PAYLOAD_BYTES + 1;
    localparam integer TIMEOUT_CLKS = TIMEOUT_BITS * CLKS_PER_BIT;
    localparam integer TW = $clog2(TIMEOUT_CLKS + 1);
    localparam integer RW = $clog2(IN_BYTES + 1);
    localparam integer XW = $clog2(TX_BYTES + 1);
    // sized copies of the integer parameters (part-selects of integers are not portable)
    /* verilator lint_off WIDTHTRUNC */
    localparam [RW-1:0] IN_BYTES_R = IN_BYTES;
    localparam [XW-1:0] OUT_FRAME_BYTES = OUT_BYTES + 1;
    localparam [XW-1:0] INFO_FRAME_BYTES = INFO_BYTES + 1;
    localparam [TW-1:0] TIMEOUT_LAST = TIMEOUT_CLKS;
    localparam [15:0] IN_W16 = IN_W, OUT_W16 = OUT_W;
    /* verilator lint_on WIDTHTRUNC */

    // ---------------------------------------------------------------- receive
    wire [7:0] rx_byte;
    wire       rx_valid, rx_frame_error;
    uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_rx (
        .clk(clk), .rst(rst), .rx(uart_rx),
        .data(rx_byte), .valid(rx_valid), .frame_error(rx_frame_error));

    reg              receiving = 1'b0;
    reg [RW-1:0]     rx_left = 0;            // payload bytes still to come
    // one byte wider than the payload so that the shift below is legal for IN_BYTES == 1;
    // after IN_BYTES bytes the payload is in the top 8*IN_BYTES bits, first byte lowest
    /* verilator lint_off UNUSEDSIGNAL */   // the lowest byte of rx_shift and the padding of in_data
    reg [8*IN_BYTES+7:0] rx_shift = 0;
    wire [8*IN_BYTES+7:0] rx_next = {rx_byte, rx_shift[8*IN_BYTES+7:8]};
    reg [8*IN_BYTES-1:0] in_data = 0;
    /* verilator lint_on UNUSEDSIGNAL */
    reg [TW-1:0]     idle_clks = 0;
    reg              info_pending = 1'b0;
    reg              info_taken;

    assign m_axis_tdata = in_data[IN_W-1:0];

    always @(posedge clk) begin
        if (rst) begin
            receiving <= 1'b0;
            m_axis_tvalid <= 1'b0;
            info_pending <= 1'b0;
            error <= 1'b0;
            idle_clks <= 0;
        end else begin
            if (m_axis_tvalid && m_axis_tready) m_axis_tvalid <= 1'b0;
            if (info_taken) info_pending <= 1'b0;

            if (receiving && !rx_valid) begin
                if (idle_clks == TIMEOUT_LAST) begin
                    receiving <= 1'b0;        // host stopped mid-frame: drop it
                    error <= 1'b1;
                end else idle_clks <= idle_clks + 1'b1;
            end

            if (rx_frame_error) begin
                receiving <= 1'b0;
                error <= 1'b1;
            end else if (rx_valid) begin
                idle_clks <= 0;
                if (!receiving) begin
                    if (rx_byte == CMD_INFER) begin
                        receiving <= 1'b1;
                        rx_left <= IN_BYTES_R;
                    end else if (rx_byte == CMD_INFO) begin
                        info_pending <= 1'b1;
                    end
                end else begin
                    rx_shift <= rx_next;
                    rx_left <= rx_left - 1'b1;
                    if (rx_left == 1) begin
                        receiving <= 1'b0;
                        if (m_axis_tvalid && !m_axis_tready) begin
                            error <= 1'b1;    // previous vector not taken yet: overrun
                        end else begin
                            in_data <= rx_next[8*IN_BYTES+7:8];
                            m_axis_tvalid <= 1'b1;
                        end
                    end
                end
            end
        end
    end

    // ---------------------------------------------------------------- transmit
    reg  [8*TX_BYTES-1:0] tx_shift = 0;
    reg  [XW-1:0]         tx_left = 0;       // bytes of the current answer still to send
    wire                  tx_ready;
    wire                  tx_idle = (tx_left == 0);

    // zero-extended to the answer buffer (the bits above OUT_W are sent as zeros)
    /* verilator lint_off WIDTHEXPAND */
    wire [8*PAYLOAD_BYTES-1:0] out_payload = s_axis_tdata;
    wire [8*PAYLOAD_BYTES-1:0] info_payload = {DESIGN_ID, OUT_W16, IN_W16};
    /* verilator lint_on WIDTHEXPAND */

    assign s_axis_tready = tx_idle && !rst;

    uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_tx (
        .clk(clk), .rst(rst), .data(tx_shift[7:0]), .valid(!tx_idle), .ready(tx_ready),
        .tx(uart_tx));

    always @(*) info_taken = tx_idle && !s_axis_tvalid && info_pending && !rst;

    always @(posedge clk) begin
        if (rst) begin
            tx_left <= 0;
        end else if (tx_idle) begin
            if (s_axis_tvalid) begin
                tx_shift <= {out_payload, CMD_INFER};
                tx_left <= OUT_FRAME_BYTES;
                done_toggle <= ~done_toggle;
            end else if (info_pending) begin
                tx_shift <= {info_payload, CMD_INFO};
                tx_left <= INFO_FRAME_BYTES;
            end
        end else if (tx_ready) begin
            // uart_tx takes the byte in the cycle where valid && ready
            tx_shift <= {8'h00, tx_shift[8*TX_BYTES-1:8]};
            tx_left <= tx_left - 1'b1;
        end
    end
endmodule
`default_nettype wire
