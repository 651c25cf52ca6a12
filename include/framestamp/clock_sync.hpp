// Clock-sync monitoring: the kernel's clock discipline state (ntp_adjtime) and chronyd's tracking
// state (chronyc), read by a background thread every sync_sample_interval_s into a snapshot with a
// "synchronised" verdict, a one-line summary for the systemd status, and a lock-free SyncProbe for
// the capture threads' `sync` timing-log rows.
//
// Signs: the clock offsets (the kernel's, chronyd's "System time", and SyncSample::offset_ns)
// follow the kernel's and chronyd's "correction" convention, true time minus system time:
// POSITIVE means the system clock is BEHIND (slow), so UTC ~= CLOCK_REALTIME + offset_ns.
// (ntp_adjtime's offset is the correction still to be slewed in; chronyc's "System time" is
// chronyd's remaining correction.) ChronyTracking::last_offset_ns keeps chrony's opposite sign.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "framestamp/capture.hpp"
#include "framestamp/config.hpp"

namespace framestamp {

// One ntp_adjtime() reading with modes = 0 (read only).
struct AdjtimexReading {
    int state = 0;          // return value: TIME_OK, TIME_INS, TIME_DEL, TIME_OOP, TIME_WAIT,
                            // TIME_ERROR (the kernel's "clock not synchronised" state)
    int64_t status = 0;     // STA_* flags
    int64_t offset_ns = 0;  // remaining PLL correction; the kernel gives ns under STA_NANO, else us
    int64_t esterror_ns = 0;   // estimated error (the kernel keeps us)
    int64_t maxerror_ns = 0;   // maximum error (us in the kernel); grows 500 us/s between updates
    double frequency_ppm = 0;  // frequency correction in ppm (the kernel's 16.16 fixed point)
    bool operator==(const AdjtimexReading&) const = default;
};

struct AdjtimexResult {
    std::optional<AdjtimexReading> reading;
    int error = 0;  // errno when ntp_adjtime failed
};

// Reads the system's ntp_adjtime() state. A syscall: never blocks.
AdjtimexResult adjtimex_read();

// ntp_adjtime's state as its TIME_* name ("TIME_OK", ...; "TIME_<n>" for an unknown value).
std::string adjtimex_state_name(int state);

enum class ChronyLeap : uint8_t { normal, insert_second, delete_second, unsynchronised };

// chronyd's tracking report, as `chronyc -c tracking` prints it. Field order and meanings are
// chrony 4.3's (see parse_chronyc_tracking).
struct ChronyTracking {
    uint32_t reference_id = 0;   // 0x7F7F0101 = chronyd's own local clock (the `local` directive)
    std::string reference_name;  // IP address or reference-clock name; empty when not printable
    uint32_t stratum = 0;        // 0 when not synchronised
    int64_t ref_time_ns = 0;     // CLOCK_REALTIME of the last update (ns since 1970); 0 = never
    // "System time": chronyd's remaining correction of the system clock, NTP time minus system
    // time; positive = system clock slow (chronyc prints "slow of NTP time" for positive values).
    int64_t system_offset_ns = 0;
    int64_t last_offset_ns = 0;  // offset at the last update; positive = local clock was AHEAD
    int64_t rms_offset_ns = 0;   // long-term RMS of last_offset
    double frequency_ppm = 0;    // the clock's frequency error chronyd corrects; chronyc says
                                 // "ppm fast" for positive values
    double residual_frequency_ppm = 0;
    double skew_ppm = 0;  // estimated error bound on the frequency
    int64_t root_delay_ns = 0;
    int64_t root_dispersion_ns = 0;
    int64_t update_interval_ns = 0;
    ChronyLeap leap = ChronyLeap::unsynchronised;
    bool operator==(const ChronyTracking&) const = default;

    // chronyd's own local clock is the reference: it has no time source and is free-running.
    bool local_reference() const { return reference_id == 0x7F7F0101U; }
    // chronyc's bound on the clock's error: |system offset| + root dispersion + root delay / 2.
    int64_t max_error_ns() const;
};

// Parses the output of `chronyc -c -n tracking` (one CSV line, a trailing newline allowed).
// Returns nullopt and sets *error (when given) to a short reason on anything else.
std::optional<ChronyTracking> parse_chronyc_tracking(std::string_view output,
                                                     std::string* error = nullptr);

// "Normal", "Insert second", "Delete second", "Not synchronised" (chronyc's words).
std::string_view chrony_leap_name(ChronyLeap leap);

enum class ChronycStatus : uint8_t {
    ok,           // chronyd answered; tracking is set
    missing,      // no chronyc at the configured path
    failed,       // chronyc could not be run (permissions, fork failure, ...)
    unreachable,  // chronyc ran but could not talk to chronyd (exit status != 0)
    timeout,      // chronyc did not finish in time and was killed
    bad_output,   // chronyc succeeded but printed something we do not understand
};

struct ChronycResult {
    ChronycStatus status = ChronycStatus::failed;
    std::optional<ChronyTracking> tracking;
    std::string error;  // for the log and the snapshot: chronyc's own message, or ours
};

struct ChronycQuery {
    std::string chronyc_path = "/usr/bin/chronyc";
    std::string host = "/run/chrony/chronyd.sock";  // chronyc -h
    int64_t timeout_ns = 1'000'000'000;
};

// Runs `<chronyc_path> -c -n -h <host> tracking` with an empty signal mask, LC_ALL=C, stdin from
// /dev/null and no inherited descriptors, in its own process group; kills the group with SIGKILL
// when it has not finished within timeout_ns. Blocks the caller for at most about timeout_ns.
ChronycResult chronyc_query(const ChronycQuery& query);

// The OS edge of the monitor: tests replace it with a fake. Every function may be called from
// several threads at once (the monitor's thread and the capture threads' probes).
class SyncSources {
  public:
    virtual ~SyncSources() = default;
    virtual int64_t monotonic_ns() = 0;                                  // CLOCK_MONOTONIC
    virtual int64_t realtime_ns() = 0;                                   // CLOCK_REALTIME
    virtual AdjtimexResult read_adjtimex() = 0;                          // never blocks
    virtual ChronycResult query_chronyd(const ChronycQuery& query) = 0;  // may block
};

std::shared_ptr<SyncSources> make_system_sync_sources();

// What the monitor knows about chronyd after a poll.
enum class ChronydState : uint8_t {
    not_asked,    // clock_sync.chronyd: no, or no poll yet
    no_chronyc,   // chronyc is not installed at chronyc_path
    reachable,    // chronyd answered this poll
    unreachable,  // chronyc ran (or tried to) without an answer
};

// The latest clock-sync state. Plain value; copy it freely.
struct SyncSnapshot {
    int64_t taken_mono_ns = 0;      // CLOCK_MONOTONIC of the poll; 0 = no poll yet
    int64_t taken_realtime_ns = 0;  // CLOCK_REALTIME of the poll
    AdjtimexResult adjtimex;
    ChronydState chronyd = ChronydState::not_asked;
    std::optional<ChronyTracking> chrony;  // this poll's answer; set iff chronyd == reachable
    std::string chronyd_error;             // why chronyd did not answer (no_chronyc, unreachable)
    bool synchronised = false;
    std::string reason;   // what the verdict rests on, e.g. "chronyd: stratum 2, leap Normal"
    std::string summary;  // one line for systemd's STATUS, e.g.
                          // "clock synced (chronyd: 12 us fast, est. error 40 us, stratum 2)"

    // The reading as a timing-log `sync` row: the kernel's status word always; offset and errors
    // from chronyd when it answered (esterror = its RMS offset, maxerror = max_error_ns()), else
    // from ntp_adjtime. nullopt when neither could be read.
    std::optional<SyncSample> sample() const;

    // Facts for the `sync` row's detail column beyond SyncSample's fields, as key=value pairs
    // joined by ';' (at most kMaxDetail characters). From chronyd: "stratum=2;ref=C0A80073;
    // leap=normal;root_delay_ns=..;root_dispersion_ns=..;freq_ppm=..;skew_ppm=.."; otherwise
    // the kernel's "state=TIME_OK;freq_ppm=..;chronyd=unreachable".
    std::string detail() const;
    static constexpr std::size_t kMaxDetail = 159;
};

// "12 us", "3.4 ms", "1.2 s": durations for the summary and logs.
std::string format_duration_ns(int64_t ns);

struct SyncTransition {
    bool warning = false;  // spdlog warning (else info)
    std::string message;
};

// The pure part of the monitor: folds one poll into the snapshot, decides the verdict and says
// which transitions (the first state, synced <-> unsynced, chronyd reachable <-> not) to log.
// Each transition is reported once, when it happens, not at every poll.
class SyncTracker {
  public:
    // chronyd_host: chronyc's -h, for the log messages.
    SyncTracker(ChronydMode mode, std::string chronyd_host);

    // `chrony` is nullopt when chronyd was not asked (mode no).
    std::vector<SyncTransition> update(int64_t mono_ns, int64_t realtime_ns,
                                       const AdjtimexResult& adjtimex,
                                       const std::optional<ChronycResult>& chrony);
    const SyncSnapshot& snapshot() const { return snapshot_; }

  private:
    ChronydMode mode_;
    std::string chronyd_host_;
    SyncSnapshot snapshot_;
    bool first_ = true;
    bool chronyd_answered_ = false;  // at some poll so far
};

struct SyncMonitorOptions {
    ChronydMode chronyd = ChronydMode::automatic;
    std::string chronyc_path = "/usr/bin/chronyc";
    std::string chronyd_socket = "/run/chrony/chronyd.sock";
    int64_t timeout_ns = 1'000'000'000;
    int64_t interval_ns = 5'000'000'000;  // between polls
};

// From the configuration's sync_sample_interval_s and clock_sync block.
SyncMonitorOptions sync_monitor_options(const Config& config);

// Polls the clock-sync state every interval_ns on its own thread (start()), or on the caller's
// thread (poll_now()). Thread-safe. Not movable: probes and the thread refer to its state; hold
// it by unique_ptr. Stream probes may outlive it (they share the published state) and fall back
// to reading ntp_adjtime themselves once its readings are stale.
class SyncMonitor {
  public:
    explicit SyncMonitor(SyncMonitorOptions options,
                         std::shared_ptr<SyncSources> sources = make_system_sync_sources());
    ~SyncMonitor();
    SyncMonitor(const SyncMonitor&) = delete;
    SyncMonitor& operator=(const SyncMonitor&) = delete;

    // Starts the thread, which polls at once and then every interval_ns. Signals are blocked in
    // it, so they keep going to the daemon's main thread. Idempotent.
    void start();
    // Stops and joins the thread, waiting for a running chronyc (at most timeout_ns). Idempotent.
    void stop();
    // One poll on the calling thread (when the thread is not running, e.g. in tests, or for a
    // status before start()). Blocks up to timeout_ns while chronyc runs.
    void poll_now();

    // A copy of the latest snapshot; the lock is held only for the copy, never during I/O.
    SyncSnapshot snapshot() const;
    std::string summary() const;  // snapshot().summary
    uint64_t polls() const;

    // A probe for one capture thread: sample() copies the latest published SyncSample without a
    // lock, a syscall or an allocation; when no poll is newer than 2 intervals + timeout + 1 s it
    // reads ntp_adjtime itself (one syscall) instead of repeating stale values.
    std::unique_ptr<SyncProbe> make_probe() const;

    struct Shared;  // state shared with the probes (defined in the .cpp)

  private:
    void run();
    void poll_once();

    SyncMonitorOptions options_;
    std::shared_ptr<SyncSources> sources_;
    std::shared_ptr<Shared> shared_;
    struct Thread;
    std::unique_ptr<Thread> thread_;
};

}  // namespace framestamp
