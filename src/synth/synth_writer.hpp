// The writer side of a synthetic archive: framestampd's StreamWriter (src/recorder/stream_writer.*)
// retold without rings or threads. It takes the session's audio (described, not held: the signal
// is generated as it is written) and its records in session-frame order, cuts chunks with the
// daemon's ChunkPolicy and LiveDriftEstimator, and writes each chunk's audio with ChunkFile and
// its log with TimingLogWriter, row for row in the daemon's order. Times come from the caller
// (simulated), never from the system's clocks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "framestamp/audiofile.hpp"
#include "framestamp/synth.hpp"
#include "framestamp/timing_log.hpp"
#include "record/chunk_policy.hpp"
#include "record/live_drift.hpp"
#include "synth/synth_signal.hpp"

namespace framestamp::synth_detail {

class SynthWriter {
  public:
    SynthWriter(const SynthSpec& spec, const SimCard& truth, SynthResult& result);
    ~SynthWriter();
    SynthWriter(const SynthWriter&) = delete;
    SynthWriter& operator=(const SynthWriter&) = delete;

    // A session starts at session frame 0 = SimCard frame sim_offset. device_back: a
    // device_back row comes first (the device returned after device_lost).
    void start_session(const std::string& id, int64_t realtime_ns, int64_t raw_ns,
                       int64_t sim_offset, bool device_back);
    // After the device_lost row: closes the chunk; the session is over.
    void end_session();
    // shutdown row and chunk close, as at SIGTERM.
    void finish(int64_t realtime_ns, int64_t raw_ns);
    // The daemon dies: the chunk's audio and log stay .partial; log rows since the last flush
    // are lost. Returns the .partial files left (audio first, when there is audio).
    std::vector<std::filesystem::path> crash();

    // Audio: session frames from consumed() up to `end` captured from the card (signal), or n
    // zero frames (overrun fill).
    void advance_to(uint64_t end);
    void fill_zeros(uint64_t n);
    // SimCard frame = session frame + offset for frames consumed from now on.
    void set_sim_offset(int64_t offset) { sim_offset_ = offset; }
    uint64_t consumed() const { return consumed_; }

    // Rows. The writer handles them at the current consumed() frame, in call order.
    void point(uint64_t frame, int64_t realtime_ns, int64_t raw_ns, int64_t window_ns,
               int64_t delay_frames);
    void row(TimingRow r, std::string detail = {});
    // A clock step or an unfilled overrun: the live estimate must not span it.
    void reset_estimator() { estimator_.reset(); }
    // Disk below its reserve: from now on frames are dropped (write_gap in the next chunk).
    void set_disk_paused(bool paused, int64_t realtime_ns, int64_t raw_ns);

  private:
    struct PendingRow {
        TimingRow row;
        std::string detail;
    };
    // A stretch of audio before the first chunk opens.
    struct Run {
        uint64_t frames;
        bool zeros;
        int64_t sim_offset;
    };

    void consume(uint64_t n, bool zeros);
    void maybe_open_first_chunk(bool force);
    void emit(uint64_t n, bool zeros, int64_t sim_offset);
    void write_frames(uint64_t n, bool zeros, int64_t sim_offset);
    void drop(uint64_t n);
    void open_chunk(uint64_t first_frame, std::optional<int64_t> name_utc_ns);
    void close_chunk();
    void flush_rows();  // the daemon's periodic flush: rows reach the file
    bool chunk_open() const { return log_.is_open(); }
    int64_t utc_of(uint64_t frame) const;
    int64_t raw_of(int64_t realtime_ns) const;
    std::string log_start_detail(const std::string& audio_name) const;

    const SynthSpec& spec_;
    const SimCard& truth_;
    SynthResult& result_;
    SignalSource signal_;
    LiveDriftEstimator estimator_;
    ChunkPolicy policy_;
    uint64_t flush_frames_;

    // Session state.
    bool in_session_ = false;
    std::string session_id_;
    int64_t session_start_rt_ns_ = 0;
    int64_t rt_minus_raw_ns_ = 0;  // from the latest point
    int64_t sim_offset_ = 0;
    uint64_t consumed_ = 0;
    uint64_t emitted_ = 0;
    bool first_chunk_opened_ = false;
    std::vector<Run> staged_;
    std::vector<PendingRow> pending_rows_;  // rows while no chunk is open
    bool paused_ = false;
    int64_t pause_rt_ns_ = 0;
    int64_t pause_raw_ns_ = 0;
    uint64_t gap_first_ = 0;
    uint64_t gap_frames_ = 0;

    // Open chunk.
    std::optional<ChunkFile> audio_;
    TimingLogWriter log_;
    std::vector<PendingRow> unflushed_;  // rows the daemon would still hold in memory
    bool flushed_once_ = false;          // anything of this log reached the file
    uint64_t chunk_first_ = 0;
    uint64_t chunk_frames_ = 0;
    uint64_t next_flush_frame_ = 0;
    uint64_t rows_since_sync_ = 0;
    std::vector<int16_t> buffer_;
};

}  // namespace framestamp::synth_detail
