// What the report says first: the gaps in the audio, the time the clock was not synchronised and
// the worst uncertainty of the map, per stream and over all streams shown.
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "framestamp/utc.hpp"
#include "report/report_parts.hpp"

namespace framestamp::report {

namespace {

// Neighbouring segments whose models meet within this are continuous (the models of two
// segments disagree by microseconds where one ends and the next starts).
constexpr int64_t kMinGapNs = 1'000'000;

const ReportSegment* segment_of(const ReportStream& s, const ArchiveEvent& e) {
    for (const ReportSegment& seg : s.segments) {
        if (seg.session == e.session && e.session_frame >= seg.first_frame &&
            e.session_frame < seg.end_frame) {
            return &seg;
        }
    }
    return nullptr;
}

uint32_t rate_of(const ReportStream& s, const ArchiveEvent& e) {
    uint32_t any = 0;
    for (const ReportSegment& seg : s.segments) {
        if (seg.session == e.session && seg.rate_hz > 0) {
            return seg.rate_hz;
        }
        any = any != 0 ? any : seg.rate_hz;
    }
    return any;
}

}  // namespace

std::vector<GapSpan> gap_spans(const StreamView& view) {
    std::vector<GapSpan> out;
    if (view.stream == nullptr) {
        return out;
    }
    const int64_t lo = view.from_utc_ns.value_or(std::numeric_limits<int64_t>::min());
    const int64_t hi = view.to_utc_ns.value_or(std::numeric_limits<int64_t>::max());
    auto push = [&](int64_t a, int64_t b, std::string what) {
        a = std::max(a, lo);
        b = std::min(b, hi);
        if (b > a) {
            out.push_back({a, b, std::move(what)});
        }
    };
    // Between segments: every segment of the stream, so that a gap reaching into the range from a
    // segment outside it is still shown. Segments are in UTC order; a clock step can make them
    // overlap, hence the running end.
    const std::vector<ReportSegment>& segs = view.stream->segments;
    int64_t end = std::numeric_limits<int64_t>::min();
    const ReportSegment* prev = nullptr;
    for (const ReportSegment& s : segs) {
        if (prev != nullptr && s.first_utc_ns - end > kMinGapNs) {
            std::string what =
                s.starts_with == "overrun" ? "overrun"
                : s.session != prev->session
                    ? "no recording between sessions " + prev->session + " and " + s.session
                    : "gap between segments";
            push(end, s.first_utc_ns, std::move(what));
        }
        if (prev == nullptr || s.end_utc_ns > end) {
            end = s.end_utc_ns;
        }
        prev = &s;
    }
    // Frames missing inside a segment: the session's frame index runs on through them.
    for (const ArchiveEvent& e : view.stream->events) {
        if ((e.kind != EventKind::write_gap && e.kind != EventKind::ring_overflow) || !e.frames ||
            *e.frames <= 0) {
            continue;
        }
        const uint64_t frames = static_cast<uint64_t>(*e.frames);
        const std::string what = fmt::format("{}: {} frames", event_kind_name(e.kind), frames);
        const ReportSegment* seg = segment_of(*view.stream, e);
        if (seg != nullptr && seg->model != nullptr && !seg->model->empty()) {
            push(seg->model->frame_to_utc(e.session_frame).utc_ns,
                 seg->model->frame_to_utc(e.session_frame + frames).utc_ns, what);
            continue;
        }
        // No model to place it: from the event's own time, at the nominal rate.
        const uint32_t rate = rate_of(*view.stream, e);
        if (rate > 0) {
            push(e.realtime_ns,
                 e.realtime_ns + static_cast<int64_t>(frames * 1'000'000'000ULL / rate), what);
        }
    }
    std::sort(out.begin(), out.end(),
              [](const GapSpan& a, const GapSpan& b) { return a.t0_ns < b.t0_ns; });
    return out;
}

Verdict stream_verdict(const StreamView& view) {
    Verdict v;
    v.streams = 1;
    for (const GapSpan& g : gap_spans(view)) {
        ++v.gaps;
        v.lost_ns += g.t1_ns - g.t0_ns;
    }
    for (const SyncRun& r : sync_runs(view)) {
        if (r.state == SyncState::bridged) {
            v.bridged_ns += r.t1_ns - r.t0_ns;
        } else if (r.state == SyncState::unsynced) {
            v.unsynced_ns += r.t1_ns - r.t0_ns;
        }
    }
    for (const ReportSegment* s : view.segments) {
        if (s->model == nullptr || s->model->empty()) {
            ++v.unmodelled;
        }
    }
    for_each_uncertainty(view, [&](const ReportSegment&, const TimeEstimate& te) {
        if (!v.has_worst || te.uncertainty_ns() > v.worst_ns) {
            v.has_worst = true;
            v.worst_ns = te.uncertainty_ns();
            v.worst_fit_ns = te.fit_uncertainty_ns;
            v.worst_clock_ns = te.clock_uncertainty_ns;
            v.worst_at_ns = te.utc_ns;
        }
    });
    if (view.stream != nullptr) {
        v.worst_stream = view.stream->name;
    }
    return v;
}

void add_verdict(Verdict& total, const Verdict& v) {
    total.streams += v.streams;
    total.gaps += v.gaps;
    total.lost_ns += v.lost_ns;
    total.bridged_ns += v.bridged_ns;
    total.unsynced_ns += v.unsynced_ns;
    total.unmodelled += v.unmodelled;
    if (v.has_worst && (!total.has_worst || v.worst_ns > total.worst_ns)) {
        total.has_worst = true;
        total.worst_ns = v.worst_ns;
        total.worst_fit_ns = v.worst_fit_ns;
        total.worst_clock_ns = v.worst_clock_ns;
        total.worst_at_ns = v.worst_at_ns;
        total.worst_stream = v.worst_stream;
    }
}

std::string verdict_text(const Verdict& v, bool with_stream) {
    std::string out;
    if (v.gaps == 0) {
        out = "no audio lost";
    } else {
        out = fmt::format("{} of audio lost in {} gap{}", human_duration(v.lost_ns), v.gaps,
                          v.gaps == 1 ? "" : "s");
    }
    const int64_t off = v.bridged_ns + v.unsynced_ns;
    if (off == 0) {
        out += "; clock synchronised throughout";
    } else if (v.unsynced_ns == 0) {
        out += fmt::format("; clock not synchronised for {}, all bridged from synchronised time",
                           human_duration(off));
    } else if (v.bridged_ns == 0) {
        out += fmt::format(
            "; clock not synchronised for {}, none of it bridged (UTC there is only the system "
            "clock's)",
            human_duration(off));
    } else {
        out += fmt::format(
            "; clock not synchronised for {}: {} bridged from synchronised time, {} not (UTC "
            "there is only the system clock's)",
            human_duration(off), human_duration(v.bridged_ns), human_duration(v.unsynced_ns));
    }
    if (v.has_worst) {
        out += fmt::format("; worst uncertainty \u00b1 {} (fit {} + clock {}){} at {}",
                           format_uncertainty(v.worst_ns), format_uncertainty(v.worst_fit_ns),
                           format_uncertainty(v.worst_clock_ns),
                           with_stream ? " in " + html_escape(v.worst_stream) : std::string(),
                           utc_iso_us(v.worst_at_ns));
    } else {
        out += "; uncertainty unknown (no model)";
    }
    if (v.unmodelled > 0) {
        out += fmt::format("; {} segment{} without a model", v.unmodelled,
                           v.unmodelled == 1 ? "" : "s");
    }
    return out + ".";
}

const char* verdict_class(const Verdict& v) {
    if (v.unsynced_ns > 0) {
        return "bad";
    }
    if (v.gaps > 0 || v.bridged_ns > 0 || v.unmodelled > 0) {
        return "warn";
    }
    return "ok";
}

}  // namespace framestamp::report
