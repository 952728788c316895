// Bulk co-simulation harness of an hwflow stream design (hwflow.sim.bulk).
//
// Verilator compiles this file with the design's Verilog and a generated "bulk_top.h"
// that names the model class, the clock/reset ports and the word sizes. The whole
// per-cycle loop runs here, in C++: Python only writes the input words, reads the output
// words and compares them with the reference.
//
// usage: bulk_sim IN.bin OUT.bin N SEED VALID_PROB READY_PROB BURST MAX_CYCLES RESULTS.json [CFG.bin]
//
// IN.bin: N input words of HW_IN_BYTES bytes each, little-endian (s_axis_tdata bit 0 is
// bit 0 of the first byte), zero-padded to whole 32-bit words. OUT.bin: the output words
// in the same layout (HW_OUT_BYTES each). CFG.bin: HW_CFG_WORDS configuration words of
// HW_CFG_BYTES bytes, loaded through cfg_we/cfg_addr/cfg_data during reset (weights in
// registers).
//
// Phases, as in the cocotb testbench (rtl_tests/stream_tb.py):
//   1. the first BURST beats at full rate with m_axis_tready high: each output must come
//      exactly `latency` cycles after its input, and one beat is accepted every II cycles;
//   2. the rest with seeded random gaps in s_axis_tvalid (kept with VALID_PROB) and random
//      back-pressure on m_axis_tready (high with READY_PROB).
// Inputs are driven with the clock low and sampled after evaluation, before the rising
// edge, so every handshake is seen exactly once.
//
// Activity (built with HW_SAIF, Verilator --trace-saif): "activity.saif" in the working
// directory, every traced net's toggle count and time at 0/1 from the end of reset to the
// last output; time advances 10 units per clock (low phase at 10c, rising edge at 10c+5).
//
// Progress: a line "progress OUT N CYCLES" about once a second on stdout.
// Results: a JSON object in RESULTS.json. Exit 0 when all N outputs came, 3 at MAX_CYCLES.

#include <verilated.h>

#include "bulk_top.h"

#ifdef HW_SAIF
#include <verilated_saif_c.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

double sc_time_stamp() { return 0; }

namespace {

// Ports up to 64 bits are plain integers (CData/SData/IData/QData) ...
template <typename T>
inline void put_port(T& port, const uint8_t* b, size_t nb) {
    uint64_t v = 0;
    std::memcpy(&v, b, std::min<size_t>(nb, 8));
    port = static_cast<T>(v);
}
template <typename T>
inline void get_port(const T& port, uint8_t* b, size_t nb) {
    const uint64_t v = static_cast<uint64_t>(port);
    std::memcpy(b, &v, std::min<size_t>(nb, 8));
}
// ... wider ones arrays of 32-bit words, least significant first.
template <std::size_t N>
inline void put_port(VlWide<N>& port, const uint8_t* b, size_t nb) {
    std::memcpy(port.data(), b, std::min<size_t>(nb, 4 * N));
}
template <std::size_t N>
inline void get_port(const VlWide<N>& port, uint8_t* b, size_t nb) {
    std::memcpy(b, port.data(), std::min<size_t>(nb, 4 * N));
}

// splitmix64: seeded, fast and the same on every platform
struct Rng {
    uint64_t s;
    uint64_t next() {
        uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    bool chance(uint64_t threshold) { return (next() >> 11) < threshold; }  // 53-bit uniform
};

bool read_file(const char* path, std::vector<uint8_t>& buf, size_t want) {
    FILE* f = std::fopen(path, "rb");
    if (!f) return false;
    buf.resize(want);
    const size_t got = want ? std::fread(buf.data(), 1, want, f) : 0;
    std::fclose(f);
    return got == want;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 10) {
        std::fprintf(stderr, "usage: %s IN OUT N SEED VALID_PROB READY_PROB BURST MAX_CYCLES RESULTS [CFG]\n", argv[0]);
        return 2;
    }
    const char* in_path = argv[1];
    const char* out_path = argv[2];
    const size_t n = std::strtoull(argv[3], nullptr, 10);
    const uint64_t seed = std::strtoull(argv[4], nullptr, 10);
    const double vp = std::atof(argv[5]);
    const double rp = std::atof(argv[6]);
    const size_t burst = std::min<size_t>(std::strtoull(argv[7], nullptr, 10), n);
    const uint64_t max_cycles = std::strtoull(argv[8], nullptr, 10);
    const char* results_path = argv[9];

    std::vector<uint8_t> in;
    if (!read_file(in_path, in, n * HW_IN_BYTES)) {
        std::fprintf(stderr, "cannot read %zu words of %d bytes from %s\n", n, HW_IN_BYTES, in_path);
        return 2;
    }
    std::vector<uint8_t> out(n * HW_OUT_BYTES, 0);

    auto ctx = std::make_unique<VerilatedContext>();
#ifdef HW_SAIF
    ctx->traceEverOn(true);
#endif
    auto top = std::make_unique<HW_TOP>(ctx.get());

    auto tick = [&]() {  // one clock: low half (inputs take effect), rising edge
        top->HW_CLK = 0;
        top->eval();
        top->HW_CLK = 1;
        top->eval();
    };

    // reset for 3 cycles (weights in registers are loaded meanwhile)
    top->HW_RST = HW_RST_ACTIVE;
    top->s_axis_tvalid = 0;
    top->m_axis_tready = 0;
    for (int i = 0; i < 3; ++i) tick();
#ifdef HW_CFG_WORDS
    {
        if (argc < 11) {
            std::fprintf(stderr, "this design has a configuration port: pass the CFG file\n");
            return 2;
        }
        std::vector<uint8_t> cfg;
        if (!read_file(argv[10], cfg, (size_t)HW_CFG_WORDS * HW_CFG_BYTES)) {
            std::fprintf(stderr, "cannot read %d configuration words from %s\n", HW_CFG_WORDS, argv[10]);
            return 2;
        }
        for (int k = 0; k < HW_CFG_WORDS; ++k) {
            top->cfg_we = 1;
            top->cfg_addr = k;
            put_port(top->cfg_data, cfg.data() + (size_t)k * HW_CFG_BYTES, HW_CFG_BYTES);
            tick();
        }
        top->cfg_we = 0;
    }
#endif
    top->HW_RST = !HW_RST_ACTIVE;
#ifdef HW_SAIF
    auto saif = std::make_unique<VerilatedSaifC>();
    top->trace(saif.get(), 99);
    saif->open("activity.saif");
#define HW_DUMP(t) saif->dump(t)
#else
#define HW_DUMP(t)
#endif

    Rng rng{seed};
    const uint64_t vth = (uint64_t)(std::max(0.0, std::min(1.0, vp)) * 9007199254740992.0);
    const uint64_t rth = (uint64_t)(std::max(0.0, std::min(1.0, rp)) * 9007199254740992.0);
    std::vector<uint64_t> accept_cycle, output_cycle;
    accept_cycle.reserve(burst);
    output_cycle.reserve(burst);

    size_t n_in = 0, n_out = 0;
    uint64_t cycle = 0;
    bool timeout = false;
    const auto t0 = std::chrono::steady_clock::now();
    auto t_report = t0;
    while (n_out < n) {
        if (cycle >= max_cycles) {
            timeout = true;
            break;
        }
        const bool valid = n_in < n && (n_in < burst || rng.chance(vth));
        const bool ready = n_out < burst || rng.chance(rth);
        top->HW_CLK = 0;
        top->s_axis_tvalid = valid;
        if (valid) put_port(top->s_axis_tdata, in.data() + n_in * HW_IN_BYTES, HW_IN_BYTES);
        top->m_axis_tready = ready;
        top->eval();
        HW_DUMP(10 * cycle);
        // what happens at the coming rising edge
        if (ready && top->m_axis_tvalid) {
            get_port(top->m_axis_tdata, out.data() + n_out * HW_OUT_BYTES, HW_OUT_BYTES);
            if (n_out < burst) output_cycle.push_back(cycle);
            ++n_out;
        }
        if (valid && top->s_axis_tready) {
            if (n_in < burst) accept_cycle.push_back(cycle);
            ++n_in;
        }
        top->HW_CLK = 1;
        top->eval();
        HW_DUMP(10 * cycle + 5);
        ++cycle;
        if ((cycle & 0x3FFF) == 0) {
            const auto now = std::chrono::steady_clock::now();
            if (std::chrono::duration<double>(now - t_report).count() >= 1.0) {
                t_report = now;
                std::printf("progress %zu %zu %llu\n", n_out, n, (unsigned long long)cycle);
                std::fflush(stdout);
            }
        }
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
#ifdef HW_SAIF
    top->HW_CLK = 0;
    top->eval();
    HW_DUMP(10 * cycle);
    saif->close();
#endif
    top->final();

    FILE* f = std::fopen(out_path, "wb");
    if (!f || std::fwrite(out.data(), 1, n_out * HW_OUT_BYTES, f) != n_out * HW_OUT_BYTES) {
        std::fprintf(stderr, "cannot write %s\n", out_path);
        return 2;
    }
    std::fclose(f);

    // latency and II over the full-rate burst
    std::set<uint64_t> lat;
    const size_t nb = std::min(accept_cycle.size(), output_cycle.size());
    for (size_t i = 0; i < nb; ++i) lat.insert(output_cycle[i] - accept_cycle[i]);
    std::set<uint64_t> gaps;
    for (size_t i = 1; i < accept_cycle.size(); ++i) gaps.insert(accept_cycle[i] - accept_cycle[i - 1]);

    FILE* r = std::fopen(results_path, "w");
    if (!r) {
        std::fprintf(stderr, "cannot write %s\n", results_path);
        return 2;
    }
    std::fprintf(r, "{\"samples\": %zu, \"inputs_accepted\": %zu, \"outputs\": %zu, \"cycles\": %llu, "
                 "\"wall_time_s\": %.6f, \"burst\": %zu, \"timeout\": %s, \"latency_measured\": [",
                 n, n_in, n_out, (unsigned long long)cycle, wall, burst, timeout ? "true" : "false");
    bool first = true;
    for (auto v : lat) { std::fprintf(r, "%s%llu", first ? "" : ", ", (unsigned long long)v); first = false; }
    std::fprintf(r, "], \"burst_accept_gaps\": [");
    first = true;
    for (auto v : gaps) { std::fprintf(r, "%s%llu", first ? "" : ", ", (unsigned long long)v); first = false; }
    std::fprintf(r, "]}\n");
    std::fclose(r);
    return timeout ? 3 : 0;
}
