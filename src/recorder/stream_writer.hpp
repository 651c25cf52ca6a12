// The writer of one stream: applies capture records at their session frame, interleaved with the
// audio, cuts chunks where the chunk policy says, and writes audio files and timing logs.
//
// framestampd runs it on the stream's writer thread, draining the rings the capture thread fills
// (run()). The synthetic-archive generator (src/synth) drives the same code directly, a record or
// a stretch of audio at a time (apply(), write_audio()), with simulated clocks and faster than
// real time; WriterEnv holds what it replaces.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "framestamp/audiofile.hpp"
#include "framestamp/log.hpp"
#include "framestamp/recorder.hpp"
#include "framestamp/timing_log.hpp"
#include "record/chunk_policy.hpp"
#include "record/live_drift.hpp"
#include "recorder/ring_sink.hpp"

namespace spdlog {
class logger;
}

namespace framestamp {

// The clocks the writer reads itself, in ns: CLOCK_MONOTONIC for when to flush and when to retry
// opening a chunk; CLOCK_REALTIME and CLOCK_MONOTONIC_RAW for the rows it stamps (disk_pause,
// write_error, shutdown). Every other time in the logs comes from the capture's records.
class WriterClock {
  public:
    virtual ~WriterClock() = default;
    virtual int64_t monotonic_ns() = 0;
    virtual int64_t realtime_ns() = 0;
    virtual int64_t monotonic_raw_ns() = 0;
};

// The system's clocks (capture.hpp's monotonic_ns() etc.).
WriterClock& system_writer_clock();

// What the writer takes from outside the stream's setup. The defaults are framestampd's.
struct WriterEnv {
    WriterClock* clock = nullptr;  // nullptr: system_writer_clock(); must outlive the writer
    // false: the periodic flush writes the timing log's rows without fdatasync, so they survive
    // the process but not a power cut (closing a chunk still syncs). Audio flushes always sync.
    bool sync_log_flushes = true;
    // The live drift estimate behind chunk cuts and the times of chunk rows.
    LiveDriftOptions drift;
    // Asked as each chunk is about to open, with its audio file's final path and metadata: false
    // means no audio file, the timing log alone (its rows count the frames as if written). Unset:
    // every chunk has its audio file.
    std::function<bool(const std::filesystem::path&, const ChunkMetadata&)> chunk_has_audio;
    // Where the writer logs; nullptr: spdlog's default logger. Every failure is logged at error
    // level, so a caller that must not go on after one can watch this logger.
    std::shared_ptr<spdlog::logger> logger;
};

class StreamWriter {
  public:
    // The daemon's writer: drains `sink` (run(), step()).
    StreamWriter(const StreamSetup& setup, RingSinkImpl& sink, WriterStats& stats,
                 PendingSetup* pending = nullptr, WriterEnv env = {});
    // A writer driven directly with apply() and write_audio(); run() and step() do nothing.
    StreamWriter(const StreamSetup& setup, WriterStats& stats, WriterEnv env = {});

    // Runs until capture_done is set and both rings are empty; then closes the open chunk.
    void run(const std::atomic<bool>& capture_done);

    // One pass over what is in the rings; returns true if anything was done. For tests.
    bool step();
    // Closes the open chunk as at shutdown (writing any staged audio first).
    void finish(std::string_view reason);

    // Driving without rings: what step() does with each record and each stretch of audio it
    // takes, given in the capture's order. A record of the current session comes after all the
    // audio before its at_frame (std::logic_error otherwise); write_audio() takes interleaved
    // frames in the setup's format, nullptr meaning `frames` frames of silence.
    void apply(const CaptureRecord& record);
    void write_audio(const void* interleaved, uint64_t frames);
    // What run() does after each pass: flushes the open chunk's files once flush_interval_ns has
    // passed on the clock since the last flush.
    void flush_if_due();
    // The process dies here: the open chunk's files stay .partial, the audio as its last write
    // left it, the timing log as its last flush did; the writer is left with no session.
    // Returns the .partial files left (audio first). For simulations of a crash.
    std::vector<std::filesystem::path> abandon();

    // Frames of the current session taken so far (audio and zero fill).
    uint64_t session_frames() const { return consumed_; }
    // Timing-log rows that have reached files (by a flush or a close).
    uint64_t rows_written() const { return rows_written_; }

  private:
    struct PendingRow {
        TimingRow row;
        std::string detail;
    };

    spdlog::logger& log() const;
    bool due(const CaptureRecord& r) const;
    void handle(const CaptureRecord& r);
    void start_session(const CaptureRecord& r);
    void end_session();
    // Hands n frames (nullptr: zeros) to the chunk files, or stages them before the first chunk.
    void consume(const unsigned char* data, uint64_t n);
    // The PPS channel's edges in n frames from session frame consumed_ (nullptr: a zero fill,
    // a discontinuity), each written as a `pps` row.
    void find_pps(const unsigned char* data, uint64_t n);
    void emit(const unsigned char* data, uint64_t n);
    // Writes n frames to the open chunk, or holds them while its log has no point yet.
    bool write_frames(const unsigned char* data, uint64_t n);
    bool write_to_file(const unsigned char* data, uint64_t n);
    // Makes the open chunk's log durable (header, rows so far: its first point) and then writes
    // the audio held meanwhile. False if that write failed (the chunk is then closed).
    bool release_held();
    // Frames a session's first chunk stages, and a chunk holds, at most while waiting for a
    // timing point: first_chunk_wait_s, and never more than one flush interval.
    uint64_t wait_limit_frames() const;
    bool open_chunk(uint64_t first_frame, std::optional<int64_t> name_utc_ns);
    void close_chunk();
    void maybe_open_first_chunk(bool force);
    void row(TimingRow r, std::string detail = {});
    void append(const TimingRow& r);
    void flush_overflow_row();
    bool disk_paused() const;
    void drop(uint64_t n, const char* reason);
    void maybe_flush(int64_t mono_ns);
    int64_t utc_of(uint64_t frame) const;
    int64_t raw_of(int64_t realtime_ns) const;
    std::string log_start_detail(const std::string& audio_name) const;
    void publish_chunk_name(const std::string& name);
    void apply_pending_setup();

    StreamSetup setup_;  // a copy: a reload replaces it at a chunk boundary
    PendingSetup* pending_;
    RingSinkImpl* sink_;  // nullptr when driven directly
    WriterStats& stats_;
    WriterEnv env_;
    WriterClock& clock_;
    std::size_t frame_bytes_;
    LiveDriftEstimator estimator_;
    ChunkPolicy policy_;

    // Session state.
    bool in_session_ = false;
    uint64_t session_number_ = 0;
    std::string session_id_;
    std::string session_detail_;
    int64_t session_start_rt_ns_ = 0;
    int64_t rt_minus_raw_ns_ = 0;  // from the latest point
    uint64_t consumed_ = 0;        // session frames taken from the ring (or zero-filled)
    uint64_t emitted_ = 0;  // session frames handed to chunk files (or dropped on disk errors)
    bool first_chunk_opened_ = false;
    std::vector<unsigned char> staged_;  // audio before the first chunk opens
    std::vector<PendingRow> pending_rows_;
    std::optional<PendingRow> overflow_row_;  // consecutive ring_overflow rows, merged

    // Open chunk: its timing log, and its audio file unless env_.chunk_has_audio said no.
    bool chunk_open_ = false;
    std::optional<ChunkFile> audio_;
    TimingLogWriter log_;
    std::string chunk_name_;  // its audio file's name (also when it has no audio file)
    uint64_t chunk_first_ = 0;
    uint64_t chunk_frames_ = 0;  // written to the chunk (its audio file's count when it has one)
    uint64_t chunk_points_ = 0;  // point rows in the open chunk's log
    // The open chunk's audio waits here until its log, with a point, has reached the disk.
    bool holding_ = false;
    std::vector<unsigned char> held_;
    int64_t next_flush_mono_ns_ = 0;
    int64_t retry_open_mono_ns_ = 0;
    uint64_t gap_first_ = 0;  // frames dropped since the last chunk failed: [gap_first_, emitted_)
    uint64_t gap_frames_ = 0;
    std::string gap_reason_ = "disk_error";
    std::vector<unsigned char> zeros_;
    std::optional<PpsDetector> pps_;  // when setup_.pps_channel is set
    std::vector<PpsEdge> pps_edges_;
    LogRateLimiter limiter_;
    uint64_t rows_unflushed_ = 0;  // appended to the open log since its last flush
    uint64_t rows_written_ = 0;
};

}  // namespace framestamp
