// The writer thread of one stream: drains the rings, interleaving records with audio by their
// session frame, cuts chunks where the chunk policy says, and writes audio files and timing logs.
#pragma once

#include <atomic>
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

namespace framestamp {

class StreamWriter {
  public:
    StreamWriter(const StreamSetup& setup, RingSinkImpl& sink, WriterStats& stats,
                 PendingSetup* pending = nullptr);

    // Runs until capture_done is set and both rings are empty; then closes the open chunk.
    void run(const std::atomic<bool>& capture_done);

    // One pass over what is in the rings; returns true if anything was done. For tests.
    bool step();
    // Closes the open chunk as at shutdown (writing any staged audio first).
    void finish(std::string_view reason);

  private:
    struct PendingRow {
        TimingRow row;
        std::string detail;
    };

    void handle(const CaptureRecord& r);
    void start_session(const CaptureRecord& r);
    void end_session();
    // Hands n frames (nullptr: zeros) to the chunk files, or stages them before the first chunk.
    void consume(const unsigned char* data, uint64_t n);
    void emit(const unsigned char* data, uint64_t n);
    bool write_frames(const unsigned char* data, uint64_t n);
    bool open_chunk(uint64_t first_frame, std::optional<int64_t> name_utc_ns);
    void close_chunk();
    void maybe_open_first_chunk(bool force);
    void row(TimingRow r, std::string detail = {});
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
    RingSinkImpl& sink_;
    WriterStats& stats_;
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

    // Open chunk.
    std::optional<ChunkFile> chunk_;
    TimingLogWriter log_;
    uint64_t chunk_first_ = 0;
    int64_t next_flush_mono_ns_ = 0;
    int64_t retry_open_mono_ns_ = 0;
    uint64_t gap_first_ = 0;  // frames dropped since the last chunk failed: [gap_first_, emitted_)
    uint64_t gap_frames_ = 0;
    std::string gap_reason_ = "disk_error";
    std::vector<unsigned char> zeros_;
    LogRateLimiter limiter_;
};

}  // namespace framestamp
