// The capture thread's loop. It reads, takes timing points, and hands everything to the sink; it
// never touches the disk and never waits for the writer. See docs/timing-log.md for what the
// records become.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <sys/prctl.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <thread>

#include "framestamp/capture.hpp"
#include "framestamp/log.hpp"

namespace framestamp {

namespace {

constexpr int64_t kNsPerS = 1'000'000'000;
constexpr int64_t kProbeSampleNs = 25'000;       // status readings during the pointer probe
constexpr int64_t kCoarseStepNs = 2'000'000;     // pointer steps longer than this are warned of
constexpr std::size_t kProbeMaxChanges = 16384;  // probe: position changes kept

bool is_absent(int err) {
    return err == -ENODEV || err == -ENOENT || err == -EBUSY || err == -EAGAIN;
}

// Sleeps up to `ns`, waking early when stop is set, beating the heartbeat meanwhile.
void sleep_unless_stopped(int64_t ns, const std::atomic<bool>& stop, CaptureStats& stats) {
    const int64_t end = monotonic_ns() + ns;
    while (!stop.load(std::memory_order_relaxed)) {
        const int64_t now = monotonic_ns();
        stats.heartbeat_mono_ns.store(now, std::memory_order_relaxed);
        const int64_t left = end - now;
        if (left <= 0) {
            return;
        }
        std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<int64_t>(left, 50'000'000)));
    }
}

}  // namespace

CaptureLoop::CaptureLoop(CaptureSource& source, CaptureSink& sink, SyncProbe* sync,
                         CaptureOptions options, CaptureStats& stats)
    : source_(source), sink_(sink), sync_(sync), opt_(std::move(options)), stats_(stats) {}

void CaptureLoop::run(const std::atomic<bool>& stop) {
    bool waiting_logged = false;
    bool lost_before = false;
    while (!stop.load(std::memory_order_relaxed)) {
        stats_.heartbeat_mono_ns.store(monotonic_ns(), std::memory_order_relaxed);
        OpenResult opened = source_.open(opt_.params);
        if (opened.error != 0) {
            stats_.device_present.store(false, std::memory_order_relaxed);
            if (!is_absent(opened.error)) {
                failure_ = opened.message;
                stats_.failed.store(true, std::memory_order_relaxed);
                stats_.state.store(CaptureState::failed, std::memory_order_relaxed);
                spdlog::error("{}", opened.message);
                return;
            }
            stats_.state.store(CaptureState::waiting, std::memory_order_relaxed);
            if (!waiting_logged) {
                spdlog::warn("{}; waiting for the device, retrying every {} s", opened.message,
                             opt_.reopen_interval_ns / kNsPerS);
                waiting_logged = true;
            }
            sleep_unless_stopped(opt_.reopen_interval_ns, stop, stats_);
            continue;
        }
        waiting_logged = false;
        for (const auto& w : opened.warnings) {
            spdlog::warn("{}", w);
        }
        stats_.device_present.store(true, std::memory_order_relaxed);
        stats_.sessions.fetch_add(1, std::memory_order_relaxed);
        ++session_;
        session_frames_ = 0;
        stream_base_ = 0;
        read_since_start_ = 0;
        last_point_.reset();
        first_point_.reset();
        recent_count_ = 0;
        pending_drop_frames_ = 0;
        next_point_mono_ns_ = 0;
        next_sync_mono_ns_ = 0;
        if (lost_before) {
            CaptureRecord back = event(RecordKind::device_back);
            record_set_detail(back, fmt::format("device={}", opt_.params.device));
            push_event(back, stop);
        }
        lost_before = run_session(stop, opened.granted);
        source_.close();
    }
}

bool CaptureLoop::run_session(const std::atomic<bool>& stop, const GrantedParams& granted) {
    const auto& p = opt_.params;
    spdlog::info(
        "capturing from '{}': {} Hz, {} channels, {}, period {} frames, buffer {} frames "
        "({} PCM)",
        p.device, p.rate_hz, p.channels, sample_format_name(p.format), granted.period_frames,
        granted.buffer_frames, granted.pcm_type);
    CaptureRecord start = event(RecordKind::session_start);
    record_set_detail(start,
                      fmt::format("device={};rate_hz={};channels={};sample_format={};"
                                  "period_frames={};buffer_frames={};pcm_type={}",
                                  p.device, p.rate_hz, p.channels, sample_format_name(p.format),
                                  granted.period_frames, granted.buffer_frames, granted.pcm_type));
    push_event(start, stop);

    const std::size_t frame_bytes = sample_bytes(p.format) * p.channels;
    const uint64_t period = granted.period_frames > 0 ? granted.period_frames : p.period_frames;
    buffer_.resize(period * frame_bytes);
    const int64_t point_interval_ns = kNsPerS / std::max<uint32_t>(1, opt_.timing_points_per_s);
    const int64_t period_ns =
        static_cast<int64_t>(period) * kNsPerS / std::max<uint32_t>(1, p.rate_hz);
    dither_state_ ^= static_cast<uint64_t>(monotonic_ns());
    if (dither_state_ == 0) {
        dither_state_ = 0x9e3779b97f4a7c15ULL;  // xorshift stays at 0 for ever
    }
    // A source whose read blocks: points right after reads, each after a random wait (capped at
    // half a period so that the buffer never fills because of it), because a read returns just
    // after the card's position has stepped and points taken right then would all be late by
    // about the same wake-up latency, which no fit can see.
    // A source that can wait: points at instants uniform in each 1/timing_points_per_s slot, so
    // that they sample the whole of the card's position step, however coarse (docs/timing-
    // model.md); reads happen whenever a period is there.
    const bool slots = !source_.read_blocks();
    const int64_t dither_ns = slots ? 0 : std::min(opt_.point_dither_ns, period_ns / 2);
    slot_ns_ = point_interval_ns;
    probing_ = false;
    if (slots) {
        // Timer slack would let the kernel push each wake-up up to 50 us later, towards the next
        // period wake-up, and so bunch the points again.
        prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
        const int64_t now = monotonic_ns();
        const int64_t buffer_ns = static_cast<int64_t>(granted.buffer_frames) * kNsPerS /
                                  std::max<uint32_t>(1, p.rate_hz);
        const int64_t probe_ns = std::min(opt_.pointer_probe_ns, buffer_ns / 3);
        if (probe_ns > 0) {
            probing_ = true;
            probe_changes_.clear();
            probe_changes_.reserve(kProbeMaxChanges);
            probe_readings_ = 0;
            probe_start_mono_ns_ = now;
            probe_end_mono_ns_ = now + probe_ns;
            probe_next_mono_ns_ = now;
            probe_wakeups0_ = source_.wakeups();
        }
        slot_start_mono_ns_ = probing_ ? probe_end_mono_ns_ : now;
        next_point_mono_ns_ = slot_start_mono_ns_ + next_dither(slot_ns_);
    }

    while (!stop.load(std::memory_order_relaxed)) {
        int64_t n = 0;
        if (slots) {
            const int w = source_.wait(probing_ ? probe_next_mono_ns_ : next_point_mono_ns_);
            n = w > 0 ? source_.read(buffer_.data(), period) : w;
        } else {
            n = source_.read(buffer_.data(), period);
        }
        if (n > 0) {
            const auto frames = static_cast<uint64_t>(n);
            push_audio_or_drop(buffer_.data(), frames);
            read_since_start_ += frames;
            stats_.frames.store(session_frames_, std::memory_order_relaxed);
            const int64_t mono = monotonic_ns();
            stats_.last_progress_mono_ns.store(mono, std::memory_order_relaxed);
            stats_.heartbeat_mono_ns.store(mono, std::memory_order_relaxed);
            stats_.state.store(CaptureState::recording, std::memory_order_relaxed);
            if (!slots) {
                if (mono >= next_point_mono_ns_) {
                    if (dither_ns > 0) {
                        std::this_thread::sleep_for(
                            std::chrono::nanoseconds(next_dither(dither_ns)));
                    }
                    // A failed status here is seen again by the next read.
                    if (take_point(stream_base_)) {
                        next_point_mono_ns_ = mono + point_interval_ns;
                    }
                }
                maybe_sample_sync(mono);
                continue;
            }
        } else if (n == 0 || n == -EAGAIN || n == -EINTR) {
            // The deadline came (or nothing this time): timing points are looked at below.
        } else if (n == -EPIPE) {
            handle_overrun(stop);
            continue;
        } else {
            // -ENODEV (unplugged) or any other error: the device is gone for this session.
            CaptureRecord lost = event(RecordKind::device_lost);
            record_set_detail(
                lost, fmt::format("error={};errno={}", std::strerror(static_cast<int>(-n)), -n));
            push_event(lost, stop);
            stats_.device_present.store(false, std::memory_order_relaxed);
            spdlog::error("device '{}' lost: {}; closing the chunk and retrying every {} s",
                          p.device, std::strerror(static_cast<int>(-n)),
                          opt_.reopen_interval_ns / kNsPerS);
            probing_ = false;
            return true;
        }
        if (!slots) {
            continue;
        }
        const int64_t now = monotonic_ns();
        if (probing_) {
            if (now >= probe_next_mono_ns_) {
                probe_sample();
                probe_next_mono_ns_ = monotonic_ns() + kProbeSampleNs;
            }
            if (now >= probe_end_mono_ns_) {
                finish_probe(stop);
            }
        } else if (now >= next_point_mono_ns_) {
            take_point(stream_base_);  // a failed status is seen again by the next read
            schedule_next_point(now);
        }
        maybe_sample_sync(now);
    }
    return false;
}

void CaptureLoop::schedule_next_point(int64_t now_mono_ns) {
    slot_start_mono_ns_ += slot_ns_;
    if (slot_start_mono_ns_ + slot_ns_ <= now_mono_ns) {
        // Fell a whole slot behind (a stall): start again from now rather than catch up in a
        // burst of points.
        slot_start_mono_ns_ = now_mono_ns;
    }
    next_point_mono_ns_ = slot_start_mono_ns_ + next_dither(slot_ns_);
}

void CaptureLoop::probe_sample() {
    StatusReading s;
    if (source_.status(&s) != 0) {
        return;
    }
    ++probe_readings_;
    const uint64_t hw = stream_base_ + read_since_start_ + s.avail_frames;
    if (probe_changes_.empty() || probe_changes_.back().hw_frame != hw) {
        if (probe_changes_.size() < kProbeMaxChanges) {
            probe_changes_.push_back({s.monotonic_raw_ns, hw});
        }
    }
}

void CaptureLoop::finish_probe(const std::atomic<bool>& stop) {
    probing_ = false;
    const int64_t span_ns = monotonic_ns() - probe_start_mono_ns_;
    const uint64_t wakeups = source_.wakeups() - probe_wakeups0_;
    // The first change is where the probe found the pointer, not a step: steps are measured from
    // it to the last change.
    const std::size_t steps = probe_changes_.size() > 1 ? probe_changes_.size() - 1 : 0;
    double step_frames = 0;
    double step_ns = 0;
    if (steps > 0) {
        step_frames =
            static_cast<double>(probe_changes_.back().hw_frame - probe_changes_.front().hw_frame) /
            static_cast<double>(steps);
        step_ns =
            static_cast<double>(probe_changes_.back().raw_ns - probe_changes_.front().raw_ns) /
            static_cast<double>(steps);
    }
    const double sample_ns =
        probe_readings_ > 0 ? static_cast<double>(span_ns) / static_cast<double>(probe_readings_)
                            : 0;
    const double wakeup_ns =
        wakeups > 0 ? static_cast<double>(span_ns) / static_cast<double>(wakeups) : 0;
    CaptureRecord r = event(RecordKind::card_timing);
    // steps=0: the position did not move twice within the probe, so its step is at least the
    // probe's length.
    record_set_detail(
        r, fmt::format("pointer_step_frames={:.2f};pointer_step_us={:.1f};steps={};"
                       "wakeup_interval_us={:.1f};wakeups={};probe_us={:.0f};readings={};"
                       "reading_interval_us={:.1f}",
                       step_frames, step_ns / 1e3, steps, wakeup_ns / 1e3, wakeups,
                       static_cast<double>(span_ns) / 1e3, probe_readings_, sample_ns / 1e3));
    push_event(r, stop);
    const double step_or_probe_ns = steps > 0 ? step_ns : static_cast<double>(span_ns);
    if (step_or_probe_ns > static_cast<double>(kCoarseStepNs)) {
        // A point taken at a random instant is late by 0..one step, uniformly: its error has a
        // spread of step/sqrt(12); a fit over a minute of points averages that down.
        const double points = std::max(1.0, 60.0 * opt_.timing_points_per_s);
        spdlog::warn(
            "'{}': the card's position moves in coarse steps ({}{:.1f} ms{}): each timing point "
            "is late by 0-{:.1f} ms (spread {:.0f} us); expect about {:.0f} us from a minute of "
            "points ({} per second)",
            opt_.params.device, steps > 0 ? "" : "at least ", step_or_probe_ns / 1e6,
            steps > 0 ? fmt::format(", {:.1f} frames", step_frames) : "", step_or_probe_ns / 1e6,
            step_or_probe_ns / std::sqrt(12.0) / 1e3,
            step_or_probe_ns / std::sqrt(12.0 * points) / 1e3, opt_.timing_points_per_s);
    } else {
        spdlog::info(
            "'{}': the card's position moves in steps of {:.1f} frames ({:.0f} us); "
            "woken every {:.0f} us",
            opt_.params.device, step_frames, step_ns / 1e3, wakeup_ns / 1e3);
    }
}

int64_t CaptureLoop::next_dither(int64_t max_ns) {
    // xorshift64: uniform enough, and no lock or allocation on the capture thread.
    dither_state_ ^= dither_state_ << 13;
    dither_state_ ^= dither_state_ >> 7;
    dither_state_ ^= dither_state_ << 17;
    return static_cast<int64_t>(dither_state_ % static_cast<uint64_t>(max_ns));
}

CaptureRecord CaptureLoop::event(RecordKind kind) const {
    CaptureRecord r;
    r.kind = kind;
    r.session = session_;
    r.at_frame = session_frames_;
    r.realtime_ns = realtime_ns();
    r.monotonic_raw_ns = monotonic_raw_ns();
    return r;
}

CaptureRecord CaptureLoop::point(const StatusReading& s, uint64_t hw_frame) const {
    CaptureRecord pt;
    pt.kind = RecordKind::point;
    pt.session = session_;
    pt.at_frame = session_frames_;
    pt.hw_frame = hw_frame;
    pt.realtime_ns = s.realtime_ns;
    pt.monotonic_raw_ns = s.monotonic_raw_ns;
    pt.window_ns = s.window_ns;
    pt.delay_frames = s.delay_frames;
    return pt;
}

bool CaptureLoop::take_point(uint64_t stream_base) {
    StatusReading s;
    if (source_.status(&s) != 0) {
        return false;
    }
    CaptureRecord pt = point(s, stream_base + read_since_start_ + s.avail_frames);
    if (s.window_ns > opt_.max_point_window_ns) {
        // The thread was descheduled between the two CLOCK_MONOTONIC_RAW readings, so the
        // realtime stamp can be anywhere in the window: realtime - raw is off by up to half of
        // it, which would read as a clock step there and back. Written, flagged, and otherwise
        // ignored: not compared for steps, not used for rates.
        record_set_detail(pt, "unreliable=window");
        if (pending_drop_frames_ == 0) {
            sink_.push_record(pt);
        }
        return true;
    }
    if (last_point_) {
        const int64_t before = last_point_->realtime_ns - last_point_->monotonic_raw_ns;
        const int64_t now = pt.realtime_ns - pt.monotonic_raw_ns;
        const int64_t step = now - before;
        if (std::llabs(step) > opt_.clock_step_threshold_ns) {
            CaptureRecord cs = pt;
            cs.kind = RecordKind::clock_step;
            cs.frames = step;
            record_set_detail(cs, fmt::format("step_ns={}", step));
            sink_.push_record(cs);
            spdlog::warn("clock step of {:.6f} s seen between timing points",
                         static_cast<double>(step) * 1e-9);
            first_point_.reset();  // the rate estimate must not span the step
            recent_count_ = 0;
        }
    }
    if (!first_point_) {
        first_point_ = pt;
    }
    last_point_ = pt;
    recent_points_[recent_count_ % kRecentPoints] = pt;
    ++recent_count_;
    if (pending_drop_frames_ == 0) {
        sink_.push_record(pt);  // a full record queue drops points, never audio or events
    }
    return true;
}

void CaptureLoop::handle_overrun(const std::atomic<bool>& stop) {
    stats_.overruns.fetch_add(1, std::memory_order_relaxed);
    const int err = source_.restart();
    StatusReading s;
    const bool have_status = err == 0 && source_.status(&s) == 0;
    CaptureRecord ov;
    ov.kind = RecordKind::overrun;
    ov.at_frame = session_frames_;
    ov.realtime_ns = have_status ? s.realtime_ns : realtime_ns();
    ov.monotonic_raw_ns = have_status ? s.monotonic_raw_ns : monotonic_raw_ns();
    int64_t lost = -1;
    if (have_status && last_point_) {
        // The card ran on while we were not reading. Where would its frame counter be now, in
        // this session's numbering? The last point's position plus the elapsed time at the
        // card's rate. Elapsed time from CLOCK_REALTIME (NTP-disciplined) unless the clock
        // stepped in between, then from CLOCK_MONOTONIC_RAW.
        const CaptureRecord& last = *last_point_;
        int64_t elapsed_ns = s.realtime_ns - last.realtime_ns;
        const int64_t step =
            (s.realtime_ns - s.monotonic_raw_ns) - (last.realtime_ns - last.monotonic_raw_ns);
        if (std::llabs(step) > opt_.clock_step_threshold_ns) {
            elapsed_ns = s.monotonic_raw_ns - last.monotonic_raw_ns;
        }
        double rate = opt_.params.rate_hz;
        if (first_point_ && last.realtime_ns - first_point_->realtime_ns > 2 * kNsPerS) {
            rate = static_cast<double>(last.hw_frame - first_point_->hw_frame) * 1e9 /
                   static_cast<double>(last.realtime_ns - first_point_->realtime_ns);
        }
        // Each point's pointer reading is late by up to a pointer step plus its read latency,
        // never early, so the best projection of where the card is now is the largest one.
        const auto project = [&](const CaptureRecord& p) {
            return static_cast<double>(p.hw_frame) +
                   static_cast<double>(s.realtime_ns - p.realtime_ns) * rate * 1e-9;
        };
        double hw_now =
            static_cast<double>(last.hw_frame) + static_cast<double>(elapsed_ns) * rate * 1e-9;
        if (std::llabs(step) <= opt_.clock_step_threshold_ns) {
            const std::size_t n = std::min(recent_count_, kRecentPoints);
            for (std::size_t i = 0; i < n; ++i) {
                hw_now = std::max(hw_now, project(recent_points_[i]));
            }
        }
        // Frame 0 of the restarted stream was captured `avail` frames ago.
        const double restart_frame = hw_now - static_cast<double>(s.avail_frames);
        lost = std::max<int64_t>(
            0, std::llround(restart_frame - static_cast<double>(session_frames_)));
    }
    const bool fill = opt_.overrun_fill_silence && lost > 0;
    ov.frames = std::max<int64_t>(lost, 0);
    ov.fill = fill;
    record_set_detail(
        ov, fmt::format("filled={};lost_frames={};estimated_from=timestamps",
                        fill ? "silence" : "none", lost >= 0 ? std::to_string(lost) : "unknown"));
    push_event(ov, stop);
    if (lost > 0) {
        stats_.frames_lost.fetch_add(static_cast<uint64_t>(lost), std::memory_order_relaxed);
    }
    uint64_t suppressed = 0;
    if (limiter_.allow("overrun", monotonic_ns(), &suppressed)) {
        const LogFields fields{{"FRAMES_LOST", lost >= 0 ? std::to_string(lost) : "unknown"}};
        spdlog::warn(
            "overrun on '{}': {} frames lost{}{}", opt_.params.device,
            lost >= 0 ? std::to_string(lost) : "(unknown)", fill ? ", filled with silence" : "",
            suppressed > 0 ? fmt::format(" ({} more overruns not logged)", suppressed) : "");
    }
    if (fill) {
        session_frames_ += static_cast<uint64_t>(lost);
    }
    stream_base_ = session_frames_;
    read_since_start_ = 0;
    first_point_.reset();
    recent_count_ = 0;
    if (have_status) {
        // The first point of the restarted stream, so the fit has both sides of the gap.
        CaptureRecord pt = point(s, stream_base_ + s.avail_frames);
        if (s.window_ns > opt_.max_point_window_ns) {
            record_set_detail(pt, "unreliable=window");
            last_point_.reset();
        } else {
            first_point_ = pt;
            last_point_ = pt;
            recent_points_[0] = pt;
            recent_count_ = 1;
        }
        sink_.push_record(pt);
    } else {
        last_point_.reset();
    }
}

void CaptureLoop::push_event(CaptureRecord r, const std::atomic<bool>& stop) {
    r.session = session_;
    r.at_frame = session_frames_;
    // Events are rare and must not be lost: wait for the writer to make room, a millisecond at a
    // time (the queue holds minutes of points, so this only happens when the writer is stuck).
    while (!sink_.push_record(r)) {
        if (stop.load(std::memory_order_relaxed)) {
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

void CaptureLoop::push_audio_or_drop(const void* data, uint64_t frames) {
    if (pending_drop_frames_ == 0 && sink_.audio_space_frames() >= frames) {
        sink_.push_audio(data, frames);
        session_frames_ += frames;
        return;
    }
    // Ring full: the writer is stalled longer than the ring is deep. Never wait: drop, count, and
    // keep the session frame index tracking the card. Unlike an overrun the count is exact, so the
    // frames are always filled (by the writer) and the index stays exact.
    if (pending_drop_frames_ == 0) {
        pending_drop_at_ = session_frames_;
        stats_.ring_overflows.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn(
            "writer fell behind on '{}': audio ring full, dropping and filling with "
            "silence",
            opt_.params.device);
    }
    pending_drop_frames_ += frames;
    session_frames_ += frames;
    stats_.frames_lost.fetch_add(frames, std::memory_order_relaxed);
    flush_pending_drop();
}

void CaptureLoop::flush_pending_drop() {
    if (pending_drop_frames_ == 0) {
        return;
    }
    // One record per dropped stretch, pushed before any later audio or point, so the writer sees
    // them in frame order. If even the record queue is full it is retried with the next read, and
    // points are held back meanwhile (take_point).
    CaptureRecord ro = event(RecordKind::ring_overflow);
    ro.at_frame = pending_drop_at_;
    ro.frames = static_cast<int64_t>(pending_drop_frames_);
    ro.fill = true;
    record_set_detail(ro, fmt::format("filled=silence;lost_frames={}", pending_drop_frames_));
    if (sink_.push_record(ro)) {
        pending_drop_frames_ = 0;
    }
}

void CaptureLoop::maybe_sample_sync(int64_t mono_ns) {
    if (sync_ == nullptr || mono_ns < next_sync_mono_ns_) {
        return;
    }
    next_sync_mono_ns_ = mono_ns + opt_.sync_interval_ns;
    const auto s = sync_->sample();
    if (!s) {
        return;
    }
    CaptureRecord r = event(RecordKind::sync);
    r.sync_status = s->status;
    r.sync_offset_ns = s->offset_ns;
    r.sync_esterror_ns = s->esterror_ns;
    r.sync_maxerror_ns = s->maxerror_ns;
    record_set_detail(r, fmt::format("source={};synced={}{}{}", s->source, s->synchronised ? 1 : 0,
                                     s->detail[0] != '\0' ? ";" : "", s->detail));
    sink_.push_record(r);
}

}  // namespace framestamp
