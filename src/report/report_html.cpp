// The report page: CSS, per-stream sections with plots, the segment table and the event list.
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>

#include "framestamp/report.hpp"
#include "framestamp/utc.hpp"
#include "report/report_parts.hpp"

namespace framestamp {

std::string html_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                // Control characters other than tab and line break are not allowed in XML.
                if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
                    out += ' ';
                } else {
                    out += c;
                }
        }
    }
    return out;
}

namespace report {

std::string human_duration(int64_t ns) {
    const bool neg = ns < 0;
    const uint64_t a = neg ? 0 - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
    const uint64_t s = a / 1'000'000'000ULL;
    std::string out;
    if (s >= 86400) {
        out = fmt::format("{} d {} h", s / 86400, s % 86400 / 3600);
    } else if (s >= 3600) {
        out = fmt::format("{} h {} min", s / 3600, s % 3600 / 60);
    } else if (s >= 60) {
        out = fmt::format("{} min {} s", s / 60, s % 60);
    } else if (s >= 1) {
        out = fmt::format("{:.3f} s", static_cast<double>(a) / 1e9);
    } else {
        out = fmt::format("{:.3f} ms", static_cast<double>(a) / 1e6);
    }
    return neg ? "-" + out : out;
}

namespace {

constexpr const char* kCss = R"(body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.5em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}
h3{font-size:1em;margin:1em 0 .2em}
div.wide{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;margin:.5em 0;font-size:12px}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:right;white-space:nowrap}
th{background:#f4f4f4;white-space:normal;vertical-align:bottom}
td.l,th.l{text-align:left;white-space:normal}
svg{display:block;margin:.2em 0;max-width:100%;height:auto}
svg text{font:11px sans-serif;fill:#333}svg .tl{text-anchor:middle}svg .vl{text-anchor:end}
svg .unit{text-anchor:end;font-style:italic}svg .yu{text-anchor:middle;font-style:italic}
svg .axis{stroke:#444;stroke-width:1}svg .grid{stroke:#e4e4e4;stroke-width:1}
svg path.s1,svg path.s2{fill:none;stroke-width:1.2;stroke-linejoin:round;stroke-linecap:round}
svg path.s1{stroke:#1f5fbf}svg path.s2{stroke:#d08a1a}
svg .ev{fill:#888}
svg .sy-synced{fill:#7cc47c}svg .sy-bridged{fill:#f0c040}svg .sy-unsynced{fill:#e05050}
svg .sy-unknown{fill:#bbb}
.key span{display:inline-block;width:1em;height:.8em;margin:0 .3em 0 1em;vertical-align:middle}
.note{color:#666}
p.verdict{font-size:1.1em;padding:.4em .6em;border-left:6px solid #888;background:#f6f6f6}
p.verdict.ok{border-color:#2a9d2a}p.verdict.warn{border-color:#e0a000}
p.verdict.bad{border-color:#d00000}
)";

std::string fmt_us(double ns) {
    return fmt::format("{:.1f}", ns / 1000.0);
}

std::string segment_table(const report::StreamView& v) {
    std::string out =
        "<div class=\"wide\"><table class=\"segments\"><tr><th class=\"l\">start (UTC)</th><th "
        "class=\"l\">end "
        "(UTC)</th><th>length</th><th class=\"l\">session</th><th class=\"l\">starts "
        "with</th><th>frames</th><th>points (used)</th><th>mean ppm</th><th>min ppm</th><th>max "
        "ppm</th><th>lateness rms \u00b5s</th><th>lateness max \u00b5s</th><th>fit uncertainty "
        "\u00b5s</th><th>clock steps</th><th>unsynced s (bridged)</th><th>slewing s</th></tr>\n";
    for (const ReportSegment* s : v.segments) {
        out += fmt::format(
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td "
            "class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td>",
            utc_iso_us(s->first_utc_ns), utc_iso_us(s->end_utc_ns),
            report::human_duration(s->end_utc_ns - s->first_utc_ns), html_escape(s->session),
            html_escape(s->starts_with), s->end_frame - s->first_frame);
        if (s->model == nullptr) {
            out += "<td colspan=\"10\" class=\"l note\">no model</td></tr>\n";
            continue;
        }
        const SegmentStats& st = s->model->stats;
        out += fmt::format(
            "<td>{} ({})</td><td>{:.3f}</td><td>{:.3f}</td><td>{:.3f}</td><td>{}</td><td>{}</td>"
            "<td>{}</td><td>{}</td><td>{:.0f} ({:.0f})</td><td>{:.0f}</td></tr>\n",
            st.points, st.points_used, st.mean_ppm, st.min_ppm, st.max_ppm,
            fmt_us(st.lateness_rms_ns), fmt_us(st.lateness_max_ns),
            fmt_us(static_cast<double>(st.uncertainty_ns)), st.clock_steps, st.unsynced_s,
            st.bridged_s, st.slewing_s);
    }
    out += "</table></div>\n";
    return out;
}

std::string event_list(const report::StreamView& v, const ReportOptions& options) {
    std::map<std::string_view, std::size_t> counts;
    for (const ArchiveEvent* e : v.events) {
        ++counts[event_kind_name(e->kind)];
    }
    std::string out = "<p>";
    if (counts.empty()) {
        out += "No events.";
    }
    for (const auto& [kind, n] : counts) {
        out += fmt::format("{}: {} &#160; ", kind, n);
    }
    out += "</p>\n";
    if (v.events.empty()) {
        return out;
    }
    out +=
        "<div class=\"wide\"><table class=\"events\"><tr><th class=\"l\">UTC (system "
        "clock)</th><th "
        "class=\"l\">kind</th><th class=\"l\">session</th><th>session frame</th><th>frames</th>"
        "<th class=\"l\">detail</th><th class=\"l\">where</th></tr>\n";
    std::size_t listed = 0;
    for (const ArchiveEvent* e : v.events) {
        if (listed == options.max_events_listed) {
            break;
        }
        ++listed;
        out += fmt::format(
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td>"
            "<td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}:{}</td></tr>\n",
            utc_iso_us(e->realtime_ns), event_kind_name(e->kind), html_escape(e->session),
            e->session_frame, e->frames ? fmt::format("{}", *e->frames) : std::string(),
            html_escape(e->detail), html_escape(e->file.filename().string()), e->line);
    }
    out += "</table></div>\n";
    if (listed < v.events.size()) {
        out += fmt::format("<p class=\"note\">{} more events not listed.</p>\n",
                           v.events.size() - listed);
    }
    return out;
}

bool wanted(const ReportOptions& o, const std::string& name) {
    return o.streams.empty() ||
           std::find(o.streams.begin(), o.streams.end(), name) != o.streams.end();
}

report::StreamView make_view(const ReportStream& s, const ReportOptions& o) {
    report::StreamView v;
    v.stream = &s;
    v.from_utc_ns = o.from_utc_ns;
    v.to_utc_ns = o.to_utc_ns;
    const int64_t lo = o.from_utc_ns.value_or(std::numeric_limits<int64_t>::min());
    const int64_t hi = o.to_utc_ns.value_or(std::numeric_limits<int64_t>::max());
    int64_t t0 = std::numeric_limits<int64_t>::max();
    int64_t t1 = std::numeric_limits<int64_t>::min();
    for (const ReportSegment& seg : s.segments) {
        if (seg.end_utc_ns > lo && seg.first_utc_ns < hi) {
            v.segments.push_back(&seg);
            t0 = std::min(t0, std::max(seg.first_utc_ns, lo));
            t1 = std::max(t1, std::min(seg.end_utc_ns, hi));
        }
    }
    for (const ArchiveEvent& e : s.events) {
        if (e.realtime_ns >= lo && e.realtime_ns < hi) {
            v.events.push_back(&e);
            t0 = std::min(t0, e.realtime_ns);
            t1 = std::max(t1, e.realtime_ns + 1);
        }
    }
    if (t0 > t1) {
        t0 = t1 = 0;
    }
    v.t0_ns = t0;
    v.t1_ns = std::max(t1, t0 + 1'000'000'000);
    return v;
}

constexpr const char* kSyncKey =
    "<p class=\"key\">Clock: <span style=\"background:#7cc47c\"></span>synced"
    "<span style=\"background:#f0c040\"></span>bridged (offset carried from synchronised time)"
    "<span style=\"background:#e05050\"></span>unsynced<span "
    "style=\"background:#bbb\"></span>unknown</p>\n";

}  // namespace

}  // namespace report

namespace {

// One stream's section; adds its verdict to `total` (a stream with nothing in range adds none).
std::string stream_section(const ReportStream& s, const ReportOptions& options,
                           report::Verdict& total) {
    const report::StreamView v = report::make_view(s, options);
    std::string out;
    out += "<section class=\"stream\">\n<h2>Stream " + html_escape(s.name) + "</h2>\n";
    if (v.segments.empty() && v.events.empty()) {
        out += "<p class=\"note\">Nothing recorded in this range.</p>\n</section>\n";
        return out;
    }
    const report::Verdict verdict = report::stream_verdict(v);
    report::add_verdict(total, verdict);
    out += fmt::format("<p class=\"verdict {}\">{}: {}</p>\n", report::verdict_class(verdict),
                       html_escape(s.name), report::verdict_text(verdict, false));
    uint64_t frames = 0;
    for (const ReportSegment* seg : v.segments) {
        frames += seg->end_frame - seg->first_frame;
    }
    out += fmt::format("<p>{} \u2013 {} ({}), {} segment{}, {} frames, {} events.</p>\n",
                       utc_iso_us(v.t0_ns), utc_iso_us(v.t1_ns),
                       report::human_duration(v.t1_ns - v.t0_ns), v.segments.size(),
                       v.segments.size() == 1 ? "" : "s", frames, v.events.size());
    out +=
        "<h3>Drift</h3>\n<p class=\"note\">The card's sample rate against UTC; + means "
        "it runs fast.</p>\n" +
        report::drift_plot(v, options);
    out +=
        "<h3>Uncertainty</h3>\n<p class=\"key\"><span style=\"background:#d08a1a\"></span>"
        "fit + clock: the UTC of a sample against true UTC<span "
        "style=\"background:#1f5fbf\"></span>fit: the card against the system clock "
        "(log scale)</p>\n" +
        report::uncertainty_plot(v, options);
    out += "<h3>Events</h3>\n" + report::event_key() + report::event_plot(v);
    out += "<h3>Clock synchronisation</h3>\n";
    out += report::kSyncKey;
    out += report::sync_plot(v, options);
    out +=
        "<h3>Timing-point lateness</h3>\n<p class=\"note\">How late the timing points came "
        "above the fitted lower envelope, per knot interval: scheduling delay and position "
        "granularity, which the envelope rejects. This is not the map's error; that is the "
        "uncertainty above.</p>\n<p class=\"key\"><span style=\"background:#1f5fbf\">"
        "</span>rms<span style=\"background:#d08a1a\"></span>max</p>\n" +
        report::residual_plot(v, options);
    out += "<h3>Segments</h3>\n" + report::segment_table(v);
    out += "<h3>Event list</h3>\n" + report::event_list(v, options);
    out += "</section>\n";
    return out;
}

}  // namespace

std::string render_report_html(const ReportData& data, const ReportOptions& options) {
    std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\n";
    out += "<title>" + html_escape(options.title) + "</title>\n<style>\n";
    out += report::kCss;
    out += report::event_css();
    out += "</style></head><body>\n<h1>" + html_escape(options.title) + "</h1>\n";
    if (!data.source.empty()) {
        out += "<p>Archive: <code>" + html_escape(data.source) + "</code></p>\n";
    }
    if (options.from_utc_ns || options.to_utc_ns) {
        out += fmt::format("<p>Range: {} \u2013 {}</p>\n",
                           options.from_utc_ns ? utc_iso_us(*options.from_utc_ns) : "start",
                           options.to_utc_ns ? utc_iso_us(*options.to_utc_ns) : "end");
    }
    // The verdict goes first but needs every stream: render the sections, then put it before.
    std::string sections;
    report::Verdict total;
    std::size_t shown = 0;
    for (const ReportStream& s : data.streams) {
        if (report::wanted(options, s.name)) {
            ++shown;
            sections += stream_section(s, options, total);
        }
    }
    if (total.streams > 0) {
        out += fmt::format(
            "<p class=\"verdict {}\" id=\"verdict\"><b>Verdict</b>{}: {}</p>\n",
            report::verdict_class(total),
            total.streams > 1 ? fmt::format(" ({} streams)", total.streams) : std::string(),
            report::verdict_text(total, total.streams > 1));
    }
    out +=
        "<p class=\"note\">Uncertainty is how far the UTC given for a sample may be from the "
        "truth. Times of events are the system clock's when the daemon saw them.</p>\n";
    out += sections;
    if (shown == 0) {
        out += "<p class=\"note\">No streams to show.</p>\n";
    }
    out += "<footer class=\"note\"><p>Written by framestamp report.</p></footer>\n</body></html>\n";
    return out;
}

}  // namespace framestamp
