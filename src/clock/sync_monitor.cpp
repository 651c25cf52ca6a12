// SyncMonitor: the polling thread, the snapshot behind a copy-only mutex, and the lock-free
// publication the capture threads' probes read.
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/timex.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "clock/seqlock.hpp"
#include "framestamp/clock_sync.hpp"

namespace framestamp {

namespace {

// What the probes read: trivially copyable, so it can live in a seqlock.
struct Published {
    SyncSample sample;
    int64_t taken_mono_ns = 0;
    bool valid = false;
};

SyncSample sample_from(const AdjtimexReading& r) {
    SyncSample s;
    s.status = r.status;
    s.offset_ns = r.offset_ns;
    s.esterror_ns = r.esterror_ns;
    s.maxerror_ns = r.maxerror_ns;
    s.synchronised = (r.status & STA_UNSYNC) == 0 && r.state != TIME_ERROR;
    s.source = "adjtimex";
    return s;
}

class SystemSyncSources final : public SyncSources {
  public:
    int64_t monotonic_ns() override { return framestamp::monotonic_ns(); }
    int64_t realtime_ns() override { return framestamp::realtime_ns(); }
    AdjtimexResult read_adjtimex() override { return adjtimex_read(); }
    ChronycResult query_chronyd(const ChronycQuery& query) override { return chronyc_query(query); }
};

}  // namespace

struct SyncMonitor::Shared {
    Shared(std::shared_ptr<SyncSources> s, int64_t stale, SyncTracker t)
        : sources(std::move(s)), stale_after_ns(stale), tracker(std::move(t)) {
        snapshot.summary = "clock sync not checked yet";
    }

    std::shared_ptr<SyncSources> sources;
    int64_t stale_after_ns;
    clock_detail::Seqlock<Published> published;

    std::mutex poll_mutex;  // one poll at a time; guards tracker
    SyncTracker tracker;
    mutable std::mutex snapshot_mutex;  // held only to copy snapshot
    SyncSnapshot snapshot;
    std::atomic<uint64_t> polls{0};
};

struct SyncMonitor::Thread {
    std::thread thread;
    std::mutex mutex;
    std::condition_variable wake;
    bool stop = false;
};

namespace {

class MonitorProbe final : public SyncProbe {
  public:
    explicit MonitorProbe(std::shared_ptr<SyncMonitor::Shared> shared)
        : shared_(std::move(shared)) {}

    std::optional<SyncSample> sample() override;

  private:
    std::shared_ptr<SyncMonitor::Shared> shared_;
};

}  // namespace

std::optional<SyncSample> MonitorProbe::sample() {
    Published p;
    if (shared_->published.try_load(p) && p.valid &&
        shared_->sources->monotonic_ns() - p.taken_mono_ns <= shared_->stale_after_ns) {
        return p.sample;
    }
    // No poll yet, a stale one (the monitor stopped or hangs), or a write kept overlapping: one
    // syscall of our own rather than old values.
    const AdjtimexResult a = shared_->sources->read_adjtimex();
    if (!a.reading) {
        return std::nullopt;
    }
    return sample_from(*a.reading);
}

std::shared_ptr<SyncSources> make_system_sync_sources() {
    return std::make_shared<SystemSyncSources>();
}

SyncMonitorOptions sync_monitor_options(const Config& config) {
    constexpr int64_t kNsPerS = 1'000'000'000;
    constexpr int64_t kNsPerMs = 1'000'000;
    SyncMonitorOptions o;
    o.chronyd = config.clock_sync.chronyd;
    o.chronyc_path = config.clock_sync.chronyc_path;
    o.chronyd_socket = config.clock_sync.chronyd_socket;
    o.timeout_ns = int64_t{config.clock_sync.timeout_ms} * kNsPerMs;
    o.interval_ns = int64_t{config.sync_sample_interval_s} * kNsPerS;
    return o;
}

SyncMonitor::SyncMonitor(SyncMonitorOptions options, std::shared_ptr<SyncSources> sources)
    : options_(std::move(options)), sources_(std::move(sources)) {
    constexpr int64_t kSlackNs = 1'000'000'000;
    shared_ = std::make_shared<Shared>(sources_,
                                       2 * options_.interval_ns + options_.timeout_ns + kSlackNs,
                                       SyncTracker(options_.chronyd, options_.chronyd_socket));
}

SyncMonitor::~SyncMonitor() {
    stop();
}

void SyncMonitor::poll_once() {
    std::lock_guard poll_lock(shared_->poll_mutex);
    const int64_t mono = sources_->monotonic_ns();
    const int64_t real = sources_->realtime_ns();
    const AdjtimexResult adjtimex = sources_->read_adjtimex();
    std::optional<ChronycResult> chrony;
    if (options_.chronyd != ChronydMode::no) {
        chrony = sources_->query_chronyd(ChronycQuery{.chronyc_path = options_.chronyc_path,
                                                      .host = options_.chronyd_socket,
                                                      .timeout_ns = options_.timeout_ns});
    }
    const auto transitions = shared_->tracker.update(mono, real, adjtimex, chrony);
    const SyncSnapshot& snap = shared_->tracker.snapshot();
    // Probes first: whoever sees the new snapshot can count on the probes having it too.
    Published p;
    if (const auto s = snap.sample()) {
        p.sample = *s;
        p.valid = true;
    }
    p.taken_mono_ns = mono;
    shared_->published.store(p);
    {
        std::lock_guard lock(shared_->snapshot_mutex);
        shared_->snapshot = snap;
    }
    shared_->polls.fetch_add(1, std::memory_order_relaxed);
    for (const auto& t : transitions) {
        if (t.warning) {
            spdlog::warn("{}", t.message);
        } else {
            spdlog::info("{}", t.message);
        }
    }
}

void SyncMonitor::poll_now() {
    poll_once();
}

void SyncMonitor::start() {
    if (thread_) {
        return;
    }
    thread_ = std::make_unique<Thread>();
    thread_->thread = std::thread([this] { run(); });
}

void SyncMonitor::stop() {
    if (!thread_) {
        return;
    }
    {
        std::lock_guard lock(thread_->mutex);
        thread_->stop = true;
    }
    thread_->wake.notify_all();
    thread_->thread.join();
    thread_.reset();
}

void SyncMonitor::run() {
    // Asynchronous signals belong to the daemon's main thread (sigtimedwait); chronyc gets a
    // clean mask. Faults stay unblocked so they still reach their handlers (and sanitizers).
    sigset_t async;
    sigfillset(&async);
    for (const int fault : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS}) {
        sigdelset(&async, fault);
    }
    pthread_sigmask(SIG_BLOCK, &async, nullptr);
    pthread_setname_np(pthread_self(), "fs-clock");
    using Clock = std::chrono::steady_clock;
    const auto interval = std::chrono::nanoseconds(options_.interval_ns);
    auto next = Clock::now();
    for (;;) {
        poll_once();
        // Polls stay on a fixed grid; ones missed while chronyc hung are skipped, not queued.
        next += interval;
        const auto now = Clock::now();
        if (next <= now) {
            next = now + interval;
        }
        std::unique_lock lock(thread_->mutex);
        if (thread_->wake.wait_until(lock, next, [this] { return thread_->stop; })) {
            return;
        }
    }
}

SyncSnapshot SyncMonitor::snapshot() const {
    std::lock_guard lock(shared_->snapshot_mutex);
    return shared_->snapshot;
}

std::string SyncMonitor::summary() const {
    std::lock_guard lock(shared_->snapshot_mutex);
    return shared_->snapshot.summary;
}

uint64_t SyncMonitor::polls() const {
    return shared_->polls.load(std::memory_order_relaxed);
}

std::unique_ptr<SyncProbe> SyncMonitor::make_probe() const {
    return std::make_unique<MonitorProbe>(shared_);
}

}  // namespace framestamp
