// Drift models of segments (fitted by streaming their logs, or loaded from the cache), and
// locating a UTC instant in the archive.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "archive/archive_impl.hpp"

namespace framestamp {

namespace {

// How far a coarse (chunk_open realtime) UTC range may be off the fitted one: the live drift
// estimate's error over a chunk, plus clock steps the daemon saw. Candidates are confirmed by
// the model, so this only has to be generous.
constexpr int64_t kCoarseMarginNs = 5'000'000'000;

}  // namespace

void Archive::read_segment(std::size_t segment_index,
                           const std::function<void(const TimePoint&)>& point,
                           const std::function<void(const SyncPoint&)>& sync,
                           const std::function<void(const PpsAnchor&)>& pps) const {
    const archive::SegmentRange& range = impl_->ranges.at(segment_index);
    std::optional<SyncPoint> carried;  // the clock's state when the segment starts
    bool started = range.after_line == 0;
    bool have_point = false;
    uint64_t last_frame = 0;
    TimingLogRow row;
    for (std::size_t k = range.first_chunk; k <= range.last_chunk; ++k) {
        TimingLogReader reader(impl_->timing_path(k));
        while (reader.next(row)) {
            const bool is_point = row.kind == "point";
            const bool is_sync = row.kind == "sync";
            const bool is_pps = row.kind == "pps";
            if (!is_point && !is_sync && !is_pps) {
                continue;
            }
            if (k == range.last_chunk && row.line >= range.before_line) {
                break;
            }
            if (is_pps) {
                // A PPS edge (docs/timing-log.md): session_frame + detail frac, realtime_ns the
                // whole second it marks. One without a readable fraction is not an anchor.
                if ((started || k != range.first_chunk || row.line > range.after_line) && pps) {
                    const auto frac = detail_value(row.detail, "frac");
                    double f = -1;
                    if (frac) {
                        f = std::strtod(std::string(*frac).c_str(), nullptr);
                    }
                    if (f >= 0 && f < 1 && row.realtime_ns % 1'000'000'000 == 0) {
                        pps(PpsAnchor{.frame = row.session_frame,
                                      .frac = f,
                                      .utc_s = row.realtime_ns / 1'000'000'000});
                    }
                }
                continue;
            }
            SyncPoint s;
            if (is_sync) {
                s = SyncPoint{.raw_ns = row.monotonic_raw_ns,
                              .synced = detail_value(row.detail, "synced") == std::string_view("1"),
                              .esterror_ns = row.sync_esterror_ns.value_or(0),
                              .maxerror_ns = row.sync_maxerror_ns.value_or(0)};
            }
            if (!started) {
                if (k == range.first_chunk && row.line <= range.after_line) {
                    if (is_sync) {
                        carried = s;
                    }
                    continue;
                }
                started = true;
                if (carried && sync) {
                    sync(*carried);
                }
            }
            if (is_sync) {
                if (sync) {
                    sync(s);
                }
                continue;
            }
            // A point the capture flagged (unreliable=window: its stamp could not be placed).
            if (detail_value(row.detail, "unreliable")) {
                continue;
            }
            // The fit takes points in frame order; a point that goes back is not trusted.
            if (have_point && row.session_frame < last_frame) {
                continue;
            }
            have_point = true;
            last_frame = row.session_frame;
            if (point) {
                point(TimePoint{.frame = row.session_frame,
                                .realtime_ns = row.realtime_ns,
                                .raw_ns = row.monotonic_raw_ns,
                                .window_ns = row.window_ns.value_or(0)});
            }
        }
    }
}

const SegmentModel& Archive::model(std::size_t segment_index) const {
    const std::lock_guard<std::mutex> lock(impl_->mutex);
    archive::ModelSlot& slot = impl_->models.at(segment_index);
    if (slot.model) {
        return *slot.model;
    }
    if (!slot.cached.empty()) {
        auto m = std::make_unique<SegmentModel>();
        std::string_view bytes;
        if (archive::model_from_blob(slot.cached, bytes) && deserialize_model(bytes, *m)) {
            slot.model = std::move(m);
            return *slot.model;
        }
        slot.cached = {};
    }
    const SegmentInfo& seg = impl_->segments[segment_index];
    SegmentFitter fitter(seg.rate_hz, seg.first_frame, seg.end_frame, impl_->options.fit);
    read_segment(
        segment_index, [&](const TimePoint& p) { fitter.add_point(p); },
        [&](const SyncPoint& s) { fitter.add_sync(s); },
        [&](const PpsAnchor& a) { fitter.add_pps(a); });
    slot.model = std::make_unique<SegmentModel>(fitter.finish());
    slot.fresh = true;
    impl_->dirty = true;
    return *slot.model;
}

bool Archive::has_model(std::size_t segment_index) const {
    const std::lock_guard<std::mutex> lock(impl_->mutex);
    const archive::ModelSlot& slot = impl_->models.at(segment_index);
    return slot.model != nullptr || !slot.cached.empty();
}

void Archive::fit_all(const std::function<void(std::size_t, std::size_t)>& progress) const {
    const std::size_t n = impl_->segments.size();
    for (std::size_t i = 0; i < n; ++i) {
        model(i);
        if (progress) {
            progress(i + 1, n);
        }
    }
}

void Archive::save_cache() const {
    if (!impl_ || !impl_->options.use_cache || impl_->cache_path.empty()) {
        return;
    }
    const std::lock_guard<std::mutex> lock(impl_->mutex);
    Impl& m = *impl_;
    bool index_changed = false;
    if (!m.from_view && !m.index_saved) {
        archive::IndexParts parts{.found = &m.found,
                                  .records = &m.records,
                                  .chunks = &m.chunks,
                                  .audio_rels = &m.audio_rels,
                                  .segments = &m.segments,
                                  .ranges = &m.ranges,
                                  .events = &m.events,
                                  .event_chunks = &m.event_chunks,
                                  .streams = &m.stream_names,
                                  .settle_ns = m.options.dir_settle_ns};
        m.encoded_index = archive::encode_index(m.root, parts);
        index_changed = m.encoded_index != m.view.index;
    }
    if (!m.dirty && !index_changed) {
        m.index_saved = true;
        return;
    }
    std::vector<std::string> fresh;
    fresh.reserve(m.models.size());
    std::vector<std::pair<uint64_t, std::string_view>> models;
    for (std::size_t i = 0; i < m.models.size(); ++i) {
        const archive::ModelSlot& slot = m.models[i];
        if (slot.fresh && slot.model) {
            fresh.push_back(archive::model_blob(serialize_model(*slot.model)));
            models.emplace_back(m.ranges[i].key, fresh.back());
        } else if (!slot.cached.empty()) {
            models.emplace_back(m.ranges[i].key, slot.cached);
        }
    }
    const std::string_view index = m.from_view ? m.view.index : m.encoded_index;
    if (archive::write_cache(m.cache_path, index, models)) {
        m.dirty = false;
        m.index_saved = true;
        for (archive::ModelSlot& slot : m.models) {
            slot.fresh = false;
        }
    }
}

std::vector<std::size_t> Archive::segments_near(int64_t utc_ns, std::string_view stream) const {
    std::vector<std::size_t> out;
    for (const archive::StreamTimeIndex& idx : impl_->time_index) {
        if (!stream.empty() && idx.stream != stream) {
            continue;
        }
        // by_first is sorted by coarse first UTC; max_end[k] is the latest coarse end among
        // by_first[0..k], so the walk back stops where no earlier segment can reach utc_ns.
        const auto& r = impl_->ranges;
        const auto upper = std::upper_bound(
            idx.by_first.begin(), idx.by_first.end(), utc_ns, [&](int64_t t, std::size_t seg) {
                return t < r[seg].coarse_first_utc_ns - kCoarseMarginNs;
            });
        for (auto k = static_cast<std::size_t>(upper - idx.by_first.begin()); k > 0; --k) {
            if (idx.max_end[k - 1] + kCoarseMarginNs <= utc_ns) {
                break;
            }
            const std::size_t seg = idx.by_first[k - 1];
            if (r[seg].coarse_end_utc_ns + kCoarseMarginNs > utc_ns) {
                out.push_back(seg);
            }
        }
    }
    return out;
}

std::pair<int64_t, int64_t> Archive::coarse_utc_range(std::size_t segment_index) const {
    const archive::SegmentRange& r = impl_->ranges.at(segment_index);
    return {r.coarse_first_utc_ns, r.coarse_end_utc_ns};
}

std::vector<Location> locate(const Archive& archive, int64_t utc_ns, std::string_view stream) {
    std::vector<Location> out;
    const std::vector<SegmentInfo>& segs = archive.segments();
    std::string done_stream;
    for (const std::size_t i : archive.segments_near(utc_ns, stream)) {
        const SegmentInfo& seg = segs[i];
        if (seg.stream == done_stream) {
            continue;  // a later segment of this stream answered already
        }
        const SegmentModel& m = archive.model(i);
        const std::optional<double> f = m.utc_to_frame(utc_ns);
        if (!f || *f < static_cast<double>(seg.first_frame)) {
            continue;
        }
        uint64_t n = static_cast<uint64_t>(std::floor(*f + 0.5));
        n = std::clamp(n, seg.first_frame, seg.end_frame - 1);
        // The chunk holding frame n: the last one starting at or before it. Chunks are read one
        // by one (archive.chunk), so a search touches only a few of the archive's thousands.
        const auto it = std::upper_bound(
            seg.chunks.begin(), seg.chunks.end(), n,
            [&](uint64_t frame, std::size_t c) { return frame < archive.chunk(c).first_frame; });
        if (it == seg.chunks.begin()) {
            continue;
        }
        const ChunkInfo& c = archive.chunk(*(it - 1));
        if (n >= c.first_frame + c.frames) {
            continue;  // frames not written (a write gap)
        }
        Location loc;
        loc.chunk = *(it - 1);
        loc.segment = i;
        loc.session_frame = n;
        loc.sample = n - c.first_frame;
        loc.frac = *f - static_cast<double>(n);
        loc.at = m.frame_to_utc(n);
        out.push_back(loc);
        done_stream = seg.stream;
    }
    return out;
}

}  // namespace framestamp
