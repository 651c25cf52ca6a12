// PPS edge detection: a steep climb of at least min_step within rise_frames frames triggers;
// once the frames after it are in, the step is measured from the level before the climb to the
// peak after it, and the edge's time is where the samples cross half that step (constant-
// fraction timing), interpolated by windowed-sinc reconstruction of the samples around the
// crossing. A linear-phase anti-alias filter keeps that crossing at the analog edge's time.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "framestamp/pps.hpp"

namespace framestamp {

namespace {

constexpr double kPi = 3.14159265358979323846;

float sample_value(const unsigned char* p, SampleFormat fmt) {
    switch (fmt) {
        case SampleFormat::s16_le: {
            int16_t v = 0;
            std::memcpy(&v, p, 2);
            return static_cast<float>(v) / 32768.0F;
        }
        case SampleFormat::s24_le: {
            int32_t v = 0;
            std::memcpy(&v, p, 4);
            v = static_cast<int32_t>(static_cast<uint32_t>(v) << 8) >> 8;  // sign-extend 24 bits
            return static_cast<float>(v) / 8388608.0F;
        }
        case SampleFormat::s24_3le: {
            int32_t v = static_cast<int32_t>(static_cast<uint32_t>(p[0]) |
                                             (static_cast<uint32_t>(p[1]) << 8) |
                                             (static_cast<uint32_t>(p[2]) << 16));
            v = static_cast<int32_t>(static_cast<uint32_t>(v) << 8) >> 8;
            return static_cast<float>(v) / 8388608.0F;
        }
        case SampleFormat::s32_le: {
            int32_t v = 0;
            std::memcpy(&v, p, 4);
            return static_cast<float>(static_cast<double>(v) / 2147483648.0);
        }
        case SampleFormat::float_le: {
            float v = 0;
            std::memcpy(&v, p, 4);
            return v;
        }
    }
    return 0.0F;
}

}  // namespace

PpsDetector::PpsDetector(uint32_t rate_hz, const PpsDetectorOptions& o)
    : rate_hz_(rate_hz), opt_(o) {
    opt_.rise_frames = std::clamp(opt_.rise_frames, 2U, 16U);
}

void PpsDetector::reset() {
    count_ = 0;
    pending_ = false;
    holdoff_until_ = 0;
}

void PpsDetector::feed(const void* data, std::size_t frames, SampleFormat fmt, unsigned channels,
                       unsigned channel, uint64_t first_frame, std::vector<PpsEdge>& out) {
    if (channel >= channels) {
        return;
    }
    const std::size_t bytes = sample_bytes(fmt);
    const auto* p = static_cast<const unsigned char*>(data) + channel * bytes;
    const std::size_t stride = bytes * channels;
    for (std::size_t i = 0; i < frames; ++i) {
        push(sample_value(p + i * stride, fmt), first_frame + i, out);
    }
}

void PpsDetector::feed_normalised(const float* x, std::size_t n, uint64_t first_frame,
                                  std::vector<PpsEdge>& out) {
    for (std::size_t i = 0; i < n; ++i) {
        push(x[i], first_frame + i, out);
    }
}

void PpsDetector::push(float v, uint64_t frame, std::vector<PpsEdge>& out) {
    if (count_ > 0 && frame != next_frame_) {
        reset();  // not contiguous: what came before says nothing about this
    }
    next_frame_ = frame + 1;
    hist_[frame % kHist] = opt_.rising ? v : -v;
    ++count_;
    const unsigned l = opt_.rise_frames;
    if (pending_) {
        if (frame >= trigger_ + l + kGuard + kLevel + 2) {
            analyse(out);
            pending_ = false;
        }
        return;
    }
    // Room behind for the level before the climb (2 l frames), and not in the hold-off.
    if (count_ <= 2 * l + kGuard + kLevel || frame < holdoff_until_) {
        return;
    }
    if (at(frame) - at(frame - l) >= static_cast<float>(opt_.min_step)) {
        pending_ = true;
        trigger_ = frame;
    }
}

void PpsDetector::analyse(std::vector<PpsEdge>& out) {
    const unsigned l = opt_.rise_frames;
    const uint64_t t = trigger_;
    holdoff_until_ = t + static_cast<uint64_t>(opt_.holdoff_s * rate_hz_);
    auto mean = [&](uint64_t from, uint64_t to) {
        double sum = 0;
        for (uint64_t f = from; f < to; ++f) {
            sum += static_cast<double>(at(f));
        }
        return sum / static_cast<double>(to - from);
    };
    // The level before the climb (which began within the l frames before the trigger), clear of
    // the anti-alias filter's pre-ringing; a first half-height from the highest frame after it.
    const double base = mean(t - l - kGuard - kLevel, t - l - kGuard);
    double peak = static_cast<double>(at(t - l));
    for (uint64_t f = t - l; f <= t + l; ++f) {
        peak = std::max(peak, static_cast<double>(at(f)));
    }
    if (peak - base < opt_.min_step) {
        return;
    }
    auto crossing = [&](double half, uint64_t from, uint64_t to) -> std::optional<uint64_t> {
        for (uint64_t f = from; f < to; ++f) {
            if (static_cast<double>(at(f)) < half && static_cast<double>(at(f + 1)) >= half) {
                return f;
            }
        }
        return std::nullopt;
    };
    const auto first = crossing(base + (peak - base) / 2, t - l, t + l);
    if (!first) {
        return;
    }
    // The level after it, clear of the ringing (whose highest sample depends on the edge's
    // phase against the samples, and would move a half-height taken from it), carried back to
    // the edge along its own slope: the input's high-pass has it decaying already.
    const uint64_t from = *first + kGuard;
    double slope = 0;
    {
        const double c = (kLevel - 1) / 2.0;
        double num = 0;
        double den = 0;
        for (unsigned i = 0; i < kLevel; ++i) {
            num += (i - c) * static_cast<double>(at(from + i));
            den += (i - c) * (i - c);
        }
        slope = num / den;
    }
    const double top =
        mean(from, from + kLevel) - slope * (static_cast<double>(kGuard) + (kLevel - 1) / 2.0);
    const double step = top - base;
    const double half = base + step / 2;
    const auto f = step >= opt_.min_step ? crossing(half, *first - 2, *first + 3) : std::nullopt;
    if (!f) {
        return;
    }
    // Where the band-limited signal between the two frames meets half: windowed-sinc (Lanczos)
    // reconstruction over kTaps frames either side; a straight line through two samples errs by
    // up to a twentieth of a sample at some phases.
    auto value = [&](double u) {
        double sum = 0;
        for (int k = 1 - static_cast<int>(kTaps); k <= static_cast<int>(kTaps); ++k) {
            const double x = u - k;
            double w = 1;
            if (std::abs(x) > 1e-12) {
                const double px = kPi * x;
                w = std::sin(px) / px * std::sin(px / kTaps) / (px / kTaps);
            }
            sum += w * static_cast<double>(at(*f + static_cast<uint64_t>(static_cast<int64_t>(k))));
        }
        return sum;
    };
    double lo = 0;
    double hi = 1;
    for (int i = 0; i < 40; ++i) {
        const double mid = (lo + hi) / 2;
        (value(mid) < half ? lo : hi) = mid;
    }
    PpsEdge e;
    e.frame = *f;
    e.frac = std::clamp((lo + hi) / 2, 0.0, std::nextafter(1.0, 0.0));
    e.height = opt_.rising ? step : -step;
    out.push_back(e);
}

}  // namespace framestamp
