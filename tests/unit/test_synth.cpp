// Synthetic archives: the files and rows framestampd would write, with the truth behind them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "framestamp/recorder.hpp"
#include "framestamp/synth.hpp"
#include "framestamp/timing_log.hpp"
#include "framestamp/utc.hpp"
#include "test_support.hpp"

namespace {

namespace fsys = std::filesystem;
using framestamp::SimCard;
using framestamp::SynthEvent;
using framestamp::SynthResult;
using framestamp::SynthSpec;
using Fields = std::vector<std::string>;

constexpr uint32_t kRate = 16000;

uint64_t test_seed() {
    return fstest::test_seed(20261124);
}

// Rows of a timing log (header checked and dropped).
std::vector<Fields> read_log(const fsys::path& p) {
    const std::string text = fstest::slurp(p);
    std::vector<Fields> rows;
    std::istringstream in(text);
    std::string line;
    const std::size_t columns = framestamp::csv_split(framestamp::kTimingLogHeader).size();
    EXPECT_TRUE(std::getline(in, line)) << p;
    EXPECT_EQ(line, framestamp::kTimingLogHeader) << p;
    while (std::getline(in, line)) {
        rows.push_back(framestamp::csv_split(line));
        EXPECT_EQ(rows.back().size(), columns) << p << ": " << line;
    }
    return rows;
}

uint64_t u64(const std::string& s) {
    return std::stoull(s);
}

std::vector<std::string> kinds(const std::vector<Fields>& rows) {
    std::vector<std::string> k;
    for (const Fields& f : rows) {
        k.push_back(f[0]);
    }
    return k;
}

const Fields* find_kind(const std::vector<Fields>& rows, const std::string& kind) {
    for (const Fields& f : rows) {
        if (f[0] == kind) {
            return &f;
        }
    }
    return nullptr;
}

// Where the samples of a WAV written by ChunkFile start.
std::size_t wav_data_offset(const fsys::path& p) {
    const std::string b = fstest::slurp(p);
    std::size_t at = 12;
    while (at + 8 <= b.size()) {
        uint32_t size = 0;
        std::memcpy(&size, b.data() + at + 4, 4);
        if (b.compare(at, 4, "data") == 0) {
            return at + 8;
        }
        at += 8 + size + (size & 1);
    }
    ADD_FAILURE() << "no data chunk in " << p;
    return 0;
}

// Samples of a (16-bit) WAV written by ChunkFile.
std::vector<int16_t> wav_samples(const fsys::path& p) {
    const std::string b = fstest::slurp(p);
    const std::size_t at = wav_data_offset(p);
    if (at == 0 || at > b.size()) {
        return {};
    }
    std::vector<int16_t> s((b.size() - at) / 2);
    std::memcpy(s.data(), b.data() + at, s.size() * 2);
    return s;
}

class SynthTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fstest::fresh_test_dir("fs_synth");
        spec_.data_dir = dir_;
        spec_.stream = "syn";
        spec_.sim.rate_hz = kRate;
        spec_.sim.seed = test_seed();
        spec_.sim.latency_max_s = 0.002;
        spec_.sim.wander_ppm = 2.0;
        spec_.chunk_s = 60;
        spec_.duration_s = 150;
    }
    void TearDown() override { fsys::remove_all(dir_); }

    SynthResult run() {
        SCOPED_TRACE("FS_TEST_SEED=" + std::to_string(spec_.sim.seed));
        return framestamp::write_synthetic_archive(spec_);
    }

    std::vector<fsys::path> files_under(const std::string& suffix) const {
        std::vector<fsys::path> out;
        for (const auto& e : fsys::recursive_directory_iterator(dir_)) {
            const std::string n = e.path().filename().string();
            if (n.size() >= suffix.size() &&
                n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
                out.push_back(e.path());
            }
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    fsys::path dir_;
    SynthSpec spec_;
};

TEST_F(SynthTest, FilesAreNamedAndCutAtUtcMultiplesOfTheChunkLength) {
    SCOPED_TRACE("FS_TEST_SEED=" + std::to_string(spec_.sim.seed));
    // Start a quarter second after 2026-11-18T11:06:40Z (exactly on it, the live estimate of
    // frame 0 can fall a microsecond before the second and name the file 110639Z): a first chunk
    // from then, then one per whole minute.
    const int64_t whole_start_ns = spec_.sim.start_utc_ns;
    spec_.sim.start_utc_ns += 250'000'000;
    const SynthResult r = run();
    ASSERT_EQ(r.audio_files.size(), 4u);
    ASSERT_EQ(r.timing_logs.size(), 4u);
    const char* names[] = {"syn_20261118T110640Z", "syn_20261118T110700Z", "syn_20261118T110800Z",
                           "syn_20261118T110900Z"};
    for (std::size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(r.audio_files[i], dir_ / "syn" / "2026-11-18" / (std::string(names[i]) + ".wav"));
        EXPECT_EQ(r.timing_logs[i],
                  dir_ / "syn" / "2026-11-18" / (std::string(names[i]) + ".timing.csv"));
        EXPECT_TRUE(fsys::exists(r.audio_files[i]));
        EXPECT_TRUE(fsys::exists(r.timing_logs[i]));
    }
    EXPECT_TRUE(files_under(".partial").empty());
    EXPECT_EQ(files_under(".wav").size(), 4u);
    // The frame that opens a chained chunk is the one nearest its boundary in true UTC, to
    // within the live estimate's error (well under a millisecond here).
    const SimCard truth(spec_.sim);
    for (std::size_t i = 1; i < 4; ++i) {
        const auto rows = read_log(r.timing_logs[i]);
        const uint64_t first = u64(find_kind(rows, "chunk_open")->at(1));
        const int64_t boundary_ns =
            whole_start_ns + 20'000'000'000LL + static_cast<int64_t>(i - 1) * 60'000'000'000LL;
        const int64_t utc = framestamp::synth_true_utc_ns(truth, r.sessions[0], first);
        EXPECT_LT(std::llabs(utc - boundary_ns), 1'000'000) << i;
    }
}

TEST_F(SynthTest, LogsStartWithTheDaemonsRowsAndChunksAreContiguous) {
    spec_.channels = 2;
    const SynthResult r = run();
    ASSERT_EQ(r.sessions.size(), 1u);
    uint64_t next_first = 0;
    uint64_t frames = 0;
    uint64_t points = 0;
    for (std::size_t i = 0; i < r.timing_logs.size(); ++i) {
        const auto rows = read_log(r.timing_logs[i]);
        ASSERT_GE(rows.size(), 3u);
        const std::string& d = rows[0][12];
        EXPECT_EQ(rows[0][0], "log_start");
        for (const std::string& key : std::vector<std::string>{
                 "format=framestamp-timing-log;", "version=1;", "stream=syn;",
                 "session=", "rate_hz=16000;", "channels=2;", "sample_format=S16_LE;",
                 "device=", "recorder=", "audio_file=" + r.audio_files[i].filename().string()}) {
            EXPECT_NE(d.find(key), std::string::npos) << key << " in " << d;
        }
        EXPECT_NE(d.find("session=" + r.sessions[0].id), std::string::npos);
        const auto k = kinds(rows);
        if (i == 0) {
            EXPECT_EQ(k[1], "session_start");
            EXPECT_EQ(rows[1][1], "0");
        } else {
            EXPECT_EQ(k[1], "chunk_open");
        }
        const Fields& open = *find_kind(rows, "chunk_open");
        EXPECT_EQ(open[12], "file=" + r.audio_files[i].filename().string());
        const Fields& close = rows.back();
        ASSERT_EQ(close[0], "chunk_close");
        EXPECT_EQ(u64(open[1]), next_first);
        EXPECT_EQ(u64(close[1]) - u64(open[1]), u64(close[7]));
        EXPECT_EQ(wav_samples(r.audio_files[i]).size(), 2 * u64(close[7]));
        next_first = u64(close[1]);
        frames += u64(close[7]);
        // chunk_frame = session_frame - the chunk's first; point frames increase.
        uint64_t last_point = 0;
        for (const Fields& f : rows) {
            EXPECT_EQ(std::stoll(f[2]), std::stoll(f[1]) - static_cast<int64_t>(u64(open[1])));
            if (f[0] == "point") {
                EXPECT_GE(u64(f[1]), last_point);
                last_point = u64(f[1]);
                ++points;
            }
        }
        if (i + 1 == r.timing_logs.size()) {
            EXPECT_EQ(k[k.size() - 2], "shutdown");
        }
    }
    EXPECT_EQ(frames, r.frames);
    EXPECT_EQ(points, r.points);
    // 150 s at 16 kHz and 50 ppm, give or take the last read.
    EXPECT_NEAR(static_cast<double>(frames), 150 * kRate * (1 + 50e-6), 2.0);
    EXPECT_NEAR(static_cast<double>(points), 150 * 8, 2.0);
}

TEST_F(SynthTest, ClicksSitOnTheFramesNearestTheTrueUtcSeconds) {
    spec_.events.push_back({.kind = SynthEvent::Kind::overrun, .at_s = 70.3, .frames = 3000});
    // Filled short by 500 frames: the index falls behind the card from here on.
    spec_.events.push_back(
        {.kind = SynthEvent::Kind::overrun, .at_s = 100.6, .frames = 2000, .filled = 1500});
    const SynthResult r = run();
    const SimCard truth(spec_.sim);
    ASSERT_EQ(r.sessions.size(), 1u);
    ASSERT_EQ(r.sessions[0].offsets.size(), 2u);
    std::set<uint64_t> clicks;
    uint64_t end = 0;
    for (std::size_t i = 0; i < r.audio_files.size(); ++i) {
        const auto rows = read_log(r.timing_logs[i]);
        const uint64_t first = u64(find_kind(rows, "chunk_open")->at(1));
        const auto s = wav_samples(r.audio_files[i]);
        for (std::size_t j = 0; j < s.size(); ++j) {
            if (s[j] != 0) {
                EXPECT_EQ(s[j], 32767);
                clicks.insert(first + j);
            }
        }
        end = first + s.size();
    }
    // Expected: every whole UTC second's nearest frame, except those lost in the overruns.
    std::set<uint64_t> expected;
    const auto& sess = r.sessions[0];
    for (int64_t sec = 1795000000; sec <= 1795000000 + 151; ++sec) {
        const double t = static_cast<double>(sec * 1'000'000'000LL - spec_.sim.start_utc_ns) / 1e9;
        const auto sim = std::llround(truth.frames_at(t));
        // Which session frame holds this SimCard frame (none if it was lost).
        for (std::size_t k = 0; k < sess.offsets.size(); ++k) {
            const int64_t f = sim - sess.offsets[k].second;
            const uint64_t to = k + 1 < sess.offsets.size() ? sess.offsets[k + 1].first : end;
            if (f >= static_cast<int64_t>(sess.offsets[k].first) && f < static_cast<int64_t>(to) &&
                static_cast<uint64_t>(f) < end) {
                expected.insert(static_cast<uint64_t>(f));
            }
        }
    }
    // The overruns' zero fill hides the clicks that fell in the lost time.
    std::set<uint64_t> lost;
    for (const auto& log : r.timing_logs) {
        for (const Fields& f : read_log(log)) {
            if (f[0] == "overrun") {
                for (const uint64_t c : expected) {
                    if (c >= u64(f[1]) && c < u64(f[1]) + u64(f[7])) {
                        lost.insert(c);
                    }
                }
            }
        }
    }
    for (const uint64_t c : lost) {
        expected.erase(c);
    }
    EXPECT_EQ(clicks, expected);
    EXPECT_GE(clicks.size(), 145u);
    // Each click is within half a frame of its second.
    for (const uint64_t c : clicks) {
        double frac = 0;
        const int64_t utc = framestamp::synth_true_utc_ns(truth, sess, c, &frac);
        const int64_t to_second = (utc + 500'000'000) % 1'000'000'000 - 500'000'000;
        EXPECT_LE(std::llabs(to_second), 1'000'000'000 / (2 * kRate) + 1) << c;
    }
}

TEST_F(SynthTest, OverrunRowsAndZeroFill) {
    spec_.signal = framestamp::SynthSignal::frame_counter;
    spec_.events.push_back({.kind = SynthEvent::Kind::overrun, .at_s = 30.2, .frames = 4000});
    spec_.events.push_back(
        {.kind = SynthEvent::Kind::overrun, .at_s = 95.0, .frames = 1234, .filled = 0});
    const SynthResult r = run();
    std::vector<Fields> overruns;
    for (std::size_t i = 0; i < r.timing_logs.size(); ++i) {
        const auto rows = read_log(r.timing_logs[i]);
        const uint64_t first = u64(find_kind(rows, "chunk_open")->at(1));
        const auto s = wav_samples(r.audio_files[i]);
        for (std::size_t j = 0; j < rows.size(); ++j) {
            if (rows[j][0] != "overrun") {
                continue;
            }
            overruns.push_back(rows[j]);
            // The restarted stream's first point follows at once, after the gap.
            ASSERT_LT(j + 1, rows.size());
            EXPECT_EQ(rows[j + 1][0], "point");
            EXPECT_GE(u64(rows[j + 1][1]),
                      u64(rows[j][1]) +
                          u64(rows[j][7]) * (rows[j][12].find("silence") != std::string::npos));
            const uint64_t at = u64(rows[j][1]) - first;
            if (rows[j][12].rfind("filled=silence", 0) == 0) {
                for (uint64_t f = at; f < at + u64(rows[j][7]) && f < s.size(); ++f) {
                    EXPECT_EQ(s[f], 0) << f;
                }
                const uint64_t after = at + u64(rows[j][7]);
                if (after < s.size()) {
                    EXPECT_EQ(s[after], static_cast<int16_t>((first + after) & 0x7FFF));
                }
            }
        }
    }
    ASSERT_EQ(overruns.size(), 2u);
    EXPECT_EQ(overruns[0][7], "4000");
    EXPECT_EQ(overruns[0][12], "filled=silence;lost_frames=4000;estimated_from=timestamps");
    EXPECT_EQ(overruns[1][7], "1234");
    EXPECT_EQ(overruns[1][12], "filled=none;lost_frames=1234;estimated_from=timestamps");
    EXPECT_EQ(r.sessions[0].offsets.back(),
              std::make_pair(u64(overruns[1][1]), r.sessions[0].offsets[0].second + 1234));
}

TEST_F(SynthTest, DeviceLossEndsTheSessionAndANewOneStartsAtFrameZero) {
    spec_.events.push_back(
        {.kind = SynthEvent::Kind::device_lost, .at_s = 75.0, .frames = 5 * kRate});
    const SynthResult r = run();
    ASSERT_EQ(r.sessions.size(), 2u);
    EXPECT_NE(r.sessions[0].id, r.sessions[1].id);
    EXPECT_NEAR(r.sessions[1].start_s, 80.0, 1e-9);
    bool lost_seen = false;
    bool back_seen = false;
    for (const auto& log : r.timing_logs) {
        const auto rows = read_log(log);
        const auto k = kinds(rows);
        if (find_kind(rows, "device_lost") != nullptr) {
            lost_seen = true;
            ASSERT_GE(k.size(), 2u);
            EXPECT_EQ(k[k.size() - 2], "device_lost");
            EXPECT_EQ(rows.back()[1], find_kind(rows, "device_lost")->at(1));
        }
        if (find_kind(rows, "device_back") != nullptr) {
            back_seen = true;
            EXPECT_EQ(k[1], "device_back");
            EXPECT_EQ(k[2], "session_start");
            EXPECT_EQ(rows[2][1], "0");
            EXPECT_EQ(find_kind(rows, "chunk_open")->at(1), "0");
            EXPECT_NE(rows[0][12].find("session=" + r.sessions[1].id), std::string::npos);
        }
    }
    EXPECT_TRUE(lost_seen);
    EXPECT_TRUE(back_seen);
}

TEST_F(SynthTest, WriteGapIsReportedByTheNextChunk) {
    spec_.events.push_back(
        {.kind = SynthEvent::Kind::write_gap, .at_s = 40.0, .frames = 7 * kRate});
    const SynthResult r = run();
    uint64_t pause_at = 0;
    bool gap_seen = false;
    for (const auto& log : r.timing_logs) {
        const auto rows = read_log(log);
        const auto k = kinds(rows);
        if (const Fields* p = find_kind(rows, "disk_pause")) {
            pause_at = u64((*p)[1]);
            EXPECT_EQ(k[k.size() - 2], "disk_pause");
            EXPECT_EQ(rows.back()[1], (*p)[1]);
        }
        if (const Fields* g = find_kind(rows, "write_gap")) {
            gap_seen = true;
            EXPECT_EQ(u64((*g)[1]), pause_at);
            EXPECT_EQ((*g)[7], std::to_string(7 * kRate));
            EXPECT_EQ((*g)[12], "reason=disk_full");
            EXPECT_EQ(u64(find_kind(rows, "chunk_open")->at(1)), pause_at + 7 * kRate);
            // The points taken while nothing was written come before it.
            EXPECT_GT(std::count(k.begin(), k.end(), "point"), 40);
        }
    }
    EXPECT_GT(pause_at, 0u);
    EXPECT_TRUE(gap_seen);
}

TEST_F(SynthTest, CrashLeavesPartialFiles) {
    spec_.events.push_back({.kind = SynthEvent::Kind::crash, .at_s = 95.5, .frames = 2 * kRate});
    const SynthResult r = run();
    ASSERT_EQ(r.sessions.size(), 2u);
    const auto partial_audio = files_under(".wav.partial");
    const auto partial_logs = files_under(".timing.csv.partial");
    ASSERT_EQ(partial_audio.size(), 1u);
    ASSERT_EQ(partial_logs.size(), 1u);
    EXPECT_NE(std::find(r.audio_files.begin(), r.audio_files.end(), partial_audio[0]),
              r.audio_files.end());
    // The log holds what was flushed (every 10 s): it stops short, with no chunk_close.
    const auto rows = read_log(partial_logs[0]);
    ASSERT_FALSE(rows.empty());
    EXPECT_EQ(rows[0][0], "log_start");
    EXPECT_NE(rows.back()[0], "chunk_close");
    EXPECT_EQ(find_kind(rows, "chunk_close"), nullptr);
}

TEST_F(SynthTest, CrashRecoveredClosesTheChunkAsStartUpDoes) {
    spec_.events.push_back(
        {.kind = SynthEvent::Kind::crash_recover, .at_s = 95.5, .frames = 2 * kRate});
    const SynthResult r = run();
    EXPECT_TRUE(files_under(".partial").empty());
    int recovered = 0;
    for (const auto& log : r.timing_logs) {
        EXPECT_TRUE(fsys::exists(log)) << log;
        const auto rows = read_log(log);
        const Fields* rec = find_kind(rows, "crash_recovery");
        if (rec == nullptr) {
            continue;
        }
        ++recovered;
        ASSERT_GE(rows.size(), 2u);
        EXPECT_EQ(rows[rows.size() - 2][0], "crash_recovery");
        EXPECT_EQ(rows.back()[0], "chunk_close");
        EXPECT_EQ(rows.back()[12], "closed_by=crash_recovery");
        EXPECT_NE((*rec)[12].find("method=wav_sizes_fixed"), std::string::npos) << (*rec)[12];
        // Stamped at the simulated restart, 97.5 s into the archive.
        const int64_t rt = std::stoll((*rec)[3]);
        EXPECT_NEAR(static_cast<double>(rt - spec_.sim.start_utc_ns) * 1e-9, 97.5, 1e-3);
        const uint64_t first = u64(find_kind(rows, "chunk_open")->at(1));
        const auto path = r.audio_files[static_cast<std::size_t>(&log - r.timing_logs.data())];
        EXPECT_EQ(wav_samples(path).size(), u64(rows.back()[1]) - first);
    }
    EXPECT_EQ(recovered, 1);
}

TEST_F(SynthTest, ClockStepAndSyncRows) {
    // Unsynchronised and 300 ms fast at first; chrony steps the clock at 45 s.
    spec_.sim.clock = {{.start_s = 0, .error_ns = 3e8, .slope_ppm = 0, .synced = false},
                       {.start_s = 45, .error_ns = 0, .slope_ppm = 0, .synced = true}};
    spec_.sim.sync_interval_s = 5;
    spec_.write_audio = false;
    const SynthResult r = run();
    EXPECT_TRUE(r.audio_files.empty());
    EXPECT_TRUE(files_under(".wav").empty());
    int steps = 0;
    int synced = 0;
    int unsynced = 0;
    for (const auto& log : r.timing_logs) {
        const auto rows = read_log(log);
        for (std::size_t j = 0; j < rows.size(); ++j) {
            const Fields& f = rows[j];
            if (f[0] == "clock_step") {
                ++steps;
                const int64_t step = std::stoll(f[12].substr(std::strlen("step_ns=")));
                EXPECT_NEAR(static_cast<double>(step), -3e8, 1e4);
                EXPECT_EQ(f[7], "");
                ASSERT_LT(j + 1, rows.size());
                EXPECT_EQ(rows[j + 1][0], "point");
                EXPECT_EQ(rows[j + 1][1], f[1]);
            } else if (f[0] == "sync") {
                const bool s = f[12].find("synced=1") != std::string::npos;
                s ? ++synced : ++unsynced;
                EXPECT_EQ(f[12].rfind("source=chronyd;", 0), 0u);
                EXPECT_EQ(f[8], s ? "8193" : "8257");
            }
        }
    }
    EXPECT_EQ(steps, 1);
    EXPECT_EQ(unsynced, 9);
    EXPECT_EQ(synced, 21);
}

TEST_F(SynthTest, SameSeedSameBytes) {
    spec_.events.push_back({.kind = SynthEvent::Kind::overrun, .at_s = 20, .frames = 800});
    spec_.events.push_back({.kind = SynthEvent::Kind::crash_recover, .at_s = 100, .frames = 100});
    const SynthResult a = run();
    std::vector<std::string> first;
    for (const auto& p : a.timing_logs) {
        first.push_back(fstest::slurp(p));
    }
    fsys::remove_all(dir_);
    const SynthResult b = run();
    ASSERT_EQ(b.timing_logs, a.timing_logs);
    for (std::size_t i = 0; i < first.size(); ++i) {
        EXPECT_EQ(fstest::slurp(b.timing_logs[i]), first[i]) << b.timing_logs[i];
    }
}

// The session a log belongs to, from its log_start row.
const framestamp::SynthSession& session_of(const SynthResult& r, const std::vector<Fields>& rows) {
    for (const auto& s : r.sessions) {
        if (rows[0][12].find("session=" + s.id + ";") != std::string::npos) {
            return s;
        }
    }
    ADD_FAILURE() << "no session for " << rows[0][12];
    return r.sessions.front();
}

// Session frames in [first, end) of the clicks: the frames nearest each true whole UTC second
// (a session without overruns: one offset).
std::set<uint64_t> expected_clicks(const SimCard& truth, const framestamp::SynthSession& session,
                                   uint64_t first, uint64_t end) {
    std::set<uint64_t> out;
    const int64_t start_ns = truth.params().start_utc_ns;
    const int64_t offset = session.offsets.front().second;
    const int64_t from_s = framestamp::synth_true_utc_ns(truth, session, first) / 1'000'000'000;
    const int64_t to_s = framestamp::synth_true_utc_ns(truth, session, end) / 1'000'000'000 + 1;
    for (int64_t sec = from_s; sec <= to_s; ++sec) {
        const double t = static_cast<double>(sec * 1'000'000'000LL - start_ns) / 1e9;
        const int64_t f = std::llround(truth.frames_at(t)) - offset;
        if (f >= static_cast<int64_t>(first) && f < static_cast<int64_t>(end)) {
            out.insert(static_cast<uint64_t>(f));
        }
    }
    return out;
}

TEST_F(SynthTest, AudioOnlyForTheChunksThatStartInTheWindow) {
    const SimCard truth(spec_.sim);
    struct Case {
        double from_s;
        double to_s;
        std::size_t with_audio;
    };
    // Chunks start at 0 s (the session's first), 20 s (11:07:00) and 80 s; the device is lost
    // at 100 s and back at 105 s, a new session whose first chunk starts there; then chunks
    // start at 140 s and 200 s. A chunk keeps its audio if it starts after from - 60 s and
    // before to: here at 105, 140 and 200 s; 80 and 105 s (the new session's first chunk);
    // 0 s (the archive's first); 140 s.
    const std::vector<Case> cases = {{150, 210, 3}, {104, 106, 2}, {0, 1, 1}, {180, 190, 1}};
    spec_.duration_s = 250;
    spec_.events.push_back(
        {.kind = SynthEvent::Kind::device_lost, .at_s = 100.0, .frames = 5 * kRate});
    for (const Case& c : cases) {
        SCOPED_TRACE(std::to_string(c.from_s) + " .. " + std::to_string(c.to_s));
        fsys::remove_all(dir_);
        spec_.audio_from_s = c.from_s;
        spec_.audio_to_s = c.to_s;
        const SynthResult r = run();
        ASSERT_EQ(r.timing_logs.size(), 6u);
        EXPECT_EQ(r.audio_files.size(), c.with_audio);
        EXPECT_EQ(files_under(".wav").size(), c.with_audio);
        for (const auto& log : r.timing_logs) {
            const auto rows = read_log(log);
            const auto& session = session_of(r, rows);
            const uint64_t first = u64(find_kind(rows, "chunk_open")->at(1));
            const double start_s = truth.time_of_frame(session.sim_frame(first));
            fsys::path audio = log;
            audio.replace_extension().replace_extension(".wav");
            const bool with_audio = start_s > c.from_s - spec_.chunk_s && start_s < c.to_s;
            ASSERT_EQ(fsys::exists(audio), with_audio) << audio << " starts at " << start_s;
            if (!with_audio) {
                continue;
            }
            EXPECT_NE(std::find(r.audio_files.begin(), r.audio_files.end(), audio),
                      r.audio_files.end());
            // The signal, not silence, from the first frame to the last.
            const auto s = wav_samples(audio);
            EXPECT_EQ(s.size(), u64(rows.back()[7]));
            std::set<uint64_t> clicks;
            for (std::size_t j = 0; j < s.size(); ++j) {
                if (s[j] != 0) {
                    clicks.insert(first + j);
                }
            }
            EXPECT_EQ(clicks, expected_clicks(truth, session, first, first + s.size())) << audio;
            EXPECT_GE(clicks.size(), 19u) << audio;
        }
    }
}

TEST_F(SynthTest, ResultCountsTheRowsAndFramesThatReachedTheFiles) {
    spec_.duration_s = 300;
    spec_.events.push_back(
        {.kind = SynthEvent::Kind::crash_recover, .at_s = 50.3, .frames = kRate});
    spec_.events.push_back(
        {.kind = SynthEvent::Kind::device_lost, .at_s = 130.0, .frames = 2 * kRate});
    spec_.events.push_back({.kind = SynthEvent::Kind::crash, .at_s = 205.7, .frames = kRate});
    const SynthResult r = run();
    ASSERT_EQ(r.sessions.size(), 4u);
    uint64_t rows = 0;
    uint64_t frames = 0;
    int partial = 0;
    for (const auto& log : r.timing_logs) {
        if (log.extension() == ".partial") {
            ++partial;
        }
        if (fsys::file_size(log) == 0) {
            continue;  // crashed before its first flush: not even the header reached the file
        }
        for (const Fields& f : read_log(log)) {
            // recover_stream_dir()'s rows are the restarted daemon's, not the writer's.
            const bool recovery = f[0] == "crash_recovery" ||
                                  (f[0] == "chunk_close" && f[12] == "closed_by=crash_recovery");
            rows += recovery ? 0 : 1;
        }
    }
    for (const auto& a : r.audio_files) {
        if (a.extension() == ".partial") {
            // Its header is as the last flush left it: count the frames the file holds.
            frames += (fsys::file_size(a) - wav_data_offset(a)) / 2;
        } else {
            frames += wav_samples(a).size();
        }
    }
    EXPECT_EQ(partial, 1);
    EXPECT_EQ(rows, r.rows);
    // Every frame written is in a file, the crashed chunk's .partial included.
    EXPECT_EQ(frames, r.frames);
}

TEST_F(SynthTest, RejectsImpossibleSpecs) {
    spec_.chunk_s = 0.5;
    EXPECT_THROW(run(), std::invalid_argument);
    spec_.chunk_s = 60;
    spec_.channels = 0;
    EXPECT_THROW(run(), std::invalid_argument);
}

}  // namespace
