// The archive index: discovery, per-log records (read or from the cache), chunk order, events
// and continuous segments.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <tuple>
#include <unordered_set>

#include "archive/archive_impl.hpp"

namespace framestamp {

namespace {

namespace fsys = std::filesystem;
using archive::LogEvent;
using archive::LogRecord;

// The part of a file name before its audio or log extensions: "a_20261124T061000Z".
std::string stem_of(std::string name) {
    for (std::string_view ext : {".corrupt", ".partial", ".timing.csv", ".flac", ".wav"}) {
        if (name.size() > ext.size() && name.ends_with(ext)) {
            name.resize(name.size() - ext.size());
        }
    }
    return name;
}

std::string stem_key(const std::string& rel) {
    const fsys::path p(rel);
    return (p.parent_path() / stem_of(p.filename().string())).string();
}

// UTC of `frame` from the chunk's chunk_open realtime at the nominal rate (coarse).
int64_t coarse_utc(const ChunkInfo& c, uint64_t frame) {
    const double d = static_cast<double>(static_cast<int64_t>(frame - c.first_frame));
    return c.first_realtime_ns + static_cast<int64_t>(d * 1e9 / c.rate_hz);
}

uint64_t hash_u64(uint64_t h, uint64_t v) {
    return archive::fnv1a(std::string_view(reinterpret_cast<const char*>(&v), sizeof v), h);
}

uint64_t hash_options(uint64_t h, const FitOptions& o) {
    for (double d : {o.knot_spacing_s, o.envelope_half_window_s, o.long_window_half_s,
                     o.curvature_half_window_s, o.bridge_drift_ppm, o.slew_threshold_ppm}) {
        uint64_t bits = 0;
        std::memcpy(&bits, &d, sizeof bits);
        h = hash_u64(h, bits);
    }
    h = hash_u64(h, static_cast<uint64_t>(o.clock_step_threshold_ns));
    return hash_u64(h, static_cast<uint64_t>(o.max_window_ns));
}

}  // namespace

std::string_view event_kind_name(EventKind k) {
    switch (k) {
        case EventKind::session_start:
            return "session_start";
        case EventKind::overrun:
            return "overrun";
        case EventKind::ring_overflow:
            return "ring_overflow";
        case EventKind::device_lost:
            return "device_lost";
        case EventKind::device_back:
            return "device_back";
        case EventKind::clock_step:
            return "clock_step";
        case EventKind::write_error:
            return "write_error";
        case EventKind::disk_pause:
            return "disk_pause";
        case EventKind::write_gap:
            return "write_gap";
        case EventKind::shutdown:
            return "shutdown";
        case EventKind::crash_recovery:
            return "crash_recovery";
        case EventKind::unsynced:
            return "unsynced";
        case EventKind::resynced:
            return "resynced";
    }
    return "?";
}

void Archive::Impl::assemble() {
    // Sessions in the order they started, then chunks in frame order.
    std::map<std::pair<std::string_view, std::string_view>, int64_t> session_start;
    for (const LogRecord& r : records) {
        if (!r.skip_reason.empty()) {
            continue;
        }
        const auto [it, added] = session_start.try_emplace(
            std::make_pair(std::string_view(r.info.stream), std::string_view(r.info.session)),
            r.info.first_realtime_ns);
        if (!added) {
            it->second = std::min(it->second, r.info.first_realtime_ns);
        }
    }
    std::vector<int64_t> start_of(records.size(), 0);
    for (std::size_t i = 0; i < records.size(); ++i) {
        const LogRecord& r = records[i];
        if (r.skip_reason.empty()) {
            start_of[i] = session_start.at({r.info.stream, r.info.session});
        }
    }
    std::vector<std::size_t> order(records.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
        order[i] = i;
    }
    std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
        const LogRecord& a = records[x];
        const LogRecord& b = records[y];
        if (a.skip_reason.empty() != b.skip_reason.empty()) {
            return a.skip_reason.empty();
        }
        if (!a.skip_reason.empty()) {
            return a.rel_path < b.rel_path;
        }
        return std::tie(a.info.stream, start_of[x], a.info.session, a.info.first_frame,
                        a.rel_path) <
               std::tie(b.info.stream, start_of[y], b.info.session, b.info.first_frame, b.rel_path);
    });
    std::vector<LogRecord> sorted;
    sorted.reserve(records.size());
    for (const std::size_t i : order) {
        sorted.push_back(std::move(records[i]));
    }
    records = std::move(sorted);

    auto audio_on_disk = [this](const std::string& rel) {
        return std::binary_search(found.audio.begin(), found.audio.end(), rel);
    };
    chunks.clear();
    stream_names.clear();
    audio_rels.clear();
    skipped.clear();
    events.clear();
    event_chunks.clear();
    chunk_by_path.clear();
    overrun_events.clear();
    std::string sync_stream;
    int sync_state = -1;  // -1 unknown, 0 unsynced, 1 synced (per stream, across its logs)
    for (const LogRecord& r : records) {
        const fsys::path log_path = root / r.rel_path;
        if (!r.skip_reason.empty()) {
            skipped.push_back(SkippedLog{log_path, r.skip_reason});
            continue;
        }
        ChunkInfo c = r.info;
        c.timing_path = log_path;
        const fsys::path rel_dir = fsys::path(r.rel_path).parent_path();
        const std::string final_rel = (rel_dir / r.audio_name).string();
        const std::string partial_rel = final_rel + ".partial";
        const bool audio_partial = !audio_on_disk(final_rel) && audio_on_disk(partial_rel);
        c.audio_path = root / (audio_partial ? partial_rel : final_rel);
        c.partial = c.partial || audio_partial;
        audio_rels.push_back(audio_partial ? partial_rel : final_rel);
        overrun_events.emplace_back();

        if (c.stream != sync_stream) {
            sync_stream = c.stream;
            sync_state = -1;
        }
        // Events and sync transitions in line order.
        std::size_t e = 0;
        std::size_t s = 0;
        while (e < r.events.size() || s < r.sync_marks.size()) {
            const bool take_sync =
                e == r.events.size() ||
                (s < r.sync_marks.size() && r.sync_marks[s].line < r.events[e].line);
            const LogEvent& le = take_sync ? r.sync_marks[s++] : r.events[e++];
            if (take_sync) {
                const int state = le.kind == EventKind::resynced ? 1 : 0;
                const bool report = state != sync_state && (state == 0 || sync_state == 0);
                sync_state = state;
                if (!report) {
                    continue;
                }
            }
            if (le.kind == EventKind::overrun) {
                overrun_events.back().push_back(events.size());
            }
            event_chunks.push_back(chunks.size());
            events.push_back(ArchiveEvent{.kind = le.kind,
                                          .stream = c.stream,
                                          .session = c.session,
                                          .session_frame = le.session_frame,
                                          .frames = le.frames,
                                          .realtime_ns = le.realtime_ns,
                                          .raw_ns = le.raw_ns,
                                          .detail = le.detail,
                                          .file = c.timing_path,
                                          .line = le.line});
        }
        if (stream_names.empty() || stream_names.back() != c.stream) {
            stream_names.push_back(c.stream);
        }
        chunks.push_back(std::move(c));
    }
    chunk_count = chunks.size();
    have_chunks = true;
    have_events = true;
}

void Archive::Impl::load_chunks() const {
    if (have_chunks) {
        return;
    }
    chunks.reserve(chunk_count);
    for (std::size_t i = 0; i < chunk_count; ++i) {
        chunks.push_back(archive::load_chunk(view, root, i));
    }
    have_chunks = true;
}

const ChunkInfo& Archive::Impl::chunk_locked(std::size_t i) const {
    if (have_chunks) {
        return chunks.at(i);
    }
    if (i >= chunk_count) {
        throw std::out_of_range(fmt::format("chunk {} of {}", i, chunk_count));
    }
    const auto it = single_chunks.find(i);
    if (it != single_chunks.end()) {
        return it->second;
    }
    return single_chunks.emplace(i, archive::load_chunk(view, root, i)).first->second;
}

fsys::path Archive::Impl::timing_path(std::size_t i) const {
    if (from_view) {
        if (i >= chunk_count) {
            throw std::out_of_range(fmt::format("chunk {} of {}", i, chunk_count));
        }
        return archive::load_timing_path(view, root, i);
    }
    return chunks.at(i).timing_path;
}

void Archive::Impl::load_events() const {
    if (!have_events) {
        events = archive::load_events(view, root);
        have_events = true;
    }
}

void Archive::Impl::load_found() const {
    if (!have_found) {
        if (!archive::load_found(view, found)) {
            throw ArchiveError(view.file, 0, "the index cache is damaged: delete it and run again");
        }
        have_found = true;
    }
}

void Archive::Impl::build_lookups() const {
    if (lookups_built) {
        return;
    }
    load_chunks();
    load_found();
    lookups_built = true;
    chunk_by_path.reserve(chunks.size() * 3);
    for (std::size_t i = 0; i < chunks.size(); ++i) {
        const ChunkInfo& c = chunks[i];
        chunk_by_path.emplace(c.timing_path.string(), i);
        std::string audio = c.audio_path.string();
        if (audio.ends_with(".partial")) {
            audio.resize(audio.size() - 8);
        }
        chunk_by_path.emplace(audio + ".partial", i);
        chunk_by_path.emplace(std::move(audio), i);
    }
    // Every log found, indexed or skipped.
    std::unordered_set<std::string> logged_stems;
    for (const archive::FoundLog& f : found.logs) {
        logged_stems.insert(stem_key(f.rel_path));
    }
    for (const std::string& a : found.audio) {
        if (!logged_stems.contains(stem_key(a))) {
            unlogged_audio.push_back(root / a);
        }
    }
}

void Archive::Impl::build_segments() {
    segments.clear();
    ranges.clear();
    bool session_has_start = false;
    std::size_t s0 = 0;
    if (chunks.empty()) {
        return;
    }
    for (std::size_t i = 0; i <= chunks.size(); ++i) {
        const bool boundary = i == chunks.size() || chunks[i].stream != chunks[s0].stream ||
                              chunks[i].session != chunks[s0].session;
        if (!boundary) {
            continue;
        }
        // Session: chunks [s0, i).
        session_has_start = false;
        if (s0 < i) {
            for (const LogEvent& e : records[s0].events) {
                if (e.kind == EventKind::session_start) {
                    session_has_start = true;
                }
            }
        }
        uint64_t session_end = 0;
        for (std::size_t k = s0; k < i; ++k) {
            session_end = std::max(session_end, chunks[k].first_frame + chunks[k].frames);
        }
        uint64_t start = chunks[s0].first_frame;
        archive::SegmentRange range{.first_chunk = s0, .after_line = 0};
        std::string why = session_has_start ? "session_start" : "session";
        auto emit = [&](uint64_t end, std::size_t last_chunk, uint64_t before_line) {
            range.last_chunk = last_chunk;
            range.before_line = before_line;
            SegmentInfo seg{.stream = chunks[s0].stream,
                            .session = chunks[s0].session,
                            .rate_hz = chunks[s0].rate_hz,
                            .first_frame = start,
                            .end_frame = end,
                            .starts_with = why};
            // Chunks before the one holding the segment's first row end at or before its start.
            for (std::size_t k = range.first_chunk; k < i && chunks[k].first_frame < end; ++k) {
                const ChunkInfo& c = chunks[k];
                const bool holds = c.frames > 0
                                       ? c.first_frame < end && c.first_frame + c.frames > start
                                       : c.first_frame >= start && c.first_frame < end;
                if (holds) {
                    seg.chunks.push_back(k);
                }
            }
            if (end <= start || seg.chunks.empty()) {
                return;
            }
            const ChunkInfo& first = chunks[seg.chunks.front()];
            const ChunkInfo& last = chunks[seg.chunks.back()];
            range.coarse_first_utc_ns = coarse_utc(first, std::max(start, first.first_frame));
            range.coarse_end_utc_ns = coarse_utc(last, end);
            uint64_t h = archive::fnv1a(seg.stream);
            h = archive::fnv1a(seg.session, h);
            for (uint64_t v :
                 {start, end, uint64_t{seg.rate_hz}, range.after_line, range.before_line}) {
                h = hash_u64(h, v);
            }
            for (std::size_t k = range.first_chunk; k <= range.last_chunk; ++k) {
                h = archive::fnv1a(records[k].rel_path, h);
                h = hash_u64(h, records[k].size);
                h = hash_u64(h, static_cast<uint64_t>(records[k].mtime_ns));
            }
            range.logs_key = h;
            segments.push_back(std::move(seg));
            ranges.push_back(range);
        };
        for (std::size_t k = s0; k < i; ++k) {
            for (const std::size_t ei : overrun_events[k]) {
                const ArchiveEvent* e = &events[ei];
                emit(e->session_frame, k, e->line);
                // Zero-filled frames hold no audio of the card: the next segment starts after.
                const bool filled = detail_value(e->detail, "filled") != std::string_view("none");
                start =
                    e->session_frame +
                    (filled && e->frames && *e->frames > 0 ? static_cast<uint64_t>(*e->frames) : 0);
                range = archive::SegmentRange{.first_chunk = k, .after_line = e->line};
                why = "overrun";
            }
        }
        emit(session_end, i - 1, UINT64_MAX);
        s0 = i;
    }
}

void Archive::Impl::build_time_index() {
    time_index.clear();
    for (std::size_t i = 0; i < segments.size(); ++i) {
        if (time_index.empty() || time_index.back().stream != segments[i].stream) {
            time_index.push_back(archive::StreamTimeIndex{.stream = segments[i].stream});
        }
        time_index.back().by_first.push_back(i);
    }
    for (archive::StreamTimeIndex& idx : time_index) {
        std::stable_sort(idx.by_first.begin(), idx.by_first.end(),
                         [&](std::size_t a, std::size_t b) {
                             return ranges[a].coarse_first_utc_ns < ranges[b].coarse_first_utc_ns;
                         });
        int64_t running = INT64_MIN;
        for (const std::size_t seg : idx.by_first) {
            running = std::max(running, ranges[seg].coarse_end_utc_ns);
            idx.max_end.push_back(running);
        }
    }
}

void Archive::Impl::attach_models(const archive::CacheView* cached) {
    const uint64_t options_hash = hash_options(0xcbf29ce484222325ULL, options.fit);
    models.clear();
    models.resize(segments.size());
    std::size_t attached = 0;
    for (std::size_t i = 0; i < segments.size(); ++i) {
        ranges[i].key = hash_u64(ranges[i].logs_key, options_hash);
        if (cached == nullptr) {
            continue;
        }
        const auto it = cached->models.find(ranges[i].key);
        if (it != cached->models.end()) {
            models[i].cached = it->second;
            ++attached;
        }
    }
    if (cached != nullptr && attached != cached->models.size()) {
        dirty = true;  // models of segments that changed are dropped from the cache
    }
}

Archive Archive::open(const fsys::path& root, const ArchiveOptions& options) {
    std::error_code ec;
    if (!fsys::exists(root, ec)) {
        throw ArchiveError(root, 0, "no such folder");
    }
    if (!fsys::is_directory(root, ec)) {
        throw ArchiveError(root, 0, "not a folder (give a data directory, stream or date folder)");
    }
    auto impl = std::make_unique<Impl>();
    impl->root = fsys::canonical(root, ec);
    if (ec) {
        throw ArchiveError(root, 0, fmt::format("cannot resolve: {}", ec.message()));
    }
    impl->options = options;

    archive::CacheView cached;
    bool have_cache = false;
    if (options.use_cache) {
        impl->cache_path = archive::cache_file_for(impl->root, options);
        if (!impl->cache_path.empty()) {
            auto map = std::make_unique<archive::MappedFile>();
            if (map->open(impl->cache_path) &&
                archive::load_cache(map->bytes(), impl->root, cached)) {
                have_cache = true;
                cached.file = impl->cache_path;
                impl->cache_map = std::move(map);
            }
        }
    }
    // No folder and no log that can change without its folder changing has changed: the
    // cached index stands, and only what is asked for is read from it (docs/archive-index.md).
    // Folders listed too soon after a change are listed again and compared with the cache.
    archive::Discovery listing;
    const bool any_racy = std::any_of(cached.dirs.begin(), cached.dirs.end(),
                                      [](const archive::DirStamp& d) { return d.racy; });
    const bool have_listing = have_cache && any_racy && archive::load_found(cached, listing);
    if (have_cache && !options.stat_every_log &&
        archive::unchanged_since_listed(impl->root, cached.dirs, cached.watched,
                                        have_listing ? &listing : nullptr)) {
        impl->from_view = true;
        if (have_listing) {
            impl->found = std::move(listing);
            impl->have_found = true;
        }
        impl->index_source = "cache";
        impl->segments = std::move(cached.segments);
        impl->ranges = std::move(cached.ranges);
        impl->stream_names = std::move(cached.streams);
        impl->chunk_count = cached.chunk_count;
        for (auto& [rel, reason] : cached.skipped) {
            impl->skipped.push_back(SkippedLog{impl->root / rel, std::move(reason)});
        }
        impl->view = std::move(cached);
        impl->build_time_index();
        impl->attach_models(&impl->view);
        return Archive(std::move(impl));
    }

    impl->found = archive::discover(impl->root, options.dir_settle_ns);
    impl->have_found = true;
    const archive::Discovery& found = impl->found;
    if (found.logs.empty()) {
        throw ArchiveError(impl->root, 0, "no timing logs (*.timing.csv) under this folder");
    }
    std::vector<LogRecord> cached_records;
    if (have_cache && !archive::load_records(cached, cached_records)) {
        have_cache = false;
    }
    // Both lists by path: one merge pairs each log found with its cached record.
    std::vector<LogRecord*> by_path;
    by_path.reserve(cached_records.size());
    for (LogRecord& r : cached_records) {
        by_path.push_back(&r);
    }
    std::sort(by_path.begin(), by_path.end(),
              [](const LogRecord* a, const LogRecord* b) { return a->rel_path < b->rel_path; });
    auto next_cached = by_path.begin();
    std::size_t reread = 0;
    impl->records.reserve(found.logs.size());
    auto found_log = [&found](std::string_view rel) {
        const auto it = std::lower_bound(
            found.logs.begin(), found.logs.end(), rel,
            [](const archive::FoundLog& f, std::string_view r) { return f.rel_path < r; });
        return it != found.logs.end() && it->rel_path == rel;
    };
    for (const archive::FoundLog& f : found.logs) {
        while (next_cached != by_path.end() && (*next_cached)->rel_path < f.rel_path) {
            ++next_cached;
        }
        if (f.rel_path.ends_with(".partial") &&
            found_log(std::string_view(f.rel_path).substr(0, f.rel_path.size() - 8))) {
            LogRecord twin{.rel_path = f.rel_path, .size = f.size, .mtime_ns = f.mtime_ns};
            twin.skip_reason =
                "left-over .partial beside its closed timing log (a crash during "
                "recovery); the closed log is used";
            impl->records.push_back(std::move(twin));
            continue;
        }
        if (next_cached != by_path.end() && (*next_cached)->rel_path == f.rel_path) {
            LogRecord& r = **next_cached;
            if (r.size == f.size && r.mtime_ns == f.mtime_ns) {
                impl->records.push_back(std::move(r));
                continue;
            }
        }
        impl->records.push_back(archive::scan_log(impl->root, f.rel_path, f.size, f.mtime_ns));
        ++reread;
    }
    if (!have_cache) {
        impl->index_source = "built";
    } else if (reread == 0 && cached_records.size() == found.logs.size()) {
        impl->index_source = "cache (rescanned)";
    } else {
        impl->index_source = fmt::format("updated ({} logs re-read)", reread);
    }
    impl->assemble();
    impl->build_segments();
    impl->build_time_index();
    if (have_cache) {
        impl->view = std::move(cached);
        impl->attach_models(&impl->view);
    } else {
        impl->attach_models(nullptr);
    }
    return Archive(std::move(impl));
}

Archive::Archive(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Archive::~Archive() {
    if (!impl_) {
        return;
    }
    try {
        save_cache();
    } catch (...) {
        // A cache that cannot be written is only slower next time.
    }
}

Archive::Archive(Archive&&) noexcept = default;
Archive& Archive::operator=(Archive&& other) noexcept {
    if (this != &other) {
        if (impl_) {
            try {
                save_cache();
            } catch (...) {
                // As in the destructor.
            }
        }
        impl_ = std::move(other.impl_);
    }
    return *this;
}

const fsys::path& Archive::root() const {
    return impl_->root;
}

std::vector<std::string> Archive::streams() const {
    return impl_->stream_names;
}

const std::vector<ChunkInfo>& Archive::chunks() const {
    const std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->load_chunks();
    return impl_->chunks;
}
const ChunkInfo& Archive::chunk(std::size_t chunk_index) const {
    const std::lock_guard<std::mutex> lock(impl_->mutex);
    return impl_->chunk_locked(chunk_index);
}
std::size_t Archive::chunk_count() const {
    return impl_->chunk_count;
}
const std::vector<SegmentInfo>& Archive::segments() const {
    return impl_->segments;
}
const std::vector<ArchiveEvent>& Archive::events() const {
    const std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->load_events();
    return impl_->events;
}
const std::string& Archive::index_source() const {
    return impl_->index_source;
}
const std::vector<SkippedLog>& Archive::skipped_logs() const {
    return impl_->skipped;
}
const std::vector<fsys::path>& Archive::unlogged_audio() const {
    const std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->build_lookups();
    return impl_->unlogged_audio;
}
const fsys::path& Archive::cache_path() const {
    return impl_->cache_path;
}

std::optional<std::size_t> Archive::find_chunk(const fsys::path& file) const {
    std::error_code ec;
    fsys::path p = fsys::weakly_canonical(fsys::absolute(file, ec), ec);
    if (ec) {
        return std::nullopt;
    }
    const std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->build_lookups();
    const auto it = impl_->chunk_by_path.find(p.string());
    if (it == impl_->chunk_by_path.end()) {
        return std::nullopt;
    }
    return it->second;
}

std::optional<std::size_t> Archive::segment_of(std::size_t chunk_index,
                                               uint64_t session_frame) const {
    for (std::size_t i = 0; i < impl_->segments.size(); ++i) {
        const SegmentInfo& s = impl_->segments[i];
        if (session_frame < s.first_frame || session_frame >= s.end_frame) {
            continue;
        }
        if (std::binary_search(s.chunks.begin(), s.chunks.end(), chunk_index)) {
            return i;
        }
    }
    return std::nullopt;
}

}  // namespace framestamp
