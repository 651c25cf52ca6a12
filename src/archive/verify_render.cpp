// Text and JSON renderings of a verify report.
#include <fmt/format.h>

#include <iterator>

#include "framestamp/archive_verify.hpp"
#include "framestamp/json.hpp"
#include "framestamp/utc.hpp"

namespace framestamp {

namespace {

template <typename... A>
void put(std::string& out, fmt::format_string<A...> f, A&&... args) {
    fmt::format_to(std::back_inserter(out), f, std::forward<A>(args)...);
}

std::string severity_label(Severity s) {
    switch (s) {
        case Severity::error:
            return "ERROR";
        case Severity::warning:
            return "WARNING";
        case Severity::info:
            return "note";
    }
    return "?";
}

}  // namespace

std::string verify_report_text(const VerifyReport& r, bool include_info) {
    std::string out;
    put(out, "archive {}\n", r.root.string());
    put(out,
        "  {} streams, {} sessions, {} chunks, {} segments; {} frames ({:.1f} s) recorded; {} "
        "audio files checked\n",
        r.streams, r.sessions, r.chunks, r.segments, r.frames, r.recorded_s, r.audio_checked);
    put(out, "  {}: {} errors, {} warnings, {} notes\n", r.ok() ? "OK" : "FAILED",
        r.count(Severity::error), r.count(Severity::warning), r.count(Severity::info));
    for (const VerifyItem& i : r.items) {
        if (i.severity == Severity::info && !include_info) {
            continue;
        }
        put(out, "{:<7} {:<12} {:<27} {}: {}\n", severity_label(i.severity),
            i.stream.empty() ? "-" : i.stream, i.utc_ns ? utc_iso_us(*i.utc_ns) : "-", i.code,
            i.message);
        if (!i.file.empty()) {
            if (i.line > 0) {
                put(out, "        {}:{}\n", i.file.string(), i.line);
            } else {
                put(out, "        {}\n", i.file.string());
            }
        }
    }
    return out;
}

std::string verify_report_json(const VerifyReport& r) {
    std::string out;
    put(out, "{{\"root\":{},\"ok\":{},", json_string(r.root.string()), r.ok() ? "true" : "false");
    put(out,
        "\"summary\":{{\"streams\":{},\"sessions\":{},\"chunks\":{},\"segments\":{},\"frames\":{},"
        "\"recorded_s\":{:.6f},\"audio_checked\":{},\"errors\":{},\"warnings\":{},\"notes\":{}}},",
        r.streams, r.sessions, r.chunks, r.segments, r.frames, r.recorded_s, r.audio_checked,
        r.count(Severity::error), r.count(Severity::warning), r.count(Severity::info));
    out += "\"items\":[";
    for (std::size_t k = 0; k < r.items.size(); ++k) {
        const VerifyItem& i = r.items[k];
        put(out, "{}{{\"severity\":{},\"code\":{},\"stream\":{},\"message\":{}", k == 0 ? "" : ",",
            json_string(severity_name(i.severity)), json_string(i.code), json_string(i.stream),
            json_string(i.message));
        if (!i.file.empty()) {
            put(out, ",\"file\":{}", json_string(i.file.string()));
        }
        if (i.line > 0) {
            put(out, ",\"line\":{}", i.line);
        }
        if (i.utc_ns) {
            // ns since 1970 exceed a double's integers: the ISO text is exact, the integer
            // is for readers with 64-bit integers.
            put(out, ",\"utc\":{},\"utc_ns\":{},\"utc_from_model\":{}",
                json_string(utc_iso_ns(*i.utc_ns)), *i.utc_ns, i.utc_from_model ? "true" : "false");
        }
        if (i.end_utc_ns) {
            put(out, ",\"end_utc\":{},\"end_utc_ns\":{}", json_string(utc_iso_ns(*i.end_utc_ns)),
                *i.end_utc_ns);
        }
        if (i.frames) {
            put(out, ",\"frames\":{}", *i.frames);
        }
        if (i.seconds) {
            put(out, ",\"seconds\":{:.9f}", *i.seconds);
        }
        out += "}";
    }
    out += "]}\n";
    return out;
}

}  // namespace framestamp
