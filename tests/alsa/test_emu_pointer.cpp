// The emulated card's pointer models through the real libasound API, in real time: USB packet
// and URB steps, period steps, completion latency and step wake-ups, each checked against what
// an ALSA client sees and against the truth log's "step" rows.
#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>
#include <vector>

#include "emu_testkit.hpp"

namespace {

using emutest::CaptureParams;
using emutest::TempDir;

struct PcmCloser {
    snd_pcm_t* pcm = nullptr;
    ~PcmCloser() {
        if (pcm != nullptr) {
            snd_pcm_close(pcm);
        }
    }
};

// A position the client saw change: frames read + avail, and the status timestamp.
struct Seen {
    uint64_t pos;
    int64_t ts;
};

void sleep_us(int64_t us) {
    timespec ts{0, static_cast<long>(us * 1000)};
    nanosleep(&ts, nullptr);
}

// Samples snd_pcm_status every ~50 us for `seconds` (reading whatever is available so the buffer
// never fills) and returns every change of position.
std::vector<Seen> sample_positions(snd_pcm_t* pcm, const CaptureParams& p, double seconds) {
    snd_pcm_nonblock(pcm, 1);
    EXPECT_EQ(snd_pcm_start(pcm), 0);
    std::vector<int32_t> buf(p.buffer * p.channels);
    std::vector<Seen> seen;
    uint64_t frames_read = 0;
    snd_pcm_status_t* st = nullptr;
    snd_pcm_status_alloca(&st);
    const int64_t end = emutest::realtime_now_ns() + static_cast<int64_t>(seconds * 1e9);
    while (emutest::realtime_now_ns() < end) {
        if (snd_pcm_status(pcm, st) != 0) {
            ADD_FAILURE() << "status failed";
            break;
        }
        snd_htimestamp_t ts;
        snd_pcm_status_get_htstamp(st, &ts);
        const uint64_t avail = snd_pcm_status_get_avail(st);
        const uint64_t pos = frames_read + avail;
        if (seen.empty() || pos != seen.back().pos) {
            seen.push_back({pos, emutest::to_ns(ts)});
        }
        if (avail >= p.period) {
            const snd_pcm_sframes_t n = snd_pcm_readi(pcm, buf.data(), avail);
            if (n < 0) {
                ADD_FAILURE() << snd_strerror(static_cast<int>(n));
                break;
            }
            frames_read += static_cast<uint64_t>(n);
        }
        sleep_us(50);
    }
    return seen;
}

double median(std::vector<double> v) {
    if (v.empty()) {
        return 0;
    }
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Observed steps: the frame and time differences between consecutive changes.
struct Diffs {
    std::vector<uint64_t> frames;
    std::vector<double> ns;
};
Diffs diffs_of(const std::vector<Seen>& seen) {
    Diffs d;
    for (std::size_t i = 1; i < seen.size(); ++i) {
        d.frames.push_back(seen[i].pos - seen[i - 1].pos);
        d.ns.push_back(static_cast<double>(seen[i].ts - seen[i - 1].ts));
    }
    return d;
}

// USB at 44.1 kHz, 1 ms packets, one packet per URB: the pointer steps by 44 or 45 frames a
// millisecond, 441 frames every 10 packets, and every position a client sees is a step's.
TEST(EmuCard, UsbPointerAt44kStepsByThePacketPattern) {
    TempDir dir;
    const std::string truth = dir.file("truth.csv");
    emutest::define_pcm(dir, "emu_usb44",
                        "pointer usb\ntruth_steps 1\ntruth_log \"" + truth + "\"");
    PcmCloser c;
    CaptureParams p;
    p.rate = 44100;
    p.period = 441;
    p.buffer = 4410;
    ASSERT_EQ(emutest::open_capture("emu_usb44", p, &c.pcm), 0);
    const auto seen = sample_positions(c.pcm, p, 1.5);
    snd_pcm_close(c.pcm);
    c.pcm = nullptr;

    const auto steps = emutest::truth_of_kind(emutest::read_truth(truth), "step");
    ASSERT_GT(steps.size(), 1400U);
    std::set<uint64_t> step_frames{0};
    for (std::size_t i = 0; i < steps.size(); ++i) {
        step_frames.insert(steps[i].stream_frame);
        if (i == 0) {
            continue;
        }
        const int64_t df = steps[i].card_frame - steps[i - 1].card_frame;
        EXPECT_TRUE(df == 44 || df == 45) << "step " << i << ": " << df;
        EXPECT_EQ(steps[i].realtime_ns - steps[i - 1].realtime_ns, 1'000'000);
        if (i >= 10) {
            EXPECT_EQ(steps[i].card_frame - steps[i - 10].card_frame, 441) << "step " << i;
        }
    }
    ASSERT_GT(seen.size(), 1000U);
    for (const auto& s : seen) {
        EXPECT_EQ(step_frames.count(s.pos), 1U) << "position " << s.pos << " is no step's";
    }
    const Diffs d = diffs_of(seen);
    std::map<uint64_t, std::size_t> counts;
    std::vector<double> one_packet_ns;
    for (std::size_t i = 0; i < d.frames.size(); ++i) {
        ++counts[d.frames[i]];
        if (d.frames[i] == 44 || d.frames[i] == 45) {
            one_packet_ns.push_back(d.ns[i]);
        }
    }
    const std::size_t single = counts[44] + counts[45];
    std::printf("steps seen: %zu; of 44: %zu, of 45: %zu; median interval %.1f us\n",
                d.frames.size(), counts[44], counts[45], median(one_packet_ns) / 1e3);
    EXPECT_GE(static_cast<double>(single), 0.9 * static_cast<double>(d.frames.size()));
    // 44.1 frames a packet: nine of 44 for one of 45.
    EXPECT_NEAR(static_cast<double>(counts[45]) / static_cast<double>(single), 0.1, 0.03);
    EXPECT_NEAR(median(one_packet_ns), 1e6, 1e5);
}

// 192 kHz with 4 packets per URB: 768-frame steps every 4 ms.
TEST(EmuCard, UsbUrbOfFourPacketsAt192k) {
    TempDir dir;
    const std::string truth = dir.file("truth.csv");
    emutest::define_pcm(dir, "emu_urb",
                        "pointer usb\nurb_packets 4\ntruth_steps 1\ntruth_log \"" + truth + "\"");
    PcmCloser c;
    CaptureParams p;
    p.rate = 192000;
    p.period = 1920;
    p.buffer = 19200;
    ASSERT_EQ(emutest::open_capture("emu_urb", p, &c.pcm), 0);
    const auto seen = sample_positions(c.pcm, p, 1.0);
    snd_pcm_close(c.pcm);
    c.pcm = nullptr;

    const auto steps = emutest::truth_of_kind(emutest::read_truth(truth), "step");
    ASSERT_GT(steps.size(), 200U);
    for (std::size_t i = 1; i < steps.size(); ++i) {
        EXPECT_EQ(steps[i].card_frame - steps[i - 1].card_frame, 768);
        EXPECT_EQ(steps[i].realtime_ns - steps[i - 1].realtime_ns, 4'000'000);
    }
    const Diffs d = diffs_of(seen);
    ASSERT_GT(d.frames.size(), 200U);
    std::size_t exact = 0;
    std::vector<double> ns;
    for (std::size_t i = 0; i < d.frames.size(); ++i) {
        EXPECT_EQ(d.frames[i] % 768, 0U);
        if (d.frames[i] == 768) {
            ++exact;
            ns.push_back(d.ns[i]);
        }
    }
    EXPECT_GE(static_cast<double>(exact), 0.9 * static_cast<double>(d.frames.size()));
    EXPECT_NEAR(median(ns), 4e6, 2e5);
}

// A BATCH-like card: the pointer moves only at period boundaries counted from the start.
TEST(EmuCard, PeriodPointerStepsOncePerPeriod) {
    TempDir dir;
    const std::string truth = dir.file("truth.csv");
    emutest::define_pcm(
        dir, "emu_period",
        "pointer period\noffset_ppm 40\ntruth_steps 1\ntruth_log \"" + truth + "\"");
    PcmCloser c;
    CaptureParams p;  // 48 kHz, period 480 (10 ms)
    ASSERT_EQ(emutest::open_capture("emu_period", p, &c.pcm), 0);
    const auto seen = sample_positions(c.pcm, p, 1.5);
    snd_pcm_close(c.pcm);
    c.pcm = nullptr;

    const auto steps = emutest::truth_of_kind(emutest::read_truth(truth), "step");
    ASSERT_GT(steps.size(), 140U);
    for (std::size_t i = 0; i < steps.size(); ++i) {
        EXPECT_EQ(steps[i].stream_frame % 480, 0U);
        if (i > 0) {
            // 480 frames of a crystal 40 ppm fast: 10 ms / (1 + 40e-6).
            EXPECT_NEAR(static_cast<double>(steps[i].realtime_ns - steps[i - 1].realtime_ns),
                        1e7 / (1 + 40e-6), 2.0);
        }
    }
    const Diffs d = diffs_of(seen);
    ASSERT_GT(d.frames.size(), 140U);
    std::size_t exact = 0;
    std::vector<double> ns;
    for (const auto& s : seen) {
        EXPECT_EQ(s.pos % 480, 0U);
    }
    for (std::size_t i = 0; i < d.frames.size(); ++i) {
        if (d.frames[i] == 480) {
            ++exact;
            ns.push_back(d.ns[i]);
        }
    }
    EXPECT_GE(static_cast<double>(exact), 0.95 * static_cast<double>(d.frames.size()));
    EXPECT_NEAR(median(ns), 1e7, 5e5);
}

// Completion latency (exponential, mean 300 us, plus 2 % of up to 3 ms) with step wake-ups: the
// truth's latencies have the configured statistics, a client woken by poll sees each step no
// earlier than its completion and soon after it, and nearly every wake-up brings a new step.
TEST(EmuCard, CompletionLatencyAndStepWakeups) {
    TempDir dir;
    const std::string truth = dir.file("truth.csv");
    emutest::define_pcm(dir, "emu_compl",
                        "pointer usb\ncompletion_us 300\ncompletion_tail_prob 0.02\n"
                        "completion_tail_us 3000\nseed 7\ntruth_steps 1\ntruth_log \"" +
                            truth + "\"");
    PcmCloser c;
    CaptureParams p;
    p.period = 480;
    p.buffer = 9600;
    ASSERT_EQ(emutest::open_capture("emu_compl", p, &c.pcm), 0);
    snd_pcm_nonblock(c.pcm, 1);
    ASSERT_EQ(snd_pcm_start(c.pcm), 0);
    const int nfds = snd_pcm_poll_descriptors_count(c.pcm);
    ASSERT_GE(nfds, 1);
    std::vector<pollfd> pfds(static_cast<std::size_t>(nfds));
    ASSERT_EQ(snd_pcm_poll_descriptors(c.pcm, pfds.data(), static_cast<unsigned>(nfds)), nfds);
    std::vector<int16_t> buf(p.buffer * p.channels);
    snd_pcm_status_t* st = nullptr;
    snd_pcm_status_alloca(&st);
    uint64_t frames_read = 0;
    uint64_t last_pos = 0;
    std::size_t wakes = 0;
    std::size_t new_step_wakes = 0;
    std::vector<Seen> seen;
    const int64_t end = emutest::realtime_now_ns() + 3'000'000'000;
    while (emutest::realtime_now_ns() < end) {
        ASSERT_GE(poll(pfds.data(), static_cast<nfds_t>(nfds), 1000), 1);
        unsigned short revents = 0;
        ASSERT_EQ(snd_pcm_poll_descriptors_revents(c.pcm, pfds.data(), static_cast<unsigned>(nfds),
                                                   &revents),
                  0);
        ASSERT_EQ(snd_pcm_status(c.pcm, st), 0);
        snd_htimestamp_t ts;
        snd_pcm_status_get_htstamp(st, &ts);
        const uint64_t avail = snd_pcm_status_get_avail(st);
        const uint64_t pos = frames_read + avail;
        ++wakes;
        if (pos != last_pos) {
            ++new_step_wakes;
            seen.push_back({pos, emutest::to_ns(ts)});
            last_pos = pos;
        }
        if (avail > 0) {
            const snd_pcm_sframes_t n = snd_pcm_readi(c.pcm, buf.data(), avail);
            ASSERT_GT(n, 0) << snd_strerror(static_cast<int>(n));
            frames_read += static_cast<uint64_t>(n);
        }
    }
    snd_pcm_close(c.pcm);
    c.pcm = nullptr;

    const auto steps = emutest::truth_of_kind(emutest::read_truth(truth), "step");
    ASSERT_GT(steps.size(), 2800U);
    double sum = 0;
    std::size_t long_ones = 0;
    std::vector<double> lat;
    for (const auto& s : steps) {
        sum += static_cast<double>(s.latency_ns);
        lat.push_back(static_cast<double>(s.latency_ns));
        long_ones += s.latency_ns > 2'000'000 ? 1 : 0;
    }
    const double mean = sum / static_cast<double>(steps.size());
    std::sort(lat.begin(), lat.end());
    const double p90 = lat[lat.size() * 9 / 10];
    // Mean 300 us + 2 % x 1.5 ms = 330 us; 90th percentile of the exponential ln(10) x 300 us.
    EXPECT_NEAR(mean, 330'000.0, 40'000.0);
    EXPECT_NEAR(p90, 690'000.0, 100'000.0);
    // Over 2 ms: the exponential's 0.13 % plus about 0.8 % of tail hits.
    const double frac_long = static_cast<double>(long_ones) / static_cast<double>(steps.size());
    EXPECT_GT(frac_long, 0.002);
    EXPECT_LT(frac_long, 0.025);

    std::map<uint64_t, const emutest::TruthRow*> by_frame;
    for (const auto& s : steps) {
        by_frame[s.stream_frame] = &s;
    }
    std::vector<double> excess;
    for (const auto& s : seen) {
        const auto it = by_frame.find(s.pos);
        ASSERT_NE(it, by_frame.end()) << "position " << s.pos << " is no step's";
        const int64_t visible = it->second->realtime_ns + it->second->latency_ns;
        // Never before completion (20 us for the origin's realtime/monotonic pairing).
        EXPECT_GE(s.ts, visible - 20'000) << "step at " << s.pos;
        excess.push_back(static_cast<double>(s.ts - visible));
    }
    std::printf(
        "latency mean %.1f us, p90 %.1f us, >2 ms %.2f %%; %zu wakes, %zu with a new step, "
        "median wake after completion %.1f us\n",
        mean / 1e3, p90 / 1e3, frac_long * 100, wakes, new_step_wakes, median(excess) / 1e3);
    EXPECT_GE(static_cast<double>(new_step_wakes), 0.9 * static_cast<double>(wakes));
    EXPECT_GT(new_step_wakes, 2500U);
    EXPECT_LT(median(excess), 300'000.0);
}

}  // namespace
