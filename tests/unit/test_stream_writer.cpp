// framestampd's stream writer, without threads: the rings drained by step() and the same code
// driven directly (apply(), write_audio()), as the synthetic-archive generator drives it, with a
// test clock.
#include <gtest/gtest.h>
#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "framestamp/capture.hpp"
#include "framestamp/recorder.hpp"
#include "framestamp/timing_log.hpp"
#include "recorder/ring_sink.hpp"
#include "recorder/stream_writer.hpp"
#include "test_support.hpp"

namespace {

namespace fsys = std::filesystem;
using framestamp::CaptureRecord;
using framestamp::RecordKind;
using framestamp::StreamSetup;
using framestamp::StreamWriter;
using framestamp::WriterEnv;
using framestamp::WriterStats;
using Fields = std::vector<std::string>;

constexpr uint64_t kRate = 8000;
constexpr uint64_t kChannels = 3;  // 6-byte frames: some straddle the audio ring's end
constexpr std::size_t kFrameBytes = 2 * kChannels;
constexpr int64_t kNsPerS = 1'000'000'000;
// Realtime of session frame 0 of the first session: 0.3 s into a whole second.
constexpr int64_t kStartRtNs = 1'795'000'000'300'000'000;
constexpr int64_t kRtMinusRawNs = 1'794'000'000'000'000'000;

uint64_t test_seed() {
    return fstest::test_seed(20261124);
}

// Rows of a timing log, header dropped.
std::vector<Fields> read_rows(const fsys::path& p) {
    std::istringstream in(fstest::slurp(p));
    std::string line;
    std::vector<Fields> rows;
    std::getline(in, line);
    while (std::getline(in, line)) {
        rows.push_back(framestamp::csv_split(line));
    }
    return rows;
}

const Fields* find_kind(const std::vector<Fields>& rows, const std::string& kind) {
    const auto it =
        std::find_if(rows.begin(), rows.end(), [&](const Fields& f) { return f[0] == kind; });
    return it == rows.end() ? nullptr : &*it;
}

// Samples in the data chunk of a WAV written by ChunkFile.
std::size_t wav_samples(const fsys::path& p) {
    const std::string b = fstest::slurp(p);
    std::size_t at = 12;
    while (at + 8 <= b.size()) {
        uint32_t size = 0;
        std::memcpy(&size, b.data() + at + 4, 4);
        if (b.compare(at, 4, "data") == 0) {
            return size / 2;
        }
        at += 8 + size + (size & 1);
    }
    ADD_FAILURE() << "no data chunk in " << p;
    return 0;
}

// Every file under dir, by path relative to it, with its bytes.
std::map<std::string, std::string> tree(const fsys::path& dir) {
    std::map<std::string, std::string> out;
    for (const auto& e : fsys::recursive_directory_iterator(dir)) {
        if (e.is_regular_file()) {
            out[e.path().lexically_relative(dir).string()] = fstest::slurp(e.path());
        }
    }
    return out;
}

// A clock the test sets.
class TestClock final : public framestamp::WriterClock {
  public:
    int64_t monotonic_ns() override { return mono_ns; }
    int64_t realtime_ns() override { return mono_ns + kRtMinusRawNs + step_ns; }
    int64_t monotonic_raw_ns() override { return mono_ns; }
    int64_t mono_ns = 1'000 * kNsPerS;
    int64_t step_ns = 0;
};

// Keeps what the writer logs at error level.
class ErrorSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
  public:
    std::vector<std::string> errors;

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        if (msg.level >= spdlog::level::err) {
            errors.emplace_back(msg.payload.data(), msg.payload.size());
        }
    }
    void flush_() override {}
};

CaptureRecord record(RecordKind kind, uint64_t session, uint64_t at, int64_t rt_ns,
                     std::string_view detail = {}) {
    CaptureRecord r;
    r.kind = kind;
    r.session = session;
    r.at_frame = at;
    r.realtime_ns = rt_ns;
    r.monotonic_raw_ns = rt_ns - kRtMinusRawNs;
    framestamp::record_set_detail(r, detail);
    return r;
}

// What a capture loop hands its writer, in capture order: audio, and records with the clock's
// time when they were taken.
struct Audio {
    std::vector<unsigned char> bytes;
};
struct Step {
    int64_t mono_ns;
    std::variant<Audio, CaptureRecord> item;
};

// Two sessions of a card at 8 kHz (+30 ppm), read a period of 800 frames at a time with a
// timing point after each read: a sync sample, an overrun filled with silence, a clock step,
// two consecutive ring overflows, a device loss and return.
std::vector<Step> capture_script(uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<Step> steps;
    constexpr uint64_t kPeriod = 800;
    int64_t session_rt = kStartRtNs;
    int64_t step_ns = 0;
    const auto rt_of = [&](uint64_t frame) {
        return session_rt + step_ns +
               static_cast<int64_t>(static_cast<double>(frame) * 1e9 / (kRate * (1 + 30e-6)));
    };
    const auto mono_of = [&](uint64_t frame) { return rt_of(frame) - kRtMinusRawNs - step_ns; };
    for (uint64_t session = 1; session <= 2; ++session) {
        uint64_t frames = 0;  // session frames handed over (zero fill included)
        if (session == 2) {
            steps.push_back({mono_of(0), record(RecordKind::device_back, 2, 0, rt_of(0),
                                                "device=hw:CARD=Test,DEV=0")});
        }
        steps.push_back({mono_of(0), record(RecordKind::session_start, session, 0, rt_of(0),
                                            "device=hw:CARD=Test,DEV=0;rate_hz=8000")});
        const uint64_t end = session == 1 ? 7 * kRate : 3 * kRate / 2;
        bool synced = false;
        bool overran = false;
        bool stepped = false;
        bool overflowed = false;
        while (frames < end) {
            Audio a;
            a.bytes.resize(kPeriod * kFrameBytes);
            for (uint64_t i = 0; i < kPeriod * kChannels; ++i) {
                const auto v = static_cast<uint16_t>(frames * kChannels + i);
                std::memcpy(&a.bytes[i * 2], &v, 2);
            }
            frames += kPeriod;
            steps.push_back({mono_of(frames), a});
            const uint64_t avail = rng() % kPeriod;
            CaptureRecord pt =
                record(RecordKind::point, session, frames,
                       rt_of(frames + avail) + static_cast<int64_t>(rng() % 2'000'000));
            pt.hw_frame = frames + avail;
            pt.window_ns = 2'000;
            pt.delay_frames = static_cast<int64_t>(avail);
            steps.push_back({mono_of(frames), pt});
            if (session != 1) {
                continue;
            }
            if (!synced && frames >= 2 * kRate) {
                synced = true;
                CaptureRecord s =
                    record(RecordKind::sync, 1, frames, rt_of(frames), "source=adjtimex;synced=1");
                s.sync_status = 0x2001;
                s.sync_offset_ns = -1200;
                s.sync_esterror_ns = 20'000;
                s.sync_maxerror_ns = 500'000;
                steps.push_back({mono_of(frames), s});
            }
            if (!overran && frames >= 3 * kRate) {
                overran = true;
                CaptureRecord ov = record(RecordKind::overrun, 1, frames, rt_of(frames + 500),
                                          "filled=silence;lost_frames=500");
                ov.frames = 500;
                ov.fill = true;
                steps.push_back({mono_of(frames + 500), ov});
                frames += 500;
            }
            if (!stepped && frames >= 4 * kRate) {
                stepped = true;
                step_ns = 200'000'000;
                CaptureRecord cs =
                    record(RecordKind::clock_step, 1, frames, rt_of(frames), "step_ns=200000000");
                cs.hw_frame = frames;
                cs.frames = step_ns;
                steps.push_back({mono_of(frames), cs});
            }
            if (!overflowed && frames >= 5 * kRate) {
                overflowed = true;
                for (const uint64_t n : {300, 200}) {
                    CaptureRecord ro = record(RecordKind::ring_overflow, 1, frames, rt_of(frames),
                                              "filled=silence;lost_frames=x");
                    ro.frames = static_cast<int64_t>(n);
                    ro.fill = true;
                    steps.push_back({mono_of(frames), ro});
                    frames += n;
                }
            }
        }
        if (session == 1) {
            steps.push_back({mono_of(frames), record(RecordKind::device_lost, 1, frames,
                                                     rt_of(frames), "error=No such device")});
            session_rt = rt_of(frames) + 2 * kNsPerS;
            step_ns = 0;
        }
    }
    return steps;
}

class StreamWriterTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fstest::fresh_test_dir("fs_writer");
        setup_.name = "wr";
        setup_.data_dir = dir_ / "driven";
        setup_.capture.params.device = "hw:CARD=Test,DEV=0";
        setup_.capture.params.rate_hz = static_cast<uint32_t>(kRate);
        setup_.capture.params.channels = static_cast<uint32_t>(kChannels);
        setup_.chunk_seconds = 2;
        setup_.file_format = framestamp::FileFormat::wav;
        setup_.flush_interval_ns = kNsPerS / 2;
        setup_.first_chunk_wait_s = 1;
        setup_.metadata.recorder_id = "test";
        sink_ = std::make_shared<ErrorSink>();
        env_.clock = &clock_;
        env_.logger = std::make_shared<spdlog::logger>("writer-test", sink_);
    }
    void TearDown() override { fsys::remove_all(dir_); }

    // Starts a session at frame 0 and gives it `frames` frames of silence with a point after
    // each 800 (so the live estimate is ready and a chunk opens).
    void run_session(StreamWriter& w, uint64_t session, uint64_t frames, int64_t start_rt_ns) {
        w.apply(record(RecordKind::session_start, session, 0, start_rt_ns, "device=test"));
        for (uint64_t f = 0; f < frames;) {
            w.write_audio(nullptr, 800);
            f += 800;
            CaptureRecord pt = record(RecordKind::point, session, f,
                                      start_rt_ns + static_cast<int64_t>(f * kNsPerS / kRate));
            pt.hw_frame = f;
            w.apply(pt);
            clock_.mono_ns = pt.monotonic_raw_ns;
            w.flush_if_due();
        }
    }

    fsys::path dir_;
    StreamSetup setup_;
    TestClock clock_;
    std::shared_ptr<ErrorSink> sink_;
    WriterEnv env_;
    WriterStats stats_;
};

TEST_F(StreamWriterTest, DrivenDirectlyItWritesWhatItWritesFromTheRings) {
    SCOPED_TRACE("FS_TEST_SEED=" + std::to_string(test_seed()));
    const std::vector<Step> script = capture_script(test_seed());

    // The daemon's path: the capture's output pushed into the rings some periods at a time,
    // then drained by step(), which interleaves records and audio by their session frames.
    StreamSetup ring_setup = setup_;
    ring_setup.data_dir = dir_ / "rings";
    framestamp::RingSinkImpl sink(std::size_t{32} * 1024, 64, kFrameBytes);
    WriterStats ring_stats;
    TestClock ring_clock;
    WriterEnv ring_env = env_;
    ring_env.clock = &ring_clock;
    StreamWriter from_rings(ring_setup, sink, ring_stats, nullptr, ring_env);
    std::size_t pushed = 0;
    for (const Step& s : script) {
        ring_clock.mono_ns = s.mono_ns;
        if (const auto* a = std::get_if<Audio>(&s.item)) {
            ASSERT_GE(sink.audio_space_frames(), a->bytes.size() / kFrameBytes);
            sink.push_audio(a->bytes.data(), a->bytes.size() / kFrameBytes);
        } else {
            ASSERT_TRUE(sink.push_record(std::get<CaptureRecord>(s.item)));
        }
        if (++pushed % 7 == 0) {
            from_rings.step();
            from_rings.flush_if_due();
        }
    }
    while (from_rings.step()) {
    }
    ring_clock.mono_ns += kNsPerS;
    from_rings.finish("shutdown");

    // The generator's path: each record and each read handed over as it comes.
    StreamWriter driven(setup_, stats_, env_);
    for (const Step& s : script) {
        clock_.mono_ns = s.mono_ns;
        if (const auto* a = std::get_if<Audio>(&s.item)) {
            driven.write_audio(a->bytes.data(), a->bytes.size() / kFrameBytes);
        } else {
            driven.apply(std::get<CaptureRecord>(s.item));
        }
        driven.flush_if_due();
    }
    clock_.mono_ns = ring_clock.mono_ns;
    driven.finish("shutdown");

    EXPECT_TRUE(sink_->errors.empty()) << sink_->errors.front();
    const auto a = tree(ring_setup.data_dir);
    const auto b = tree(setup_.data_dir);
    ASSERT_GE(a.size(), 8u);  // 4 chunks in the first session, 1 in the second, audio and log
    ASSERT_EQ(a.size(), b.size());
    for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j) {
        EXPECT_EQ(i->first, j->first);
        EXPECT_TRUE(i->second == j->second) << i->first << " differs";
    }
    EXPECT_EQ(stats_.frames_written.load(), ring_stats.frames_written.load());
    EXPECT_EQ(stats_.chunks_closed.load(), ring_stats.chunks_closed.load());
    EXPECT_EQ(driven.rows_written(), from_rings.rows_written());
    // Every row of the logs, header excluded, is counted.
    uint64_t rows = 0;
    for (const fsys::path& log : fstest::files_with_suffix(setup_.data_dir, ".timing.csv")) {
        const std::vector<Fields> r = read_rows(log);
        rows += r.size();
        EXPECT_EQ(r.front()[0], "log_start");
        EXPECT_EQ(r.back()[0], "chunk_close");
    }
    EXPECT_EQ(driven.rows_written(), rows);
    // The events of the script made it into the logs.
    std::map<std::string, int> kinds;
    for (const fsys::path& log : fstest::files_with_suffix(setup_.data_dir, ".timing.csv")) {
        for (const Fields& f : read_rows(log)) {
            ++kinds[f[0]];
        }
    }
    for (const char* k : {"session_start", "sync", "overrun", "clock_step", "device_lost",
                          "device_back", "shutdown"}) {
        EXPECT_EQ(kinds[k], k == std::string("session_start") ? 2 : 1) << k;
    }
    EXPECT_EQ(kinds["ring_overflow"], 1);  // the two stretches, merged
}

TEST_F(StreamWriterTest, ARecordAheadOfTheAudioIsRefused) {
    StreamWriter w(setup_, stats_, env_);
    w.apply(record(RecordKind::session_start, 1, 0, kStartRtNs));
    w.write_audio(nullptr, 100);
    CaptureRecord pt = record(RecordKind::point, 1, 101, kStartRtNs);
    EXPECT_THROW(w.apply(pt), std::logic_error);
    w.write_audio(nullptr, 1);
    EXPECT_NO_THROW(w.apply(pt));
    EXPECT_EQ(w.session_frames(), 101u);
}

TEST_F(StreamWriterTest, FlushesFollowTheWritersClock) {
    env_.sync_log_flushes = false;
    StreamWriter w(setup_, stats_, env_);
    run_session(w, 1, kRate * 3 / 2, kStartRtNs);  // the clock follows the audio
    const std::vector<fsys::path> logs =
        fstest::files_with_suffix(setup_.data_dir, ".timing.csv.partial");
    ASSERT_EQ(logs.size(), 1u);
    const int64_t flushed_ns = clock_.mono_ns + 10 * kNsPerS;
    clock_.mono_ns = flushed_ns;
    w.flush_if_due();
    const std::string before = fstest::slurp(logs[0]);
    const uint64_t rows_before = w.rows_written();
    EXPECT_GT(rows_before, 10u);
    EXPECT_EQ(static_cast<uint64_t>(std::count(before.begin(), before.end(), '\n')),
              rows_before + 1);  // the header and every row counted as written
    // More rows, but no flush until the clock says half a second has passed.
    CaptureRecord s = record(RecordKind::sync, 1, w.session_frames(), kStartRtNs + 2 * kNsPerS);
    w.apply(s);
    clock_.mono_ns = flushed_ns + kNsPerS / 2 - 1;
    w.flush_if_due();
    EXPECT_EQ(fstest::slurp(logs[0]), before);
    EXPECT_EQ(w.rows_written(), rows_before);
    clock_.mono_ns += 1;
    w.flush_if_due();
    const std::string after = fstest::slurp(logs[0]);
    EXPECT_EQ(after.substr(0, before.size()), before);
    EXPECT_EQ(after.substr(before.size()).rfind("sync,", 0), 0u) << after.substr(before.size());
    EXPECT_EQ(w.rows_written(), rows_before + 1);
}

TEST_F(StreamWriterTest, RowsTheWriterStampsItselfTakeItsClock) {
    std::atomic<bool> paused{false};
    setup_.disk_paused = &paused;
    StreamWriter w(setup_, stats_, env_);
    run_session(w, 1, kRate, kStartRtNs);
    const int64_t paused_ns = clock_.mono_ns + 5 * kNsPerS;
    const int64_t shutdown_ns = paused_ns + 7 * kNsPerS;
    clock_.mono_ns = paused_ns;
    clock_.step_ns = 123;
    paused = true;
    w.write_audio(nullptr, 800);
    paused = false;
    clock_.mono_ns = shutdown_ns;
    w.write_audio(nullptr, 800);
    w.finish("test");
    const std::vector<fsys::path> logs = fstest::files_with_suffix(setup_.data_dir, ".timing.csv");
    ASSERT_EQ(logs.size(), 2u);
    const std::vector<Fields> first = read_rows(logs[0]);
    const Fields* pause = find_kind(first, "disk_pause");
    ASSERT_NE(pause, nullptr);
    EXPECT_EQ((*pause)[3], std::to_string(paused_ns + kRtMinusRawNs + 123));
    EXPECT_EQ((*pause)[4], std::to_string(paused_ns));
    const std::vector<Fields> second = read_rows(logs[1]);
    const Fields* gap = find_kind(second, "write_gap");
    ASSERT_NE(gap, nullptr);
    EXPECT_EQ((*gap)[7], "800");
    const Fields* shutdown = find_kind(second, "shutdown");
    ASSERT_NE(shutdown, nullptr);
    EXPECT_EQ((*shutdown)[3], std::to_string(shutdown_ns + kRtMinusRawNs + 123));
    EXPECT_EQ((*shutdown)[4], std::to_string(shutdown_ns));
    EXPECT_EQ((*shutdown)[12], "reason=test");
}

TEST_F(StreamWriterTest, AChunkMayHaveItsTimingLogAlone) {
    std::vector<std::pair<fsys::path, uint64_t>> asked;
    env_.chunk_has_audio = [&](const fsys::path& audio, const framestamp::ChunkMetadata& meta) {
        asked.emplace_back(audio, meta.first_session_frame);
        return asked.size() != 2;  // the second chunk goes without
    };
    StreamWriter w(setup_, stats_, env_);
    run_session(w, 1, 5 * kRate, kStartRtNs);
    w.finish("shutdown");
    const std::vector<fsys::path> logs = fstest::files_with_suffix(setup_.data_dir, ".timing.csv");
    ASSERT_EQ(logs.size(), 3u);
    ASSERT_EQ(asked.size(), 3u);
    uint64_t frames = 0;
    for (std::size_t i = 0; i < logs.size(); ++i) {
        EXPECT_EQ(framestamp::timing_log_path_for(asked[i].first), logs[i]);
        EXPECT_EQ(fsys::exists(asked[i].first), i != 1) << asked[i].first;
        const std::vector<Fields> rows = read_rows(logs[i]);
        EXPECT_EQ(std::stoull(find_kind(rows, "chunk_open")->at(1)), asked[i].second);
        EXPECT_EQ(find_kind(rows, "chunk_open")->at(12),
                  "file=" + asked[i].first.filename().string());
        const Fields& close = rows.back();
        ASSERT_EQ(close[0], "chunk_close");
        EXPECT_EQ(std::stoull(close[1]) - asked[i].second, std::stoull(close[7]));
        if (i != 1) {
            EXPECT_EQ(wav_samples(asked[i].first), std::stoull(close[7]) * kChannels);
        }
        frames += std::stoull(close[7]);
    }
    EXPECT_EQ(frames, 5u * kRate);
    EXPECT_EQ(stats_.frames_written.load(), 5u * kRate);
    EXPECT_EQ(stats_.chunks_closed.load(), 3u);
}

TEST_F(StreamWriterTest, AbandonLeavesTheOpenChunkAsItsLastFlushLeftIt) {
    StreamWriter w(setup_, stats_, env_);
    run_session(w, 1, kRate * 3 / 2, kStartRtNs);  // flushed after 0.5 s and 1 s of the chunk
    const std::vector<fsys::path> logs =
        fstest::files_with_suffix(setup_.data_dir, ".timing.csv.partial");
    ASSERT_EQ(logs.size(), 1u);
    const std::string flushed = fstest::slurp(logs[0]);
    ASSERT_FALSE(flushed.empty());
    const uint64_t rows = w.rows_written();
    w.write_audio(nullptr, 800);
    w.apply(record(RecordKind::sync, 1, w.session_frames(), kStartRtNs + kNsPerS));
    const std::vector<fsys::path> left = w.abandon();
    ASSERT_EQ(left.size(), 2u);
    EXPECT_EQ(left[1], logs[0]);
    EXPECT_EQ(left[0].extension(), ".partial");
    EXPECT_TRUE(fsys::exists(left[0]));
    EXPECT_EQ(fstest::slurp(logs[0]), flushed);  // the rows since the last flush are lost
    EXPECT_EQ(w.rows_written(), rows);
    EXPECT_TRUE(fstest::files_with_suffix(setup_.data_dir, ".timing.csv").empty());
    // The writer has no session; a new one starts cleanly beside the .partial files.
    run_session(w, 1, kRate * 3 / 2, kStartRtNs + 10 * kNsPerS);
    w.finish("shutdown");
    EXPECT_EQ(fstest::files_with_suffix(setup_.data_dir, ".timing.csv").size(), 1u);
    EXPECT_EQ(fstest::files_with_suffix(setup_.data_dir, ".partial").size(), 2u);
    EXPECT_TRUE(sink_->errors.empty());
}

// A crash at any instant must leave a log that names and times whatever audio the file holds:
// a chunk's audio reaches its file only after its log, with a timing point, has.
TEST_F(StreamWriterTest, EveryChunksLogAndFirstPointReachTheFileBeforeItsAudio) {
    StreamWriter w(setup_, stats_, env_);
    w.apply(record(RecordKind::session_start, 1, 0, kStartRtNs, "device=test"));
    w.write_audio(nullptr, 800);
    // No point yet: the first chunk is not open (its name comes from the first point).
    EXPECT_TRUE(fstest::files_with_suffix(setup_.data_dir, ".partial").empty());
    uint64_t f = 800;
    auto point = [&] {
        CaptureRecord pt =
            record(RecordKind::point, 1, f, kStartRtNs + static_cast<int64_t>(f * kNsPerS / kRate));
        pt.hw_frame = f;
        w.apply(pt);
    };
    point();
    auto partial_logs = fstest::files_with_suffix(setup_.data_dir, ".timing.csv.partial");
    ASSERT_EQ(partial_logs.size(), 1u);
    std::vector<Fields> rows = read_rows(partial_logs[0]);
    ASSERT_GE(rows.size(), 4u);
    EXPECT_EQ(rows[0][0], "log_start");
    EXPECT_NE(find_kind(rows, "point"), nullptr);
    EXPECT_NE(find_kind(rows, "chunk_open"), nullptr);
    // 2 s chunks on UTC multiples: the next one opens at session frame 13 600 (1.7 s).
    std::uintmax_t held_from = 0;
    fsys::path second;
    while (f < 2 * kRate) {
        w.write_audio(nullptr, 800);
        f += 800;
        const auto audio = fstest::files_with_suffix(setup_.data_dir, ".wav.partial");
        if (second.empty() && audio.size() == 1 && f > 13'600) {
            second = audio[0];
            held_from = fsys::file_size(second);
            // Opened, its 800 frames held: its log has not reached the file yet.
            const auto logs = fstest::files_with_suffix(setup_.data_dir, ".timing.csv.partial");
            ASSERT_EQ(logs.size(), 1u);
            EXPECT_EQ(fsys::file_size(logs[0]), 0u);
            point();
            // Now the log, with its point, is in the file, and then the held audio.
            rows = read_rows(logs[0]);
            ASSERT_FALSE(rows.empty());
            EXPECT_EQ(rows[0][0], "log_start");
            EXPECT_NE(find_kind(rows, "point"), nullptr);
            EXPECT_EQ(fsys::file_size(second), held_from + 800 * kFrameBytes);
            continue;
        }
        point();
    }
    ASSERT_FALSE(second.empty());
    w.finish("shutdown");
    EXPECT_TRUE(sink_->errors.empty());
}

TEST_F(StreamWriterTest, RecoveryRemovesAChunkWithoutAudioAndRebuildsALostLogHead) {
    {
        // Killed as the second chunk opened, before its first point: its audio file holds a
        // header only.
        StreamWriter w(setup_, stats_, env_);
        run_session(w, 1, 13'600, kStartRtNs);
        w.write_audio(nullptr, 800);
        ASSERT_EQ(w.abandon().size(), 2u);
        const auto r = framestamp::recover_stream_dir(setup_.data_dir, setup_.name);
        EXPECT_EQ(r.empty_removed, 1);
        EXPECT_EQ(r.failures, 0);
        EXPECT_TRUE(fstest::files_with_suffix(setup_.data_dir, ".partial").empty());
        EXPECT_TRUE(fstest::files_with_suffix(setup_.data_dir, ".empty").empty());
        EXPECT_EQ(fstest::files_with_suffix(setup_.data_dir, ".wav").size(), 1u);
        EXPECT_EQ(fstest::files_with_suffix(setup_.data_dir, ".timing.csv").size(), 1u);
    }
    {
        // Killed in the middle of the second chunk, its log emptied as by a writer that did not
        // sync it first: recovery rebuilds its first rows from the audio and the previous log.
        StreamWriter w(setup_, stats_, env_);
        run_session(w, 2, 3 * kRate, kStartRtNs + 10 * kNsPerS);
        ASSERT_EQ(w.abandon().size(), 2u);
        const auto logs = fstest::files_with_suffix(setup_.data_dir, ".timing.csv.partial");
        ASSERT_EQ(logs.size(), 1u);
        fsys::resize_file(logs[0], 0);
        const auto r = framestamp::recover_stream_dir(setup_.data_dir, setup_.name);
        EXPECT_EQ(r.audio_recovered, 1);
        EXPECT_EQ(r.logs_closed, 1);
        fsys::path log = logs[0];
        log.replace_extension();
        const std::vector<Fields> rows = read_rows(log);
        ASSERT_EQ(rows.size(), 4u);
        EXPECT_EQ(rows[0][0], "log_start");
        EXPECT_NE(rows[0][12].find("device=hw:CARD=Test,DEV=0"), std::string::npos) << rows[0][12];
        EXPECT_NE(rows[0][12].find("rebuilt_by=crash_recovery"), std::string::npos);
        EXPECT_EQ(rows[1][0], "chunk_open");
        EXPECT_EQ(rows[2][0], "crash_recovery");
        EXPECT_EQ(rows[3][0], "chunk_close");
        // The chunk starts where the previous one of its session ended (2 s chunks on UTC
        // multiples, the session 0.3 s into a second: at 1.7 s).
        const uint64_t prev_end = 13'600;
        EXPECT_EQ(std::stoull(rows[1][1]), prev_end);
        EXPECT_EQ(std::stoull(rows[3][7]), 3 * kRate - prev_end);
    }
    {
        // Interrupted recoveries are finished by the next one: a removal of an empty chunk (its
        // log renamed to the "<audio>.empty" mark, the audio still there), and a log renamed to
        // its final name whose .partial is still there.
        const auto wavs = fstest::files_with_suffix(setup_.data_dir, ".wav");
        const auto logs = fstest::files_with_suffix(setup_.data_dir, ".timing.csv");
        ASSERT_EQ(wavs.size(), 3u);
        const fsys::path empty_audio = wavs[2].string() + "_x.wav";
        fsys::copy_file(wavs[2], empty_audio);
        std::ofstream(empty_audio.string() + ".empty") << "log";
        const fsys::path log_partial = logs[2].string() + ".partial";
        const std::string text = fstest::slurp(logs[2]);
        std::ofstream(log_partial) << text.substr(0, text.find("\ncrash_recovery,") + 1);
        const auto r = framestamp::recover_stream_dir(setup_.data_dir, setup_.name);
        EXPECT_EQ(r.empty_removed, 1);
        EXPECT_EQ(r.logs_closed, 1);
        EXPECT_EQ(r.failures, 0);
        EXPECT_FALSE(fsys::exists(empty_audio));
        EXPECT_TRUE(fstest::files_with_suffix(setup_.data_dir, ".empty").empty());
        EXPECT_TRUE(fstest::files_with_suffix(setup_.data_dir, ".partial").empty());
        EXPECT_EQ(fstest::slurp(logs[2]), text);
    }
}

TEST_F(StreamWriterTest, FailuresGoToTheWritersLogger) {
    std::ofstream(dir_ / "not_a_dir") << "x";
    setup_.data_dir = dir_ / "not_a_dir";
    StreamWriter w(setup_, stats_, env_);
    run_session(w, 1, kRate * 3 / 2, kStartRtNs);
    ASSERT_FALSE(sink_->errors.empty());
    EXPECT_NE(sink_->errors.front().find("not_a_dir"), std::string::npos) << sink_->errors.front();
    EXPECT_GT(stats_.frames_dropped.load(), 0u);
}

}  // namespace
