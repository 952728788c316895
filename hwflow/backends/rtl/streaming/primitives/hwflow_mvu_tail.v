`timescale 1ns / 1ps
// Per-channel tail of a matrix-vector unit (combinational), one instance per PE.
//
// TAIL = 0, affine: s = (acc <<< SA) + bias (bias = param, PARAM_W bits, signed), ReLU if
//   RELU, q = s / 2**RSHIFT rounded by RMODE, clipped to [LO, HI] if CLIP; y = q.
//   RMODE (QONNX rounding modes): 0 FLOOR, 1 CEIL, 2 ROUND (half to even), 3 HALF_UP (half
//   away from zero), 4 HALF_DOWN (half towards zero), 5 DOWN (towards zero), 6 UP (away).
//   SW is the width of s, chosen by the generator to hold its exact range.
// TAIL = 1, thresholds: y = OB + OS * #{j : acc >= T_j}, T_j = param[j*T_W +: T_W] signed
//   (a qonnx MultiThreshold with the bias and input grid folded into integer thresholds).
module hwflow_mvu_tail #(
    parameter integer ACC_W = 16,
    parameter integer PARAM_W = 8,
    parameter integer OUT_W = 8,
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
    input  wire [ACC_W-1:0]   acc,
    input  wire [PARAM_W-1:0] param,
    output wire [OUT_W-1:0]   y
);
  generate
    if (TAIL == 0) begin : g_affine
      localparam integer QW = SW - RSHIFT + 1;  // floor(s / 2**RSHIFT) plus the rounding carry
      wire signed [SW-1:0] s = (SW'($signed(acc)) <<< SA) + SW'($signed(param));
      wire signed [SW-1:0] sr = (RELU != 0 && s[SW-1]) ? {SW{1'b0}} : s;
      wire signed [QW-1:0] q;
      if (RSHIFT == 0) begin : g_exact
        assign q = QW'(sr);
      end else begin : g_round
        wire signed [SW-RSHIFT-1:0] fl = sr[SW-1:RSHIFT];
        wire neg = sr[SW-1];
        wire half = sr[RSHIFT-1];
        wire low;  // any bit below the half bit
        if (RSHIFT > 1) begin : g_low
          assign low = |sr[RSHIFT-2:0];
        end else begin : g_nolow
          assign low = 1'b0;
        end
        wire nz = half | low;
        wire above = half & low;  // remainder > half
        reg inc;
        always @* begin
          case (RMODE)
            1: inc = nz;
            2: inc = above | (half & ~low & fl[0]);
            3: inc = neg ? above : half;
            4: inc = neg ? half : above;
            5: inc = neg & nz;
            6: inc = ~neg & nz;
            default: inc = 1'b0;
          endcase
        end
        assign q = QW'(fl) + QW'({1'b0, inc});
      end
      // bits of qc above OUT_W are copies of the sign (the generator sizes OUT_W to the
      // clipped range), so they are not used
      // verilator lint_off UNUSEDSIGNAL
      wire signed [QW-1:0] qc;
      // verilator lint_on UNUSEDSIGNAL
      if (CLIP != 0) begin : g_clip
        localparam signed [QW-1:0] LO_Q = QW'(LO);
        localparam signed [QW-1:0] HI_Q = QW'(HI);
        assign qc = (q < LO_Q) ? LO_Q : (q > HI_Q) ? HI_Q : q;
      end else begin : g_noclip
        assign qc = q;
      end
      assign y = OUT_W'(qc);
    end else begin : g_thr
      localparam integer CMPW = (ACC_W > T_W ? ACC_W : T_W) + 1;
      localparam integer CNTW = $clog2(NT + 1);
      reg [CNTW-1:0] cnt;
      integer j;
      always @* begin
        cnt = {CNTW{1'b0}};
        for (j = 0; j < NT; j = j + 1)
          if ($signed(CMPW'($signed(acc))) >= $signed(CMPW'($signed(param[j*T_W +: T_W])))) cnt = cnt + 1'b1;
      end
      localparam integer YW = OUT_W + 2;
      // verilator lint_off UNUSEDSIGNAL
      wire signed [YW-1:0] yw = YW'(OB) + YW'(OS) * $signed({1'b0, cnt});  // fits OUT_W: upper bits unused
      // verilator lint_on UNUSEDSIGNAL
      assign y = OUT_W'(yw);
    end
  endgenerate
endmodule
