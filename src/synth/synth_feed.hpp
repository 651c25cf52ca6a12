// The writer side of a synthetic archive: framestampd's own StreamWriter (src/recorder/
// stream_writer.hpp), driven directly with the records and audio the generator's capture stand-in
// produces. This class stands in for what surrounds the writer in the daemon: the rings (records
// and audio are handed over at once, in capture order), the clocks (simulated, read at the instant
// the generator has reached), the disk monitor (a flag the generator sets), and the process (a
// crash abandons the writer and a fresh one takes over, as after a restart). It also makes up the
// audio, from the signal or as silence where no chunk will keep it, and keeps the SynthResult's
// account of files, rows and frames.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "framestamp/capture.hpp"
#include "framestamp/recorder.hpp"
#include "framestamp/synth.hpp"
#include "recorder/stream_writer.hpp"
#include "synth/synth_signal.hpp"

namespace framestamp::synth_detail {

class WriterFeed {
  public:
    WriterFeed(const SynthSpec& spec, const SimCard& truth, SynthResult& result);
    // An exception left a chunk open: it stays .partial, as a crash would leave it.
    ~WriterFeed();
    WriterFeed(const WriterFeed&) = delete;
    WriterFeed& operator=(const WriterFeed&) = delete;

    // The instant the generator has reached, in s of true time since the archive's start: the
    // writer's clocks read it from now on.
    void set_time(double t_s);
    // The capture opened the device again: records from now on belong to a new session.
    void begin_session();
    // Session frames [session_frames(), end) as captured from the card; SimCard frame = session
    // frame + the current sim offset.
    void audio_to(uint64_t end);
    void set_sim_offset(int64_t offset) { sim_offset_ = offset; }
    // A record of the current session (its session number is filled in here), due at the frames
    // given so far.
    void record(CaptureRecord r);
    // The disk monitor's flag: while set, the writer closes its chunk and drops audio.
    void set_disk_paused(bool paused);
    // SIGTERM now: shutdown row, chunk closed.
    void finish();
    // The daemon dies now: the open chunk's files stay .partial (returned, audio first), the
    // log holding the rows of its last flush; a new writer, as after a restart, writes what
    // follows.
    std::vector<std::filesystem::path> crash();
    // Rows and frames written, into the result. Call once, at the end.
    void account();

    uint64_t session_frames() const { return writer_->session_frames(); }

  private:
    class Clock final : public WriterClock {
      public:
        explicit Clock(const SimCard& truth) : truth_(truth) {}
        void set(double t_s);
        int64_t monotonic_ns() override { return raw_ns_; }
        int64_t realtime_ns() override { return truth_.realtime_ns_at(t_s_); }
        int64_t monotonic_raw_ns() override { return raw_ns_; }
        double t_s() const { return t_s_; }

      private:
        const SimCard& truth_;
        double t_s_ = 0;
        int64_t raw_ns_ = 0;
    };

    WriterEnv env();
    void make_writer();
    bool chunk_has_audio(const std::filesystem::path& audio_path, const ChunkMetadata& meta);
    // Whether audio given now may end up in a chunk with an audio file.
    bool signal_needed() const;
    // After each call into the writer: flush as the daemon's loop would, stop on any error.
    void after();

    const SynthSpec& spec_;
    const SimCard& truth_;
    SynthResult& result_;
    SignalSource signal_;
    StreamSetup setup_;
    Clock clock_;
    std::atomic<bool> disk_paused_{false};
    std::shared_ptr<spdlog::logger> logger_;
    std::shared_ptr<std::string> error_;  // the first error the writer logged
    WriterStats stats_;
    std::optional<StreamWriter> writer_;
    uint64_t rows_of_dead_writers_ = 0;

    uint64_t session_ = 0;  // the current session's number within this daemon run
    int64_t sim_offset_ = 0;
    double fed_s_ = 0;          // when audio was last given
    bool chunk_audio_ = false;  // the latest chunk to open has an audio file
    std::vector<int16_t> buffer_;
};

}  // namespace framestamp::synth_detail
