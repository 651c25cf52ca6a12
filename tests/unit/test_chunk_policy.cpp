// ChunkPolicy driven like the writer thread drives it: frames arrive in random blocks, timing
// points feed a LiveDriftEstimator, and every cut is checked against the exact model.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include "record/chunk_policy.hpp"
#include "record/live_drift.hpp"

namespace {

using framestamp::ChunkPolicy;
using framestamp::LiveDriftEstimator;

uint64_t test_seed() {
    const char* s = std::getenv("FS_TEST_SEED");
    return s != nullptr ? std::strtoull(s, nullptr, 10) : 20261124ULL;
}

constexpr int64_t kNsPerS = 1'000'000'000;
constexpr int64_t kEpochNs = 1'767'225'600'000'000'000;  // 2026-01-01T00:00:00Z

// The card's truth: frame f is at realtime t0_ns + f * ns_per_frame, plus step_ns from
// step_frame on (a realtime clock step).
struct Truth {
    int64_t t0_ns;
    double ns_per_frame;
    uint64_t step_frame = UINT64_MAX;
    int64_t step_ns = 0;

    bool after_step(uint64_t f) const { return f >= step_frame; }
    int64_t realtime_ns(uint64_t f) const {
        return t0_ns + std::llround(static_cast<double>(f) * ns_per_frame) +
               (after_step(f) ? step_ns : 0);
    }
    // Exact (fractional) frame at realtime t in the timeline before or after the step.
    double exact_frame(int64_t t_ns, bool after) const {
        return static_cast<double>(t_ns - t0_ns - (after ? step_ns : 0)) / ns_per_frame;
    }
};

struct Cut {
    uint64_t frame;
    int64_t utc_ns;
    bool estimator_ready;  // when decided; else the estimate ran at the nominal rate
};

struct Session {
    int64_t first_name_ns = 0;
    std::vector<Cut> cuts;
};

// Writer-thread simulation: blocks of 1..max_block frames; a timing point every 4800 frames up
// to the block's end is added first; with reset_on_step the estimator is reset when the first
// point after the step arrives (what the daemon does when it sees the step).
Session simulate(const Truth& truth, uint32_t chunk_seconds, uint64_t total_frames,
                 uint64_t max_block, uint64_t seed, bool reset_on_step) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<uint64_t> block(1, max_block);
    LiveDriftEstimator est(48000);
    ChunkPolicy policy(chunk_seconds);
    Session run;
    uint64_t next_point = 0;
    uint64_t written = 0;  // frames below this are in a chunk
    uint64_t chunk_first = 0;
    bool named = false;
    while (written < total_frames) {
        const uint64_t end = std::min(total_frames, written + block(rng));
        for (; next_point <= end; next_point += 4800) {
            if (reset_on_step && truth.after_step(next_point) &&
                !truth.after_step(next_point - 4800)) {
                est.reset();
            }
            est.add(next_point, truth.realtime_ns(next_point));
        }
        if (!named) {
            run.first_name_ns = ChunkPolicy::session_name_ns(est, 0).value();
            named = true;
        }
        while (auto b = policy.next_boundary(est, chunk_first, end)) {
            EXPECT_GT(*b, chunk_first) << "empty chunk, seed " << seed;
            EXPECT_GE(*b, written) << "cut before frames already written, seed " << seed;
            EXPECT_LT(*b, end);
            // Asking again gives the same answer.
            EXPECT_EQ(policy.next_boundary(est, chunk_first, end), b);
            run.cuts.push_back(Cut{*b, policy.boundary_utc_ns(), est.ready()});
            written = *b;
            chunk_first = *b;
        }
        written = end;
    }
    return run;
}

// Every cut is the frame nearest its UTC in the timeline it lies in. Before the estimator is
// ready (the first second of points) it runs at the nominal rate, 37 ppm slow: up to 1.8 frames
// off after a second.
void expect_exact(const Truth& truth, const Cut& cut, uint64_t seed) {
    const double exact = truth.exact_frame(cut.utc_ns, truth.after_step(cut.frame));
    const double tolerance_frames = cut.estimator_ready ? 1e-3 : 2.0;
    EXPECT_LE(std::abs(static_cast<double>(cut.frame) - exact), 0.5 + tolerance_frames)
        << "cut at frame " << cut.frame << " for UTC " << cut.utc_ns << " (exact " << exact
        << "), estimator ready " << cut.estimator_ready << ", seed " << seed;
}

TEST(ChunkPolicy, CutsAtTheFramesNearestUtcMultiples) {
    std::mt19937_64 rng(test_seed());
    for (uint32_t chunk_s : {1U, 10U, 60U}) {
        const uint64_t seed = rng();
        // 48 kHz, +37 ppm; the session starts at a random instant (not second-aligned).
        const Truth truth{kEpochNs + static_cast<int64_t>(seed % (3600 * kNsPerS)),
                          1e9 / (48000 * 1.000037)};
        const uint64_t total = 48000ULL * 300;
        const Session run = simulate(truth, chunk_s, total, 8192, seed, false);

        EXPECT_EQ(run.first_name_ns, (truth.t0_ns / kNsPerS) * kNsPerS);
        const int64_t period_ns = chunk_s * kNsPerS;
        const int64_t end_ns = truth.realtime_ns(total - 1);
        const int64_t first_boundary = (truth.t0_ns / period_ns + 1) * period_ns;
        ASSERT_EQ(run.cuts.size(),
                  static_cast<std::size_t>((end_ns - first_boundary) / period_ns + 1))
            << chunk_s << " s chunks, seed " << seed;
        for (std::size_t i = 0; i < run.cuts.size(); ++i) {
            EXPECT_EQ(run.cuts[i].utc_ns, first_boundary + static_cast<int64_t>(i) * period_ns);
            expect_exact(truth, run.cuts[i], seed);
        }
    }
}

TEST(ChunkPolicy, OneSecondChunksWithBlocksOfSeveralSeconds) {
    const uint64_t seed = test_seed() + 1;
    const Truth truth{kEpochNs + 123'456'789, 1e9 / (48000 * 1.000037)};
    const uint64_t total = 48000ULL * 120;
    const Session run = simulate(truth, 1, total, 48000ULL * 5, seed, false);
    ASSERT_EQ(run.cuts.size(), 120U);
    for (std::size_t i = 0; i < run.cuts.size(); ++i) {
        EXPECT_EQ(run.cuts[i].utc_ns, kEpochNs + static_cast<int64_t>(i + 1) * kNsPerS);
        expect_exact(truth, run.cuts[i], seed);
        if (i > 0) {
            // Consecutive one-second chunks hold 48000 * 1.000037 frames, give or take one.
            EXPECT_NEAR(static_cast<double>(run.cuts[i].frame - run.cuts[i - 1].frame), 48001.776,
                        1.0);
        }
    }
}

// An estimator on an exact nominal-rate line through (frame, realtime_ns), 2 s of points.
LiveDriftEstimator line_through(uint64_t frame, int64_t realtime_ns) {
    LiveDriftEstimator est(48000);
    for (uint64_t f = frame; f <= frame + 96000; f += 4800) {
        est.add(f, realtime_ns + static_cast<int64_t>(f - frame) * 62500 / 3);
    }
    return est;
}

TEST(ChunkPolicy, AFirstFrameWithinHalfAFrameOfABoundaryBelongsToIt) {
    const double npf = 1e9 / 48000;
    const int64_t u = kEpochNs + 600 * kNsPerS;  // a 10-minute boundary
    const uint64_t f = 1'000'000;
    for (double offset_frames : {0.3, -0.3}) {
        const auto est = line_through(f, u + std::llround(offset_frames * npf));
        EXPECT_EQ(ChunkPolicy::session_name_ns(est, f), u);
        ChunkPolicy policy(600);
        const auto b = policy.next_boundary(est, f, f + 48000ULL * 700);
        ASSERT_TRUE(b.has_value());
        EXPECT_EQ(policy.boundary_utc_ns(), u + 600 * kNsPerS);
        EXPECT_EQ(*b, f + 48000ULL * 600);
    }
    // 0.7 frame before the boundary: the frame after it is nearer, so this chunk is one frame.
    const auto est = line_through(f, u - std::llround(0.7 * npf));
    EXPECT_EQ(ChunkPolicy::session_name_ns(est, f), u - kNsPerS);
    ChunkPolicy policy(600);
    EXPECT_EQ(policy.next_boundary(est, f, f + 1), std::nullopt);
    EXPECT_EQ(policy.next_boundary(est, f, f + 2), f + 1);
    EXPECT_EQ(policy.boundary_utc_ns(), u);
}

TEST(ChunkPolicy, ADecidedBoundaryStaysAndNeverPrecedesWrittenFrames) {
    const int64_t t0 = kEpochNs + 400'000'000;  // frame 0 at .4 s; boundary at frame 28800
    auto est = line_through(0, t0);
    ChunkPolicy policy(1);
    EXPECT_EQ(policy.next_boundary(est, 0, 28790), std::nullopt);  // 28790 frames written
    // The estimate moves 1 ms later: the boundary now maps to frame 28752, already written.
    est = line_through(0, t0 + 1'000'000);
    EXPECT_EQ(policy.next_boundary(est, 0, 28800), 28790U);
    EXPECT_EQ(policy.boundary_utc_ns(), kEpochNs + kNsPerS);
    // Decided: another estimate or more frames change nothing.
    est = line_through(0, t0 - 5'000'000);
    EXPECT_EQ(policy.next_boundary(est, 0, 40000), 28790U);
    // The next chunk heads for the next second.
    EXPECT_EQ(policy.next_boundary(est, 28790, 40000), std::nullopt);
    const auto b = policy.next_boundary(est, 28790, 80000);
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(policy.boundary_utc_ns(), kEpochNs + 2 * kNsPerS);
    EXPECT_EQ(*b, est.frame_at(kEpochNs + 2 * kNsPerS));
}

TEST(ChunkPolicy, NothingWithoutPointsOrFrames) {
    LiveDriftEstimator est(48000);
    ChunkPolicy policy(10);
    EXPECT_EQ(ChunkPolicy::session_name_ns(est, 0), std::nullopt);
    EXPECT_EQ(policy.next_boundary(est, 0, 48000ULL * 20), std::nullopt);
    est.add(48000ULL * 20, kEpochNs + 5 * kNsPerS);  // frame 0 at 15 s before the epoch
    // 20 s of frames were already written without an estimate, past the boundaries at -10 s and
    // 0 s: the chunk runs on to the next boundary rather than being cut late and misnamed.
    EXPECT_EQ(policy.next_boundary(est, 0, 48000ULL * 20), std::nullopt);
    EXPECT_EQ(policy.next_boundary(est, 0, 48000ULL * 20 + 1), std::nullopt);
    EXPECT_EQ(policy.next_boundary(est, 0, 48000ULL * 30), 48000U * 25);
    EXPECT_EQ(policy.boundary_utc_ns(), kEpochNs + 10 * kNsPerS);
    EXPECT_THROW(ChunkPolicy(0), std::invalid_argument);
}

TEST(ChunkPolicy, ResetStartsAfresh) {
    auto est = line_through(0, kEpochNs + 400'000'000);
    ChunkPolicy policy(1);
    ASSERT_EQ(policy.next_boundary(est, 0, 48000), 28800U);
    policy.reset();
    // Frame 28800 is no longer known as a boundary: a fresh chunk that starts on one.
    const auto b = policy.next_boundary(est, 28800, 100000);
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(*b, 28800U + 48000U);
    EXPECT_EQ(policy.boundary_utc_ns(), kEpochNs + 2 * kNsPerS);
}

// Boundary UTCs of a run: multiples of the period, strictly increasing; and at most `extra`
// more cuts than periods in the run (no burst of tiny chunks).
void expect_orderly(const Session& run, int64_t period_ns, std::size_t periods, std::size_t extra,
                    uint64_t seed) {
    EXPECT_LE(run.cuts.size(), periods + extra) << "seed " << seed;
    for (std::size_t i = 0; i < run.cuts.size(); ++i) {
        EXPECT_EQ(run.cuts[i].utc_ns % period_ns, 0);
        if (i > 0) {
            EXPECT_GT(run.cuts[i].utc_ns, run.cuts[i - 1].utc_ns) << "seed " << seed;
            EXPECT_GT(run.cuts[i].frame, run.cuts[i - 1].frame) << "seed " << seed;
        }
    }
}

TEST(ChunkPolicy, ForwardClockStepOfMinutesGivesOneOddChunk) {
    std::mt19937_64 rng(test_seed() + 2);
    for (bool reset_on_step : {true, false}) {
        const uint64_t seed = rng();
        Truth truth{kEpochNs + 2'500'000'000, 1e9 / (48000 * 1.000037)};
        truth.step_frame = 48000ULL * 63 + 1000;  // about 65.5 s UTC
        truth.step_ns = 300 * kNsPerS + 4'300'000'000;
        const uint64_t total = 48000ULL * 150;
        const Session run = simulate(truth, 10, total, 8192, seed, reset_on_step);
        expect_orderly(run, 10 * kNsPerS, 16, 1, seed);
        for (const Cut& cut : run.cuts) {
            expect_exact(truth, cut, seed);
        }

        // Before the step: :10 ... :60; the chunk that started at :60 runs across the step to
        // the first new boundary; then every 10 s.
        std::size_t i = 0;
        while (i < run.cuts.size() && run.cuts[i].frame < truth.step_frame) {
            EXPECT_LE(run.cuts[i].utc_ns, kEpochNs + 60 * kNsPerS);
            ++i;
        }
        EXPECT_EQ(i, 6U) << "seed " << seed;
        ASSERT_LT(i, run.cuts.size());
        const int64_t step_utc = truth.realtime_ns(truth.step_frame);
        EXPECT_GT(run.cuts[i].utc_ns, step_utc);
        EXPECT_LE(run.cuts[i].utc_ns, step_utc + 10 * kNsPerS + (reset_on_step ? 0 : kNsPerS))
            << "seed " << seed;
    }
}

TEST(ChunkPolicy, BackwardClockStepLengthensTheChunkInProgress) {
    std::mt19937_64 rng(test_seed() + 3);
    for (bool reset_on_step : {true, false}) {
        const uint64_t seed = rng();
        Truth truth{kEpochNs + 2'500'000'000, 1e9 / (48000 * 1.000037)};
        truth.step_frame = 48000ULL * 63 + 1000;
        truth.step_ns = -(120 * kNsPerS + 4'300'000'000);
        const uint64_t total = 48000ULL * 300;
        const Session run = simulate(truth, 10, total, 8192, seed, reset_on_step);
        expect_orderly(run, 10 * kNsPerS, 30, 0, seed);
        for (const Cut& cut : run.cuts) {
            expect_exact(truth, cut, seed);
        }

        // :10 ... :60 before the step; the next boundary is still :70, about 124 s later in
        // frames, and names never repeat.
        ASSERT_GE(run.cuts.size(), 8U);
        EXPECT_EQ(run.cuts[5].utc_ns, kEpochNs + 60 * kNsPerS);
        EXPECT_EQ(run.cuts[6].utc_ns, kEpochNs + 70 * kNsPerS);
        EXPECT_GT(run.cuts[6].frame, truth.step_frame + 48000ULL * 120);
        EXPECT_EQ(run.cuts[7].utc_ns, kEpochNs + 80 * kNsPerS);
    }
}

}  // namespace
