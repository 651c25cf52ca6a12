// `framestamp report`: one self-contained HTML file (inline CSS and hand-written SVG, nothing
// fetched from the network) showing, per stream, the card's drift, the fit residuals, the
// discontinuities and the clock's sync state over UTC, a table of segments and a list of events.
// docs/cli.md ("report") describes the page.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "framestamp/archive.hpp"
#include "framestamp/timemap.hpp"

namespace framestamp {

struct ReportOptions {
    std::string title = "framestamp report";
    std::vector<std::string> streams;  // empty: every stream
    // Only what overlaps [from, to) is drawn and listed; nullopt: no limit on that side.
    std::optional<int64_t> from_utc_ns;
    std::optional<int64_t> to_utc_ns;
    // Most points drawn per series: longer series are cut into max_points / 2 bins of UTC and
    // each bin keeps its minimum and maximum, so peaks survive and 120 days stay small.
    std::size_t max_points_per_plot = 2000;
    // Most events listed per stream in the table (all are counted by kind; markers are merged
    // per pixel column).
    std::size_t max_events_listed = 500;
};

// One continuous segment of a stream, as the report sees it.
struct ReportSegment {
    std::string session;
    std::string starts_with;  // SegmentInfo::starts_with
    uint32_t rate_hz = 0;
    uint64_t first_frame = 0;
    uint64_t end_frame = 0;
    int64_t first_utc_ns = 0;  // UTC of first_frame
    int64_t end_utc_ns = 0;    // UTC of end_frame
    // Not owned: must outlive render_report_html(). nullptr: no model (drawn as a span only).
    const SegmentModel* model = nullptr;
};

struct ReportStream {
    std::string name;
    std::vector<ReportSegment> segments;  // in UTC order
    std::vector<ArchiveEvent> events;     // in time order
};

struct ReportData {
    std::string source;  // what the report is about, e.g. the archive's root
    std::vector<ReportStream> streams;
};

// The page for plain data (testable without an archive). Filters by options.streams and the
// UTC range. Never throws on odd data: empty streams and segments are shown as such.
std::string render_report_html(const ReportData& data, const ReportOptions& options);

// Gathers the archive's streams, segments (fitting every model: may take a while on a large,
// uncached archive) and events, then renders them. Throws ArchiveError from the archive, and
// std::invalid_argument naming a requested stream the archive does not have.
std::string render_report(const Archive& archive, const ReportOptions& options);

// Text made safe for HTML element content and attribute values (& < > " ').
std::string html_escape(std::string_view text);

}  // namespace framestamp
