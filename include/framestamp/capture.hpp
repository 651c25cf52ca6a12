// The capture side of a stream: a CaptureSource (the ALSA device, or a fake in tests) read by a
// CaptureLoop, which hands audio and records (timing points, events) to a CaptureSink without ever
// waiting on the disk. Frame counts are uint64_t and counted here, never taken from ALSA's own
// (wrapping) pointers; times are int64_t ns.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "framestamp/audio_format.hpp"
#include "framestamp/log.hpp"

namespace framestamp {

// What a stream asks of its device.
struct CaptureParams {
    std::string device;
    uint32_t rate_hz = 48000;
    uint32_t channels = 2;
    SampleFormat format = SampleFormat::s16_le;
    uint32_t period_frames = 1024;
    uint32_t buffer_frames = 8192;
};

// What the device granted (rate, channels and format are always exactly what was asked; period and
// buffer may differ).
struct GrantedParams {
    uint32_t period_frames = 0;
    uint32_t buffer_frames = 0;
    std::string pcm_type;  // ALSA's PCM type name ("HW", "IOPLUG", "PLUG", ...)
};

// One snd_pcm_status reading.
struct StatusReading {
    uint64_t avail_frames = 0;     // frames captured and not yet read
    int64_t delay_frames = 0;      // ALSA's delay
    int64_t realtime_ns = 0;       // the status timestamp, CLOCK_REALTIME
    int64_t monotonic_raw_ns = 0;  // CLOCK_MONOTONIC_RAW: midpoint of readings before and after
    int64_t window_ns = 0;         // distance between those two readings
};

// Result of opening a source.
struct OpenResult {
    // 0 on success; otherwise a negative errno. -ENODEV, -ENOENT, -EBUSY and -EAGAIN mean "the
    // device is not there (yet)": the stream waits and retries. Anything else is a configuration
    // problem (the device cannot do what was asked) and is not retried.
    int error = 0;
    std::string message;
    GrantedParams granted;
    std::vector<std::string>
        warnings;  // e.g. a plug/dsnoop/sound-server PCM hiding the card's clock
};

class CaptureSource {
  public:
    virtual ~CaptureSource() = default;
    virtual OpenResult open(const CaptureParams& params) = 0;
    // Reads up to `frames` interleaved frames; returns the count read (> 0), or a negative errno:
    // -EPIPE overrun, -ENODEV device gone, -EAGAIN/-EINTR nothing this time. A short read may be
    // followed by an error on the next call.
    virtual int64_t read(void* buffer, uint64_t frames) = 0;
    // Status with timestamps; returns 0 or a negative errno.
    virtual int status(StatusReading* out) = 0;
    // After an overrun: make the device capture again (prepare + start). 0 or negative errno.
    virtual int restart() = 0;
    virtual void close() = 0;

    // Whether read() blocks until a period is there. Such sources (the default, and the unit
    // tests' fakes) get their timing points right after reads. A source that can wait (the ALSA
    // source reads non-blocking) says false, and the loop takes its points at random instants,
    // one in each 1/timing_points_per_s slot, independent of the reads.
    virtual bool read_blocks() const { return true; }
    // Waits until a read of a period would not block, or until CLOCK_MONOTONIC reaches
    // `deadline_mono_ns`. Returns 1 (read now; an error is then reported by read()), 0 (the
    // deadline came first) or a negative errno. The default returns 1 at once.
    virtual int wait(int64_t deadline_mono_ns) {
        (void)deadline_mono_ns;
        return 1;
    }
    // How many times the device has woken a waiter (poll descriptors readable) since open; 0
    // when the source does not know.
    virtual uint64_t wakeups() const { return 0; }
};

// The ALSA implementation (src/capture/alsa_source.cpp).
std::unique_ptr<CaptureSource> make_alsa_source();

// Kernel clock-discipline state, as ntp_adjtime() reports it.
struct SyncSample {
    int64_t status = 0;  // STA_* flags
    int64_t offset_ns = 0;
    int64_t esterror_ns = 0;
    int64_t maxerror_ns = 0;
    bool synchronised = false;  // !(status & STA_UNSYNC) and the call reported TIME_OK etc.
    const char* source = "adjtimex";
    // More facts for the timing log's detail column (key=value;..., e.g. chronyd's stratum and
    // root dispersion), NUL-terminated; fixed size so a sample copies without allocating.
    char detail[160] = {};
};

class SyncProbe {
  public:
    virtual ~SyncProbe() = default;
    virtual std::optional<SyncSample> sample() = 0;
};
std::unique_ptr<SyncProbe> make_adjtimex_probe();

enum class RecordKind : uint8_t {
    point,
    session_start,
    overrun,
    ring_overflow,
    device_lost,
    device_back,
    clock_step,
    sync,
    card_timing,  // what the session-start probe measured of the card's pointer (detail)
};

// A fixed-size record handed from the capture thread to the writer thread. `at_frame` is the
// session frame at which it applies: the writer handles it after writing exactly that many frames
// of the session, which orders records and audio without sharing a lock.
struct CaptureRecord {
    RecordKind kind = RecordKind::point;
    bool fill = false;      // overrun/ring_overflow: the writer writes `frames` zero frames here
    uint64_t session = 0;   // session number (1, 2, ...) within this daemon run
    uint64_t at_frame = 0;  // session frame this record applies at
    uint64_t hw_frame = 0;  // point: hardware position in session frames
    int64_t realtime_ns = 0;
    int64_t monotonic_raw_ns = 0;
    int64_t window_ns = 0;
    int64_t delay_frames = 0;
    int64_t frames = 0;  // overrun/ring_overflow: frames lost; clock_step: step in ns
    int64_t sync_status = 0;
    int64_t sync_offset_ns = 0;
    int64_t sync_esterror_ns = 0;
    int64_t sync_maxerror_ns = 0;
    char detail[224] = {};  // key=value;... NUL-terminated, truncated if longer
};

void record_set_detail(CaptureRecord& r, std::string_view detail);

// Where the capture loop puts what it reads. Implementations must never block.
class CaptureSink {
  public:
    virtual ~CaptureSink() = default;
    // Frames of audio that can be pushed now without blocking.
    virtual uint64_t audio_space_frames() const = 0;
    virtual void push_audio(const void* interleaved, uint64_t frames) = 0;
    // false when the record queue is full (points are then dropped; events are retried).
    virtual bool push_record(const CaptureRecord& record) = 0;
};

struct CaptureOptions {
    CaptureParams params;
    uint32_t timing_points_per_s = 8;
    // Before each timing point the loop waits a random 0..dither (capped at half a period), so
    // that its readings do not always fall just after the card's position steps (docs/timing-
    // model.md, "Dithered readings"). 0 = read right after the read call returns.
    int64_t point_dither_ns = 0;
    bool overrun_fill_silence = true;
    int64_t clock_step_threshold_ns = 500'000;
    // A status reading whose CLOCK_MONOTONIC_RAW window is longer than this (the thread was
    // descheduled inside it) cannot place its realtime stamp: its point is written flagged
    // unreliable and is not used for clock-step detection or rate estimates.
    int64_t max_point_window_ns = 200'000;
    // Length of the session-start probe of the card's pointer step and wake-up interval (sources
    // that can wait only); at most a third of the buffer. 0 = no probe.
    int64_t pointer_probe_ns = 200'000'000;
    int64_t sync_interval_ns = 5'000'000'000;
    int64_t reopen_interval_ns = 2'000'000'000;
};

enum class CaptureState : int {
    starting,   // not yet opened the device / captured a period
    recording,  // captured at least one period in the current session
    waiting,    // the device is absent; retrying
    failed,     // a configuration problem; the stream has stopped
};

// Counters the supervisor reads (relaxed atomics: status display and watchdog only).
struct CaptureStats {
    std::atomic<CaptureState> state{CaptureState::starting};
    // CLOCK_MONOTONIC of the loop's last sign of life: a successful read, or a turn of the
    // wait-for-device loop. A thread stuck in a read that never returns stops updating it.
    std::atomic<int64_t> heartbeat_mono_ns{0};
    std::atomic<uint64_t> sessions{0};
    std::atomic<uint64_t> frames{0};  // session frames pushed in the current session
    std::atomic<uint64_t> overruns{0};
    std::atomic<uint64_t> frames_lost{0};
    std::atomic<uint64_t> ring_overflows{0};
    std::atomic<int64_t> last_progress_mono_ns{0};  // CLOCK_MONOTONIC of the last successful read
    std::atomic<bool> device_present{false};
    std::atomic<bool> failed{false};  // gave up: a configuration problem, not retried
};

// Runs one stream's capture until `stop` is set: opens the device (waiting for it if absent),
// reads, timestamps, and recovers from overruns and device loss. Returns when stopped or on a
// configuration error (stats.failed).
class CaptureLoop {
  public:
    CaptureLoop(CaptureSource& source, CaptureSink& sink, SyncProbe* sync, CaptureOptions options,
                CaptureStats& stats);
    void run(const std::atomic<bool>& stop);
    const std::string& failure() const { return failure_; }

  private:
    bool run_session(const std::atomic<bool>& stop, const GrantedParams& granted);
    bool take_point(uint64_t session_frames_base);
    // Timing points at random instants (sources that can wait): the next slot's deadline.
    void schedule_next_point(int64_t now_mono_ns);
    // The session-start probe: status readings every few tens of us, then one card_timing record.
    void probe_sample();
    void finish_probe(const std::atomic<bool>& stop);
    // A random wait in [0, max_ns) before a timing point (max_ns > 0).
    int64_t next_dither(int64_t max_ns);
    // A record of this kind at the current session frame, stamped now.
    CaptureRecord event(RecordKind kind) const;
    // A timing point from a status reading, at hardware position hw_frame (session frames).
    CaptureRecord point(const StatusReading& s, uint64_t hw_frame) const;
    void push_event(CaptureRecord r, const std::atomic<bool>& stop);
    void handle_overrun(const std::atomic<bool>& stop);
    void push_audio_or_drop(const void* data, uint64_t frames);
    void flush_pending_drop();
    void maybe_sample_sync(int64_t mono_ns);

    CaptureSource& source_;
    CaptureSink& sink_;
    SyncProbe* sync_;
    CaptureOptions opt_;
    CaptureStats& stats_;
    std::string failure_;

    // Per session.
    uint64_t session_ = 0;
    uint64_t session_frames_ = 0;  // frames pushed (zero-fill included): the next frame's index
    uint64_t stream_base_ = 0;     // session frame of the device's frame 0 since its last start
    uint64_t read_since_start_ = 0;
    std::optional<CaptureRecord> last_point_;   // last reliable point (window short enough)
    std::optional<CaptureRecord> first_point_;  // first point since the last start
    // The last few points since the last start: an overrun's position estimate takes the least
    // late of them, not whatever lateness the very last one happened to have.
    static constexpr std::size_t kRecentPoints = 16;
    std::array<CaptureRecord, kRecentPoints> recent_points_{};
    std::size_t recent_count_ = 0;
    int64_t slot_ns_ = 0;             // 1 / timing_points_per_s
    int64_t slot_start_mono_ns_ = 0;  // start of the current point slot
    struct ProbeSample {
        int64_t raw_ns;
        uint64_t hw_frame;
    };
    std::vector<ProbeSample> probe_changes_;  // probe: readings where the position moved
    bool probing_ = false;
    int64_t probe_start_mono_ns_ = 0;
    int64_t probe_end_mono_ns_ = 0;
    int64_t probe_next_mono_ns_ = 0;
    uint64_t probe_readings_ = 0;
    uint64_t probe_wakeups0_ = 0;
    int64_t next_point_mono_ns_ = 0;
    uint64_t dither_state_ = 0x9e3779b97f4a7c15ULL;  // xorshift state of the point dither
    int64_t next_sync_mono_ns_ = 0;
    uint64_t pending_drop_frames_ = 0;  // audio that found the ring full, not yet accounted
    uint64_t pending_drop_at_ = 0;
    std::vector<unsigned char> buffer_;
    LogRateLimiter limiter_;
};

int64_t monotonic_ns();
int64_t monotonic_raw_ns();
int64_t realtime_ns();

}  // namespace framestamp
