// Synthetic archives: timing logs (and optionally audio) exactly as framestampd writes them, from
// the simulated card of timemap_sim.hpp, with a known truth. For tests of the archive index and the
// CLI, and for the 120-day benchmark. Not used by the daemon.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "framestamp/audio_format.hpp"
#include "framestamp/timemap_sim.hpp"

namespace framestamp {

// Something that happens to the recording at true time at_s (seconds since the archive's start).
struct SynthEvent {
    enum class Kind {
        overrun,        // `frames` frames lost; the capture writes `filled` zero frames instead
        device_lost,    // the session ends; a new session starts `frames` frames of time later
        write_gap,      // `frames` frames not written (disk full); the session's index runs on
        crash,          // the daemon dies: the open chunk is left as .partial (audio and log)
        crash_recover,  // as crash, then recovered as framestampd's start-up would do it
    };
    // After device_lost, crash and crash_recover the recording goes on as a new session (session
    // frame 0) `frames` frames of nominal time later: the device came back, or systemd restarted
    // framestampd. A `crash` leaves its .partial files as they are (an archive copied before the
    // next start-up); `crash_recover` runs recover_stream_dir() at the restart. Events that fall
    // where nothing is recorded (inside a device loss or an overrun) are ignored.
    Kind kind = Kind::overrun;
    double at_s = 0;
    int64_t frames = 0;
    int64_t filled = -1;  // overrun: frames zero-filled (-1: same as frames)
};

enum class SynthSignal {
    silence,
    clicks,         // a one-sample full-scale click at the frame nearest each true whole UTC second
    frame_counter,  // each sample holds (session frame + channel) mod 2^15 (S16_LE only)
};

struct SynthSpec {
    std::filesystem::path data_dir;  // streams go to data_dir/<stream>/<YYYY-MM-DD>/
    std::string stream = "synth";
    SimParams sim;             // card, clocks, points per second, seed
    double duration_s = 60.0;  // of true time
    double chunk_s = 600.0;    // chunk length (cut at UTC multiples, as the daemon does)
    bool write_audio = true;   // false: timing logs only (benchmarks)
    FileFormat file_format = FileFormat::wav;
    uint32_t channels = 1;
    SynthSignal signal = SynthSignal::clicks;
    std::vector<SynthEvent> events;  // in time order

    // Audio only for the chunks that start within (audio_from_s - chunk_s, audio_to_s) of true
    // time (with write_audio); the others get their timing log alone. For the benchmark.
    double audio_from_s = 0.0;
    double audio_to_s = std::numeric_limits<double>::infinity();

    // What the daemon's configuration would say.
    std::string device = "hw:CARD=Synth,DEV=0";
    std::string recorder_id = "synth";
    uint32_t period_frames = 1024;  // reads come a period apart: points lag the reads by < this
    uint32_t buffer_frames = 8192;
    int64_t clock_step_threshold_ns = 500'000;  // framestampd's clock_step_threshold_us default
    double flush_interval_s = 10.0;  // a crash loses the log rows (not the WAV audio) since a flush
    uint32_t first_chunk_wait_s = 3;
    int flac_level = 5;
};

// One session of the archive and the truth of its frame index.
struct SynthSession {
    std::string id;          // as in the logs (utc_session_id of the session start)
    double start_s = 0;      // true time of session frame 0
    uint64_t end_frame = 0;  // one past the last session frame the session reached
    // (from session frame, sim offset) pairs, ascending: from that session frame on, the
    // SimCard frame is session frame + offset. Only an overrun filled with a count other than
    // the frames really lost adds a pair.
    std::vector<std::pair<uint64_t, int64_t>> offsets;

    // The SimCard frame (the truth's frame numbering) of a session frame.
    double sim_frame(uint64_t session_frame) const;
};

// Paths are where the files are at the end: "<final>.partial" for a chunk a `crash` left.
struct SynthResult {
    std::vector<std::filesystem::path> audio_files;  // in order (chunks with audio only)
    std::vector<std::filesystem::path> timing_logs;  // in order, one per chunk
    uint64_t points = 0;
    uint64_t frames = 0;  // written to audio (or that would have been)
    uint64_t rows = 0;    // timing-log rows written by the synthesiser (recovery's not counted)
    std::vector<SynthSession> sessions;
};

// Writes the archive with framestampd's own writer (src/recorder/stream_writer.cpp), fed the
// records and audio its capture loop (src/capture/capture_loop.cpp) would hand over for this card
// and these events. Liberties: the live drift estimate behind chunk cuts refits once a minute
// rather than four times a second; a point whose position would go back (a read later than the
// one before it by more than the point spacing) is not written; log flushes are not synced, and
// with no crash among the events they come every few tens of thousands of rows rather than every
// flush_interval_s (the files are the same). Times come from the simulation, never from this
// machine's clocks (the writer's own and recovery's rows included). Throws std::runtime_error
// naming the file on any I/O failure, and std::invalid_argument for an impossible spec (chunk_s
// not a whole number of seconds >= 1, ...).
SynthResult write_synthetic_archive(const SynthSpec& spec);

// The true UTC of session frame `session_frame` of `session` (ns since 1970), with its sub-ns
// part in *frac_ns when given.
int64_t synth_true_utc_ns(const SimCard& truth, const SynthSession& session, uint64_t session_frame,
                          double* frac_ns = nullptr);

}  // namespace framestamp
