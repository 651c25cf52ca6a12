#include "clip/plan.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "framestamp/utc.hpp"

namespace framestamp::clip {

namespace {

constexpr int64_t kNsPerS = 1'000'000'000;
// Segments closer than this in UTC are one covered range in messages.
constexpr int64_t kJoinNs = 1'000'000;

struct Span {
    std::size_t segment;
    int64_t a;
    int64_t b;
};

std::vector<Span> spans_of(const Archive& archive, const std::string& stream) {
    std::vector<Span> out;
    const std::vector<SegmentInfo>& segs = archive.segments();
    for (std::size_t i = 0; i < segs.size(); ++i) {
        if (segs[i].stream != stream) {
            continue;
        }
        const SegmentModel& m = archive.model(i);
        if (m.empty()) {
            continue;  // too few points to place it in UTC
        }
        out.push_back({i, m.first_utc_ns(), m.end_utc_ns()});
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const Span& x, const Span& y) { return x.a < y.a; });
    return out;
}

// What separates two segments: the second's reason for starting and the events in between.
std::string gap_reason(const Archive& archive, const std::string& stream, int64_t a, int64_t b,
                       const std::string& starts_with) {
    std::vector<std::string> kinds;
    for (const ArchiveEvent& e : archive.events()) {
        if (e.stream != stream || e.realtime_ns < a - kNsPerS || e.realtime_ns > b + kNsPerS) {
            continue;
        }
        switch (e.kind) {
            case EventKind::overrun:
            case EventKind::device_lost:
            case EventKind::device_back:
            case EventKind::write_error:
            case EventKind::disk_pause:
            case EventKind::write_gap:
            case EventKind::shutdown:
            case EventKind::crash_recovery: {
                std::string k(event_kind_name(e.kind));
                if (e.frames) {
                    k += fmt::format(" ({} frames)", *e.frames);
                }
                if (std::find(kinds.begin(), kinds.end(), k) == kinds.end()) {
                    kinds.push_back(k);
                }
                break;
            }
            default:
                break;
        }
    }
    std::string out;
    for (const std::string& k : kinds) {
        out += (out.empty() ? "" : ", ") + k;
    }
    if (out.empty()) {
        out = starts_with.empty() ? "no recording" : "next segment starts with " + starts_with;
    }
    return out;
}

std::string duration_text(int64_t ns) {
    return fmt::format("{:.6f} s", static_cast<double>(ns) / 1e9);
}

}  // namespace

uint64_t samples_before(int64_t d_ns, uint32_t rate_hz) {
    const auto d = static_cast<uint64_t>(d_ns);
    const uint64_t q = d / kNsPerS;
    const uint64_t r = d % kNsPerS;
    return q * rate_hz + (r * rate_hz + kNsPerS - 1) / kNsPerS;
}

void sample_time(uint64_t n, uint32_t rate_hz, int64_t& ns, double& frac_ns) {
    const uint64_t whole = n / rate_hz;
    const uint64_t part = n % rate_hz;
    const uint64_t scaled = part * kNsPerS;
    ns = static_cast<int64_t>(whole * kNsPerS + scaled / rate_hz);
    frac_ns = static_cast<double>(scaled % rate_hz) / rate_hz;
}

std::string covered_ranges(const Archive& archive, const std::string& stream) {
    const std::vector<Span> spans = spans_of(archive, stream);
    if (spans.empty()) {
        return "nothing";
    }
    std::vector<std::pair<int64_t, int64_t>> merged;
    for (const Span& s : spans) {
        if (!merged.empty() && s.a <= merged.back().second + kJoinNs) {
            merged.back().second = std::max(merged.back().second, s.b);
        } else {
            merged.emplace_back(s.a, s.b);
        }
    }
    std::string out;
    constexpr std::size_t kMaxListed = 8;
    for (std::size_t i = 0; i < merged.size() && i < kMaxListed; ++i) {
        out += fmt::format("{}{} \u2013 {}", i == 0 ? "" : ", ", utc_iso_us(merged[i].first),
                           utc_iso_us(merged[i].second));
    }
    if (merged.size() > kMaxListed) {
        out += fmt::format(" and {} more ranges", merged.size() - kMaxListed);
    }
    return out;
}

std::vector<UtcStep> plan_utc(const Archive& archive, const std::string& stream,
                              const ExtractOptions& o) {
    const std::vector<Span> spans = spans_of(archive, stream);
    const std::vector<SegmentInfo>& segs = archive.segments();
    std::vector<UtcStep> steps;
    int64_t t = o.from_utc_ns;
    std::string previous_end_why = "no recording before it";
    auto no_recording = [&](int64_t at) {
        return ClipError(fmt::format("stream {} has no recording at {}; it covers {}", stream,
                                     utc_iso_us(at), covered_ranges(archive, stream)));
    };
    bool any = false;
    for (const Span& s : spans) {
        const int64_t a = std::max(s.a, t);
        const int64_t b = std::min(s.b, o.to_utc_ns);
        if (b <= a) {
            continue;
        }
        if (a > t) {
            // Nothing recorded in [t, a).
            if (!o.fill_gaps) {
                if (!any) {
                    throw no_recording(t);
                }
                throw ClipError(fmt::format(
                    "stream {}: the range crosses a gap in the recording from {} to {} ({}: {}); "
                    "allow filling gaps to get silence there",
                    stream, utc_iso_us(t), utc_iso_us(a), duration_text(a - t),
                    gap_reason(archive, stream, t, a, segs[s.segment].starts_with)));
            }
            steps.push_back(
                {.gap = true,
                 .a_ns = t,
                 .b_ns = a,
                 .why = any ? gap_reason(archive, stream, t, a, segs[s.segment].starts_with)
                            : "no recording before the first segment"});
        }
        steps.push_back({.segment = s.segment, .a_ns = a, .b_ns = b});
        any = true;
        t = b;
        if (t >= o.to_utc_ns) {
            break;
        }
    }
    if (!any) {
        throw no_recording(o.from_utc_ns);
    }
    if (t < o.to_utc_ns) {
        if (!o.fill_gaps) {
            throw no_recording(t);
        }
        steps.push_back(
            {.gap = true, .a_ns = t, .b_ns = o.to_utc_ns, .why = "no recording after the segment"});
    }
    return steps;
}

}  // namespace framestamp::clip
