// The capture side of a synthetic archive: turns the simulated card's points and sync samples,
// and the spec's events, into the records framestampd's capture loop would hand its writer
// (compare src/capture/capture_loop.cpp), and gives them, with the audio before each, to the
// daemon's own writer through WriterFeed.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "framestamp/capture.hpp"
#include "framestamp/recorder.hpp"
#include "framestamp/synth.hpp"
#include "framestamp/utc.hpp"
#include "synth/synth_feed.hpp"

namespace framestamp {

namespace {

using synth_detail::WriterFeed;

// ntp_adjtime status words (decimal in the log): STA_PLL | STA_NANO, and with STA_UNSYNC.
constexpr int64_t kStatusSynced = 0x2001;
constexpr int64_t kStatusUnsynced = 0x2041;

bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::filesystem::path strip_partial(const std::filesystem::path& p) {
    std::string s = p.string();
    s.resize(s.size() - std::string_view(".partial").size());
    return s;
}

void validate(const SynthSpec& spec) {
    const auto bad = [](const std::string& what) {
        throw std::invalid_argument("synthetic archive: " + what);
    };
    if (spec.data_dir.empty() || spec.stream.empty()) {
        bad("data_dir and stream must be set");
    }
    if (spec.sim.rate_hz == 0 || spec.channels == 0 || spec.channels > 64) {
        bad("rate_hz must be > 0 and channels 1..64");
    }
    if (!(spec.chunk_s >= 1.0) || std::abs(spec.chunk_s - std::round(spec.chunk_s)) > 1e-9) {
        bad("chunk_s must be a whole number of seconds >= 1");
    }
    if (!(spec.duration_s > 0.0) || !(spec.sim.points_per_s > 0.0) ||
        !(spec.sim.sync_interval_s > 0.0) || spec.period_frames == 0) {
        bad("duration_s, points_per_s, sync_interval_s and period_frames must be > 0");
    }
}

// A record as the capture loop makes one, applying at session frame `at`.
CaptureRecord capture_record(RecordKind kind, uint64_t at, int64_t realtime_ns, int64_t raw_ns,
                             std::string_view detail = {}) {
    CaptureRecord r;
    r.kind = kind;
    r.at_frame = at;
    r.realtime_ns = realtime_ns;
    r.monotonic_raw_ns = raw_ns;
    record_set_detail(r, detail);
    return r;
}

// Rewrites the times of the crash_recovery and chunk_close rows recover_stream_dir() appended
// (it stamps them with this machine's clocks) to the simulated restart's: what the daemon,
// restarted at that instant, would have written.
void restamp_recovery_rows(const std::filesystem::path& log, int64_t realtime_ns, int64_t raw_ns) {
    std::string text;
    {
        std::ifstream in(log, std::ios::binary);
        std::ostringstream ss;
        ss << in.rdbuf();
        text = ss.str();
    }
    std::vector<std::string> lines;
    std::size_t start = 0;
    for (std::size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
        lines.push_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
        std::vector<std::string> f = csv_split(lines[i]);
        const bool recovery_row = i + 2 >= lines.size() && f.size() >= 5 &&
                                  (f[0] == "crash_recovery" || f[0] == "chunk_close");
        if (recovery_row) {
            f[3] = std::to_string(realtime_ns);
            f[4] = std::to_string(raw_ns);
            for (std::size_t k = 0; k < f.size(); ++k) {
                out += (k > 0 ? "," : "") + csv_field(f[k]);
            }
        } else {
            out += lines[i];
        }
        out.push_back('\n');
    }
    std::ofstream o(log, std::ios::binary | std::ios::trunc);
    o << out;
    if (!o.flush()) {
        throw std::runtime_error("synthetic archive: cannot rewrite " + log.string());
    }
}

class Driver {
  public:
    Driver(const SynthSpec& spec, SynthResult& result)
        : spec_(spec),
          card_(spec.sim),
          result_(result),
          feed_(spec, card_, result),
          rng_(spec.sim.seed ^ 0x5eed5eedULL) {}

    void run();

  private:
    double time_of_raw(int64_t raw_ns) const {
        return static_cast<double>(raw_ns - spec_.sim.start_raw_ns) * 1e-9 /
               (1.0 + 1e-6 * spec_.sim.raw_ppm);
    }
    // Session frames the card has captured by true time t (0 before the session).
    uint64_t captured_at(double t) const {
        const double f = std::floor(card_.frames_at(t)) - static_cast<double>(offset_);
        return f > 0 ? static_cast<uint64_t>(f) : 0;
    }
    uint64_t avail() {
        return std::uniform_int_distribution<uint64_t>(0, spec_.period_frames - 1)(rng_);
    }
    // The record's frame: never before an earlier record's.
    uint64_t at_frame(uint64_t f) {
        last_at_ = std::max(last_at_, f);
        return last_at_;
    }
    void advance(uint64_t frame);
    void start_session(double t, bool device_back);
    void end_session();
    void on_point(const TimePoint& p, double t);
    void on_sync(const SyncPoint& s, double t);
    void on_event(const SynthEvent& e);
    void on_overrun(const SynthEvent& e);
    void on_crash(const SynthEvent& e);
    void restart_after(double t_s, int64_t frames, bool device_back);

    const SynthSpec& spec_;
    SimCard card_;
    SynthResult& result_;
    WriterFeed feed_;
    std::mt19937_64 rng_;

    bool in_session_ = false;
    int64_t offset_ = 0;  // SimCard frame of session frame 0 (shifted by uneven overrun fills)
    double dead_until_s_ = 0;
    uint64_t last_at_ = 0;
    bool have_point_ = false;
    uint64_t last_hw_ = 0;
    int64_t last_rt_minus_raw_ns_ = 0;
    bool gap_active_ = false;
    uint64_t gap_end_ = 0;
    std::vector<std::filesystem::path> partials_;
};

void Driver::advance(uint64_t frame) {
    if (gap_active_ && frame >= gap_end_) {
        feed_.audio_to(gap_end_);
        feed_.set_disk_paused(false);
        gap_active_ = false;
    }
    feed_.audio_to(frame);
}

void Driver::start_session(double t, bool device_back) {
    feed_.set_time(t);
    offset_ = static_cast<int64_t>(std::floor(card_.frames_at(t)));
    feed_.set_sim_offset(offset_);
    const int64_t rt = card_.realtime_ns_at(t);
    const int64_t raw = card_.raw_ns_at(t);
    const std::string id = utc_session_id(rt);
    feed_.begin_session();
    if (device_back) {
        feed_.record(capture_record(RecordKind::device_back, 0, rt, raw,
                                    fmt::format("device={}", spec_.device)));
    }
    feed_.record(capture_record(
        RecordKind::session_start, 0, rt, raw,
        fmt::format("device={};rate_hz={};channels={};sample_format={};period_frames={};"
                    "buffer_frames={};pcm_type=HW",
                    spec_.device, spec_.sim.rate_hz, spec_.channels,
                    sample_format_name(SampleFormat::s16_le), spec_.period_frames,
                    spec_.buffer_frames)));
    SynthSession s;
    s.id = id;
    s.start_s = t;
    s.offsets.emplace_back(0, offset_);
    result_.sessions.push_back(std::move(s));
    in_session_ = true;
    last_at_ = 0;
    have_point_ = false;
    gap_active_ = false;
}

void Driver::end_session() {
    result_.sessions.back().end_frame = feed_.session_frames();
    in_session_ = false;
    gap_active_ = false;
    feed_.set_disk_paused(false);
}

void Driver::on_point(const TimePoint& p, double t) {
    if (!in_session_ || t < dead_until_s_ || static_cast<int64_t>(p.frame) < offset_) {
        return;
    }
    const uint64_t hw = p.frame - static_cast<uint64_t>(offset_);
    if (have_point_ && hw < last_hw_) {
        return;  // a late read cannot see the position go back
    }
    feed_.set_time(t);
    const uint64_t a = avail();
    const uint64_t at = at_frame(hw >= a ? hw - a : 0);
    advance(at);
    CaptureRecord pt = capture_record(RecordKind::point, at, p.realtime_ns, p.raw_ns);
    pt.hw_frame = hw;
    pt.window_ns = p.window_ns;
    pt.delay_frames = static_cast<int64_t>(a);
    const int64_t rt_minus_raw = p.realtime_ns - p.raw_ns;
    const int64_t step = rt_minus_raw - last_rt_minus_raw_ns_;
    if (have_point_ && std::llabs(step) > spec_.clock_step_threshold_ns) {
        CaptureRecord cs = pt;
        cs.kind = RecordKind::clock_step;
        cs.frames = step;
        record_set_detail(cs, fmt::format("step_ns={}", step));
        feed_.record(cs);
    }
    have_point_ = true;
    last_hw_ = hw;
    last_rt_minus_raw_ns_ = rt_minus_raw;
    feed_.record(pt);
    ++result_.points;
}

void Driver::on_sync(const SyncPoint& s, double t) {
    if (!in_session_ || t < dead_until_s_) {
        return;
    }
    feed_.set_time(t);
    const uint64_t captured = captured_at(t);
    const uint64_t a = avail();
    const uint64_t at = at_frame(captured >= a ? captured - a : 0);
    advance(at);
    const int64_t rt = card_.realtime_ns_at(t);
    // UTC = realtime + offset; an unsynchronised chronyd does not know it.
    const int64_t true_utc = spec_.sim.start_utc_ns + std::llround(t * 1e9);
    const std::string detail =
        s.synced ? "source=chronyd;synced=1;stratum=2;ref=C0A80001;leap=normal;"
                   "root_delay_ns=400000;root_dispersion_ns=150000;freq_ppm=-3.000;skew_ppm=0.020"
                 : "source=chronyd;synced=0;stratum=0;ref=00000000;leap=unsynchronised;"
                   "root_delay_ns=1000000000;root_dispersion_ns=1000000000;freq_ppm=-3.000;"
                   "skew_ppm=0.000";
    CaptureRecord r = capture_record(RecordKind::sync, at, rt, s.raw_ns, detail);
    r.sync_status = s.synced ? kStatusSynced : kStatusUnsynced;
    r.sync_offset_ns = s.synced ? true_utc - rt : 0;
    r.sync_esterror_ns = s.esterror_ns;
    r.sync_maxerror_ns = s.maxerror_ns;
    feed_.record(r);
}

void Driver::on_event(const SynthEvent& e) {
    if (!in_session_ || e.at_s < dead_until_s_) {
        return;
    }
    const double t = e.at_s;
    feed_.set_time(t);
    switch (e.kind) {
        case SynthEvent::Kind::overrun:
            on_overrun(e);
            return;
        case SynthEvent::Kind::device_lost: {
            const uint64_t at = at_frame(captured_at(t));
            advance(at);
            feed_.record(capture_record(RecordKind::device_lost, at, card_.realtime_ns_at(t),
                                        card_.raw_ns_at(t), "error=No such device;errno=19"));
            end_session();
            restart_after(t, e.frames, true);
            return;
        }
        case SynthEvent::Kind::write_gap: {
            if (e.frames <= 0) {
                return;
            }
            const uint64_t at = at_frame(captured_at(t));
            advance(at);
            feed_.set_disk_paused(true);
            gap_end_ = std::max(gap_active_ ? gap_end_ : 0, at + static_cast<uint64_t>(e.frames));
            gap_active_ = true;
            return;
        }
        case SynthEvent::Kind::crash:
        case SynthEvent::Kind::crash_recover:
            on_crash(e);
            return;
    }
}

void Driver::on_overrun(const SynthEvent& e) {
    if (e.frames <= 0) {
        return;
    }
    const auto lost = static_cast<uint64_t>(e.frames);
    const uint64_t filled = e.filled < 0 ? lost : static_cast<uint64_t>(e.filled);
    const double t = e.at_s;
    const uint64_t at = at_frame(captured_at(t));
    advance(at);
    // The daemon stamps the row with the status read after the restart, `lost` frames later.
    const double t_restart = card_.time_of_frame(card_.frames_at(t) + static_cast<double>(lost));
    const int64_t rt = card_.realtime_ns_at(t_restart);
    const int64_t raw = card_.raw_ns_at(t_restart);
    // The capture's estimate of the frames lost (here: what the spec says it filled), and
    // whether the writer zero-fills them.
    const bool fill = filled > 0;
    const uint64_t counted = fill ? filled : lost;
    CaptureRecord ov =
        capture_record(RecordKind::overrun, at, rt, raw,
                       fmt::format("filled={};lost_frames={};estimated_from=timestamps",
                                   fill ? "silence" : "none", counted));
    ov.frames = static_cast<int64_t>(counted);
    ov.fill = fill;
    feed_.record(ov);
    const uint64_t resumed = at_frame(at + filled);
    if (filled != lost) {
        offset_ += static_cast<int64_t>(lost) - static_cast<int64_t>(filled);
        feed_.set_sim_offset(offset_);
        result_.sessions.back().offsets.emplace_back(resumed, offset_);
    }
    dead_until_s_ = t_restart;
    // The first point of the restarted stream, so the fit has both sides of the gap.
    const uint64_t hw = std::max(resumed, captured_at(t_restart));
    have_point_ = true;
    last_hw_ = hw;
    last_rt_minus_raw_ns_ = rt - raw;
    CaptureRecord pt = capture_record(RecordKind::point, resumed, rt, raw);
    pt.hw_frame = hw;
    pt.window_ns = std::llround(spec_.sim.window_s * 1e9);
    pt.delay_frames = static_cast<int64_t>(hw - resumed);
    feed_.record(pt);
    ++result_.points;
}

void Driver::on_crash(const SynthEvent& e) {
    const double t = e.at_s;
    advance(at_frame(captured_at(t)));
    end_session();
    for (const std::filesystem::path& p : feed_.crash()) {
        partials_.push_back(p);
    }
    const double t_restart = t + static_cast<double>(std::max<int64_t>(e.frames, 0)) /
                                     static_cast<double>(spec_.sim.rate_hz);
    if (e.kind == SynthEvent::Kind::crash_recover && t_restart < spec_.duration_s) {
        if (recover_stream_dir(spec_.data_dir, spec_.stream).failures != 0) {
            throw std::runtime_error("synthetic archive: recovery failed in " +
                                     (spec_.data_dir / spec_.stream).string());
        }
        for (const std::filesystem::path& p : partials_) {
            const std::filesystem::path final_path = strip_partial(p);
            if (ends_with(p.string(), ".timing.csv.partial") &&
                std::filesystem::exists(final_path)) {
                restamp_recovery_rows(final_path, card_.realtime_ns_at(t_restart),
                                      card_.raw_ns_at(t_restart));
            }
        }
        for (auto* list : {&result_.audio_files, &result_.timing_logs}) {
            for (std::filesystem::path& p : *list) {
                if (ends_with(p.string(), ".partial") && !std::filesystem::exists(p) &&
                    std::filesystem::exists(strip_partial(p))) {
                    p = strip_partial(p);
                }
            }
        }
        partials_.clear();
    }
    restart_after(t, e.frames, false);
}

void Driver::restart_after(double t_s, int64_t frames, bool device_back) {
    const double t_restart = t_s + static_cast<double>(std::max<int64_t>(frames, 0)) /
                                       static_cast<double>(spec_.sim.rate_hz);
    dead_until_s_ = t_restart;
    if (t_restart < spec_.duration_s) {
        start_session(t_restart, device_back);
    }
}

void Driver::run() {
    std::vector<SynthEvent> events = spec_.events;
    std::stable_sort(events.begin(), events.end(),
                     [](const SynthEvent& a, const SynthEvent& b) { return a.at_s < b.at_s; });
    std::size_t next_event = 0;
    const auto events_until = [&](double t) {
        while (next_event < events.size() && events[next_event].at_s <= t) {
            if (events[next_event].at_s < spec_.duration_s) {
                on_event(events[next_event]);
            }
            ++next_event;
        }
    };
    start_session(0.0, false);
    for (;;) {
        const TimePoint p = card_.next_point();
        const double t = time_of_raw(p.raw_ns);
        SyncPoint s;
        while (card_.next_sync(s)) {
            const double ts = time_of_raw(s.raw_ns);
            if (ts >= spec_.duration_s) {
                break;
            }
            events_until(ts);
            on_sync(s, ts);
        }
        if (t >= spec_.duration_s) {
            events_until(spec_.duration_s);
            break;
        }
        events_until(t);
        on_point(p, t);
    }
    if (in_session_) {
        const double t = spec_.duration_s;
        feed_.set_time(t);
        advance(at_frame(captured_at(t)));
        feed_.finish();
        end_session();
    }
    feed_.account();
}

}  // namespace

double SynthSession::sim_frame(uint64_t session_frame) const {
    int64_t offset = offsets.empty() ? 0 : offsets.front().second;
    for (const auto& [from, o] : offsets) {
        if (from <= session_frame) {
            offset = o;
        }
    }
    return static_cast<double>(session_frame) + static_cast<double>(offset);
}

int64_t synth_true_utc_ns(const SimCard& truth, const SynthSession& session, uint64_t session_frame,
                          double* frac_ns) {
    const double sim = session.sim_frame(session_frame);
    if (frac_ns != nullptr) {
        *frac_ns = truth.true_utc_frac_ns(sim);
    }
    return truth.true_utc_ns(sim);
}

SynthResult write_synthetic_archive(const SynthSpec& spec) {
    validate(spec);
    SynthResult result;
    Driver driver(spec, result);
    driver.run();
    return result;
}

}  // namespace framestamp
