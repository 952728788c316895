// Multi-level threshold activation for hls4ml (QONNX/FINN MultiThreshold), used by hwflow for
// a float batch norm + multi-bit Quant that the IR folded into per-channel thresholds.
//
//   y = out_bias + out_scale * #{ t in thresholds[channel] : x >= t }
//
// The thresholds are given on x's own fixed-point grid (hwflow rounds each one up to the grid,
// which keeps every comparison's result), so the comparisons are exact; out_scale and
// out_bias are dyadic and the levels are computed in level_t, wide enough to hold them all.
#ifndef NNET_MULTITHRESHOLD_H_
#define NNET_MULTITHRESHOLD_H_

#include "hls_stream.h"
#include "nnet_common.h"

namespace nnet {

struct multithreshold_config {
    static const unsigned n_in = 1;
    static const unsigned n_chan = 1;
    static const unsigned n_inner = 1; // elements per channel run: 1 channels last, H*W channels first
    static const unsigned n_thr = 1;
    typedef ap_fixed<16, 8> threshold_t;
    typedef ap_fixed<16, 8> level_t;
    static constexpr double out_scale = 1.0;
    static constexpr double out_bias = 0.0;
};

template <class in_T, class out_T, typename CONFIG_T>
inline out_T multithreshold_one(in_T x, unsigned chan, const typename CONFIG_T::threshold_t *thresholds) {
    #pragma HLS INLINE
    ap_uint<16> count = 0;
    for (unsigned t = 0; t < CONFIG_T::n_thr; t++) {
        #pragma HLS UNROLL
        if (x >= thresholds[chan * CONFIG_T::n_thr + t])
            count++;
    }
    typename CONFIG_T::level_t level =
        typename CONFIG_T::level_t(CONFIG_T::out_bias) + typename CONFIG_T::level_t(CONFIG_T::out_scale) * count;
    return out_T(level);
}

template <class data_T, class res_T, typename CONFIG_T>
void multithreshold(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
                    const typename CONFIG_T::threshold_t thresholds[CONFIG_T::n_chan * CONFIG_T::n_thr]) {
    #pragma HLS PIPELINE
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        res[i] = multithreshold_one<data_T, res_T, CONFIG_T>(data[i], (i / CONFIG_T::n_inner) % CONFIG_T::n_chan,
                                                              thresholds);
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void multithreshold_stream(hls::stream<data_T> &data, hls::stream<res_T> &res,
                           const typename CONFIG_T::threshold_t thresholds[CONFIG_T::n_chan * CONFIG_T::n_thr]) {
MultiThresholdLoop:
    for (unsigned i = 0; i < CONFIG_T::n_in / data_T::size; i++) {
        #pragma HLS PIPELINE
        data_T in_pack = data.read();
        res_T out_pack;
        PRAGMA_DATA_PACK(out_pack)
    MultiThresholdPack:
        for (unsigned j = 0; j < res_T::size; j++) {
            #pragma HLS UNROLL
            out_pack[j] = multithreshold_one<typename data_T::value_type, typename res_T::value_type, CONFIG_T>(
                in_pack[j], (i * data_T::size + j) % CONFIG_T::n_chan, thresholds);
        }
        res.write(out_pack);
    }
}

} // namespace nnet

#endif
