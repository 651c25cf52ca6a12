// The index part of the cache file (the framing is in cache.cpp). Sections, in order:
//   root; folder stamps; watched logs                                  (read at every open)
//   logs found; audio found; per-log records                            (blocks, read on demand)
//   streams; skipped logs; chunk count, chunk row offsets, chunk rows;
//   segments with their row ranges; events                              (events: a block)
// Blocks carry their length, so open skips them without parsing; a chunk row is found by its
// offset and read alone.
#include <algorithm>
#include <map>

#include "archive/cache_codec.hpp"

namespace framestamp::archive {

namespace {

namespace fsys = std::filesystem;

// An event's fields, from a LogEvent or an ArchiveEvent (get_event_fields reads them back).
template <typename Event>
void put_event_fields(Out& o, const Event& e) {
    o.put(static_cast<uint8_t>(e.kind));
    o.put(e.session_frame);
    o.put(static_cast<uint8_t>(e.frames.has_value()));
    o.put(e.frames.value_or(0));
    o.put(e.realtime_ns);
    o.put(e.raw_ns);
    o.put(e.line);
    o.str(e.detail);
}

void put_events(Out& o, const std::vector<LogEvent>& events) {
    o.put(static_cast<uint32_t>(events.size()));
    for (const LogEvent& e : events) {
        put_event_fields(o, e);
    }
}

// An event's fields as put_event_fields writes them, into a LogEvent or an ArchiveEvent.
template <typename Event>
void get_event_fields(In& in, Event& e) {
    const auto kind = in.get<uint8_t>();
    if (kind > static_cast<uint8_t>(EventKind::resynced)) {
        throw Corrupt{};
    }
    e.kind = static_cast<EventKind>(kind);
    e.session_frame = in.get<uint64_t>();
    const bool has_frames = in.get<uint8_t>() != 0;
    const auto frames = in.get<int64_t>();
    if (has_frames) {
        e.frames = frames;
    }
    e.realtime_ns = in.get<int64_t>();
    e.raw_ns = in.get<int64_t>();
    e.line = in.get<uint64_t>();
    e.detail = in.str();
}

void get_events(In& in, std::vector<LogEvent>& events) {
    const auto n = in.get<uint32_t>();
    events.resize(n);
    for (LogEvent& e : events) {
        get_event_fields(in, e);
    }
}

enum : uint8_t { kPartial = 1, kClosed = 2, kRecovered = 4, kTorn = 8, kExact = 16 };

// A chunk's flags, format and counts, in the same order in log records and chunk rows.
void put_chunk_fields(Out& o, const ChunkInfo& c) {
    o.put(static_cast<uint8_t>((c.partial ? kPartial : 0) | (c.closed ? kClosed : 0) |
                               (c.recovered ? kRecovered : 0) | (c.torn_tail ? kTorn : 0) |
                               (c.frames_exact ? kExact : 0)));
    o.put(c.rate_hz);
    o.put(c.channels);
    o.str(c.sample_format);
    o.put(c.first_frame);
    o.put(c.frames);
    o.put(c.points);
    o.put(c.first_realtime_ns);
    o.put(c.last_realtime_ns);
}

// Reads what put_chunk_fields wrote into `c`, except the sample format, which it returns as a
// view into the input (the caller copies it or keeps the view).
std::string_view get_chunk_fields(In& in, ChunkInfo& c) {
    const auto flags = in.get<uint8_t>();
    c.partial = (flags & kPartial) != 0;
    c.closed = (flags & kClosed) != 0;
    c.recovered = (flags & kRecovered) != 0;
    c.torn_tail = (flags & kTorn) != 0;
    c.frames_exact = (flags & kExact) != 0;
    c.rate_hz = in.get<uint32_t>();
    c.channels = in.get<uint32_t>();
    const std::string_view format = in.str_view();
    c.first_frame = in.get<uint64_t>();
    c.frames = in.get<uint64_t>();
    c.points = in.get<uint64_t>();
    c.first_realtime_ns = in.get<int64_t>();
    c.last_realtime_ns = in.get<int64_t>();
    return format;
}

void put_record(Out& o, const LogRecord& r) {
    const ChunkInfo& c = r.info;
    o.str(r.rel_path);
    o.put(r.size);
    o.put(r.mtime_ns);
    o.str(r.skip_reason);
    o.str(c.stream);
    o.str(c.session);
    put_chunk_fields(o, c);
    o.str(r.audio_name);
    o.put(r.last_point_frame);
    put_events(o, r.events);
    put_events(o, r.sync_marks);
}

void get_record(In& in, LogRecord& r) {
    ChunkInfo& c = r.info;
    r.rel_path = in.str();
    r.size = in.get<uint64_t>();
    r.mtime_ns = in.get<int64_t>();
    r.skip_reason = in.str();
    c.stream = in.str();
    c.session = in.str();
    c.sample_format = get_chunk_fields(in, c);
    r.audio_name = in.str();
    r.last_point_frame = in.get<uint64_t>();
    get_events(in, r.events);
    get_events(in, r.sync_marks);
    c.log_size = r.size;
    c.log_mtime_ns = r.mtime_ns;
    if (r.skip_reason.empty() && c.rate_hz == 0) {
        throw Corrupt{};
    }
}

void put_chunk(Out& o, const ChunkInfo& c, std::string_view timing_rel,
               std::string_view audio_rel) {
    o.str(timing_rel);
    o.str(audio_rel);
    o.str(c.stream);
    o.str(c.session);
    put_chunk_fields(o, c);
    o.put(c.log_size);
    o.put(c.log_mtime_ns);
}

// A chunk row with its strings left in the mapping.
struct ChunkRow {
    std::string_view timing_rel;
    std::string_view audio_rel;
    std::string_view stream;
    std::string_view session;
    std::string_view sample_format;
    ChunkInfo numbers;  // everything but the strings and paths
};

ChunkRow chunk_row(const CacheView& view, std::size_t i) {
    if (i >= view.chunk_count) {
        throw Corrupt{};
    }
    uint64_t offset = 0;
    std::memcpy(&offset, view.chunk_offsets.data() + 8 * i, 8);
    if (offset > view.chunk_rows.size()) {
        throw Corrupt{};
    }
    In in(view.chunk_rows.substr(offset));
    ChunkRow r;
    ChunkInfo& c = r.numbers;
    r.timing_rel = in.str_view();
    r.audio_rel = in.str_view();
    r.stream = in.str_view();
    r.session = in.str_view();
    r.sample_format = get_chunk_fields(in, c);
    c.log_size = in.get<uint64_t>();
    c.log_mtime_ns = in.get<int64_t>();
    return r;
}

void put_segment(Out& o, const SegmentInfo& s, const SegmentRange& r) {
    o.str(s.stream);
    o.str(s.session);
    o.put(s.rate_hz);
    o.put(s.first_frame);
    o.put(s.end_frame);
    o.str(s.starts_with);
    o.put(static_cast<uint64_t>(s.chunks.size()));
    for (const std::size_t k : s.chunks) {
        o.put(static_cast<uint64_t>(k));
    }
    o.put(static_cast<uint64_t>(r.first_chunk));
    o.put(r.after_line);
    o.put(static_cast<uint64_t>(r.last_chunk));
    o.put(r.before_line);
    o.put(r.coarse_first_utc_ns);
    o.put(r.coarse_end_utc_ns);
    o.put(r.logs_key);
}

void get_segment(In& in, uint64_t chunk_count, SegmentInfo& s, SegmentRange& r) {
    s.stream = in.str();
    s.session = in.str();
    s.rate_hz = in.get<uint32_t>();
    s.first_frame = in.get<uint64_t>();
    s.end_frame = in.get<uint64_t>();
    s.starts_with = in.str();
    const auto n = in.count(8);
    s.chunks.resize(n);
    for (std::size_t& k : s.chunks) {
        k = in.get<uint64_t>();
        if (k >= chunk_count) {
            throw Corrupt{};
        }
    }
    r.first_chunk = in.get<uint64_t>();
    r.after_line = in.get<uint64_t>();
    r.last_chunk = in.get<uint64_t>();
    r.before_line = in.get<uint64_t>();
    r.coarse_first_utc_ns = in.get<int64_t>();
    r.coarse_end_utc_ns = in.get<int64_t>();
    r.logs_key = in.get<uint64_t>();
    if (s.rate_hz == 0 || r.first_chunk > r.last_chunk || r.last_chunk >= chunk_count) {
        throw Corrupt{};
    }
}

// The logs the cheap check stats on every open (archive_impl.hpp, WatchedLog): .partial logs,
// symlinks, skipped logs, every stream's newest log, and logs changed within settle_ns of the
// walk (perhaps still being written).
std::vector<const LogRecord*> watched_logs(const IndexParts& p) {
    std::map<std::string_view, const LogRecord*> newest;  // per stream, the last in chunk order
    for (std::size_t k = 0; k < p.chunks->size(); ++k) {
        newest[(*p.chunks)[k].stream] = &(*p.records)[k];
    }
    auto is_newest = [&newest](const LogRecord& r) {
        const auto it = newest.find(r.info.stream);
        return r.skip_reason.empty() && it != newest.end() && it->second == &r;
    };
    auto is_symlink = [&p](const LogRecord& r) {
        const auto f = std::lower_bound(
            p.found->logs.begin(), p.found->logs.end(), r.rel_path,
            [](const FoundLog& a, const std::string& rel) { return a.rel_path < rel; });
        return f != p.found->logs.end() && f->rel_path == r.rel_path && f->symlink;
    };
    const int64_t recent_from = p.found->listed_at_ns - p.settle_ns;
    std::vector<const LogRecord*> out;
    for (const LogRecord& r : *p.records) {
        if (r.rel_path.ends_with(".partial") || !r.skip_reason.empty() ||
            r.mtime_ns >= recent_from || is_newest(r) || is_symlink(r)) {
            out.push_back(&r);
        }
    }
    return out;
}

ArchiveError damaged(const CacheView& view) {
    return ArchiveError(view.file, 0, "the index cache is damaged: delete it and run again");
}

}  // namespace

std::string encode_index(const fsys::path& root, const IndexParts& p) {
    Out o;
    o.str(root.string());
    o.put(static_cast<uint64_t>(p.found->dirs.size()));
    for (const DirStamp& d : p.found->dirs) {
        o.str(d.rel_path);
        o.put(d.ino);
        o.put(d.mtime_ns);
        o.put(d.ctime_ns);
        o.put(static_cast<uint8_t>(d.racy));
    }
    const std::vector<const LogRecord*> watched = watched_logs(p);
    o.put(static_cast<uint64_t>(watched.size()));
    for (const LogRecord* r : watched) {
        o.str(r->rel_path);
        o.put(r->size);
        o.put(r->mtime_ns);
    }
    Out logs;
    logs.put(static_cast<uint64_t>(p.found->logs.size()));
    for (const FoundLog& f : p.found->logs) {
        logs.str(f.rel_path);
        logs.put(f.size);
        logs.put(f.mtime_ns);
        logs.put(static_cast<uint8_t>(f.symlink));
    }
    o.block(logs.s);
    Out audio;
    audio.put(static_cast<uint64_t>(p.found->audio.size()));
    for (const std::string& a : p.found->audio) {
        audio.str(a);
    }
    o.block(audio.s);
    Out records;
    records.put(static_cast<uint64_t>(p.records->size()));
    for (const LogRecord& r : *p.records) {
        put_record(records, r);
    }
    o.block(records.s);

    o.put(static_cast<uint64_t>(p.streams->size()));
    for (const std::string& s : *p.streams) {
        o.str(s);
    }
    const std::size_t nchunks = p.chunks->size();
    uint64_t nskipped = 0;
    for (std::size_t k = nchunks; k < p.records->size(); ++k) {
        nskipped += (*p.records)[k].skip_reason.empty() ? 0 : 1;
    }
    o.put(nskipped);
    for (std::size_t k = nchunks; k < p.records->size(); ++k) {
        const LogRecord& r = (*p.records)[k];
        if (!r.skip_reason.empty()) {
            o.str(r.rel_path);
            o.str(r.skip_reason);
        }
    }
    Out offsets;
    Out rows;
    for (std::size_t k = 0; k < nchunks; ++k) {
        offsets.put(static_cast<uint64_t>(rows.s.size()));
        put_chunk(rows, (*p.chunks)[k], (*p.records)[k].rel_path, (*p.audio_rels)[k]);
    }
    o.put(static_cast<uint64_t>(nchunks));
    o.block(offsets.s);
    o.block(rows.s);
    o.put(static_cast<uint64_t>(p.segments->size()));
    for (std::size_t i = 0; i < p.segments->size(); ++i) {
        put_segment(o, (*p.segments)[i], (*p.ranges)[i]);
    }
    Out events;
    events.put(static_cast<uint64_t>(p.events->size()));
    for (std::size_t i = 0; i < p.events->size(); ++i) {
        const ArchiveEvent& e = (*p.events)[i];
        events.put(static_cast<uint64_t>((*p.event_chunks)[i]));
        put_event_fields(events, e);
    }
    o.block(events.s);
    return std::move(o.s);
}

bool parse_index(std::string_view index, const fsys::path& root, CacheView& out) {
    In in(index);
    if (in.str_view() != root.string()) {
        return false;
    }
    out.dirs.resize(in.count(4 + 3 * 8 + 1));
    for (DirStamp& d : out.dirs) {
        d.rel_path = in.str();
        d.ino = in.get<uint64_t>();
        d.mtime_ns = in.get<int64_t>();
        d.ctime_ns = in.get<int64_t>();
        d.racy = in.get<uint8_t>() != 0;
    }
    out.watched.resize(in.count(4 + 2 * 8));
    for (WatchedLog& w : out.watched) {
        w.rel_path = in.str_view();
        w.size = in.get<uint64_t>();
        w.mtime_ns = in.get<int64_t>();
    }
    out.logs = in.block();
    out.audio = in.block();
    out.records = in.block();
    out.streams.resize(in.count(4));
    for (std::string& s : out.streams) {
        s = in.str();
    }
    out.skipped.resize(in.count(8));
    for (auto& [rel, reason] : out.skipped) {
        rel = in.str();
        reason = in.str();
    }
    out.chunk_count = in.get<uint64_t>();
    out.chunk_offsets = in.block();
    out.chunk_rows = in.block();
    if (out.chunk_offsets.size() / 8 != out.chunk_count || out.chunk_offsets.size() % 8 != 0) {
        throw Corrupt{};
    }
    const auto nsegments = in.count(8 * 8);
    out.segments.resize(nsegments);
    out.ranges.resize(nsegments);
    for (std::size_t i = 0; i < nsegments; ++i) {
        get_segment(in, out.chunk_count, out.segments[i], out.ranges[i]);
    }
    out.events = in.block();
    return in.at_end();
}

bool load_records(const CacheView& view, std::vector<LogRecord>& out) {
    try {
        In in(view.records);
        std::vector<LogRecord> records(in.count(8));
        for (LogRecord& r : records) {
            get_record(in, r);
        }
        if (!in.at_end()) {
            return false;
        }
        out = std::move(records);
        return true;
    } catch (const Corrupt&) {
        return false;
    }
}

bool load_found(const CacheView& view, Discovery& out) {
    try {
        Discovery found;
        In logs(view.logs);
        found.logs.resize(logs.count(4 + 2 * 8 + 1));
        for (FoundLog& f : found.logs) {
            f.rel_path = logs.str();
            f.size = logs.get<uint64_t>();
            f.mtime_ns = logs.get<int64_t>();
            f.symlink = logs.get<uint8_t>() != 0;
        }
        In audio(view.audio);
        found.audio.resize(audio.count(4));
        for (std::string& a : found.audio) {
            a = audio.str();
        }
        if (!logs.at_end() || !audio.at_end()) {
            return false;
        }
        found.dirs = view.dirs;
        out = std::move(found);
        return true;
    } catch (const Corrupt&) {
        return false;
    }
}

ChunkInfo load_chunk(const CacheView& view, const fsys::path& root, std::size_t i) {
    try {
        const ChunkRow r = chunk_row(view, i);
        ChunkInfo c = r.numbers;
        c.stream = std::string(r.stream);
        c.session = std::string(r.session);
        c.sample_format = std::string(r.sample_format);
        c.timing_path = root / r.timing_rel;
        c.audio_path = root / r.audio_rel;
        return c;
    } catch (const Corrupt&) {
        throw damaged(view);
    }
}

fsys::path load_timing_path(const CacheView& view, const fsys::path& root, std::size_t i) {
    try {
        return root / chunk_row(view, i).timing_rel;
    } catch (const Corrupt&) {
        throw damaged(view);
    }
}

std::vector<ArchiveEvent> load_events(const CacheView& view, const fsys::path& root) {
    try {
        In in(view.events);
        std::vector<ArchiveEvent> out(in.count(8 + 1 + 8 + 1 + 4 * 8 + 4));
        std::size_t row_of = SIZE_MAX;
        ChunkRow row;
        fsys::path file;
        for (ArchiveEvent& e : out) {
            const auto k = in.get<uint64_t>();
            if (k != row_of) {
                row = chunk_row(view, k);
                file = root / row.timing_rel;
                row_of = k;
            }
            get_event_fields(in, e);
            e.stream = std::string(row.stream);
            e.session = std::string(row.session);
            e.file = file;
        }
        if (!in.at_end()) {
            throw Corrupt{};
        }
        return out;
    } catch (const Corrupt&) {
        throw damaged(view);
    }
}

}  // namespace framestamp::archive
