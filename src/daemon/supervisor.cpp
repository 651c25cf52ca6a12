#include "daemon/supervisor.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <string.h>

#include <algorithm>
#include <ctime>

#include "framestamp/capture.hpp"
#include "framestamp/daemon.hpp"

#ifndef FRAMESTAMP_VERSION
#define FRAMESTAMP_VERSION "unknown"
#endif

namespace framestamp {

namespace {

constexpr int64_t kNsPerS = 1'000'000'000;
constexpr int64_t kStatusIntervalNs = 5 * kNsPerS;
constexpr int64_t kDiskIntervalNs = 5 * kNsPerS;

}  // namespace

Supervisor::Supervisor(Config config, ConfigLoadOptions load_options)
    : config_(std::move(config)), load_options_(std::move(load_options)) {
    DiskLimits limits;
    limits.min_free_bytes = config_.min_free_disk_mib << 20;
    limits.warn_free_bytes = config_.disk_warn_free_mib << 20;
    limits.warn_days = config_.disk_warn_days;
    for (const auto& s : config_.streams) {
        limits.nominal_bytes_per_s += static_cast<double>(s.rate_hz) * s.channels *
                                      static_cast<double>(sample_bytes(s.format));
    }
    disk_ = std::make_unique<DiskMonitor>(config_.data_dir, limits);
    sync_ = std::make_unique<SyncMonitor>(sync_monitor_options(config_));
}

StreamSetup Supervisor::setup_for(const Config& cfg, const StreamConfig& s) const {
    StreamSetup st;
    st.name = s.name;
    st.data_dir = cfg.data_dir;
    st.capture.params.device = s.device;
    st.capture.params.rate_hz = s.rate_hz;
    st.capture.params.channels = s.channels;
    st.capture.params.format = s.format;
    st.capture.params.period_frames = s.period_frames;
    st.capture.params.buffer_frames = s.buffer_frames;
    st.capture.timing_points_per_s = cfg.timing_points_per_s;
    st.capture.point_dither_ns = static_cast<int64_t>(cfg.timing_dither_us) * 1000;
    st.capture.max_point_window_ns = static_cast<int64_t>(cfg.timing_max_window_us) * 1000;
    st.capture.overrun_fill_silence = s.overrun_fill_silence;
    st.capture.clock_step_threshold_ns = cfg.clock_step_threshold_ns;
    st.capture.sync_interval_ns = static_cast<int64_t>(cfg.sync_sample_interval_s) * kNsPerS;
    st.ring_seconds = s.ring_seconds;
    st.chunk_seconds = s.chunk_seconds;
    st.file_format = s.file_format;
    st.flac_level = s.flac_level;
    st.flush_interval_ns = static_cast<int64_t>(s.flush_interval_s) * kNsPerS;
    if (s.pps_channel != 0) {
        st.pps_channel = s.pps_channel - 1;
        st.pps.rising = !s.pps_falling;
        st.pps.min_step = s.pps_min_step;
    }
    st.disk_paused = &disk_->paused();
    ChunkMetadata& m = st.metadata;
    m.recorder_id = cfg.site.recorder_id;
    m.site = cfg.site.site;
    m.notes = cfg.site.notes;
    m.latitude_deg = cfg.site.latitude_deg;
    m.longitude_deg = cfg.site.longitude_deg;
    m.elevation_m = cfg.site.elevation_m;
    m.make = s.hardware.make;
    m.model = s.hardware.model;
    m.serial = s.hardware.serial;
    m.software_version = FRAMESTAMP_VERSION;  // the writers add "framestamp "
    return st;
}

void Supervisor::start_streams() {
    for (const auto& s : config_.streams) {
        const StreamRecoveryReport r = recover_stream_dir(config_.data_dir, s.name);
        if (r.audio_recovered + r.audio_quarantined + r.logs_closed + r.empty_removed + r.failures >
            0) {
            spdlog::warn(
                "{}: crash recovery: {} chunk(s) recovered, {} quarantined, {} timing "
                "log(s) closed, {} empty chunk(s) removed, {} failure(s)",
                s.name, r.audio_recovered, r.audio_quarantined, r.logs_closed, r.empty_removed,
                r.failures);
        }
    }
    for (const auto& s : config_.streams) {
        streams_.push_back(make_stream(config_, s));
        streams_.back()->start();
    }
}

std::unique_ptr<StreamRecorder> Supervisor::make_stream(const Config& cfg,
                                                        const StreamConfig& s) const {
    return std::make_unique<StreamRecorder>(setup_for(cfg, s), make_alsa_source(),
                                            sync_->make_probe());
}

namespace {

// Settings the capture thread (or the ring between it and the writer) depends on: changing any
// of them restarts the stream; anything else is taken by the writer at the next chunk.
bool same_capture(const Config& a, const StreamConfig& sa, const Config& b,
                  const StreamConfig& sb) {
    return a.data_dir == b.data_dir && a.timing_points_per_s == b.timing_points_per_s &&
           a.timing_dither_us == b.timing_dither_us &&
           a.timing_max_window_us == b.timing_max_window_us &&
           a.sync_sample_interval_s == b.sync_sample_interval_s &&
           a.clock_step_threshold_ns == b.clock_step_threshold_ns && sa.device == sb.device &&
           sa.rate_hz == sb.rate_hz && sa.channels == sb.channels && sa.format == sb.format &&
           sa.period_frames == sb.period_frames && sa.buffer_frames == sb.buffer_frames &&
           sa.ring_seconds == sb.ring_seconds && sa.overrun_fill_silence == sb.overrun_fill_silence;
}

}  // namespace

void Supervisor::reload() {
    Config next;
    try {
        next = config_load_file(config_.source_file, load_options_);
    } catch (const ConfigError& e) {
        spdlog::error("SIGHUP: {} has errors; keeping the running configuration:\n{}",
                      config_.source_file, e.what());
        return;
    }
    if (next == config_) {
        spdlog::info("SIGHUP: {} unchanged", config_.source_file);
        return;
    }
    std::vector<std::unique_ptr<StreamRecorder>> kept;
    for (const auto& s : next.streams) {
        auto old = std::find_if(streams_.begin(), streams_.end(), [&](const auto& r) {
            return r != nullptr && r->setup().name == s.name;
        });
        const StreamConfig* old_cfg = nullptr;
        for (const auto& o : config_.streams) {
            old_cfg = o.name == s.name ? &o : old_cfg;
        }
        if (old != streams_.end() && old_cfg != nullptr &&
            same_capture(config_, *old_cfg, next, s)) {
            if (!(*old_cfg == s) || !(config_.site == next.site)) {
                spdlog::info("SIGHUP: {}: new settings from the next chunk on", s.name);
                (*old)->update_at_next_chunk(setup_for(next, s));
            }
            kept.push_back(std::move(*old));
            continue;
        }
        if (old != streams_.end()) {
            spdlog::warn("SIGHUP: {}: device or format settings changed; restarting this stream",
                         s.name);
            (*old)->stop();
            old->reset();
        } else {
            spdlog::info("SIGHUP: {}: new stream", s.name);
        }
        kept.push_back(make_stream(next, s));
        kept.back()->start();
    }
    for (auto& r : streams_) {
        if (r != nullptr) {
            spdlog::info("SIGHUP: {}: removed from the configuration; stopping it",
                         r->setup().name);
            r->stop();
        }
    }
    streams_ = std::move(kept);
    spdlog::set_level(
        spdlog::level::from_str(next.log_level == "warning" ? "warn" : next.log_level));
    config_ = std::move(next);
    spdlog::info("SIGHUP: configuration reloaded from {}", config_.source_file);
}

bool Supervisor::all_started() const {
    // Ready once every stream has captured its first period, or is known to be waiting for its
    // device or to have failed (then the status says so).
    return std::all_of(streams_.begin(), streams_.end(), [](const auto& s) {
        return s->capture_stats().state.load() != CaptureState::starting;
    });
}

bool Supervisor::all_failed() const {
    return std::all_of(streams_.begin(), streams_.end(), [](const auto& s) {
        return s->capture_stats().state.load() == CaptureState::failed;
    });
}

bool Supervisor::capture_alive(int64_t now_ns, int64_t limit_ns) const {
    for (const auto& s : streams_) {
        const auto& st = s->capture_stats();
        if (st.state.load() == CaptureState::failed) {
            continue;  // its thread has ended on purpose; the status reports it
        }
        if (now_ns - st.heartbeat_mono_ns.load() > limit_ns) {
            return false;
        }
    }
    return true;
}

std::string Supervisor::status_line() const {
    std::string line;
    for (const auto& s : streams_) {
        const auto& c = s->capture_stats();
        const auto& w = s->writer_stats();
        if (!line.empty()) {
            line += "; ";
        }
        line += s->setup().name + ": ";
        switch (c.state.load()) {
            case CaptureState::starting:
                line += "starting";
                break;
            case CaptureState::waiting:
                line += "WAITING for device " + s->setup().capture.params.device;
                break;
            case CaptureState::failed:
                line += "FAILED (see journal)";
                break;
            case CaptureState::recording: {
                std::string chunk;
                {
                    const std::lock_guard<std::mutex> lock(w.mutex);
                    chunk = w.current_chunk;
                }
                line += "recording " + (chunk.empty() ? std::string("(no chunk open)") : chunk);
                if (w.drift_known.load()) {
                    line += fmt::format(", {:+.1f} ppm", w.drift_ppm.load());
                }
                break;
            }
        }
        line += fmt::format(", {} overruns", c.overruns.load());
    }
    line += " | " + sync_->summary() + " | " + disk_->status_text();
    return line;
}

int Supervisor::run() {
    // Signals are taken synchronously by this thread alone: block them before any thread starts
    // so the capture and writer threads inherit the mask.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    spdlog::info("framestampd {} starting: {} stream(s), data in {}", FRAMESTAMP_VERSION,
                 config_.streams.size(), config_.data_dir);
    sync_->start();  // its thread inherits the blocked signals
    disk_->update(monotonic_ns());
    start_streams();

    const int64_t watchdog_ns = notifier_.watchdog_ns();
    // Ping at half the interval; a capture thread silent for longer than that stops the pings.
    const int64_t ping_ns = watchdog_ns > 0 ? watchdog_ns / 2 : 0;
    const int64_t start_ns = monotonic_ns();
    bool ready = false;
    int64_t next_status = 0;
    int64_t next_disk = start_ns + kDiskIntervalNs;
    int64_t next_ping = start_ns + ping_ns;  // before READY=1, only once a start is slow
    bool watchdog_held = false;
    int exit_code = kExitOk;
    for (;;) {
        // Until READY=1 look every 100 ms, so readiness follows the first period promptly.
        int64_t tick_ns = ready ? kNsPerS : kNsPerS / 10;
        if (ping_ns > 0) {
            tick_ns = std::min(tick_ns, std::max<int64_t>(next_ping - monotonic_ns(), 1'000'000));
        }
        timespec timeout{static_cast<time_t>(tick_ns / kNsPerS),
                         static_cast<long>(tick_ns % kNsPerS)};
        const int sig = sigtimedwait(&sigs, nullptr, &timeout);
        if (sig == SIGTERM || sig == SIGINT) {
            spdlog::info("{}: closing every chunk and stopping", strsignal(sig));
            break;
        }
        if (sig == SIGHUP) {
            reload();
        }
        const int64_t now = monotonic_ns();
        if (now >= next_disk) {
            disk_->update(now);
            next_disk = now + kDiskIntervalNs;
        }
        if (!ready && all_started()) {
            ready = true;
            const std::string st = status_line();
            notifier_.ready(st);
            spdlog::info("ready: {}", st);
            next_status = now + kStatusIntervalNs;
            next_ping = now;
        } else if (ready && now >= next_status) {
            notifier_.status(status_line());
            next_status = now + kStatusIntervalNs;
        }
        if (ping_ns > 0 && now >= next_ping) {
            next_ping = now + ping_ns;
            if (capture_alive(now, ping_ns)) {
                notifier_.watchdog();
                if (watchdog_held) {
                    spdlog::warn("capture progressing again; watchdog pings resumed");
                    watchdog_held = false;
                }
            } else if (!watchdog_held) {
                watchdog_held = true;
                spdlog::error(
                    "a capture thread has made no progress for {:.1f} s: withholding "
                    "watchdog pings so systemd restarts the service",
                    static_cast<double>(ping_ns) / 1e9);
            }
        }
        if (all_failed()) {
            spdlog::error("no stream can record; exiting");
            exit_code = kExitUnavailable;
            break;
        }
    }
    notifier_.stopping("stopping: closing chunks");
    for (auto& s : streams_) {
        s->stop();
    }
    sync_->stop();
    spdlog::info("framestampd stopped");
    return exit_code;
}

}  // namespace framestamp
