// The emulated card's physics: clock integral and inverse, click placement, sample packing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

#include "fsemu_model.hpp"

namespace {

using fsemu::CardClock;
using fsemu::ClockParams;
using fsemu::Format;

uint64_t test_seed() {
    const char* s = std::getenv("FS_TEST_SEED");
    return s != nullptr ? std::strtoull(s, nullptr, 10) : 20261124ULL;
}

TEST(CardClock, NoDriftCountsNominalFrames) {
    CardClock clock(ClockParams{48000, 0, 0, 86400, 0});
    EXPECT_DOUBLE_EQ(clock.frames_at(0), 0.0);
    EXPECT_NEAR(clock.frames_at(1'000'000'000), 48000.0, 1e-9);
    EXPECT_NEAR(clock.frames_at(3600LL * 1'000'000'000), 48000.0 * 3600, 1e-6);
}

TEST(CardClock, OffsetPpmAddsFramesProportionally) {
    // 500 ppm fast over 4 s at 48 kHz: 96 frames more than nominal.
    CardClock clock(ClockParams{48000, 500, 0, 86400, 0});
    EXPECT_NEAR(clock.frames_at(4'000'000'000) - 192000.0, 96.0, 1e-6);
    // 50 ppm over 120 days: 120*86400*50e-6 = 518.4 s worth of frames.
    CardClock slow(ClockParams{48000, -50, 0, 86400, 0});
    const int64_t t = 120LL * 86400 * 1'000'000'000;
    EXPECT_NEAR((slow.frames_at(t) - 48000.0 * 120 * 86400) / 48000.0, -518.4, 1e-3);
}

TEST(CardClock, WanderIntegratesToZeroOverWholePeriods) {
    CardClock clock(ClockParams{48000, 10, 5, 600, 0.3});
    const int64_t period_ns = 600LL * 1'000'000'000;
    const double nominal = 48000.0 * 600 * (1 + 10e-6);
    EXPECT_NEAR(clock.frames_at(period_ns), nominal, 1e-6);
    EXPECT_NEAR(clock.frames_at(2 * period_ns), 2 * nominal, 1e-6);
    // Half a period with phase 0: wander adds amplitude * P / pi seconds * 1e-6 of frames.
    CardClock sine(ClockParams{48000, 0, 5, 600, 0});
    const double extra = 48000.0 * 5e-6 * 600 / M_PI;
    EXPECT_NEAR(sine.frames_at(period_ns / 2) - 48000.0 * 300, extra, 1e-6);
}

TEST(CardClock, TimeOfInvertsFramesAt) {
    std::mt19937_64 rng(test_seed());
    std::uniform_real_distribution<double> ppm(-200, 200);
    std::uniform_real_distribution<double> frac(0, 1);
    for (int i = 0; i < 200; ++i) {
        CardClock clock(
            ClockParams{96000, ppm(rng), 5 * frac(rng), 60 + 3600 * frac(rng), 6.28 * frac(rng)});
        const double frame = 96000.0 * 86400 * 10 * frac(rng);  // up to 10 days in
        const int64_t t = clock.time_of(frame);
        EXPECT_NEAR(clock.frames_at(t), frame, 96000.0 * 2e-9) << "seed " << test_seed();
    }
}

TEST(Clicks, NearestFrameToEachUtcSecond) {
    // Origin 0.25 s before a whole second; 100 ppm fast.
    CardClock clock(ClockParams{48000, 100, 0, 86400, 0});
    const int64_t origin = 1'700'000'000LL * 1'000'000'000 - 250'000'000;
    for (int64_t s = 1'700'000'000; s < 1'700'000'005; ++s) {
        const int64_t k = fsemu::click_frame(clock, origin, s, 0);
        const double t_k = static_cast<double>(origin + clock.time_of(static_cast<double>(k)));
        // Its true time is within half a sample (10.4 us) of the second.
        EXPECT_LE(std::fabs(t_k - static_cast<double>(s) * 1e9), 1e9 / 48000 / 2 + 1);
    }
    // Second 1'700'000'001 is 1.25 s after the origin: 1.25 * 48000 * (1 + 1e-4) = 60006 frames.
    EXPECT_EQ(fsemu::click_frame(clock, origin, 1'700'000'001, 0), 60006);
    // A 250 us delay moves the click 12 frames later.
    EXPECT_EQ(fsemu::click_frame(clock, origin, 1'700'000'001, 250'000), 60006 + 12);
}

TEST(Clicks, GeneratorPlacesClicksWhereScheduled) {
    CardClock clock(ClockParams{8000, 300, 2, 30, 0});
    const int64_t origin = 1'700'000'000LL * 1'000'000'000 - 123'456'789;
    fsemu::SignalParams p;
    p.signal = fsemu::Signal::clicks;
    p.amplitude = 0.5;
    p.click_frames = 3;
    p.click_delay_ns = {0, 1'000'000};
    fsemu::SignalGenerator gen(clock, origin, p, 2);
    for (unsigned c = 0; c < 2; ++c) {
        const auto clicks = gen.clicks_in(0, 8000 * 5, c);
        ASSERT_EQ(clicks.size(), 5U);
        for (std::size_t i = 0; i < clicks.size(); ++i) {
            EXPECT_EQ(clicks[i],
                      fsemu::click_frame(clock, origin, 1'700'000'000 + static_cast<int64_t>(i),
                                         p.click_delay_ns[c]));
        }
        // The samples: exactly click_frames non-zero frames at each click.
        int64_t nonzero = 0;
        for (uint64_t f = 0; f < 8000 * 5; ++f) {
            const int32_t v = gen.value(f, c);
            if (v != 0) {
                ++nonzero;
                const auto fi = static_cast<int64_t>(f);
                bool in_click = false;
                for (int64_t k : clicks) {
                    in_click = in_click || (fi >= k && fi < k + 3);
                }
                EXPECT_TRUE(in_click) << "frame " << f;
            }
        }
        EXPECT_EQ(nonzero, 15);
    }
}

TEST(CardPointer, UsbStepsFollowTheRatePatternAt44k) {
    CardClock clock(ClockParams{44100, 0, 0, 86400, 0});
    fsemu::PointerParams p;
    p.mode = fsemu::PointerMode::usb;
    fsemu::CardPointer ptr(clock, p);
    for (int64_t j = 0; j < 1000; ++j) {
        const auto a = ptr.step(j);
        const auto b = ptr.step(j + 1);
        EXPECT_EQ(b.true_ns - a.true_ns, 1'000'000);
        EXPECT_TRUE(b.frame - a.frame == 44 || b.frame - a.frame == 45) << j;
        EXPECT_EQ(ptr.step(j + 10).frame - a.frame, 441) << j;
    }
    // The visible position only moves at packet boundaries.
    EXPECT_EQ(ptr.visible_at(1'999'999), 44);
    EXPECT_EQ(ptr.visible_at(2'000'000), 88);
    EXPECT_EQ(ptr.visible_at(9'999'999), 396);
    EXPECT_EQ(ptr.visible_at(10'000'000), 441);
}

TEST(CardPointer, UrbOfFourPacketsAt192k) {
    CardClock clock(ClockParams{192000, 0, 0, 86400, 0});
    fsemu::PointerParams p;
    p.mode = fsemu::PointerMode::usb;
    p.urb_packets = 4;
    fsemu::CardPointer ptr(clock, p);
    EXPECT_EQ(ptr.nominal_step_ns(), 4'000'000);
    EXPECT_EQ(ptr.step(7).frame - ptr.step(6).frame, 768);
    EXPECT_EQ(ptr.visible_at(3'999'999), 0);
    EXPECT_EQ(ptr.visible_at(4'000'000), 768);
}

TEST(CardPointer, PeriodStepsCountFromTheStart) {
    CardClock clock(ClockParams{48000, 0, 0, 86400, 0});
    fsemu::PointerParams p;
    p.mode = fsemu::PointerMode::period;
    p.period_frames = 480;
    fsemu::CardPointer ptr(clock, p);
    const int64_t start = ptr.start(1'234'567);  // frame 59.26: anchored at 59
    EXPECT_EQ(start, 59);
    EXPECT_EQ(ptr.visible_at(5'000'000), 59);
    EXPECT_EQ(ptr.visible_at(ptr.step(1).true_ns), 59 + 480);
    EXPECT_EQ(ptr.visible_at(ptr.step(3).true_ns - 1), 59 + 2 * 480);
}

TEST(CardPointer, CompletionLatencyIsDeterministicInOrderAndAsConfigured) {
    CardClock clock(ClockParams{48000, 0, 0, 86400, 0});
    fsemu::PointerParams p;
    p.mode = fsemu::PointerMode::usb;
    p.completion_mean_ns = 300'000;
    p.tail_prob = 0.01;
    p.tail_ns = 4'000'000;
    p.seed = test_seed();
    double sum = 0;
    const int n = 200000;
    for (int j = 0; j < n; ++j) {
        const int64_t l = fsemu::completion_latency_ns(p, j);
        ASSERT_EQ(l, fsemu::completion_latency_ns(p, j));
        ASSERT_GE(l, 0);
        sum += static_cast<double>(l);
    }
    // Mean: 300 us + 1 % of a uniform 0..4 ms = 320 us.
    EXPECT_NEAR(sum / n, 320'000.0, 5'000.0);
    fsemu::CardPointer ptr(clock, p);
    std::vector<fsemu::PointerStep> passed;
    ptr.visible_at(1'000'000'000, &passed);  // first look: no history
    passed.clear();
    int64_t last_frame = ptr.visible_at(1'000'000'001);
    for (int64_t t = 1'000'000'002; t < 1'500'000'000; t += 50'000) {
        const int64_t pos = ptr.visible_at(t, &passed);
        EXPECT_GE(pos, last_frame);
        last_frame = pos;
        for (const auto& s : passed) {
            EXPECT_LE(s.true_ns + s.latency_ns, t);  // never visible before its completion
            EXPECT_EQ(s.latency_ns, fsemu::completion_latency_ns(p, s.index));
        }
        passed.clear();
        EXPECT_GT(ptr.next_visible_ns(), t);
    }
}

TEST(Counter, RoundTripsThroughEveryFormat) {
    const Format formats[] = {Format::s16_le, Format::s24_le, Format::s24_3le, Format::s32_le,
                              Format::float_le};
    unsigned char buf[4];
    for (Format f : formats) {
        for (uint64_t frame : {0ULL, 1ULL, 65535ULL, 65536ULL, 0x12345678ULL, 0xFFFFFFFFULL}) {
            const int32_t v0 = fsemu::counter_value(frame, 0);
            const int32_t v1 = fsemu::counter_value(frame, 1);
            fsemu::pack_sample(f, v0, buf);
            const int32_t u0 = fsemu::unpack_sample(f, buf);
            fsemu::pack_sample(f, v1, buf);
            const int32_t u1 = fsemu::unpack_sample(f, buf);
            EXPECT_EQ(u0, v0);
            EXPECT_EQ(u1, v1);
            EXPECT_EQ(fsemu::counter_decode(static_cast<int16_t>(u0 >> 16),
                                            static_cast<int16_t>(u1 >> 16)),
                      static_cast<uint32_t>(frame));
        }
    }
}

TEST(Packing, ByteLayoutIsLittleEndianWithCorrectWidth) {
    unsigned char b[4] = {0, 0, 0, 0};
    const int32_t v = 0x12345678;
    fsemu::pack_sample(Format::s16_le, v, b);
    EXPECT_EQ(b[0], 0x34);
    EXPECT_EQ(b[1], 0x12);
    fsemu::pack_sample(Format::s24_3le, v, b);
    EXPECT_EQ(b[0], 0x56);
    EXPECT_EQ(b[1], 0x34);
    EXPECT_EQ(b[2], 0x12);
    fsemu::pack_sample(Format::s24_le, -256, b);  // -1 in 24 bits, sign-extended into byte 3
    EXPECT_EQ(b[0], 0xFF);
    EXPECT_EQ(b[3], 0xFF);
    fsemu::pack_sample(Format::s32_le, v, b);
    EXPECT_EQ(b[0], 0x78);
    EXPECT_EQ(b[3], 0x12);
    fsemu::pack_sample(Format::float_le, INT32_MIN, b);  // -1.0f = 0xBF800000
    EXPECT_EQ(b[3], 0xBF);
    EXPECT_EQ(b[2], 0x80);
}

}  // namespace
