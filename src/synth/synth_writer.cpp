// The daemon's writer logic, step for step (compare src/recorder/stream_writer.cpp).
#include "synth/synth_writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "synth/synth_files.hpp"

namespace framestamp::synth_detail {

namespace {

constexpr int64_t kNsPerS = 1'000'000'000;
// Frames generated per ChunkFile::write.
constexpr uint64_t kBlockFrames = 16384;
// Rows appended between real fdatasyncs of the log: a few MB, as the brief allows.
constexpr uint64_t kRowsPerSync = 40'000;

LiveDriftOptions estimator_options() {
    LiveDriftOptions o;
    // The daemon refits 4 times a second, an O(window) fit; 120 days of that would take most
    // of an hour. Between refits the estimator still lowers its line onto each point, so the
    // estimate (used here only for chunk cuts and the times of chunk rows) moves by
    // microseconds, not by whole frames at a boundary.
    o.refit_interval_s = 60.0;
    return o;
}

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error("synthetic archive: " + what);
}

}  // namespace

SynthWriter::SynthWriter(const SynthSpec& spec, const SimCard& truth, SynthResult& result)
    : spec_(spec),
      truth_(truth),
      result_(result),
      signal_(spec.signal, spec.channels, truth),
      estimator_(spec.sim.rate_hz, estimator_options()),
      policy_(static_cast<uint32_t>(std::llround(spec.chunk_s))),
      flush_frames_(std::max<uint64_t>(
          1, static_cast<uint64_t>(std::llround(spec.flush_interval_s * spec.sim.rate_hz)))) {}

SynthWriter::~SynthWriter() {
    // An exception left a chunk open: keep what is there, never throw from here.
    if (audio_) {
        audio_->abandon();
    }
    unflushed_.clear();
}

void SynthWriter::start_session(const std::string& id, int64_t realtime_ns, int64_t raw_ns,
                                int64_t sim_offset, bool device_back) {
    if (device_back) {
        row({.kind = "device_back",
             .session_frame = 0,
             .realtime_ns = realtime_ns,
             .monotonic_raw_ns = raw_ns},
            fmt::format("device={}", spec_.device));
    }
    if (in_session_) {
        end_session();
    }
    in_session_ = true;
    session_id_ = id;
    session_start_rt_ns_ = realtime_ns;
    rt_minus_raw_ns_ = realtime_ns - raw_ns;
    sim_offset_ = sim_offset;
    consumed_ = 0;
    emitted_ = 0;
    gap_frames_ = 0;
    paused_ = false;
    first_chunk_opened_ = false;
    staged_.clear();
    estimator_.reset();
    policy_.reset();
    row({.kind = "session_start",
         .session_frame = 0,
         .realtime_ns = realtime_ns,
         .monotonic_raw_ns = raw_ns},
        fmt::format("device={};rate_hz={};channels={};sample_format={};period_frames={};"
                    "buffer_frames={};pcm_type=HW",
                    spec_.device, spec_.sim.rate_hz, spec_.channels,
                    sample_format_name(SampleFormat::s16_le), spec_.period_frames,
                    spec_.buffer_frames));
}

void SynthWriter::end_session() {
    maybe_open_first_chunk(true);
    close_chunk();
    pending_rows_.clear();
    in_session_ = false;
    paused_ = false;
}

void SynthWriter::finish(int64_t realtime_ns, int64_t raw_ns) {
    if (!in_session_) {
        return;
    }
    maybe_open_first_chunk(true);
    row({.kind = "shutdown",
         .session_frame = emitted_,
         .realtime_ns = realtime_ns,
         .monotonic_raw_ns = raw_ns},
        "reason=shutdown");
    close_chunk();
    pending_rows_.clear();
    in_session_ = false;
}

std::vector<std::filesystem::path> SynthWriter::crash() {
    std::vector<std::filesystem::path> left;
    if (audio_) {
        left.push_back(audio_->partial_path());
        audio_->abandon();
        audio_.reset();
        result_.audio_files.back() = left.back();
    }
    if (log_.is_open()) {
        // TimingLogWriter has no abandon(): close it (its buffer holds only flushed rows, so the
        // bytes are those an unclosed log would have) and give the file its .partial name back.
        unflushed_.clear();
        const std::filesystem::path final_path = log_.final_path();
        const std::filesystem::path partial = log_.partial_path();
        if (!log_.close()) {
            fail(log_.error());
        }
        std::error_code ec;
        std::filesystem::rename(final_path, partial, ec);
        if (!ec && !flushed_once_) {
            // The daemon had not flushed this log yet: not even its header is on disk.
            std::filesystem::resize_file(partial, 0, ec);
        }
        if (ec) {
            fail(fmt::format("cannot rename {}: {}", final_path.string(), ec.message()));
        }
        left.push_back(partial);
        result_.timing_logs.back() = partial;
    }
    pending_rows_.clear();
    staged_.clear();
    in_session_ = false;
    return left;
}

void SynthWriter::advance_to(uint64_t end) {
    if (end > consumed_) {
        consume(end - consumed_, false);
    }
}

void SynthWriter::fill_zeros(uint64_t n) {
    consume(n, true);
}

void SynthWriter::point(uint64_t frame, int64_t realtime_ns, int64_t raw_ns, int64_t window_ns,
                        int64_t delay_frames) {
    estimator_.add(frame, realtime_ns);
    rt_minus_raw_ns_ = realtime_ns - raw_ns;
    row({.kind = "point",
         .session_frame = frame,
         .realtime_ns = realtime_ns,
         .monotonic_raw_ns = raw_ns,
         .window_ns = window_ns,
         .delay_frames = delay_frames});
}

void SynthWriter::row(TimingRow r, std::string detail) {
    if (chunk_open()) {
        unflushed_.push_back(PendingRow{r, std::move(detail)});
        return;
    }
    pending_rows_.push_back(PendingRow{r, std::move(detail)});
}

void SynthWriter::set_disk_paused(bool paused, int64_t realtime_ns, int64_t raw_ns) {
    paused_ = paused;
    pause_rt_ns_ = realtime_ns;
    pause_raw_ns_ = raw_ns;
}

void SynthWriter::consume(uint64_t n, bool zeros) {
    if (n == 0 || !in_session_) {
        return;
    }
    consumed_ += n;
    if (!first_chunk_opened_) {
        staged_.push_back(Run{n, zeros, sim_offset_});
        maybe_open_first_chunk(false);
        return;
    }
    emit(n, zeros, sim_offset_);
}

void SynthWriter::maybe_open_first_chunk(bool force) {
    if (first_chunk_opened_ || !in_session_) {
        return;
    }
    uint64_t staged_frames = 0;
    for (const Run& r : staged_) {
        staged_frames += r.frames;
    }
    const uint64_t wait_frames = uint64_t{spec_.first_chunk_wait_s} * spec_.sim.rate_hz;
    if (staged_frames == 0 || (!force && !estimator_.ready() && staged_frames < wait_frames)) {
        return;
    }
    first_chunk_opened_ = true;
    std::vector<Run> runs = std::move(staged_);
    staged_.clear();
    for (const Run& r : runs) {
        emit(r.frames, r.zeros, r.sim_offset);
    }
}

void SynthWriter::drop(uint64_t n) {
    if (gap_frames_ == 0) {
        gap_first_ = emitted_;
    }
    gap_frames_ += n;
    emitted_ += n;
}

void SynthWriter::emit(uint64_t n, bool zeros, int64_t sim_offset) {
    while (n > 0) {
        if (paused_) {
            if (chunk_open()) {
                row({.kind = "disk_pause",
                     .session_frame = emitted_,
                     .realtime_ns = pause_rt_ns_,
                     .monotonic_raw_ns = pause_raw_ns_},
                    "reason=free space below min_free_disk_mib");
                close_chunk();
            }
            drop(n);
            return;
        }
        if (!chunk_open()) {
            open_chunk(emitted_, std::nullopt);
        }
        const std::optional<uint64_t> boundary =
            policy_.next_boundary(estimator_, chunk_first_, emitted_ + n);
        uint64_t m = n;
        if (boundary) {
            m = *boundary > emitted_ ? std::min(n, *boundary - emitted_) : 0;
        }
        if (m > 0) {
            write_frames(m, zeros, sim_offset);
            emitted_ += m;
            n -= m;
            if (emitted_ >= next_flush_frame_) {
                flush_rows();
                next_flush_frame_ = emitted_ + flush_frames_;
            }
        }
        if (boundary && emitted_ >= *boundary) {
            close_chunk();
            open_chunk(emitted_, policy_.boundary_utc_ns());
        }
    }
}

void SynthWriter::write_frames(uint64_t n, bool zeros, int64_t sim_offset) {
    if (audio_) {
        for (uint64_t done = 0; done < n;) {
            const uint64_t k = std::min(kBlockFrames, n - done);
            buffer_.resize(k * spec_.channels);
            if (zeros) {
                std::fill(buffer_.begin(), buffer_.end(), int16_t{0});
            } else {
                signal_.fill(buffer_.data(), emitted_ + done, k, sim_offset);
            }
            const FileStatus st = audio_->write(buffer_.data(), k);
            if (!st) {
                fail(st.error().message);
            }
            done += k;
        }
    }
    chunk_frames_ += n;
    result_.frames += n;
}

void SynthWriter::open_chunk(uint64_t first_frame, std::optional<int64_t> name_utc_ns) {
    const int64_t first_utc = utc_of(first_frame);
    int64_t name_ns = 0;
    if (name_utc_ns) {
        name_ns = *name_utc_ns;
    } else {
        const auto from_policy = ChunkPolicy::session_name_ns(estimator_, first_frame);
        name_ns =
            from_policy ? *from_policy : first_utc - ((first_utc % kNsPerS) + kNsPerS) % kNsPerS;
    }
    std::filesystem::path path;
    std::error_code ec;
    for (int serial = 0; serial < 1000; ++serial) {
        path = audio_path(spec_.data_dir, spec_.stream, name_ns, spec_.file_format, serial);
        if (!std::filesystem::exists(path, ec) &&
            !std::filesystem::exists(partial_path_for(path), ec) &&
            !std::filesystem::exists(log_path(path), ec)) {
            break;
        }
    }
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
        fail(fmt::format("cannot create {}: {}", path.parent_path().string(), ec.message()));
    }
    const double t_first_s =
        truth_.time_of_frame(static_cast<double>(first_frame) + static_cast<double>(sim_offset_));
    const bool with_audio = spec_.write_audio && t_first_s > spec_.audio_from_s - spec_.chunk_s &&
                            t_first_s < spec_.audio_to_s;
    if (with_audio) {
        ChunkMetadata meta;
        meta.stream = spec_.stream;
        meta.session = session_id_;
        meta.first_session_frame = first_frame;
        meta.first_sample_utc_ns = first_utc;
        meta.rate_hz = spec_.sim.rate_hz;
        meta.channels = spec_.channels;
        meta.format = SampleFormat::s16_le;
        meta.recorder_id = spec_.recorder_id;
        meta.site = "synthetic";
        meta.notes = "synthetic archive written by framestamp's synth module";
        meta.software_version = std::string("framestamp ") + FRAMESTAMP_VERSION;
        FileResult<ChunkFile> created =
            ChunkFile::create(path, spec_.file_format, spec_.flac_level, meta);
        if (!created) {
            fail(created.error().message);
        }
        audio_.emplace(std::move(created.value()));
        result_.audio_files.push_back(path);
    }
    if (!log_.open(log_path(path), first_frame)) {
        fail(log_.error());
    }
    result_.timing_logs.push_back(log_.final_path());
    flushed_once_ = false;
    chunk_first_ = first_frame;
    chunk_frames_ = 0;
    next_flush_frame_ = first_frame + flush_frames_;
    const std::string audio_name = path.filename().string();
    row({.kind = "log_start",
         .session_frame = first_frame,
         .realtime_ns = first_utc,
         .monotonic_raw_ns = raw_of(first_utc)},
        log_start_detail(audio_name));
    for (PendingRow& p : pending_rows_) {
        unflushed_.push_back(std::move(p));
    }
    pending_rows_.clear();
    if (gap_frames_ > 0) {
        row({.kind = "write_gap",
             .session_frame = gap_first_,
             .realtime_ns = utc_of(gap_first_),
             .monotonic_raw_ns = raw_of(utc_of(gap_first_)),
             .frames = static_cast<int64_t>(gap_frames_)},
            "reason=disk_full");
        gap_frames_ = 0;
    }
    row({.kind = "chunk_open",
         .session_frame = first_frame,
         .realtime_ns = first_utc,
         .monotonic_raw_ns = raw_of(first_utc)},
        fmt::format("file={}", audio_name));
}

void SynthWriter::close_chunk() {
    if (!chunk_open()) {
        return;
    }
    if (audio_) {
        const FileStatus st = audio_->close();
        if (!st) {
            fail(st.error().message);
        }
        audio_.reset();
    }
    const uint64_t end = chunk_first_ + chunk_frames_;
    const int64_t end_utc = utc_of(end);
    row({.kind = "chunk_close",
         .session_frame = end,
         .realtime_ns = end_utc,
         .monotonic_raw_ns = raw_of(end_utc),
         .frames = static_cast<int64_t>(chunk_frames_)});
    flush_rows();
    if (!log_.close()) {
        fail(log_.error());
    }
    rows_since_sync_ = 0;
}

void SynthWriter::flush_rows() {
    if (!chunk_open()) {
        return;
    }
    for (PendingRow& p : unflushed_) {
        p.row.detail = p.detail;
        log_.append(p.row);
    }
    result_.rows += unflushed_.size();
    rows_since_sync_ += unflushed_.size();
    unflushed_.clear();
    flushed_once_ = true;
    if (audio_) {
        const FileStatus st = audio_->flush();
        if (!st) {
            fail(st.error().message);
        }
    }
    // The daemon writes and fdatasyncs at every flush; doing that every 10 s of audio would make
    // 120 days take hours. The rows are written and synced every few MB instead (a crash here is
    // simulated, so nothing is lost by waiting).
    if (rows_since_sync_ >= kRowsPerSync) {
        if (!log_.flush()) {
            fail(log_.error());
        }
        rows_since_sync_ = 0;
    }
}

int64_t SynthWriter::utc_of(uint64_t frame) const {
    if (!estimator_.empty()) {
        return estimator_.realtime_of(frame);
    }
    return session_start_rt_ns_ +
           static_cast<int64_t>(frame * 1'000'000'000ULL / spec_.sim.rate_hz);
}

int64_t SynthWriter::raw_of(int64_t realtime_ns) const {
    return realtime_ns - rt_minus_raw_ns_;
}

std::string SynthWriter::log_start_detail(const std::string& audio_name) const {
    return fmt::format(
        "format=framestamp-timing-log;version={};stream={};session={};rate_hz={};channels={};"
        "sample_format={};device={};recorder={};audio_file={}",
        kTimingLogVersion, spec_.stream, session_id_, spec_.sim.rate_hz, spec_.channels,
        sample_format_name(SampleFormat::s16_le), spec_.device, spec_.recorder_id, audio_name);
}

}  // namespace framestamp::synth_detail
