// The PPS edge detector against synthetic pulses whose edge times are known exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "framestamp/pps.hpp"
#include "test_support.hpp"

using framestamp::PpsDetector;
using framestamp::PpsDetectorOptions;
using framestamp::PpsEdge;
using framestamp::SampleFormat;

namespace {

// Si(x) = integral of sin(t)/t from 0 to x, tabulated by Simpson's rule.
double si(double x) {
    static const std::vector<double> table = [] {
        constexpr double h = 0.005;
        std::vector<double> t(1 + static_cast<std::size_t>(400 / h));
        auto f = [](double u) { return u == 0 ? 1.0 : std::sin(u) / u; };
        for (std::size_t i = 1; i < t.size(); ++i) {
            const double a = static_cast<double>(i - 1) * h;
            t[i] = t[i - 1] + h / 6 * (f(a) + 4 * f(a + h / 2) + f(a + h));
        }
        return t;
    }();
    const double ax = std::min(std::abs(x), 399.0);
    const double pos = ax / 0.005;
    const auto i = static_cast<std::size_t>(pos);
    const double v = table[i] + (table[i + 1] - table[i]) * (pos - static_cast<double>(i));
    return x < 0 ? -v : v;
}

// A GPS PPS through an AC-coupled line input, as an ADC sees it: a step band-limited by the
// anti-alias filter (ideal low-pass at 0.45 of the rate: linear phase, so its half-height is
// the edge's time), a high-pass decay, the pulse's end 100 ms later, and noise.
struct Pulses {
    double rate = 48000;
    double amplitude = 0.4;
    double decay_s = 0.01;
    double width_s = 0.1;
    double noise = 1e-3;
    double cutoff = 0.45;  // of the sample rate

    double edge(double dt_frames) const { return 0.5 + si(2 * M_PI * cutoff * dt_frames) / M_PI; }
    // Value at frame n for edges at edge_frames (in frames, fractional).
    std::vector<float> render(std::size_t frames, const std::vector<double>& edge_frames,
                              uint64_t seed) const {
        std::vector<double> x(frames, 0.0);
        for (double e : edge_frames) {
            const double end = e + width_s * rate;
            for (std::size_t n = 0; n < frames; ++n) {
                const double t = static_cast<double>(n);
                if (t < e - 400 || t > end + decay_s * rate * 12) {
                    continue;
                }
                // Rise, then decay towards 0 while high; the fall mirrors it.
                double v =
                    amplitude * edge(t - e) * std::exp(-std::max(0.0, t - e) / (decay_s * rate));
                v -= amplitude * edge(t - end) *
                     std::exp(-std::max(0.0, t - end) / (decay_s * rate));
                x[n] += v;
            }
        }
        std::mt19937_64 rng(seed);
        std::normal_distribution<double> g(0.0, noise);
        std::vector<float> out(frames);
        for (std::size_t n = 0; n < frames; ++n) {
            out[n] = static_cast<float>(x[n] + g(rng));
        }
        return out;
    }
};

std::vector<PpsEdge> detect(const std::vector<float>& x, const PpsDetectorOptions& o,
                            std::size_t block = 480, uint64_t first = 1000) {
    PpsDetector d(48000, o);
    std::vector<PpsEdge> out;
    for (std::size_t i = 0; i < x.size(); i += block) {
        const std::size_t n = std::min(block, x.size() - i);
        d.feed_normalised(x.data() + i, n, first + i, out);
    }
    return out;
}

}  // namespace

TEST(PpsDetector, FindsEachEdgeToAFewHundredthsOfASample) {
    Pulses p;
    std::vector<double> edges;
    std::mt19937_64 rng(fstest::test_seed(7));
    std::uniform_real_distribution<double> phase(0.0, 1.0);
    for (int k = 0; k < 8; ++k) {
        edges.push_back(48000.0 * k + 3000 + phase(rng));  // every sub-sample phase
    }
    const auto x = p.render(48000 * 8 + 6000, edges, fstest::test_seed(7));
    const auto found = detect(x, {});
    ASSERT_EQ(found.size(), edges.size());
    double worst = 0;
    for (std::size_t i = 0; i < edges.size(); ++i) {
        const double at = static_cast<double>(found[i].frame - 1000) + found[i].frac;
        worst = std::max(worst, std::abs(at - edges[i]));
        EXPECT_NEAR(found[i].height, p.amplitude, 0.05);
    }
    std::printf("worst edge error %.4f frames (%.2f µs at 48 kHz)\n", worst, worst / 48e-3);
    EXPECT_LT(worst, 0.01);
}

TEST(PpsDetector, BlockBoundariesAndFormatsDoNotMoveTheEdge) {
    Pulses p;
    p.noise = 0;
    const std::vector<double> edges{3000.37, 51000.81};
    const auto x = p.render(60000, edges, 1);
    const auto whole = detect(x, {}, x.size());
    const auto small = detect(x, {}, 7);
    ASSERT_EQ(whole.size(), 2U);
    ASSERT_EQ(small.size(), 2U);
    for (std::size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(whole[i].frame, small[i].frame);
        EXPECT_DOUBLE_EQ(whole[i].frac, small[i].frac);
    }
    // The same pulses as interleaved S16 stereo on channel 1.
    std::vector<int16_t> s16(x.size() * 2);
    for (std::size_t n = 0; n < x.size(); ++n) {
        s16[2 * n] = 12345;
        s16[2 * n + 1] = static_cast<int16_t>(std::lround(static_cast<double>(x[n]) * 32767.0));
    }
    PpsDetector d(48000, {});
    std::vector<PpsEdge> out;
    d.feed(s16.data(), x.size(), SampleFormat::s16_le, 2, 1, 1000, out);
    ASSERT_EQ(out.size(), 2U);
    for (std::size_t i = 0; i < 2; ++i) {
        EXPECT_NEAR(static_cast<double>(out[i].frame - 1000) + out[i].frac, edges[i], 0.01);
    }
}

TEST(PpsDetector, FallingPolarityTheTrailingEdgeAndHumAreNotEdges) {
    Pulses p;
    const std::vector<double> edges{3000.5, 51000.25};
    auto x = p.render(100000, edges, 2);
    // Rising: the two leading edges only (the pulse's end falls; the hold-off covers its decay).
    EXPECT_EQ(detect(x, {}).size(), 2U);
    // An inverted input with polarity falling finds the same two.
    for (float& v : x) {
        v = -v;
    }
    PpsDetectorOptions fall;
    fall.rising = false;
    const auto inv = detect(x, fall);
    ASSERT_EQ(inv.size(), 2U);
    EXPECT_NEAR(static_cast<double>(inv[0].frame - 1000) + inv[0].frac, edges[0], 0.05);
    // Mains hum and noise alone, no pulses: nothing.
    std::vector<float> hum(100000);
    for (std::size_t n = 0; n < hum.size(); ++n) {
        hum[n] =
            static_cast<float>(0.3 * std::sin(2 * M_PI * 50.0 * static_cast<double>(n) / 48000));
    }
    EXPECT_TRUE(detect(hum, {}).empty());
}

TEST(PpsDetector, ResetAtAGapForgetsTheHalfSeenEdge) {
    Pulses p;
    p.noise = 0;
    const auto x = p.render(10000, {3000.5}, 3);
    PpsDetector d(48000, {});
    std::vector<PpsEdge> out;
    d.feed_normalised(x.data(), 3002, 0, out);  // the edge's first samples...
    // ...then a gap of 1000 frames: the rest arrives at a later frame number.
    d.feed_normalised(x.data() + 3002, x.size() - 3002, 4002, out);
    EXPECT_TRUE(out.empty());
}
