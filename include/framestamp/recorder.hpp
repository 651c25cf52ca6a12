// One stream, start to finish: a capture thread feeding two lock-free rings (audio bytes and
// records), and a writer thread that cuts frame-exact chunks at UTC boundaries and writes each
// chunk's audio file and timing log. See docs/architecture.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "framestamp/audiofile.hpp"
#include "framestamp/capture.hpp"
#include "framestamp/pps.hpp"

namespace framestamp {

// Everything a stream needs, derived from the configuration by the daemon.
struct StreamSetup {
    std::string name;
    std::filesystem::path data_dir;  // chunks go to data_dir/name/YYYY-MM-DD/
    CaptureOptions capture;
    uint32_t ring_seconds = 10;
    uint32_t chunk_seconds = 600;
    FileFormat file_format = FileFormat::flac;
    int flac_level = 5;
    int64_t flush_interval_ns = 10'000'000'000;
    // Site, hardware and software facts for every chunk; the writer fills in the stream, session,
    // first frame and first-sample UTC.
    ChunkMetadata metadata;
    // Longest a chunk's audio waits in memory for the chunk's first timing point (a session's
    // first chunk opens at that point and is named from it), in seconds of audio; never longer
    // than flush_interval_ns, so a crash costs no more than a flush interval. Points come
    // several times a second, so the wait is normally a fraction of a second.
    uint32_t first_chunk_wait_s = 3;
    // Set by the daemon's disk monitor while free space is below the reserve: the writer closes
    // its chunk and drops audio (accounted in the next chunk's timing log) until it clears.
    const std::atomic<bool>* disk_paused = nullptr;
    // The channel (0-based) a GPS PPS is wired to, if any: the writer finds its edges and writes
    // a `pps` row for each (docs/timing-log.md).
    std::optional<unsigned> pps_channel;
    PpsDetectorOptions pps;
};

// Counters and state for status reports (relaxed atomics; current_chunk under its mutex).
struct WriterStats {
    std::atomic<uint64_t> chunks_closed{0};
    std::atomic<uint64_t> frames_written{0};
    std::atomic<uint64_t> write_errors{0};
    std::atomic<uint64_t> frames_dropped{0};  // frames that could not be written (disk)
    std::atomic<double> drift_ppm{0.0};
    std::atomic<bool> drift_known{false};
    mutable std::mutex mutex;
    std::string current_chunk;  // file name of the open chunk, empty when none
};

class RingSinkImpl;

// A new setup for a running stream, handed from the supervisor to the writer thread, which takes
// it at its next chunk boundary.
struct PendingSetup {
    std::mutex mutex;
    std::optional<StreamSetup> setup;
    std::atomic<bool> waiting{false};
};

// Runs one stream: start() spawns the capture and writer threads; stop() ends capture, lets the
// writer drain the rings, closes the open chunk and joins both. Neither copyable nor movable.
class StreamRecorder {
  public:
    StreamRecorder(StreamSetup setup, std::unique_ptr<CaptureSource> source,
                   std::unique_ptr<SyncProbe> sync);
    ~StreamRecorder();
    StreamRecorder(const StreamRecorder&) = delete;
    StreamRecorder& operator=(const StreamRecorder&) = delete;

    void start();
    void stop();
    // Applies `setup` from the next chunk on, without a gap. Only what the writer uses may
    // differ (metadata, chunk length, file format and level, flush interval); a change to what
    // the capture side uses needs a new StreamRecorder.
    void update_at_next_chunk(StreamSetup setup);

    const StreamSetup& setup() const { return setup_; }
    const CaptureStats& capture_stats() const { return capture_stats_; }
    const WriterStats& writer_stats() const { return writer_stats_; }
    // Seconds of audio waiting in the ring for the writer.
    double ring_fill_s() const;

  private:
    StreamSetup setup_;
    std::unique_ptr<CaptureSource> source_;
    std::unique_ptr<SyncProbe> sync_;
    std::unique_ptr<RingSinkImpl> sink_;
    PendingSetup pending_;
    CaptureStats capture_stats_;
    WriterStats writer_stats_;
    std::atomic<bool> stop_capture_{false};
    std::atomic<bool> capture_done_{false};
    std::thread capture_thread_;
    std::thread writer_thread_;
};

// Path of a chunk's audio file: data_dir/stream/YYYY-MM-DD/stream_YYYYMMDDTHHMMSSZ.ext, with
// "_N" before the extension when `serial` > 0 (two chunks named for the same second).
std::filesystem::path chunk_audio_path(const std::filesystem::path& data_dir,
                                       const std::string& stream, int64_t name_utc_ns,
                                       FileFormat format, int serial = 0);
// The timing log beside an audio file: the same stem with ".timing.csv".
std::filesystem::path timing_log_path_for(const std::filesystem::path& audio_path);

// What start-up recovery found and did in one stream's folder.
struct StreamRecoveryReport {
    int audio_recovered = 0;
    int audio_quarantined = 0;
    int logs_closed = 0;
    int empty_removed = 0;  // chunks whose audio held no frame: audio and log removed
    int failures = 0;
};

// Start-up after a crash: recovers every .partial audio file under data_dir/stream (making it
// readable and renaming it) and closes its timing log with crash_recovery and chunk_close rows
// (rebuilding its log_start and chunk_open rows from the audio's metadata if they were lost).
// Logs what it did. Deletes nothing recorded: only a chunk whose audio file holds no frame at
// all (a crash right after it was created) is removed, with its timing log.
StreamRecoveryReport recover_stream_dir(const std::filesystem::path& data_dir,
                                        const std::string& stream);

}  // namespace framestamp
