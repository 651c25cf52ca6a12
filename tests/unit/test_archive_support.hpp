// For the archive tests: a stand-in for framestampd's writer thread that writes chunks and timing
// logs with the real writers (ChunkFile, TimingLogWriter) in the daemon's row order, from a
// simulated card with a known rate, so tests know the truth.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "framestamp/audiofile.hpp"
#include "framestamp/recorder.hpp"
#include "framestamp/timing_log.hpp"
#include "framestamp/utc.hpp"
#include "test_support.hpp"

namespace fs_test {

namespace fsys = std::filesystem;
using namespace framestamp;

inline uint64_t test_seed() {
    return fstest::test_seed(20261124);
}

// As framestampd names chunks.
inline fsys::path chunk_path(const fsys::path& data_dir, const std::string& stream, int64_t utc_ns,
                             int serial) {
    return chunk_audio_path(data_dir, stream, utc_ns, FileFormat::wav, serial);
}

inline fsys::path log_path_for(const fsys::path& audio) {
    return timing_log_path_for(audio);
}

inline std::string slurp(const fsys::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline void spit(const fsys::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
}

// A temporary folder per test, removed afterwards.
class TempDir {
  public:
    TempDir() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        path_ = fsys::temp_directory_path() / fmt::format("fs_archive_{}_{}_{}", ::getpid(),
                                                          info->test_suite_name(), info->name());
        fsys::remove_all(path_);
        fsys::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        fsys::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fsys::path& path() const { return path_; }

  private:
    fsys::path path_;
};

struct FakeSpec {
    fsys::path data_dir;
    std::string stream = "front";
    uint32_t rate_hz = 8000;
    uint32_t channels = 1;
    double ppm = 25.0;  // card runs fast: more frames per true second
    int64_t start_utc_ns = 1'795'000'000'000'000'000;
    int64_t start_raw_ns = 7'000'000'000;
    uint64_t chunk_frames = 80'000;  // 10 s at 8 kHz
    double points_per_s = 4.0;
    uint64_t seed = 1;
};

// Writes one stream as the daemon would. True time t_s runs from 0 at start_utc_ns; the card's
// hardware position in the current session is base_frame + (t - base_t) * card rate.
class FakeDaemon {
  public:
    explicit FakeDaemon(FakeSpec spec) : s_(std::move(spec)), rng_(s_.seed) {}
    ~FakeDaemon() {
        if (chunk_) {
            close_chunk();
        }
    }

    double card_rate() const { return s_.rate_hz * (1.0 + s_.ppm * 1e-6); }
    // True UTC of a session frame of the current session.
    int64_t true_utc_of(uint64_t frame) const {
        return s_.start_utc_ns + std::llround((base_t_ + (static_cast<double>(frame) -
                                                          static_cast<double>(base_frame_)) /
                                                             card_rate()) *
                                              1e9);
    }
    int64_t now_utc() const { return s_.start_utc_ns + std::llround(t_ * 1e9); }
    int64_t now_raw() const { return s_.start_raw_ns + std::llround(t_ * 1e9); }
    uint64_t written() const { return written_; }
    const std::string& session() const { return session_; }
    const std::vector<fsys::path>& audio_files() const { return audio_; }
    const std::vector<fsys::path>& logs() const { return logs_; }

    void start_session(bool device_back = false) {
        if (device_back) {
            pending("device_back", 0, {}, "device=hw:CARD=Fake,DEV=0");
        }
        session_ = utc_session_id(now_utc() + clock_offset_ns_);
        base_frame_ = 0;
        base_t_ = t_;
        written_ = 0;
        pending("session_start", 0, {},
                fmt::format("device=hw:CARD=Fake,DEV=0;rate_hz={};channels={};sample_format=S16_LE;"
                            "period_frames=256;buffer_frames=2048",
                            s_.rate_hz, s_.channels));
    }

    // Records `seconds` of true time: frames to chunks, a point every 1/points_per_s.
    void record(double seconds) {
        const double dt = 1.0 / s_.points_per_s;
        const double end = t_ + seconds;
        std::uniform_real_distribution<double> jitter(0.0, 0.002);
        while (t_ + 1e-12 < end) {
            t_ = std::min(end, t_ + dt);
            const uint64_t hw = hw_now();
            write_to(hw);
            row({.kind = "point",
                 .session_frame = hw,
                 .realtime_ns = now_utc() + clock_offset_ns_ + std::llround(jitter(rng_) * 1e3),
                 .monotonic_raw_ns = now_raw(),
                 .window_ns = 4000,
                 .delay_frames = 64});
        }
    }

    void overrun(uint64_t frames, bool fill) {
        row({.kind = "overrun",
             .session_frame = written_,
             .realtime_ns = now_utc() + clock_offset_ns_,
             .monotonic_raw_ns = now_raw(),
             .frames = static_cast<int64_t>(frames)},
            fmt::format("filled={};lost_frames={};estimated_from=timestamps",
                        fill ? "silence" : "none", frames));
        t_ += static_cast<double>(frames) / card_rate();
        if (fill) {
            write_to(written_ + frames);
        } else {
            base_frame_ = written_;
            base_t_ = t_;
        }
    }

    void ring_overflow(uint64_t frames) {
        row({.kind = "ring_overflow",
             .session_frame = written_,
             .realtime_ns = now_utc() + clock_offset_ns_,
             .monotonic_raw_ns = now_raw(),
             .frames = static_cast<int64_t>(frames)},
            fmt::format("filled=silence;lost_frames={}", frames));
        t_ += static_cast<double>(frames) / card_rate();
        write_to(written_ + frames);
    }

    // Disk full: the chunk closes, `frames` frames are dropped, the next chunk says so.
    void write_gap(uint64_t frames) {
        if (chunk_) {
            row({.kind = "disk_pause",
                 .session_frame = written_,
                 .realtime_ns = now_utc() + clock_offset_ns_,
                 .monotonic_raw_ns = now_raw()},
                "reason=free space below min_free_disk_mib");
            close_chunk();
        }
        gap_first_ = written_;
        gap_frames_ = frames;
        t_ += static_cast<double>(frames) / card_rate();
        written_ += frames;
    }

    void device_lost(double gap_s) {
        row({.kind = "device_lost",
             .session_frame = written_,
             .realtime_ns = now_utc() + clock_offset_ns_,
             .monotonic_raw_ns = now_raw()},
            "error=No such device");
        close_chunk();
        pending_.clear();
        t_ += gap_s;
    }

    void sync(bool synced) {
        row({.kind = "sync",
             .session_frame = written_,
             .realtime_ns = now_utc() + clock_offset_ns_,
             .monotonic_raw_ns = now_raw(),
             .sync_status = synced ? 0x2001 : 0x0041,
             .sync_offset_ns = 1200,
             .sync_esterror_ns = 20'000,
             .sync_maxerror_ns = 150'000},
            fmt::format("source=chronyd;synced={};reference=GPS", synced ? 1 : 0));
    }

    void clock_step(int64_t step_ns) {
        clock_offset_ns_ += step_ns;
        row({.kind = "clock_step",
             .session_frame = hw_now(),
             .realtime_ns = now_utc() + clock_offset_ns_,
             .monotonic_raw_ns = now_raw()},
            fmt::format("step_ns={}", step_ns));
    }

    void shutdown() {
        row({.kind = "shutdown",
             .session_frame = written_,
             .realtime_ns = now_utc() + clock_offset_ns_,
             .monotonic_raw_ns = now_raw()},
            "reason=shutdown");
        close_chunk();
        pending_.clear();
    }

    // A crash: the open chunk's audio and log stay .partial as of their last flush.
    void crash() {
        ASSERT_TRUE(chunk_);
        ASSERT_TRUE(log_.flush());
        ASSERT_TRUE(chunk_->flush().ok());
        const fsys::path partial_log = log_.partial_path();
        const std::string text = slurp(partial_log);
        chunk_->abandon();
        chunk_.reset();
        log_.close();  // renames; put the .partial back as the crash left it
        fsys::remove(log_.final_path());
        spit(partial_log, text);
        pending_.clear();
    }

  private:
    struct Pending {
        TimingRow row;
        std::string detail;
    };

    uint64_t hw_now() const {
        return base_frame_ + static_cast<uint64_t>(std::floor((t_ - base_t_) * card_rate()));
    }

    void pending(std::string_view kind, uint64_t frame, std::optional<int64_t> frames,
                 std::string detail) {
        row({.kind = kind,
             .session_frame = frame,
             .realtime_ns = now_utc() + clock_offset_ns_,
             .monotonic_raw_ns = now_raw(),
             .frames = frames},
            std::move(detail));
    }

    void row(TimingRow r, std::string detail = {}) {
        if (chunk_) {
            r.detail = detail;
            log_.append(r);
            return;
        }
        pending_.push_back(Pending{r, std::move(detail)});
    }

    // Writes frames up to session frame `to` (exclusive), cutting chunks every chunk_frames.
    void write_to(uint64_t to) {
        while (written_ < to) {
            if (!chunk_) {
                open_chunk();
            }
            const uint64_t room = s_.chunk_frames - (written_ - chunk_first_);
            const uint64_t n = std::min(room, to - written_);
            std::vector<int16_t> buf(n * s_.channels);
            for (uint64_t i = 0; i < n; ++i) {
                buf[i * s_.channels] = static_cast<int16_t>((written_ + i) & 0x7fff);
            }
            ASSERT_TRUE(chunk_->write(buf.data(), n).ok());
            written_ += n;
            if (written_ - chunk_first_ == s_.chunk_frames) {
                close_chunk();
            }
        }
    }

    void open_chunk() {
        chunk_first_ = written_;
        const int64_t first_utc = true_utc_of(written_) + clock_offset_ns_;
        fsys::path path;
        for (int serial = 0; serial < 100; ++serial) {
            path = chunk_path(s_.data_dir, s_.stream, first_utc, serial);
            if (!fsys::exists(path) && !fsys::exists(partial_path_for(path))) {
                break;
            }
        }
        fsys::create_directories(path.parent_path());
        ChunkMetadata meta;
        meta.stream = s_.stream;
        meta.session = session_;
        meta.first_session_frame = chunk_first_;
        meta.first_sample_utc_ns = first_utc;
        meta.rate_hz = s_.rate_hz;
        meta.channels = s_.channels;
        meta.format = SampleFormat::s16_le;
        meta.recorder_id = "test";
        auto created = ChunkFile::create(path, FileFormat::wav, 5, meta);
        ASSERT_TRUE(created.ok()) << created.error().message;
        chunk_.emplace(std::move(created.value()));
        ASSERT_TRUE(log_.open(log_path_for(path), chunk_first_)) << log_.error();
        audio_.push_back(path);
        logs_.push_back(log_path_for(path));
        const std::string name = path.filename().string();
        const std::string start = fmt::format(
            "format=framestamp-timing-log;version=1;stream={};session={};rate_hz={};channels={};"
            "sample_format=S16_LE;device=hw:CARD=Fake,DEV=0;recorder=test;audio_file={}",
            s_.stream, session_, s_.rate_hz, s_.channels, name);
        log_.append({.kind = "log_start",
                     .session_frame = chunk_first_,
                     .realtime_ns = first_utc,
                     .monotonic_raw_ns = now_raw(),
                     .detail = start});
        for (Pending& p : pending_) {
            p.row.detail = p.detail;
            log_.append(p.row);
        }
        pending_.clear();
        if (gap_frames_ > 0) {
            const std::string d = "reason=disk_full";
            log_.append({.kind = "write_gap",
                         .session_frame = gap_first_,
                         .realtime_ns = true_utc_of(gap_first_) + clock_offset_ns_,
                         .monotonic_raw_ns = now_raw(),
                         .frames = static_cast<int64_t>(gap_frames_),
                         .detail = d});
            gap_frames_ = 0;
        }
        const std::string file = "file=" + name;
        log_.append({.kind = "chunk_open",
                     .session_frame = chunk_first_,
                     .realtime_ns = first_utc,
                     .monotonic_raw_ns = now_raw(),
                     .detail = file});
    }

    void close_chunk() {
        if (!chunk_) {
            return;
        }
        ASSERT_TRUE(chunk_->close().ok());
        const uint64_t frames = chunk_->frames_written();
        log_.append({.kind = "chunk_close",
                     .session_frame = chunk_first_ + frames,
                     .realtime_ns = true_utc_of(chunk_first_ + frames) + clock_offset_ns_,
                     .monotonic_raw_ns = now_raw(),
                     .frames = static_cast<int64_t>(frames)});
        ASSERT_TRUE(log_.close()) << log_.error();
        chunk_.reset();
    }

    FakeSpec s_;
    std::mt19937_64 rng_;
    double t_ = 0;
    double base_t_ = 0;
    uint64_t base_frame_ = 0;
    uint64_t written_ = 0;
    uint64_t chunk_first_ = 0;
    uint64_t gap_first_ = 0;
    uint64_t gap_frames_ = 0;
    int64_t clock_offset_ns_ = 0;
    std::string session_;
    std::optional<ChunkFile> chunk_;
    TimingLogWriter log_;
    std::vector<Pending> pending_;
    std::vector<fsys::path> audio_;
    std::vector<fsys::path> logs_;
};

}  // namespace fs_test
