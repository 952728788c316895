`timescale 1ns / 1ps
// Matrix-vector unit of one Dense layer, folded: y[c] = tail_c(sum_i x[i] * W[i][c]).
//
// The input vector (MW elements) arrives in chunks of IN_CHUNK elements and is kept in an
// input buffer. Once it is complete, the unit walks NF = MH/PE neuron folds x SF = MW/SIMD
// synapse folds, one per clock: PE output channels x SIMD inputs, PE*SIMD multipliers,
// accumulating over the synapse folds. After the last synapse fold of a neuron fold, the
// per-channel tail (hwflow_mvu_tail) turns the PE sums into PE output elements: one output
// beat of PE elements per neuron fold, channel nf*PE + p in element p.
//
// Weights and per-channel tail parameters come from synchronous-read memories outside this
// module (ROMs generated per layer, or writable memories), addressed here:
// w_addr = nf*SF + sf (word: PE*SIMD weights, (p*SIMD + s)*W_W), p_addr = nf (word: PE
// parameter entries of PARAM_W bits).
//
// Timing: issue (input slice + weight read registered) -> multiply/accumulate -> tail into
// the output register. Every stage advances on `ce`, which is low only while the output
// register holds a beat the consumer does not take: back-pressure freezes the unit.
// The input buffer is released by the last issue, so the next vector may start loading
// in that same cycle; with NBUF = 2 it loads into the second buffer meanwhile.
module hwflow_mvu #(
    parameter integer MW = 16,
    parameter integer MH = 8,
    parameter integer SIMD = 4,
    parameter integer PE = 2,
    parameter integer IN_W = 8,
    parameter integer IN_SIGNED = 1,
    parameter integer IN_CHUNK = 16,
    parameter integer NBUF = 1,     // input buffers: 1, or 2 (double buffering)
    parameter integer W_W = 4,
    parameter integer ACC_W = 16,
    parameter integer PARAM_W = 8,
    parameter integer OUT_W = 8,
    parameter integer WA_W = 2,     // width of w_addr: clog2(MW/SIMD * MH/PE), at least 1
    parameter integer PA_W = 1,     // width of p_addr: clog2(MH/PE), at least 1
    // tail (see hwflow_mvu_tail)
    parameter integer TAIL = 0,
    parameter integer SA = 0,
    parameter integer SW = 17,
    parameter integer RELU = 0,
    parameter integer RSHIFT = 0,
    parameter integer RMODE = 0,
    parameter integer CLIP = 0,
    parameter integer LO = 0,
    parameter integer HI = 0,
    parameter integer NT = 1,
    parameter integer T_W = 8,
    parameter integer OS = 1,
    parameter integer OB = 0
) (
    input  wire                      clk,
    input  wire                      rst,      // synchronous, active high
    input  wire                      s_valid,
    output wire                      s_ready,
    input  wire [IN_CHUNK*IN_W-1:0]  s_data,
    output reg                       m_valid,
    input  wire                      m_ready,
    output reg  [PE*OUT_W-1:0]       m_data,
    output reg  [WA_W-1:0]           w_addr,
    output wire                      w_en,
    input  wire [PE*SIMD*W_W-1:0]    w_data,
    output reg  [PA_W-1:0]           p_addr,
    output wire                      p_en,
    input  wire [PE*PARAM_W-1:0]     p_data
);
  localparam integer SF = MW / SIMD;
  localparam integer NF = MH / PE;
  localparam integer NCH = MW / IN_CHUNK;
  localparam integer CW = (NCH > 1) ? $clog2(NCH) : 1;
  localparam integer SFW = (SF > 1) ? $clog2(SF) : 1;
  localparam integer XW = IN_W + ((IN_SIGNED != 0) ? 0 : 1);  // unsigned inputs get a zero sign bit
  localparam integer PW = XW + W_W;  // one product
  localparam [CW-1:0] CH_LAST = CW'(NCH - 1);
  localparam [SFW-1:0] SF_LAST = SFW'(SF - 1);
  localparam [PA_W-1:0] NF_LAST = PA_W'(NF - 1);
  localparam [WA_W-1:0] WA_LAST = WA_W'(NF * SF - 1);

  wire ce = ~m_valid | m_ready;

  // ------------------------------------------------------------ input buffer(s)
  // NBUF = 1: one buffer, loaded while the unit is idle. NBUF = 2: double buffering, the
  // next vector loads into the other buffer while the unit works on this one.
  wire               full;       // the buffer being read holds a complete vector
  wire               load_free;  // the buffer being loaded is free
  wire               same;       // loading and reading the same buffer
  wire [MW*IN_W-1:0] rbuf;       // the buffer being read
  reg  [CW-1:0]      ch_cnt;
  reg  [SFW-1:0]     sf_cnt;
  wire               issue = full & ce;
  wire               last_issue = issue & (w_addr == WA_LAST);
  assign s_ready = ~rst & (load_free | (last_issue & same));
  wire load = s_valid & s_ready;
  wire load_last = load & (ch_cnt == CH_LAST);

  always @(posedge clk) begin
    if (rst) ch_cnt <= {CW{1'b0}};
    else if (load) ch_cnt <= load_last ? {CW{1'b0}} : ch_cnt + 1'b1;
  end

  genvar j;
  generate
    if (NBUF == 1) begin : g_single
      reg [MW*IN_W-1:0] buf0;
      reg full0;
      assign full = full0;
      assign load_free = ~full0;
      assign same = 1'b1;
      assign rbuf = buf0;
      always @(posedge clk) begin
        if (rst) full0 <= 1'b0;
        else full0 <= (full0 & ~last_issue) | load_last;
      end
      for (j = 0; j < NCH; j = j + 1) begin : g_load
        always @(posedge clk) begin
          if (load && ch_cnt == CW'(j)) buf0[j*IN_CHUNK*IN_W +: IN_CHUNK*IN_W] <= s_data;
        end
      end
    end else begin : g_double
      reg [MW*IN_W-1:0] buf0, buf1;
      reg full0, full1, wsel, rsel;
      assign full = rsel ? full1 : full0;
      assign load_free = wsel ? ~full1 : ~full0;
      assign same = (wsel == rsel);
      assign rbuf = rsel ? buf1 : buf0;
      always @(posedge clk) begin
        if (rst) begin
          full0 <= 1'b0;
          full1 <= 1'b0;
          wsel  <= 1'b0;
          rsel  <= 1'b0;
        end else begin
          if (load_last) wsel <= ~wsel;
          if (last_issue) rsel <= ~rsel;
          full0 <= (full0 & ~(last_issue & ~rsel)) | (load_last & ~wsel);
          full1 <= (full1 & ~(last_issue & rsel)) | (load_last & wsel);
        end
      end
      for (j = 0; j < NCH; j = j + 1) begin : g_load
        always @(posedge clk) begin
          if (load && ch_cnt == CW'(j) && !wsel) buf0[j*IN_CHUNK*IN_W +: IN_CHUNK*IN_W] <= s_data;
          if (load && ch_cnt == CW'(j) && wsel) buf1[j*IN_CHUNK*IN_W +: IN_CHUNK*IN_W] <= s_data;
        end
      end
    end
  endgenerate

  // ------------------------------------------------------------ issue: counters, reads
  reg [SIMD*IN_W-1:0] xs;
  reg v1, first1, last1;
  assign w_en = ce;
  assign p_en = ce;

  always @(posedge clk) begin
    if (rst) begin
      sf_cnt <= {SFW{1'b0}};
      p_addr <= {PA_W{1'b0}};
      w_addr <= {WA_W{1'b0}};
      v1     <= 1'b0;
    end else if (ce) begin
      v1 <= full;
      if (full) begin
        w_addr <= (w_addr == WA_LAST) ? {WA_W{1'b0}} : w_addr + 1'b1;
        if (sf_cnt == SF_LAST) begin
          sf_cnt <= {SFW{1'b0}};
          p_addr <= (p_addr == NF_LAST) ? {PA_W{1'b0}} : p_addr + 1'b1;
        end else begin
          sf_cnt <= sf_cnt + 1'b1;
        end
      end
    end
  end

  always @(posedge clk) begin
    if (ce) begin
      xs     <= rbuf[sf_cnt*SIMD*IN_W +: SIMD*IN_W];
      first1 <= (sf_cnt == {SFW{1'b0}});
      last1  <= (sf_cnt == SF_LAST);
    end
  end

  // ------------------------------------------------------------ multiply-accumulate
  reg done2;
  reg [PE*PARAM_W-1:0] p2;
  always @(posedge clk) begin
    if (rst) done2 <= 1'b0;
    else if (ce) done2 <= v1 & last1;
  end
  always @(posedge clk) begin
    if (ce && v1 && last1) p2 <= p_data;
  end

  wire [PE*OUT_W-1:0] y;
  genvar p, s;
  generate
    for (p = 0; p < PE; p = p + 1) begin : g_pe
      wire signed [PW-1:0] prod[0:SIMD-1];
      for (s = 0; s < SIMD; s = s + 1) begin : g_simd
        wire [IN_W-1:0] xr = xs[s*IN_W +: IN_W];
        wire signed [XW-1:0] xv;
        if (IN_SIGNED != 0) begin : g_signed
          assign xv = $signed(xr);
        end else begin : g_unsigned
          assign xv = $signed({1'b0, xr});
        end
        wire signed [W_W-1:0] wv = w_data[(p*SIMD + s)*W_W +: W_W];
        if (W_W <= 2) begin : g_sel
          // weights in {-2, -1, 0, 1} (binary and ternary layers): select and negate in
          // logic, no multiplier (synthesis would put even a 2-bit product in a DSP)
          wire signed [PW-1:0] xe = PW'(xv);
          assign prod[s] = (wv == 0) ? {PW{1'b0}} : (wv == 1) ? xe : (wv == -1) ? -xe : -(xe <<< 1);
        end else begin : g_mul
          assign prod[s] = xv * wv;
        end
      end
      reg signed [ACC_W-1:0] dot;
      integer k;
      always @* begin
        dot = {ACC_W{1'b0}};
        for (k = 0; k < SIMD; k = k + 1) dot = dot + ACC_W'(prod[k]);
      end
      reg signed [ACC_W-1:0] acc;
      always @(posedge clk) begin
        if (ce && v1) acc <= (first1 ? {ACC_W{1'b0}} : acc) + dot;
      end
      hwflow_mvu_tail #(
          .ACC_W(ACC_W), .PARAM_W(PARAM_W), .OUT_W(OUT_W), .TAIL(TAIL), .SA(SA), .SW(SW), .RELU(RELU),
          .RSHIFT(RSHIFT), .RMODE(RMODE), .CLIP(CLIP), .LO(LO), .HI(HI), .NT(NT), .T_W(T_W), .OS(OS), .OB(OB)
      ) u_tail (
          .acc(acc), .param(p2[p*PARAM_W +: PARAM_W]), .y(y[p*OUT_W +: OUT_W])
      );
    end
  endgenerate

  // ------------------------------------------------------------ output register
  always @(posedge clk) begin
    if (rst) m_valid <= 1'b0;
    else if (ce) m_valid <= done2;
  end
  always @(posedge clk) begin
    if (ce && done2) m_data <= y;
  end
endmodule
