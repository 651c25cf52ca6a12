#include "synth/synth_signal.hpp"

#include <algorithm>
#include <cmath>

namespace framestamp::synth_detail {

namespace {

constexpr int64_t kNsPerS = 1'000'000'000;
constexpr int16_t kFullScale = 32767;

int64_t floor_div(int64_t a, int64_t b) {
    const int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

}  // namespace

SignalSource::SignalSource(SynthSignal signal, uint32_t channels, const SimCard& truth)
    : signal_(signal), channels_(channels), truth_(truth) {}

std::vector<int64_t> SignalSource::clicks_between(int64_t a, int64_t b) const {
    std::vector<int64_t> out;
    if (b <= a) {
        return out;
    }
    const SimParams& p = truth_.params();
    // Start one second before the UTC of frame a: the frame nearest a whole second can lie half
    // a frame before that second's instant. Times as ns relative to start_utc_ns (exact integers)
    // before they become double seconds.
    const double t_a_s = truth_.time_of_frame(static_cast<double>(a));
    const int64_t a_utc_ns = p.start_utc_ns + std::llround(t_a_s * 1e9);
    for (int64_t s_ns = (floor_div(a_utc_ns, kNsPerS) - 1) * kNsPerS;; s_ns += kNsPerS) {
        const double t_s = static_cast<double>(s_ns - p.start_utc_ns) * 1e-9;
        const int64_t frame = std::llround(truth_.frames_at(t_s));
        if (frame >= b) {
            break;
        }
        if (frame >= a) {
            out.push_back(frame);
        }
    }
    return out;
}

void SignalSource::fill(int16_t* out, uint64_t first, uint64_t n, int64_t sim_offset) const {
    const std::size_t samples = n * channels_;
    switch (signal_) {
        case SynthSignal::silence:
            std::fill(out, out + samples, int16_t{0});
            return;
        case SynthSignal::frame_counter:
            for (uint64_t i = 0; i < n; ++i) {
                for (uint32_t c = 0; c < channels_; ++c) {
                    out[i * channels_ + c] = static_cast<int16_t>((first + i + c) & 0x7FFF);
                }
            }
            return;
        case SynthSignal::clicks: {
            std::fill(out, out + samples, int16_t{0});
            const int64_t a = static_cast<int64_t>(first) + sim_offset;
            for (const int64_t click : clicks_between(a, a + static_cast<int64_t>(n))) {
                const auto i = static_cast<std::size_t>(click - a);
                std::fill(out + i * channels_, out + (i + 1) * channels_, kFullScale);
            }
            return;
        }
    }
}

}  // namespace framestamp::synth_detail
