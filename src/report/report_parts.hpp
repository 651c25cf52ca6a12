// Pieces of the report page: the plots of one stream (report_plots.cpp) and the tables
// (report_html.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "framestamp/report.hpp"
#include "report/svg_plot.hpp"

namespace framestamp::report {

// One stream, already cut to the report's UTC range.
struct StreamView {
    const ReportStream* stream = nullptr;
    std::vector<const ReportSegment*> segments;  // overlapping the range
    std::vector<const ArchiveEvent*> events;     // inside the range
    int64_t t0_ns = 0;                           // the plots' time axis
    int64_t t1_ns = 0;
    std::optional<int64_t> from_utc_ns;  // the report's range (for cutting traces)
    std::optional<int64_t> to_utc_ns;
    bool in_range(int64_t t) const {
        return (!from_utc_ns || t >= *from_utc_ns) && (!to_utc_ns || t < *to_utc_ns);
    }
};

// Calls f(segment, estimate) with the map's estimate at every raw knot of every modelled segment,
// in range: fit_uncertainty_ns is the card against the system clock, clock_uncertainty_ns the
// system clock against UTC (growing across bridged stretches). Knots are 10 s apart, so even 120
// days are a few hundred ms of work.
template <typename F>
void for_each_uncertainty(const StreamView& v, F&& f) {
    for (const ReportSegment* s : v.segments) {
        if (s->model == nullptr || s->model->empty()) {
            continue;
        }
        for (const RawKnot& k : s->model->raw_knots) {
            if (k.frame < s->model->first_frame || k.frame > s->model->end_frame) {
                continue;
            }
            const TimeEstimate te = s->model->frame_to_utc(k.frame);
            if (v.in_range(te.utc_ns)) {
                f(*s, te);
            }
        }
    }
}

// A stretch without audio: between two segments (overrun, device lost, restart, crash), or frames
// missing inside one (write gap, ring overflow), clipped to the view's range.
struct GapSpan {
    int64_t t0_ns = 0;
    int64_t t1_ns = 0;
    std::string what;
};
std::vector<GapSpan> gap_spans(const StreamView& view);

// What a reader wants to know first: how much audio is missing, how long the clock was not
// synchronised, and the worst uncertainty of the map.
struct Verdict {
    std::size_t streams = 0;
    std::size_t gaps = 0;
    int64_t lost_ns = 0;
    int64_t bridged_ns = 0;      // not synchronised, UTC bridged from synchronised time
    int64_t unsynced_ns = 0;     // not synchronised and not bridged: only the system clock's time
    std::size_t unmodelled = 0;  // segments without a model (no uncertainty known)
    bool has_worst = false;
    int64_t worst_ns = 0;  // fit + clock
    int64_t worst_fit_ns = 0;
    int64_t worst_clock_ns = 0;
    int64_t worst_at_ns = 0;
    std::string worst_stream;
};
Verdict stream_verdict(const StreamView& view);
void add_verdict(Verdict& total, const Verdict& v);
// One sentence, HTML-escaped; `with_stream` names the stream of the worst uncertainty.
std::string verdict_text(const Verdict& v, bool with_stream);
// "ok" (nothing lost, synchronised throughout), "warn" (gaps or bridged time) or "bad" (time not
// synchronised and not bridged).
const char* verdict_class(const Verdict& v);

enum class SyncState : uint8_t { unknown, synced, bridged, unsynced };
const char* sync_state_name(SyncState s);

// A stretch of constant sync state, [t0, t1).
struct SyncRun {
    int64_t t0_ns = 0;
    int64_t t1_ns = 0;
    SyncState state = SyncState::unknown;
};
// The stream's sync state over its segments: from the models' offset knots where they have them,
// else from the unsynced / resynced events. Adjacent equal runs are merged.
std::vector<SyncRun> sync_runs(const StreamView& view);

std::string drift_plot(const StreamView& view, const ReportOptions& options);
std::string residual_plot(const StreamView& view, const ReportOptions& options);
// One marker per event; events of one kind falling in the same pixel column share a marker whose
// title counts them. Markers carry class "ev ev-<kind>".
std::string event_plot(const StreamView& view);
std::string sync_plot(const StreamView& view, const ReportOptions& options);
// The map's uncertainty over UTC on a log axis: fit alone and fit plus clock.
std::string uncertainty_plot(const StreamView& view, const ReportOptions& options);
// The colours of the event lanes, as a key (HTML), and the CSS rules that draw them.
std::string event_key();
std::string event_css();

// A short duration for people: "3 d 4 h", "12 min 5 s", "850 ms".
std::string human_duration(int64_t ns);

}  // namespace framestamp::report
