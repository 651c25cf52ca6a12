// Pieces of the report page: the plots of one stream (report_plots.cpp) and the tables
// (report_html.cpp).
#pragma once

#include <cstdint>
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
};

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

// A short duration for people: "3 d 4 h", "12 min 5 s", "850 ms".
std::string human_duration(int64_t ns);

}  // namespace framestamp::report
