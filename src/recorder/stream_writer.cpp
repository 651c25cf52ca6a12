#include "recorder/stream_writer.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "framestamp/log.hpp"
#include "framestamp/utc.hpp"

namespace framestamp {

namespace {

constexpr int64_t kNsPerS = 1'000'000'000;
constexpr int64_t kRetryOpenNs = 2 * kNsPerS;
// The ring holds seconds of audio; waking 20 times a second keeps writes large and CPU low.
constexpr auto kIdleSleep = std::chrono::milliseconds(50);

const char* overrun_kind(RecordKind k) {
    return k == RecordKind::overrun ? "overrun" : "ring_overflow";
}

class SystemWriterClock final : public WriterClock {
  public:
    int64_t monotonic_ns() override { return framestamp::monotonic_ns(); }
    int64_t realtime_ns() override { return framestamp::realtime_ns(); }
    int64_t monotonic_raw_ns() override { return framestamp::monotonic_raw_ns(); }
};

std::size_t frame_bytes_of(const StreamSetup& setup) {
    return sample_bytes(setup.capture.params.format) * setup.capture.params.channels;
}

}  // namespace

WriterClock& system_writer_clock() {
    static SystemWriterClock clock;
    return clock;
}

StreamWriter::StreamWriter(const StreamSetup& setup, RingSinkImpl& sink, WriterStats& stats,
                           PendingSetup* pending, WriterEnv env)
    : setup_(setup),
      pending_(pending),
      sink_(&sink),
      stats_(stats),
      env_(std::move(env)),
      clock_(env_.clock != nullptr ? *env_.clock : system_writer_clock()),
      frame_bytes_(sink.frame_bytes()),
      estimator_(setup.capture.params.rate_hz, env_.drift),
      policy_(setup.chunk_seconds),
      zeros_((64 * 1024 / frame_bytes_ + 1) * frame_bytes_, 0) {
    if (setup_.pps_channel) {
        pps_.emplace(setup_.capture.params.rate_hz, setup_.pps);
    }
}

StreamWriter::StreamWriter(const StreamSetup& setup, WriterStats& stats, WriterEnv env)
    : setup_(setup),
      pending_(nullptr),
      sink_(nullptr),
      stats_(stats),
      env_(std::move(env)),
      clock_(env_.clock != nullptr ? *env_.clock : system_writer_clock()),
      frame_bytes_(frame_bytes_of(setup)),
      estimator_(setup.capture.params.rate_hz, env_.drift),
      policy_(setup.chunk_seconds),
      zeros_((64 * 1024 / frame_bytes_ + 1) * frame_bytes_, 0) {
    if (setup_.pps_channel) {
        pps_.emplace(setup_.capture.params.rate_hz, setup_.pps);
    }
}

spdlog::logger& StreamWriter::log() const {
    return env_.logger != nullptr ? *env_.logger : *spdlog::default_logger_raw();
}

void StreamWriter::run(const std::atomic<bool>& capture_done) {
    for (;;) {
        // Read the flag before draining, so that everything pushed before it was set is drained.
        const bool done = capture_done.load(std::memory_order_acquire);
        const bool progress = step();
        flush_if_due();
        if (!progress) {
            if (done) {
                break;
            }
            std::this_thread::sleep_for(kIdleSleep);
        }
    }
    finish("shutdown");
}

bool StreamWriter::due(const CaptureRecord& r) const {
    // Records of a new session come after everything of the old one; within a session a record
    // waits until the audio before it has been consumed.
    return !in_session_ || r.session != session_number_ || r.at_frame <= consumed_;
}

void StreamWriter::apply(const CaptureRecord& record) {
    if (!due(record)) {
        throw std::logic_error(fmt::format(
            "{}: record for session frame {} applied at frame {}: audio before it is missing",
            setup_.name, record.at_frame, consumed_));
    }
    handle(record);
}

void StreamWriter::write_audio(const void* interleaved, uint64_t frames) {
    consume(static_cast<const unsigned char*>(interleaved), frames);
}

void StreamWriter::flush_if_due() {
    maybe_flush(clock_.monotonic_ns());
}

bool StreamWriter::step() {
    if (sink_ == nullptr) {
        return false;
    }
    bool progress = false;
    for (;;) {
        uint64_t limit = UINT64_MAX;
        const RingRegions<const CaptureRecord> recs = sink_->records().read_regions(1);
        if (!recs.empty()) {
            const CaptureRecord& r = recs.first.front();
            if (due(r)) {
                const CaptureRecord copy = r;
                sink_->records().commit_read(1);
                handle(copy);
                progress = true;
                continue;
            }
            limit = r.at_frame - consumed_;
        }
        const RingRegions<const unsigned char> audio = sink_->audio().read_regions();
        const uint64_t frames = std::min<uint64_t>(limit, audio.size() / frame_bytes_);
        if (frames == 0) {
            break;
        }
        // Whole frames from the first region; a frame split by the ring's end is reassembled.
        const std::size_t bytes = frames * frame_bytes_;
        const std::size_t in_first = std::min(bytes, audio.first.size());
        const std::size_t whole_first = in_first / frame_bytes_ * frame_bytes_;
        consume(audio.first.data(), whole_first / frame_bytes_);
        std::size_t done = whole_first;
        if (done < bytes && in_first > whole_first) {
            std::vector<unsigned char> frame(frame_bytes_);
            const std::size_t head = in_first - whole_first;
            std::memcpy(frame.data(), audio.first.data() + whole_first, head);
            std::memcpy(frame.data() + head, audio.second.data(), frame_bytes_ - head);
            consume(frame.data(), 1);
            done += frame_bytes_;
        }
        if (done < bytes) {
            const std::size_t offset = done - audio.first.size();
            consume(audio.second.data() + offset, (bytes - done) / frame_bytes_);
        }
        sink_->audio().commit_read(bytes);
        progress = true;
    }
    return progress;
}

void StreamWriter::handle(const CaptureRecord& r) {
    const std::string detail = r.detail;
    switch (r.kind) {
        case RecordKind::session_start:
            start_session(r);
            return;
        case RecordKind::device_back:
            row({.kind = "device_back",
                 .session_frame = 0,
                 .realtime_ns = r.realtime_ns,
                 .monotonic_raw_ns = r.monotonic_raw_ns},
                detail);
            return;
        case RecordKind::point:
            // A flagged point (detail unreliable=...) is written but feeds no estimate.
            if (detail.empty()) {
                estimator_.add(r.hw_frame, r.realtime_ns);
                rt_minus_raw_ns_ = r.realtime_ns - r.monotonic_raw_ns;
                if (estimator_.ready()) {
                    stats_.drift_ppm.store(estimator_.ppm(), std::memory_order_relaxed);
                    stats_.drift_known.store(true, std::memory_order_relaxed);
                }
            }
            row({.kind = "point",
                 .session_frame = r.hw_frame,
                 .realtime_ns = r.realtime_ns,
                 .monotonic_raw_ns = r.monotonic_raw_ns,
                 .window_ns = r.window_ns,
                 .delay_frames = r.delay_frames},
                detail);
            // The session's first point opens its first chunk; a chunk's first point lets the
            // audio it holds go to disk, after the log that times it.
            maybe_open_first_chunk(false);
            if (holding_ && chunk_points_ > 0) {
                release_held();
            }
            return;
        case RecordKind::card_timing:
            row({.kind = "card_timing",
                 .session_frame = r.at_frame,
                 .realtime_ns = r.realtime_ns,
                 .monotonic_raw_ns = r.monotonic_raw_ns},
                detail);
            return;
        case RecordKind::overrun:
        case RecordKind::ring_overflow: {
            TimingRow t{.kind = overrun_kind(r.kind),
                        .session_frame = r.at_frame,
                        .realtime_ns = r.realtime_ns,
                        .monotonic_raw_ns = r.monotonic_raw_ns,
                        .frames = r.frames};
            if (r.kind == RecordKind::ring_overflow) {
                // Consecutive stretches (one per dropped read) become one row.
                if (overflow_row_ && overflow_row_->row.session_frame +
                                             static_cast<uint64_t>(*overflow_row_->row.frames) ==
                                         r.at_frame) {
                    *overflow_row_->row.frames += r.frames;
                    overflow_row_->detail =
                        fmt::format("filled=silence;lost_frames={}", *overflow_row_->row.frames);
                } else {
                    flush_overflow_row();
                    overflow_row_ = PendingRow{t, detail};
                }
            } else {
                row(t, detail);
            }
            if (r.fill && r.frames > 0) {
                consume(nullptr, static_cast<uint64_t>(r.frames));
            } else if (r.kind == RecordKind::overrun) {
                // Not filled: the frame index no longer tracks time across the gap.
                estimator_.reset();
            }
            return;
        }
        case RecordKind::device_lost:
            row({.kind = "device_lost",
                 .session_frame = r.at_frame,
                 .realtime_ns = r.realtime_ns,
                 .monotonic_raw_ns = r.monotonic_raw_ns},
                detail);
            end_session();
            return;
        case RecordKind::clock_step:
            row({.kind = "clock_step",
                 .session_frame = r.hw_frame,
                 .realtime_ns = r.realtime_ns,
                 .monotonic_raw_ns = r.monotonic_raw_ns},
                detail);
            estimator_.reset();
            return;
        case RecordKind::sync:
            row({.kind = "sync",
                 .session_frame = r.at_frame,
                 .realtime_ns = r.realtime_ns,
                 .monotonic_raw_ns = r.monotonic_raw_ns,
                 .sync_status = r.sync_status,
                 .sync_offset_ns = r.sync_offset_ns,
                 .sync_esterror_ns = r.sync_esterror_ns,
                 .sync_maxerror_ns = r.sync_maxerror_ns},
                detail);
            return;
    }
}

void StreamWriter::start_session(const CaptureRecord& r) {
    if (in_session_) {
        end_session();
    }
    in_session_ = true;
    session_number_ = r.session;
    session_id_ = utc_session_id(r.realtime_ns);
    session_detail_ = r.detail;
    session_start_rt_ns_ = r.realtime_ns;
    rt_minus_raw_ns_ = r.realtime_ns - r.monotonic_raw_ns;
    consumed_ = 0;
    emitted_ = 0;
    gap_frames_ = 0;
    first_chunk_opened_ = false;
    staged_.clear();
    estimator_.reset();
    policy_.reset();
    if (pps_) {
        pps_->reset();
    }
    row({.kind = "session_start",
         .session_frame = 0,
         .realtime_ns = r.realtime_ns,
         .monotonic_raw_ns = r.monotonic_raw_ns},
        session_detail_);
}

void StreamWriter::end_session() {
    maybe_open_first_chunk(true);
    close_chunk();
    if (!pending_rows_.empty()) {
        log().info("{}: session {} ended before any audio was written", setup_.name, session_id_);
        pending_rows_.clear();
    }
    in_session_ = false;
}

void StreamWriter::find_pps(const unsigned char* data, uint64_t n) {
    if (!pps_) {
        return;
    }
    if (data == nullptr) {
        pps_->reset();  // silence filled in for lost frames: no edge spans it
        return;
    }
    const auto& p = setup_.capture.params;
    pps_edges_.clear();
    pps_->feed(data, n, p.format, p.channels, *setup_.pps_channel, consumed_, pps_edges_);
    for (const PpsEdge& e : pps_edges_) {
        // The second it marks, from the system clock through the live drift estimate: right to
        // well under half a second whenever the clock is (the fit counts seconds between edges
        // from the one it is surest of, so a wrong label here is corrected there).
        const int64_t utc = utc_of(e.frame);
        const int64_t second = (utc + 500'000'000) / 1'000'000'000;
        row({.kind = "pps",
             .session_frame = e.frame,
             .realtime_ns = second * 1'000'000'000,
             .monotonic_raw_ns = raw_of(utc)},
            fmt::format("frac={:.6f};height={:.4f};seen_ns={}", e.frac, e.height, utc));
    }
}

void StreamWriter::consume(const unsigned char* data, uint64_t n) {
    if (n == 0) {
        return;
    }
    find_pps(data, n);
    consumed_ += n;
    if (!first_chunk_opened_) {
        if (data != nullptr) {
            staged_.insert(staged_.end(), data, data + n * frame_bytes_);
        } else {
            staged_.resize(staged_.size() + n * frame_bytes_, 0);
        }
        maybe_open_first_chunk(false);
        return;
    }
    emit(data, n);
}

void StreamWriter::maybe_open_first_chunk(bool force) {
    if (first_chunk_opened_ || !in_session_) {
        return;
    }
    const uint64_t staged_frames = staged_.size() / frame_bytes_;
    const uint64_t wait_frames = wait_limit_frames();
    if (staged_frames == 0 || (!force && estimator_.empty() && staged_frames < wait_frames)) {
        return;
    }
    // The session's first timing point is in (or we waited as long as a crash may cost): the
    // chunk is named and stamped from what is known now, that point at the nominal rate (or,
    // without one, the session's start), and its log starts with that point.
    first_chunk_opened_ = true;
    std::vector<unsigned char> data = std::move(staged_);
    staged_.clear();
    emit(data.data(), staged_frames);
}

bool StreamWriter::disk_paused() const {
    return setup_.disk_paused != nullptr && setup_.disk_paused->load(std::memory_order_relaxed);
}

void StreamWriter::drop(uint64_t n, const char* reason) {
    // These frames are lost; the next chunk's log says where, how many and why.
    if (gap_frames_ == 0) {
        gap_first_ = emitted_;
        gap_reason_ = reason;
    }
    gap_frames_ += n;
    emitted_ += n;
    stats_.frames_dropped.fetch_add(n, std::memory_order_relaxed);
}

void StreamWriter::emit(const unsigned char* data, uint64_t n) {
    while (n > 0) {
        if (disk_paused()) {
            if (chunk_open_) {
                row({.kind = "disk_pause",
                     .session_frame = emitted_,
                     .realtime_ns = clock_.realtime_ns(),
                     .monotonic_raw_ns = clock_.monotonic_raw_ns()},
                    "reason=free space below min_free_disk_mib");
                close_chunk();
            }
            drop(n, "disk_full");
            return;
        }
        if (!chunk_open_) {
            apply_pending_setup();
            if (!open_chunk(emitted_, std::nullopt)) {
                drop(n, "disk_error");
                return;
            }
        }
        const std::optional<uint64_t> boundary =
            policy_.next_boundary(estimator_, chunk_first_, emitted_ + n);
        uint64_t m = n;
        if (boundary) {
            m = *boundary > emitted_ ? std::min(n, *boundary - emitted_) : 0;
        }
        if (m > 0) {
            if (!write_frames(data, m)) {
                // The chunk failed and was closed; what it could not take is dropped.
                continue;
            }
            emitted_ += m;
            n -= m;
            if (data != nullptr) {
                data += m * frame_bytes_;
            }
        }
        if (boundary && emitted_ >= *boundary) {
            close_chunk();
            const int64_t name_ns = policy_.boundary_utc_ns();
            apply_pending_setup();
            open_chunk(emitted_, name_ns);
        }
    }
}

uint64_t StreamWriter::wait_limit_frames() const {
    const uint64_t rate = setup_.capture.params.rate_hz;
    const uint64_t by_wait = static_cast<uint64_t>(setup_.first_chunk_wait_s) * rate;
    const uint64_t by_flush =
        static_cast<uint64_t>(std::max<int64_t>(setup_.flush_interval_ns, 0)) / 1000 * rate /
        1'000'000;
    return std::max<uint64_t>(1, std::min(by_wait, by_flush));
}

bool StreamWriter::write_frames(const unsigned char* data, uint64_t n) {
    if (holding_) {
        const uint64_t held = held_.size() / frame_bytes_;
        if (held + n <= wait_limit_frames()) {
            if (data != nullptr) {
                held_.insert(held_.end(), data, data + n * frame_bytes_);
            } else {
                held_.resize(held_.size() + n * frame_bytes_, 0);
            }
            return true;
        }
        // No point came within the limit: the audio goes to disk after the log's header alone.
        if (!release_held()) {
            return false;
        }
    }
    return write_to_file(data, n);
}

bool StreamWriter::release_held() {
    if (!holding_) {
        return true;
    }
    holding_ = false;
    if (env_.sync_log_flushes ? log_.flush() : log_.write_buffered()) {
        rows_written_ += rows_unflushed_;
        rows_unflushed_ = 0;
    } else {
        log().error("{}: {}", setup_.name, log_.error());
    }
    if (env_.sync_log_flushes && log_.is_open()) {
        // The log's name too must survive a power cut before its audio does.
        fsync_parent_dir(log_.partial_path());
    }
    const std::vector<unsigned char> data = std::move(held_);
    held_.clear();
    const uint64_t n = data.size() / frame_bytes_;
    return n == 0 || write_to_file(data.data(), n);
}

bool StreamWriter::write_to_file(const unsigned char* data, uint64_t n) {
    FileStatus st;
    if (!audio_) {
        // A chunk with its timing log alone: nothing to write, the log counts the frames.
    } else if (data != nullptr) {
        st = audio_->write(data, n);
    } else {
        const uint64_t per = zeros_.size() / frame_bytes_;
        for (uint64_t done = 0; done < n && st.ok();) {
            const uint64_t k = std::min(per, n - done);
            st = audio_->write(zeros_.data(), k);
            done += k;
        }
    }
    if (st.ok()) {
        chunk_frames_ += n;
        stats_.frames_written.fetch_add(n, std::memory_order_relaxed);
        return true;
    }
    stats_.write_errors.fetch_add(1, std::memory_order_relaxed);
    uint64_t suppressed = 0;
    if (limiter_.allow("write", clock_.monotonic_ns(), &suppressed)) {
        log().error("{}: {}; closing the chunk, retrying in {} s{}", setup_.name,
                    st.error().message, kRetryOpenNs / kNsPerS,
                    suppressed > 0 ? fmt::format(" ({} more not logged)", suppressed) : "");
    }
    const uint64_t file_end = chunk_first_ + audio_->frames_written();
    row({.kind = "write_error",
         .session_frame = file_end,
         .realtime_ns = clock_.realtime_ns(),
         .monotonic_raw_ns = clock_.monotonic_raw_ns()},
        fmt::format("error={}", st.error().message));
    close_chunk();
    // Frames between what the file holds and what we were asked to write are lost.
    gap_first_ = file_end;
    gap_frames_ = emitted_ - file_end;
    gap_reason_ = "disk_error";
    retry_open_mono_ns_ = clock_.monotonic_ns() + kRetryOpenNs;
    return false;
}

bool StreamWriter::open_chunk(uint64_t first_frame, std::optional<int64_t> name_utc_ns) {
    if (clock_.monotonic_ns() < retry_open_mono_ns_) {
        return false;
    }
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
    for (int serial = 0; serial < 1000; ++serial) {
        path = chunk_audio_path(setup_.data_dir, setup_.name, name_ns, setup_.file_format, serial);
        std::error_code ec;
        if (!std::filesystem::exists(path, ec) &&
            !std::filesystem::exists(partial_path_for(path), ec) &&
            !std::filesystem::exists(timing_log_path_for(path), ec)) {
            break;
        }
    }
    std::error_code ec;
    const bool made_dir = std::filesystem::create_directories(path.parent_path(), ec);
    if (made_dir) {
        // New folders (date, perhaps stream): their entries must be durable too.
        fsync_parent_dir(path.parent_path());
        fsync_parent_dir(path.parent_path().parent_path());
    }
    if (ec) {
        log().error("{}: cannot create {}: {}", setup_.name, path.parent_path().string(),
                    ec.message());
        retry_open_mono_ns_ = clock_.monotonic_ns() + kRetryOpenNs;
        return false;
    }
    ChunkMetadata meta = setup_.metadata;
    meta.stream = setup_.name;
    meta.session = session_id_;
    meta.first_session_frame = first_frame;
    meta.first_sample_utc_ns = first_utc;
    meta.rate_hz = setup_.capture.params.rate_hz;
    meta.channels = setup_.capture.params.channels;
    meta.format = setup_.capture.params.format;
    if (!env_.chunk_has_audio || env_.chunk_has_audio(path, meta)) {
        FileResult<ChunkFile> created =
            ChunkFile::create(path, setup_.file_format, setup_.flac_level, meta);
        if (!created) {
            log().error("{}: {}", setup_.name, created.error().message);
            stats_.write_errors.fetch_add(1, std::memory_order_relaxed);
            retry_open_mono_ns_ = clock_.monotonic_ns() + kRetryOpenNs;
            return false;
        }
        audio_.emplace(std::move(created.value()));
    }
    if (!log_.open(timing_log_path_for(path), first_frame)) {
        log().error("{}: {}", setup_.name, log_.error());
    }
    chunk_open_ = true;
    chunk_first_ = first_frame;
    chunk_frames_ = 0;
    chunk_points_ = 0;
    const std::string audio_name = path.filename().string();
    chunk_name_ = audio_name;
    TimingRow start{.kind = "log_start",
                    .session_frame = first_frame,
                    .realtime_ns = first_utc,
                    .monotonic_raw_ns = raw_of(first_utc)};
    const std::string start_detail = log_start_detail(audio_name);
    start.detail = start_detail;
    append(start);
    for (PendingRow& p : pending_rows_) {
        p.row.detail = p.detail;
        append(p.row);
    }
    pending_rows_.clear();
    if (gap_frames_ > 0) {
        row({.kind = "write_gap",
             .session_frame = gap_first_,
             .realtime_ns = utc_of(gap_first_),
             .monotonic_raw_ns = raw_of(utc_of(gap_first_)),
             .frames = static_cast<int64_t>(gap_frames_)},
            "reason=" + gap_reason_);
        gap_frames_ = 0;
    }
    row({.kind = "chunk_open",
         .session_frame = first_frame,
         .realtime_ns = first_utc,
         .monotonic_raw_ns = raw_of(first_utc)},
        fmt::format("file={}", audio_name));
    publish_chunk_name(audio_name);
    next_flush_mono_ns_ = clock_.monotonic_ns() + setup_.flush_interval_ns;
    // No audio of the chunk reaches its file before the log's first rows and a timing point do:
    // a crash at any instant leaves a log that names and times whatever audio the file holds.
    // Until the chunk's first point (a fraction of a second) its audio is held in memory.
    holding_ = true;
    held_.clear();
    if (!audio_ || chunk_points_ > 0) {
        release_held();
    }
    log().debug("{}: chunk {} opened at session frame {}", setup_.name, audio_name, first_frame);
    return true;
}

void StreamWriter::close_chunk() {
    if (!chunk_open_) {
        return;
    }
    flush_overflow_row();
    if (holding_ && !release_held()) {
        return;  // the write failed, and closed the chunk
    }
    const std::string name = chunk_name_;
    // Close the audio first: if draining the encoder fails, the file holds fewer frames, and the
    // timing log must say what the file really holds.
    if (audio_) {
        const FileStatus st = audio_->close();
        if (!st) {
            log().error("{}: {}", setup_.name, st.error().message);
            stats_.write_errors.fetch_add(1, std::memory_order_relaxed);
        }
        chunk_frames_ = audio_->frames_written();
    }
    const uint64_t end = chunk_first_ + chunk_frames_;
    const int64_t end_utc = utc_of(end);
    row({.kind = "chunk_close",
         .session_frame = end,
         .realtime_ns = end_utc,
         .monotonic_raw_ns = raw_of(end_utc),
         .frames = static_cast<int64_t>(end - chunk_first_)});
    if (log_.close()) {
        rows_written_ += rows_unflushed_;
    } else {
        log().error("{}: {}", setup_.name, log_.error());
    }
    rows_unflushed_ = 0;
    audio_.reset();
    chunk_open_ = false;
    stats_.chunks_closed.fetch_add(1, std::memory_order_relaxed);
    publish_chunk_name({});
    const LogFields fields{{"CHUNK", name}};
    log().info("{}: chunk {} closed: {} frames", setup_.name, name, end - chunk_first_);
}

void StreamWriter::finish(std::string_view reason) {
    if (!in_session_) {
        return;
    }
    maybe_open_first_chunk(true);
    const int64_t rt = clock_.realtime_ns();
    row({.kind = "shutdown",
         .session_frame = emitted_,
         .realtime_ns = rt,
         .monotonic_raw_ns = clock_.monotonic_raw_ns()},
        fmt::format("reason={}", reason));
    close_chunk();
    pending_rows_.clear();
    in_session_ = false;
}

void StreamWriter::row(TimingRow r, std::string detail) {
    flush_overflow_row();
    if (log_.is_open()) {
        r.detail = detail;
        append(r);
        return;
    }
    pending_rows_.push_back(PendingRow{r, std::move(detail)});
}

void StreamWriter::append(const TimingRow& r) {
    if (r.kind == "point") {
        ++chunk_points_;
    }
    log_.append(r);
    if (log_.is_open()) {
        ++rows_unflushed_;
    }
}

void StreamWriter::flush_overflow_row() {
    if (!overflow_row_) {
        return;
    }
    PendingRow p = std::move(*overflow_row_);
    overflow_row_.reset();
    row(p.row, std::move(p.detail));
}

void StreamWriter::maybe_flush(int64_t mono_ns) {
    if (!chunk_open_ || mono_ns < next_flush_mono_ns_) {
        return;
    }
    next_flush_mono_ns_ = mono_ns + setup_.flush_interval_ns;
    if (audio_) {
        const FileStatus st = audio_->flush();
        if (!st) {
            // The file keeps what reached it; the next write reports the failure and closes it.
            log().error("{}: {}", setup_.name, st.error().message);
        }
    }
    if (env_.sync_log_flushes ? log_.flush() : log_.write_buffered()) {
        rows_written_ += rows_unflushed_;
        rows_unflushed_ = 0;
    } else {
        log().error("{}: {}", setup_.name, log_.error());
    }
}

std::vector<std::filesystem::path> StreamWriter::abandon() {
    std::vector<std::filesystem::path> left;
    if (audio_) {
        left.push_back(audio_->partial_path());
        audio_->abandon();
        audio_.reset();
    }
    if (log_.is_open()) {
        left.push_back(log_.partial_path());
        log_.abandon();
    }
    chunk_open_ = false;
    holding_ = false;
    held_.clear();
    rows_unflushed_ = 0;
    pending_rows_.clear();
    overflow_row_.reset();
    staged_.clear();
    in_session_ = false;
    publish_chunk_name({});
    return left;
}

int64_t StreamWriter::utc_of(uint64_t frame) const {
    if (!estimator_.empty()) {
        return estimator_.realtime_of(frame);
    }
    // No timing point yet: the nominal rate from the session's start.
    return session_start_rt_ns_ +
           static_cast<int64_t>(frame * 1'000'000'000ULL / setup_.capture.params.rate_hz);
}

int64_t StreamWriter::raw_of(int64_t realtime_ns) const {
    return realtime_ns - rt_minus_raw_ns_;
}

std::string StreamWriter::log_start_detail(const std::string& audio_name) const {
    const auto& p = setup_.capture.params;
    return fmt::format(
        "format=framestamp-timing-log;version={};stream={};session={};rate_hz={};channels={};"
        "sample_format={};device={};recorder={};audio_file={}",
        kTimingLogVersion, setup_.name, session_id_, p.rate_hz, p.channels,
        sample_format_name(p.format), p.device, setup_.metadata.recorder_id, audio_name);
}

void StreamWriter::apply_pending_setup() {
    if (pending_ == nullptr || !pending_->waiting.load(std::memory_order_acquire)) {
        return;
    }
    std::optional<StreamSetup> next;
    {
        const std::lock_guard<std::mutex> lock(pending_->mutex);
        next = std::move(pending_->setup);
        pending_->setup.reset();
        pending_->waiting.store(false, std::memory_order_relaxed);
    }
    if (!next) {
        return;
    }
    const bool new_length = next->chunk_seconds != setup_.chunk_seconds;
    const bool new_pps = next->pps_channel != setup_.pps_channel ||
                         next->pps.rising != setup_.pps.rising ||
                         next->pps.min_step != setup_.pps.min_step;
    setup_ = std::move(*next);
    if (new_pps) {
        pps_.reset();
        if (setup_.pps_channel) {
            pps_.emplace(setup_.capture.params.rate_hz, setup_.pps);
        }
    }
    if (new_length) {
        // The chunk opening now ends at the first boundary of the new length after its start.
        policy_ = ChunkPolicy(setup_.chunk_seconds);
    }
    log().info("{}: new settings apply from this chunk on (chunk length {} s, {})", setup_.name,
               setup_.chunk_seconds, file_format_name(setup_.file_format));
}

void StreamWriter::publish_chunk_name(const std::string& name) {
    const std::lock_guard<std::mutex> lock(stats_.mutex);
    stats_.current_chunk = name;
}

}  // namespace framestamp
