// The four plots of a stream: drift, residuals, event markers and the sync-state band.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "framestamp/utc.hpp"
#include "report/report_parts.hpp"

namespace framestamp::report {

namespace {

// Calls f(segment, trace) for every trace sample of the view in range.
template <typename F>
void for_each_trace(const StreamView& v, F&& f) {
    for (const ReportSegment* s : v.segments) {
        if (s->model == nullptr) {
            continue;
        }
        for (const ModelTrace& t : s->model->trace) {
            if (v.in_range(t.utc_ns)) {
                f(*s, t);
            }
        }
    }
}

constexpr double kNsPerUs = 1000.0;

// Lanes of the event plot, top to bottom, and the lane of each kind.
int event_lane(EventKind k) {
    switch (k) {
        case EventKind::overrun:
        case EventKind::ring_overflow:
        case EventKind::write_gap:
        case EventKind::write_error:
        case EventKind::disk_pause:
            return 0;
        case EventKind::device_lost:
        case EventKind::device_back:
        case EventKind::session_start:
        case EventKind::shutdown:
        case EventKind::crash_recovery:
            return 1;
        case EventKind::clock_step:
        case EventKind::unsynced:
        case EventKind::resynced:
            return 2;
    }
    return 0;
}

constexpr const char* kLaneNames[] = {"gaps", "device", "clock"};

// One colour per kind, distinct within its lane; the CSS and the key are made from this table.
struct KindColour {
    EventKind kind;
    const char* colour;
};
constexpr KindColour kKindColours[] = {
    {EventKind::overrun, "#e07000"},     {EventKind::ring_overflow, "#b8860b"},
    {EventKind::write_gap, "#8a2be2"},   {EventKind::write_error, "#c71585"},
    {EventKind::disk_pause, "#4b0082"},  {EventKind::session_start, "#777777"},
    {EventKind::device_lost, "#d00000"}, {EventKind::device_back, "#2a9d2a"},
    {EventKind::shutdown, "#8b4513"},    {EventKind::crash_recovery, "#ff1493"},
    {EventKind::clock_step, "#0050c0"},  {EventKind::unsynced, "#c03030"},
    {EventKind::resynced, "#30a030"},
};
constexpr const char* kGapColour = "#f3c1c1";  // spans without audio, behind the markers

int sync_rank(SyncState s) {
    switch (s) {
        case SyncState::synced:
            return 0;
        case SyncState::unknown:
            return 1;
        case SyncState::bridged:
            return 2;
        case SyncState::unsynced:
            return 3;
    }
    return 1;
}

// A bridged knot carries both flags (its UTC is as good as synchronised time's, give or take the
// bridge), so bridged must be asked first: the clock itself was not synchronised there.
SyncState knot_state(const OffsetKnot& k) {
    if ((k.flags & OffsetKnot::bridged) != 0) {
        return SyncState::bridged;
    }
    if ((k.flags & OffsetKnot::synced) != 0) {
        return SyncState::synced;
    }
    return SyncState::unsynced;
}

void push_run(std::vector<SyncRun>& runs, int64_t t0, int64_t t1, SyncState s) {
    if (t1 <= t0) {
        return;
    }
    if (!runs.empty() && runs.back().state == s && runs.back().t1_ns == t0) {
        runs.back().t1_ns = t1;
        return;
    }
    runs.push_back({t0, t1, s});
}

}  // namespace

std::string event_css() {
    std::string out;
    for (const KindColour& k : kKindColours) {
        out += fmt::format("svg .ev-{}{{fill:{}}}", event_kind_name(k.kind), k.colour);
    }
    return out + fmt::format("\nsvg .gap{{fill:{}}}\n", kGapColour);
}

std::string event_key() {
    std::string out = "<p class=\"key\">";
    for (int lane = 0; lane < 3; ++lane) {
        out += fmt::format("{}<b>{}:</b>", lane == 0 ? "" : "<br/>", kLaneNames[lane]);
        for (const KindColour& k : kKindColours) {
            if (event_lane(k.kind) == lane) {
                out += fmt::format("<span style=\"background:{}\"></span>{}", k.colour,
                                   event_kind_name(k.kind));
            }
        }
        if (lane == 0) {
            out += fmt::format(
                "<span style=\"background:{}\"></span>span without audio (between segments, or "
                "frames missing from the files)",
                kGapColour);
        }
    }
    return out + "</p>\n";
}

const char* sync_state_name(SyncState s) {
    switch (s) {
        case SyncState::unknown:
            return "unknown";
        case SyncState::synced:
            return "synced";
        case SyncState::bridged:
            return "bridged";
        case SyncState::unsynced:
            return "unsynced";
    }
    return "unknown";
}

std::vector<SyncRun> sync_runs(const StreamView& view) {
    std::vector<SyncRun> runs;
    for (const ReportSegment* s : view.segments) {
        const int64_t a = std::max(s->first_utc_ns, view.t0_ns);
        const int64_t b = std::min(s->end_utc_ns, view.t1_ns);
        if (b <= a) {
            continue;
        }
        if (s->model != nullptr && !s->model->offset_knots.empty()) {
            const auto& knots = s->model->offset_knots;
            // Knot i's state holds from its UTC until the next knot (the first also before it).
            int64_t t = a;
            for (std::size_t i = 0; i < knots.size(); ++i) {
                const int64_t next = i + 1 < knots.size()
                                         ? knots[i + 1].raw_ns + knots[i + 1].offset_ns
                                         : std::numeric_limits<int64_t>::max();
                const int64_t end = std::min(next, b);
                push_run(runs, t, end, knot_state(knots[i]));
                t = std::max(t, end);
            }
            continue;
        }
        // No knots: toggle at the stream's unsynced / resynced events. Before the first one the
        // state is the opposite of what it announces (synced when there are none).
        SyncState state = SyncState::synced;
        for (const ArchiveEvent* e : view.events) {
            if (e->kind == EventKind::unsynced || e->kind == EventKind::resynced) {
                if (e->realtime_ns >= a) {
                    state =
                        e->kind == EventKind::unsynced ? SyncState::synced : SyncState::unsynced;
                    break;
                }
                state = e->kind == EventKind::unsynced ? SyncState::unsynced : SyncState::synced;
            }
        }
        int64_t t = a;
        for (const ArchiveEvent* e : view.events) {
            if (e->realtime_ns <= t || e->realtime_ns >= b ||
                (e->kind != EventKind::unsynced && e->kind != EventKind::resynced)) {
                continue;
            }
            push_run(runs, t, e->realtime_ns, state);
            t = e->realtime_ns;
            state = e->kind == EventKind::unsynced ? SyncState::unsynced : SyncState::synced;
        }
        push_run(runs, t, b, state);
    }
    return runs;
}

std::string drift_plot(const StreamView& view, const ReportOptions& options) {
    double lo = std::numeric_limits<double>::infinity();
    double hi = -lo;
    for_each_trace(view, [&](const ReportSegment&, const ModelTrace& t) {
        if (std::isfinite(t.ppm)) {
            lo = std::min(lo, t.ppm);
            hi = std::max(hi, t.ppm);
        }
    });
    const Frame frame{};
    const TimeAxis time(view.t0_ns, view.t1_ns, frame);
    const ValueAxis value{nice_ticks(std::isfinite(lo) ? lo : 0, std::isfinite(hi) ? hi : 0),
                          &frame};
    DecimatedPath path(time, value, options.max_points_per_plot);
    const ReportSegment* last = nullptr;
    for_each_trace(view, [&](const ReportSegment& s, const ModelTrace& t) {
        if (&s != last) {
            path.begin_piece();
            last = &s;
        }
        path.add(t.utc_ns, t.ppm);
    });
    std::string out =
        svg_open(frame, "plot drift", "Drift of " + view.stream->name + " against UTC, in ppm");
    out += svg_axes(frame, time, value, "drift (ppm)");
    const std::string d = path.finish();
    if (!d.empty()) {
        out += fmt::format("<path class=\"s1\" d=\"{}\"/>\n", d);
    }
    out += "</svg>\n";
    return out;
}

std::string residual_plot(const StreamView& view, const ReportOptions& options) {
    double hi = 0;
    for_each_trace(view, [&](const ReportSegment&, const ModelTrace& t) {
        hi = std::max({hi, t.lateness_max_ns / kNsPerUs, t.lateness_rms_ns / kNsPerUs});
    });
    Frame frame{};
    frame.plot_height_px = 120;
    const TimeAxis time(view.t0_ns, view.t1_ns, frame);
    const ValueAxis value{nice_ticks(0, hi > 0 ? hi : 1), &frame};
    DecimatedPath rms(time, value, options.max_points_per_plot);
    DecimatedPath max(time, value, options.max_points_per_plot);
    const ReportSegment* last = nullptr;
    for_each_trace(view, [&](const ReportSegment& s, const ModelTrace& t) {
        if (&s != last) {
            rms.begin_piece();
            max.begin_piece();
            last = &s;
        }
        rms.add(t.utc_ns, t.lateness_rms_ns / kNsPerUs);
        max.add(t.utc_ns, t.lateness_max_ns / kNsPerUs);
    });
    std::string out =
        svg_open(frame, "plot residual",
                 "Lateness of the timing points of " + view.stream->name +
                     " above the fitted envelope, in microseconds (not the map's error)");
    out += svg_axes(frame, time, value, "lateness (\u00b5s)");
    const std::string dmax = max.finish();
    const std::string drms = rms.finish();
    if (!dmax.empty()) {
        out += fmt::format("<path class=\"s2\" d=\"{}\"><title>max</title></path>\n", dmax);
    }
    if (!drms.empty()) {
        out += fmt::format("<path class=\"s1\" d=\"{}\"><title>rms</title></path>\n", drms);
    }
    out += "</svg>\n";
    return out;
}

std::string event_plot(const StreamView& view) {
    Frame frame{};
    constexpr double kLaneH = 16;
    frame.plot_height_px = 3 * kLaneH;
    const TimeAxis time(view.t0_ns, view.t1_ns, frame);
    struct Marker {
        const ArchiveEvent* first = nullptr;
        std::size_t count = 0;
        int64_t frames = 0;
    };
    // Keyed by (kind, pixel column), in kind then time order.
    std::map<std::pair<int, long>, Marker> markers;
    for (const ArchiveEvent* e : view.events) {
        const long col = std::lround(time.x(e->realtime_ns));
        Marker& m = markers[{static_cast<int>(e->kind), col}];
        if (m.first == nullptr) {
            m.first = e;
        }
        ++m.count;
        m.frames += e->frames.value_or(0);
    }
    std::string out = svg_open(frame, "plot events", "Events of " + view.stream->name);
    out += svg_time_axis(frame, time);
    // Spans without audio in the gaps lane; those closer than a pixel are drawn as one.
    struct Span {
        double x0, x1;
        std::size_t count;
        int64_t ns;
        std::string title;
    };
    std::vector<Span> spans;
    for (const GapSpan& g : gap_spans(view)) {
        const double x0 = time.x(g.t0_ns);
        const double x1 = std::max(time.x(g.t1_ns), x0 + 1.0);
        if (!spans.empty() && x0 <= spans.back().x1 + 1.0) {
            Span& sp = spans.back();
            sp.x1 = std::max(sp.x1, x1);
            ++sp.count;
            sp.ns += g.t1_ns - g.t0_ns;
            continue;
        }
        spans.push_back(
            {x0, x1, 1, g.t1_ns - g.t0_ns,
             fmt::format("no audio {} \u2013 {} ({}): {}", utc_iso_us(g.t0_ns), utc_iso_us(g.t1_ns),
                         human_duration(g.t1_ns - g.t0_ns), g.what)});
    }
    for (const Span& sp : spans) {
        const std::string title = sp.count == 1
                                      ? sp.title
                                      : fmt::format("{} spans without audio, {} in all, from {}",
                                                    sp.count, human_duration(sp.ns), sp.title);
        out += fmt::format(
            "<rect class=\"gap\" x=\"{}\" y=\"{}\" width=\"{}\" "
            "height=\"{}\"><title>{}</title></rect>\n",
            num(sp.x0), num(frame.top_px), num(sp.x1 - sp.x0), num(kLaneH), html_escape(title));
    }
    for (int lane = 0; lane < 3; ++lane) {
        out +=
            fmt::format("<text class=\"vl\" x=\"{}\" y=\"{}\">{}</text>\n", num(frame.left_px - 6),
                        num(frame.top_px + kLaneH * (lane + 0.5) + 4), kLaneNames[lane]);
    }
    for (const auto& [key, m] : markers) {
        const ArchiveEvent& e = *m.first;
        const double x = time.x(e.realtime_ns);
        const double y = frame.top_px + kLaneH * event_lane(e.kind) + 3;
        const std::string_view kind = event_kind_name(e.kind);
        std::string title = m.count > 1 ? fmt::format("{} \u00d7{} from {}", kind, m.count,
                                                      utc_iso_us(e.realtime_ns))
                                        : fmt::format("{} at {}", kind, utc_iso_us(e.realtime_ns));
        if (m.frames != 0) {
            title += fmt::format(", {} frames", m.frames);
        }
        if (m.count == 1 && !e.detail.empty()) {
            title += " (" + e.detail + ")";
        }
        out += fmt::format(
            "<path class=\"ev ev-{}\" d=\"M{},{} h8 l-4,10 z\"><title>{}</title></path>\n", kind,
            num(x - 4), num(y), html_escape(title));
    }
    out += "</svg>\n";
    return out;
}

std::string sync_plot(const StreamView& view, const ReportOptions& options) {
    Frame frame{};
    frame.plot_height_px = 18;
    const TimeAxis time(view.t0_ns, view.t1_ns, frame);
    std::vector<SyncRun> runs = sync_runs(view);
    const std::size_t max_runs = std::max<std::size_t>(options.max_points_per_plot, 1);
    if (runs.size() > max_runs) {
        // Too many to draw one by one: per bin of UTC, the worst state seen in it.
        const int64_t bin_ns =
            std::max<int64_t>(1, (view.t1_ns - view.t0_ns + static_cast<int64_t>(max_runs) - 1) /
                                     static_cast<int64_t>(max_runs));
        std::vector<SyncRun> binned;
        for (const SyncRun& r : runs) {
            for (int64_t t = r.t0_ns; t < r.t1_ns;) {
                const int64_t b0 = view.t0_ns + (t - view.t0_ns) / bin_ns * bin_ns;
                const int64_t b1 = std::min(b0 + bin_ns, r.t1_ns);
                if (!binned.empty() && binned.back().t0_ns == b0) {
                    if (sync_rank(r.state) > sync_rank(binned.back().state)) {
                        binned.back().state = r.state;
                    }
                    binned.back().t1_ns = std::max(binned.back().t1_ns, b1);
                } else {
                    binned.push_back({b0, b1, r.state});
                }
                t = b1;
            }
        }
        runs.clear();
        for (const SyncRun& r : binned) {
            push_run(runs, r.t0_ns, r.t1_ns, r.state);
        }
    }
    std::string out = svg_open(frame, "plot sync",
                               "System clock synchronisation while " + view.stream->name +
                                   " recorded: synced, bridged or unsynced");
    out += svg_time_axis(frame, time);
    for (const SyncRun& r : runs) {
        const double x0 = time.x(r.t0_ns);
        const double w = std::max(time.x(r.t1_ns) - x0, 0.5);
        out += fmt::format(
            "<rect class=\"sy-{0}\" x=\"{1}\" y=\"{2}\" width=\"{3}\" height=\"{4}\"><title>{0} "
            "{5} \u2013 {6}</title></rect>\n",
            sync_state_name(r.state), num(x0), num(frame.top_px), num(w), num(frame.plot_height_px),
            utc_iso_us(r.t0_ns), utc_iso_us(r.t1_ns));
    }
    out += "</svg>\n";
    return out;
}

std::string uncertainty_plot(const StreamView& view, const ReportOptions& options) {
    double lo = std::numeric_limits<double>::infinity();
    double hi = 0;
    std::size_t samples = 0;
    for_each_uncertainty(view, [&](const ReportSegment&, const TimeEstimate& te) {
        lo = std::min(lo, static_cast<double>(std::max<int64_t>(te.fit_uncertainty_ns, 1)));
        hi = std::max(hi, static_cast<double>(std::max<int64_t>(te.uncertainty_ns(), 1)));
        ++samples;
    });
    Frame frame{};
    frame.plot_height_px = 140;
    const TimeAxis time(view.t0_ns, view.t1_ns, frame);
    const ValueAxis value{log_ns_ticks(samples > 0 ? lo : 1000, samples > 0 ? hi : 1e6), &frame};
    DecimatedPath fit(time, value, options.max_points_per_plot);
    DecimatedPath total(time, value, options.max_points_per_plot);
    const ReportSegment* last = nullptr;
    auto lg = [](int64_t ns) { return std::log10(static_cast<double>(std::max<int64_t>(ns, 1))); };
    for_each_uncertainty(view, [&](const ReportSegment& s, const TimeEstimate& te) {
        if (&s != last) {
            fit.begin_piece();
            total.begin_piece();
            last = &s;
        }
        fit.add(te.utc_ns, lg(te.fit_uncertainty_ns));
        total.add(te.utc_ns, lg(te.uncertainty_ns()));
    });
    std::string out = svg_open(frame, "plot uncertainty",
                               "Uncertainty of the UTC of " + view.stream->name +
                                   "'s samples: the fit, and the fit plus the system clock");
    out += svg_axes(frame, time, value, "uncertainty");
    const std::string dtotal = total.finish();
    const std::string dfit = fit.finish();
    if (!dtotal.empty()) {
        out += fmt::format(
            "<path class=\"s2\" d=\"{}\"><title>fit + clock (against UTC)</title></path>\n",
            dtotal);
    }
    if (!dfit.empty()) {
        out += fmt::format(
            "<path class=\"s1\" d=\"{}\"><title>fit (card against the system "
            "clock)</title></path>\n",
            dfit);
    }
    if (samples == 0) {
        out += fmt::format("<text class=\"tl\" x=\"{}\" y=\"{}\">no model in this range</text>\n",
                           num(frame.left_px + frame.plot_width() / 2),
                           num(frame.top_px + frame.plot_height_px / 2));
    }
    out += "</svg>\n";
    return out;
}

}  // namespace framestamp::report
