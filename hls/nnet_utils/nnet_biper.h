// hwflow BiPer activation for hls4ml (CONTRACTS.md section 2).
//
// y = +1 if (x mod P) < P/2 else -1, P = 2**k. For x = q * 2**-f (q the two's-complement
// integer behind an ap_fixed/ap_int) this is ONE bit test: y = -1 iff bit (k + f - 1) of q
// is set. The output is the number -1 or +1 (res_T is a signed type, ap_int<2>), not hls4ml's
// xnor bit, so a following zero-padded convolution stays exact. The bit index is fixed when the project is generated (hwflow's
// optimizer pass `biper_bit_index`, from the final input type):
//   bit_mode 0: index inside the word  -> res = !q[index]
//   bit_mode 1: index above the word   -> the bit equals the sign bit (sign extension)
//   bit_mode 2: index above an unsigned word -> the bit is 0, y = +1 always
#ifndef NNET_BIPER_H_
#define NNET_BIPER_H_

#include "hls_stream.h"
#include "nnet_common.h"

namespace nnet {

struct biper_config {
    static const unsigned n_in = 1;
    static const unsigned bit_index = 0;
    static const unsigned bit_mode = 0;
};

template <class in_T, class out_T, typename CONFIG_T> inline out_T biper_value(in_T x) {
    #pragma HLS INLINE
    if (CONFIG_T::bit_mode == 2) {
        return out_T(1);
    }
    // for bit_mode 1 the generator sets bit_index to the sign bit (width - 1)
    return x[CONFIG_T::bit_index] ? out_T(-1) : out_T(1);
}

template <class data_T, class res_T, typename CONFIG_T>
void biper(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    #pragma HLS PIPELINE
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        res[i] = biper_value<data_T, res_T, CONFIG_T>(data[i]);
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void biper_stream(hls::stream<data_T> &data, hls::stream<res_T> &res) {
BiPerLoop:
    for (unsigned i = 0; i < CONFIG_T::n_in / data_T::size; i++) {
        #pragma HLS PIPELINE
        data_T in_pack = data.read();
        res_T out_pack;
        PRAGMA_DATA_PACK(out_pack)
    BiPerPack:
        for (unsigned j = 0; j < res_T::size; j++) {
            #pragma HLS UNROLL
            out_pack[j] = biper_value<typename data_T::value_type, typename res_T::value_type, CONFIG_T>(in_pack[j]);
        }
        res.write(out_pack);
    }
}

} // namespace nnet

#endif
