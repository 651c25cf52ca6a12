// The capture loop against a scripted fake device: frame counting, timing points, overrun
// accounting, device loss and return, a full ring. No real time, no ALSA.
#include <gtest/gtest.h>

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <functional>
#include <vector>

#include "framestamp/capture.hpp"

namespace {

using framestamp::CaptureLoop;
using framestamp::CaptureOptions;
using framestamp::CaptureRecord;
using framestamp::CaptureStats;
using framestamp::RecordKind;

// A device in virtual time: every read of n frames advances the card by n frames. Its own
// position counter is 32-bit and wraps, like ALSA's pointers on 32-bit systems; the loop must not
// care. Scripted faults by read number.
class FakeDevice final : public framestamp::CaptureSource {
  public:
    uint32_t rate_hz = 48000;
    uint64_t avail_after_read = 96;   // frames already captured when status is asked
    uint32_t hw_ptr32 = 0xFFFF0000U;  // the device's own wrapping pointer
    int64_t rt0_ns = 1'795'500'000'000'000'000;
    uint64_t card_frames = 0;  // frames the card produced since open (virtual time)
    int open_failures = 0;     // opens that fail with -ENODEV first
    std::function<int64_t(uint64_t read_no, uint64_t frames)> script;  // override a read's result
    std::function<void()> on_read;
    std::function<void(framestamp::StatusReading*)> on_status;  // alter a status reading
    uint64_t reads = 0;
    int opens = 0;
    int64_t last_read_mono_ns = 0;
    std::vector<int64_t> read_to_status_ns;  // real time from each read's return to its status
    bool fill_counter = false;

    framestamp::OpenResult open(const framestamp::CaptureParams& p) override {
        framestamp::OpenResult r;
        ++opens;
        if (open_failures > 0) {
            --open_failures;
            r.error = -ENODEV;
            r.message = "fake: no such device";
            return r;
        }
        channels_ = p.channels;
        r.granted.period_frames = p.period_frames;
        r.granted.buffer_frames = p.buffer_frames;
        r.granted.pcm_type = "FAKE";
        return r;
    }
    int64_t read(void* buffer, uint64_t frames) override {
        ++reads;
        if (on_read) {
            on_read();
        }
        if (script) {
            const int64_t r = script(reads, frames);
            if (r <= 0) {
                return r;
            }
            frames = static_cast<uint64_t>(r);
        }
        if (fill_counter) {
            auto* s = static_cast<int16_t*>(buffer);
            for (uint64_t i = 0; i < frames; ++i) {
                for (uint32_t c = 0; c < channels_; ++c) {
                    s[i * channels_ + c] = static_cast<int16_t>(stream_frames_ + i);
                }
            }
        }
        card_frames += frames;
        stream_frames_ += frames;
        hw_ptr32 += static_cast<uint32_t>(frames);
        last_read_mono_ns = framestamp::monotonic_ns();
        return static_cast<int64_t>(frames);
    }
    int status(framestamp::StatusReading* out) override {
        read_to_status_ns.push_back(framestamp::monotonic_ns() - last_read_mono_ns);
        out->avail_frames = avail_after_read;
        out->delay_frames = static_cast<int64_t>(avail_after_read);
        const uint64_t pos = card_frames + avail_after_read;
        out->realtime_ns = rt0_ns + static_cast<int64_t>(pos * 1'000'000'000ULL / rate_hz);
        out->monotonic_raw_ns = out->realtime_ns - rt0_ns + 1'000;
        out->window_ns = 1500;
        if (on_status) {
            on_status(out);
        }
        return 0;
    }
    int restart() override {
        stream_frames_ = 0;
        return 0;
    }
    void close() override {}
    // Make `frames` pass on the card without being read (a stall).
    void lose(uint64_t frames) { card_frames += frames; }

  private:
    uint32_t channels_ = 2;
    uint64_t stream_frames_ = 0;
};

class VectorSink final : public framestamp::CaptureSink {
  public:
    uint64_t space = UINT64_MAX;
    uint64_t audio_frames = 0;
    bool keep_audio = false;
    std::vector<int16_t> audio;
    std::vector<CaptureRecord> records;
    uint32_t channels = 2;

    uint64_t audio_space_frames() const override { return space; }
    void push_audio(const void* data, uint64_t frames) override {
        audio_frames += frames;
        if (keep_audio) {
            const auto* s = static_cast<const int16_t*>(data);
            audio.insert(audio.end(), s, s + frames * channels);
        }
    }
    bool push_record(const CaptureRecord& r) override {
        records.push_back(r);
        return true;
    }
    std::vector<CaptureRecord> of(RecordKind k) const {
        std::vector<CaptureRecord> out;
        for (const auto& r : records) {
            if (r.kind == k) {
                out.push_back(r);
            }
        }
        return out;
    }
};

CaptureOptions options(uint32_t period = 480) {
    CaptureOptions o;
    o.params.device = "fake";
    o.params.period_frames = period;
    o.params.buffer_frames = period * 8;
    o.timing_points_per_s = 1'000'000'000;  // a point after every read
    o.reopen_interval_ns = 0;
    return o;
}

TEST(CaptureLoop, CountsPast32BitsWhileTheDevicePointerWraps) {
    FakeDevice dev;
    VectorSink sink;
    CaptureStats stats;
    std::atomic<bool> stop{false};
    const uint32_t period = 1U << 20;
    const uint64_t target = (1ULL << 32) + 5ULL * period;  // past 2^32 frames
    dev.on_read = [&] {
        if (dev.card_frames >= target) {
            stop = true;
        }
    };
    CaptureLoop loop(dev, sink, nullptr, options(period), stats);
    loop.run(stop);
    EXPECT_GE(sink.audio_frames, 1ULL << 32);
    EXPECT_LT(dev.hw_ptr32, 0xFFFF0000U);  // the device's own pointer wrapped (more than once)
    const auto points = sink.of(RecordKind::point);
    ASSERT_GE(points.size(), 4096U);
    for (std::size_t i = 1; i < points.size(); ++i) {
        ASSERT_GT(points[i].hw_frame, points[i - 1].hw_frame);
    }
    // The last point's position is exactly frames read + avail, above 2^32.
    EXPECT_EQ(points.back().hw_frame, points.back().at_frame + dev.avail_after_read);
    EXPECT_GT(points.back().hw_frame, 1ULL << 32);
}

TEST(CaptureLoop, SessionStartCarriesGrantedParametersThenPoints) {
    FakeDevice dev;
    VectorSink sink;
    CaptureStats stats;
    std::atomic<bool> stop{false};
    dev.on_read = [&] { stop = dev.reads >= 10; };
    CaptureLoop loop(dev, sink, nullptr, options(), stats);
    loop.run(stop);
    ASSERT_FALSE(sink.records.empty());
    EXPECT_EQ(sink.records[0].kind, RecordKind::session_start);
    EXPECT_EQ(sink.records[0].session, 1U);
    const std::string detail = sink.records[0].detail;
    EXPECT_NE(detail.find("device=fake"), std::string::npos);
    EXPECT_NE(detail.find("period_frames=480"), std::string::npos);
    EXPECT_NE(detail.find("pcm_type=FAKE"), std::string::npos);
    const auto points = sink.of(RecordKind::point);
    ASSERT_EQ(points.size(), 10U);
    EXPECT_EQ(points[0].at_frame, 480U);
    EXPECT_EQ(points[0].hw_frame, 480U + 96U);
    EXPECT_EQ(points[0].window_ns, 1500);
}

TEST(CaptureLoop, OverrunIsCountedFromTimestampsAndFilled) {
    FakeDevice dev;
    VectorSink sink;
    CaptureStats stats;
    std::atomic<bool> stop{false};
    const uint64_t lost = 12'345;
    dev.script = [&](uint64_t read_no, uint64_t frames) -> int64_t {
        if (read_no == 200) {
            // The reader stalled while the card produced `lost` more frames than were ever read:
            // frame 0 of the restarted stream is card frame (frames read) + lost.
            dev.lose(lost);
            return -EPIPE;
        }
        return static_cast<int64_t>(frames);
    };
    dev.on_read = [&] { stop = dev.reads >= 400; };
    CaptureLoop loop(dev, sink, nullptr, options(), stats);
    loop.run(stop);
    const auto ov = sink.of(RecordKind::overrun);
    ASSERT_EQ(ov.size(), 1U);
    EXPECT_EQ(ov[0].at_frame, 199U * 480U);
    // Estimated from the last point before and the first status after, at the card's rate.
    EXPECT_NEAR(static_cast<double>(ov[0].frames), static_cast<double>(lost), 1.0);
    EXPECT_TRUE(ov[0].fill);
    EXPECT_NE(std::string(ov[0].detail).find("filled=silence"), std::string::npos);
    EXPECT_EQ(stats.overruns.load(), 1U);
    // After the gap the session index continues past the fill: the next point's position is
    // (frames before) + (fill) + (read since restart) + avail.
    const auto points = sink.of(RecordKind::point);
    bool checked = false;
    for (const auto& p : points) {
        if (p.at_frame > ov[0].at_frame + static_cast<uint64_t>(ov[0].frames)) {
            EXPECT_EQ(p.hw_frame, p.at_frame + dev.avail_after_read);
            checked = true;
            break;
        }
    }
    EXPECT_TRUE(checked);
    // Audio handed over excludes the fill (the writer writes the zeros).
    EXPECT_EQ(sink.audio_frames, (400U - 1U) * 480U);
}

TEST(CaptureLoop, OverrunWithoutFillKeepsIndexContiguous) {
    FakeDevice dev;
    VectorSink sink;
    CaptureStats stats;
    std::atomic<bool> stop{false};
    dev.script = [&](uint64_t read_no, uint64_t frames) -> int64_t {
        if (read_no == 50) {
            dev.lose(4800);
            return -EPIPE;
        }
        return static_cast<int64_t>(frames);
    };
    dev.on_read = [&] { stop = dev.reads >= 60; };
    auto opt = options();
    opt.overrun_fill_silence = false;
    CaptureLoop loop(dev, sink, nullptr, opt, stats);
    loop.run(stop);
    const auto ov = sink.of(RecordKind::overrun);
    ASSERT_EQ(ov.size(), 1U);
    EXPECT_FALSE(ov[0].fill);
    EXPECT_NEAR(static_cast<double>(ov[0].frames), 4800.0, 1.0);
    const auto points = sink.of(RecordKind::point);
    EXPECT_EQ(points.back().hw_frame, points.back().at_frame + dev.avail_after_read);
    EXPECT_EQ(points.back().at_frame, sink.audio_frames);
}

TEST(CaptureLoop, ShortReadThenDeviceLossEndsSessionAndWaitsForReturn) {
    FakeDevice dev;
    dev.fill_counter = true;
    VectorSink sink;
    sink.keep_audio = true;
    CaptureStats stats;
    std::atomic<bool> stop{false};
    dev.script = [&](uint64_t read_no, uint64_t frames) -> int64_t {
        if (read_no == 20) {
            return 100;  // short read: the last frames before the unplug
        }
        if (read_no == 21) {
            dev.open_failures = 3;  // unplugged for three attempts
            return -ENODEV;
        }
        return static_cast<int64_t>(frames);
    };
    dev.on_read = [&] { stop = dev.reads >= 30; };
    CaptureLoop loop(dev, sink, nullptr, options(), stats);
    loop.run(stop);
    const auto lost = sink.of(RecordKind::device_lost);
    ASSERT_EQ(lost.size(), 1U);
    EXPECT_EQ(lost[0].at_frame, 19U * 480U + 100U);  // after the short read's frames
    EXPECT_EQ(lost[0].session, 1U);
    EXPECT_NE(std::string(lost[0].detail).find("errno=19"), std::string::npos);
    EXPECT_EQ(dev.opens, 1 + 3 + 1);
    const auto back = sink.of(RecordKind::device_back);
    ASSERT_EQ(back.size(), 1U);
    EXPECT_EQ(back[0].session, 2U);
    const auto starts = sink.of(RecordKind::session_start);
    ASSERT_EQ(starts.size(), 2U);
    EXPECT_EQ(starts[1].session, 2U);
    EXPECT_EQ(starts[1].at_frame, 0U);
    EXPECT_EQ(stats.sessions.load(), 2U);
    // The short read's 100 frames were handed over before the loss.
    EXPECT_EQ(sink.audio[(19U * 480U + 99U) * 2], static_cast<int16_t>(19 * 480 + 99));
}

TEST(CaptureLoop, ConfigurationErrorIsNotRetried) {
    class Refusing final : public framestamp::CaptureSource {
      public:
        int opens = 0;
        framestamp::OpenResult open(const framestamp::CaptureParams&) override {
            ++opens;
            framestamp::OpenResult r;
            r.error = -EINVAL;
            r.message = "'x' cannot capture at exactly 44100 Hz";
            return r;
        }
        int64_t read(void*, uint64_t) override { return -EIO; }
        int status(framestamp::StatusReading*) override { return -EIO; }
        int restart() override { return -EIO; }
        void close() override {}
    } dev;
    VectorSink sink;
    CaptureStats stats;
    std::atomic<bool> stop{false};
    CaptureLoop loop(dev, sink, nullptr, options(), stats);
    loop.run(stop);
    EXPECT_EQ(dev.opens, 1);
    EXPECT_TRUE(stats.failed.load());
    EXPECT_NE(loop.failure().find("44100"), std::string::npos);
}

TEST(CaptureLoop, FullRingNeverBlocksAndIsAccountedExactly) {
    FakeDevice dev;
    VectorSink sink;
    CaptureStats stats;
    std::atomic<bool> stop{false};
    dev.on_read = [&] {
        sink.space = (dev.reads >= 10 && dev.reads < 15) ? 0 : UINT64_MAX;  // writer stuck
        stop = dev.reads >= 20;
    };
    CaptureLoop loop(dev, sink, nullptr, options(), stats);
    loop.run(stop);
    // One record per dropped read, each at the frame where its stretch starts, contiguous.
    const auto ro = sink.of(RecordKind::ring_overflow);
    ASSERT_EQ(ro.size(), 5U);
    for (std::size_t i = 0; i < ro.size(); ++i) {
        EXPECT_EQ(ro[i].at_frame, (9U + i) * 480U);
        EXPECT_EQ(ro[i].frames, 480);
        EXPECT_TRUE(ro[i].fill);
    }
    EXPECT_EQ(sink.audio_frames, 15U * 480U);
    // Points keep tracking the card through the gap.
    const auto points = sink.of(RecordKind::point);
    EXPECT_EQ(points.back().hw_frame, 20U * 480U + dev.avail_after_read);
    // Records stay in frame order, so the writer can interleave them with audio.
    for (std::size_t i = 1; i < sink.records.size(); ++i) {
        EXPECT_LE(sink.records[i - 1].at_frame, sink.records[i].at_frame) << "record " << i;
    }
}

TEST(CaptureLoop, ClockStepIsReported) {
    FakeDevice dev;
    VectorSink sink;
    CaptureStats stats;
    std::atomic<bool> stop{false};
    dev.on_read = [&] {
        if (dev.reads == 30) {
            dev.rt0_ns += 2'000'000;  // realtime steps 2 ms forward
        }
        stop = dev.reads >= 40;
    };
    CaptureLoop loop(dev, sink, nullptr, options(), stats);
    loop.run(stop);
    const auto steps = sink.of(RecordKind::clock_step);
    ASSERT_EQ(steps.size(), 1U);
    EXPECT_EQ(steps[0].frames, 2'000'000);
    EXPECT_NE(std::string(steps[0].detail).find("step_ns=2000000"), std::string::npos);
}

// A reading whose CLOCK_MONOTONIC_RAW window is long (the thread was descheduled between the
// two raw readings: 1.66 ms seen on a field recorder) has its realtime stamp at the end of the
// window, 830 us from the midpoint. It must not read as a clock step there and back: the point
// is flagged unreliable and skipped for step detection. A real step is still seen.
TEST(CaptureLoop, LongWindowReadingIsFlaggedNotReadAsClockSteps) {
    FakeDevice dev;
    VectorSink sink;
    CaptureStats stats;
    std::atomic<bool> stop{false};
    uint64_t statuses = 0;
    dev.on_status = [&](framestamp::StatusReading* s) {
        ++statuses;
        if (statuses == 20) {
            s->window_ns = 1'660'000;
            s->monotonic_raw_ns -= 830'000;  // the midpoint of a window that began long before
        }
    };
    dev.on_read = [&] {
        if (dev.reads == 40) {
            dev.rt0_ns += 2'000'000;  // and a real step later on
        }
        stop = dev.reads >= 50;
    };
    CaptureLoop loop(dev, sink, nullptr, options(), stats);
    loop.run(stop);
    const auto steps = sink.of(RecordKind::clock_step);
    ASSERT_EQ(steps.size(), 1U) << "only the real step";
    EXPECT_EQ(steps[0].frames, 2'000'000);
    const auto points = sink.of(RecordKind::point);
    ASSERT_EQ(points.size(), 50U);
    std::size_t flagged = 0;
    for (const auto& p : points) {
        if (std::string(p.detail) == "unreliable=window") {
            ++flagged;
            EXPECT_EQ(p.window_ns, 1'660'000);
        } else {
            EXPECT_STREQ(p.detail, "");
        }
    }
    EXPECT_EQ(flagged, 1U);
}

// A device in real time that can wait, like the ALSA source: its position moves in steps of
// `step_frames`; a read of a period succeeds once that many frames are there, else -EAGAIN.
class WaitingDevice final : public framestamp::CaptureSource {
  public:
    uint32_t rate_hz = 48000;
    uint64_t step_frames = 48;
    int64_t t0_ns = 0;
    uint64_t frames_read = 0;
    std::vector<int64_t> read_mono_ns;    // when each read returned data
    std::vector<int64_t> status_mono_ns;  // when each status was taken
    std::function<void()> on_read;

    framestamp::OpenResult open(const framestamp::CaptureParams& p) override {
        framestamp::OpenResult r;
        period_ = p.period_frames;
        r.granted.period_frames = p.period_frames;
        r.granted.buffer_frames = p.buffer_frames;
        r.granted.pcm_type = "FAKE";
        t0_ns = framestamp::monotonic_ns();
        return r;
    }
    bool read_blocks() const override { return false; }
    int wait(int64_t deadline_mono_ns) override {
        const int64_t ready = time_of(frames_read + period_);
        const int64_t until = std::min(ready, deadline_mono_ns);
        const timespec ts{static_cast<time_t>(until / 1'000'000'000),
                          static_cast<long>(until % 1'000'000'000)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
        return framestamp::monotonic_ns() >= ready ? 1 : 0;
    }
    uint64_t wakeups() const override {
        // A wake-up at every step, as a USB card's URB completions.
        return hw(framestamp::monotonic_ns()) / step_frames;
    }
    int64_t read(void*, uint64_t frames) override {
        if (hw(framestamp::monotonic_ns()) - frames_read < frames) {
            return -EAGAIN;
        }
        frames_read += frames;
        read_mono_ns.push_back(framestamp::monotonic_ns());
        if (on_read) {
            on_read();
        }
        return static_cast<int64_t>(frames);
    }
    int status(framestamp::StatusReading* out) override {
        const int64_t now = framestamp::monotonic_ns();
        status_mono_ns.push_back(now);
        out->avail_frames = hw(now) - frames_read;
        out->realtime_ns = 1'795'500'000'000'000'000 + now;
        out->monotonic_raw_ns = now;
        out->window_ns = 1000;
        return 0;
    }
    int restart() override { return 0; }
    void close() override {}

  private:
    uint64_t hw(int64_t now) const {
        const auto f = static_cast<uint64_t>(now - t0_ns) * rate_hz / 1'000'000'000ULL;
        return f / step_frames * step_frames;
    }
    int64_t time_of(uint64_t frames) const {
        const uint64_t stepped = (frames + step_frames - 1) / step_frames * step_frames;
        return t0_ns + static_cast<int64_t>((stepped * 1'000'000'000ULL + rate_hz - 1) / rate_hz);
    }
    uint64_t period_ = 480;
};

// With a source that can wait, points are taken at random instants, one in each
// 1/timing_points_per_s slot, not right after reads: their phases within the slots cover the
// slot, and their times are unrelated to the reads'.
TEST(CaptureLoop, PointsAtRandomInstantsInEachSlotDecoupledFromReads) {
    WaitingDevice dev;
    VectorSink sink;
    CaptureStats stats;
    std::atomic<bool> stop{false};
    dev.on_read = [&] { stop = dev.frames_read >= 48000 * 3 / 2; };  // 1.5 s
    CaptureOptions o = options(480);
    o.timing_points_per_s = 50;     // 20 ms slots, two periods each
    o.params.buffer_frames = 4800;  // a 33 ms probe first
    CaptureLoop loop(dev, sink, nullptr, o, stats);
    loop.run(stop);
    const auto points = sink.of(RecordKind::point);
    // 1.5 s minus the probe, at 50 a second.
    EXPECT_NEAR(static_cast<double>(points.size()), 50 * (1.5 - 0.033), 4.0);
    // The status calls after the probe are the points.
    ASSERT_GE(dev.status_mono_ns.size(), points.size());
    const std::vector<int64_t> at(dev.status_mono_ns.end() - static_cast<long>(points.size()),
                                  dev.status_mono_ns.end());
    // Slots run back to back from the probe's end: each point in its own slot.
    const int64_t slot = 20'000'000;
    for (std::size_t i = 1; i < at.size(); ++i) {
        EXPECT_GT(at[i] - at[i - 1], 0);
        EXPECT_LT(at[i] - at[i - 1], 2 * slot + 2'000'000) << "point " << i;
    }
    int64_t lo = slot;
    int64_t hi = 0;
    // Phase relative to the reads: a point right after a read (the old behaviour) has a phase
    // of ~0 in its period.
    std::size_t just_after_read = 0;
    for (int64_t t : at) {
        auto it = std::upper_bound(dev.read_mono_ns.begin(), dev.read_mono_ns.end(), t);
        if (it != dev.read_mono_ns.begin() && t - *(it - 1) < 300'000) {
            ++just_after_read;
        }
        const int64_t in_period = it != dev.read_mono_ns.begin() ? t - *(it - 1) : 0;
        lo = std::min(lo, in_period);
        hi = std::max(hi, in_period);
    }
    // Uniform over the 10 ms periods: about 3 % within 0.3 ms of a read; the old way, all.
    EXPECT_LT(static_cast<double>(just_after_read), 0.25 * static_cast<double>(at.size()));
    EXPECT_LT(lo, 2'000'000);
    EXPECT_GT(hi, 8'000'000);
}

// The session-start probe measures the pointer step (48 frames every 1 ms) and the wake-up
// interval, and records them as a card_timing row.
TEST(CaptureLoop, ProbeMeasuresPointerStepAndWakeups) {
    WaitingDevice dev;
    VectorSink sink;
    CaptureStats stats;
    std::atomic<bool> stop{false};
    dev.on_read = [&] { stop = dev.frames_read >= 48000 / 2; };
    CaptureOptions o = options(480);
    o.timing_points_per_s = 8;
    o.params.buffer_frames = 48000;  // the probe's full 200 ms
    CaptureLoop loop(dev, sink, nullptr, o, stats);
    loop.run(stop);
    const auto ct = sink.of(RecordKind::card_timing);
    ASSERT_EQ(ct.size(), 1U);
    const std::string d = ct[0].detail;
    auto value = [&](const std::string& key) {
        const auto at = d.find(key + "=");
        EXPECT_NE(at, std::string::npos) << key << " in " << d;
        return at == std::string::npos ? -1.0 : std::stod(d.substr(at + key.size() + 1));
    };
    EXPECT_NEAR(value("pointer_step_frames"), 48.0, 1.0) << d;
    EXPECT_NEAR(value("pointer_step_us"), 1000.0, 50.0) << d;
    EXPECT_NEAR(value("wakeup_interval_us"), 1000.0, 100.0) << d;
    EXPECT_NEAR(value("probe_us"), 200'000.0, 20'000.0) << d;
    EXPECT_GT(value("steps"), 150.0) << d;
}

}  // namespace

// The random wait before each point spreads the readings over the card's position steps: over
// 60 points the waits must cover most of the dither range (their spread is independent of how
// late the scheduler wakes the thread), and the cap of half a period must hold.
TEST(CaptureLoop, DithersEachPointWithinHalfAPeriod) {
    for (const int64_t dither_ns : {int64_t{2'000'000}, int64_t{1'000'000'000}}) {
        FakeDevice dev;
        VectorSink sink;
        CaptureStats stats;
        std::atomic<bool> stop{false};
        dev.on_read = [&] { stop = dev.reads >= 61; };
        CaptureOptions o = options(480);  // 10 ms periods: the cap is 5 ms
        o.point_dither_ns = dither_ns;
        CaptureLoop loop(dev, sink, nullptr, o, stats);
        loop.run(stop);
        ASSERT_GE(dev.read_to_status_ns.size(), 60U);
        const auto [lo, hi] =
            std::minmax_element(dev.read_to_status_ns.begin(), dev.read_to_status_ns.end());
        const int64_t range = std::min<int64_t>(dither_ns, 5'000'000);
        EXPECT_GT(*hi - *lo, range / 2) << "dither " << dither_ns;
        EXPECT_LT(*hi, 100'000'000) << "a 1 s dither must be capped at half a 10 ms period";
    }
}

TEST(CaptureLoop, NoDitherTakesThePointRightAfterTheRead) {
    FakeDevice dev;
    VectorSink sink;
    CaptureStats stats;
    std::atomic<bool> stop{false};
    dev.on_read = [&] { stop = dev.reads >= 20; };
    CaptureLoop loop(dev, sink, nullptr, options(480), stats);
    loop.run(stop);
    ASSERT_GE(dev.read_to_status_ns.size(), 19U);
    EXPECT_EQ(sink.of(RecordKind::point).size(), dev.read_to_status_ns.size());
}
