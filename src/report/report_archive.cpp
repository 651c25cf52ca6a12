// render_report() over an archive: gathers streams, segments with their models, and events.
#include <algorithm>
#include <stdexcept>

#include "framestamp/report.hpp"

namespace framestamp {

std::string render_report(const Archive& archive, const ReportOptions& options) {
    const std::vector<std::string> names = archive.streams();
    for (const std::string& want : options.streams) {
        if (std::find(names.begin(), names.end(), want) == names.end()) {
            std::string have;
            for (const std::string& n : names) {
                have += (have.empty() ? "" : ", ") + n;
            }
            throw std::invalid_argument("no stream \"" + want + "\" in " + archive.root().string() +
                                        " (it has: " + have + ")");
        }
    }
    ReportData data;
    data.source = archive.root().string();
    for (const std::string& name : names) {
        if (!options.streams.empty() && std::find(options.streams.begin(), options.streams.end(),
                                                  name) == options.streams.end()) {
            continue;
        }
        ReportStream s;
        s.name = name;
        const std::vector<SegmentInfo>& segments = archive.segments();
        for (std::size_t i = 0; i < segments.size(); ++i) {
            const SegmentInfo& info = segments[i];
            if (info.stream != name) {
                continue;
            }
            // The reference stays valid: the archive keeps its models for its lifetime.
            const SegmentModel& m = archive.model(i);
            ReportSegment seg{.session = info.session,
                              .starts_with = info.starts_with,
                              .rate_hz = info.rate_hz,
                              .first_frame = info.first_frame,
                              .end_frame = info.end_frame,
                              .model = &m};
            if (!m.empty()) {
                seg.first_utc_ns = m.first_utc_ns();
                seg.end_utc_ns = m.end_utc_ns();
            } else {
                // No usable fit: place it by the chunks' own coarse times.
                const std::vector<ChunkInfo>& chunks = archive.chunks();
                if (!info.chunks.empty()) {
                    seg.first_utc_ns = chunks[info.chunks.front()].first_realtime_ns;
                    seg.end_utc_ns = chunks[info.chunks.back()].last_realtime_ns;
                }
            }
            s.segments.push_back(std::move(seg));
        }
        std::sort(s.segments.begin(), s.segments.end(),
                  [](const ReportSegment& a, const ReportSegment& b) {
                      return a.first_utc_ns < b.first_utc_ns;
                  });
        for (const ArchiveEvent& e : archive.events()) {
            if (e.stream == name) {
                s.events.push_back(e);
            }
        }
        std::stable_sort(s.events.begin(), s.events.end(),
                         [](const ArchiveEvent& a, const ArchiveEvent& b) {
                             return a.realtime_ns < b.realtime_ns;
                         });
        data.streams.push_back(std::move(s));
    }
    return render_report_html(data, options);
}

}  // namespace framestamp
