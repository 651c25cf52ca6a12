// What one timing log contributes to the index, and the walk that finds the logs and audio files.
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <charconv>
#include <utility>

#include "archive/archive_impl.hpp"

namespace framestamp::archive {

namespace {

namespace fsys = std::filesystem;

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::optional<EventKind> event_kind_of(std::string_view kind) {
    static constexpr std::pair<std::string_view, EventKind> kKinds[] = {
        {"session_start", EventKind::session_start},   {"overrun", EventKind::overrun},
        {"ring_overflow", EventKind::ring_overflow},   {"device_lost", EventKind::device_lost},
        {"device_back", EventKind::device_back},       {"clock_step", EventKind::clock_step},
        {"write_error", EventKind::write_error},       {"disk_pause", EventKind::disk_pause},
        {"write_gap", EventKind::write_gap},           {"shutdown", EventKind::shutdown},
        {"crash_recovery", EventKind::crash_recovery},
    };
    for (const auto& [name, k] : kKinds) {
        if (name == kind) {
            return k;
        }
    }
    return std::nullopt;
}

uint32_t detail_u32(std::string_view detail, std::string_view key, const TimingLogRow& row,
                    const fsys::path& path) {
    const auto v = detail_value(detail, key);
    if (!v) {
        throw ArchiveError(path, row.line, fmt::format("log_start has no {}=", key));
    }
    uint32_t out = 0;
    const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
    if (ec != std::errc() || p != v->data() + v->size() || out == 0) {
        throw ArchiveError(path, row.line,
                           fmt::format("log_start {} is not a positive integer: '{}'", key, *v));
    }
    return out;
}

LogEvent event_of(EventKind kind, const TimingLogRow& row) {
    return LogEvent{.kind = kind,
                    .session_frame = row.session_frame,
                    .frames = row.frames,
                    .realtime_ns = row.realtime_ns,
                    .raw_ns = row.monotonic_raw_ns,
                    .line = row.line,
                    .detail = std::string(row.detail)};
}

}  // namespace

LogRecord scan_log(const fsys::path& root, const std::string& rel_path, uint64_t size,
                   int64_t mtime_ns) {
    LogRecord rec;
    rec.rel_path = rel_path;
    rec.size = size;
    rec.mtime_ns = mtime_ns;
    const fsys::path path = root / rel_path;
    rec.info.partial = ends_with(rel_path, ".partial");
    if (size == 0) {
        if (rec.info.partial) {
            rec.skip_reason = "empty .partial timing log (a crash before its first flush)";
            return rec;
        }
        throw ArchiveError(path, 0, "empty file: no header line");
    }
    std::optional<TimingLogReader> reader;
    try {
        reader.emplace(path);
    } catch (const ArchiveError& e) {
        // A .partial whose header never fully reached the disk is a crash left-over, not damage.
        if (rec.info.partial && e.line() == 1 &&
            std::string_view(e.what()).find("torn") != std::string_view::npos) {
            rec.skip_reason = "torn header in a .partial timing log (a crash before its flush)";
            return rec;
        }
        throw;
    }
    bool have_start = false;
    bool have_open = false;
    bool have_sync = false;
    bool last_synced = false;
    std::optional<uint64_t> close_frames;
    std::optional<uint64_t> recovery_frames;
    uint64_t rows = 0;
    uint64_t first_row_line = 0;
    std::string first_row_kind;
    TimingLogRow row;
    ChunkInfo& info = rec.info;
    while (reader->next(row)) {
        ++rows;
        if (rows == 1) {
            first_row_line = row.line;
            first_row_kind = std::string(row.kind);
        }
        info.last_realtime_ns = row.realtime_ns;
        if (row.kind == "point") {
            ++info.points;
            rec.last_point_frame = std::max(rec.last_point_frame, row.session_frame);
            continue;
        }
        if (row.kind == "sync") {
            const bool synced = detail_value(row.detail, "synced") == std::string_view("1");
            if (!have_sync || synced != last_synced) {
                rec.sync_marks.push_back(
                    event_of(synced ? EventKind::resynced : EventKind::unsynced, row));
            }
            have_sync = true;
            last_synced = synced;
            continue;
        }
        if (row.kind == "log_start") {
            if (have_start) {
                throw ArchiveError(path, row.line, "a second log_start row");
            }
            have_start = true;
            const std::string_view d = row.detail;
            info.stream = std::string(detail_value(d, "stream").value_or(""));
            info.session = std::string(detail_value(d, "session").value_or(""));
            if (info.session.empty()) {
                throw ArchiveError(path, row.line, "log_start has no session=");
            }
            info.rate_hz = detail_u32(d, "rate_hz", row, path);
            info.channels = detail_u32(d, "channels", row, path);
            info.sample_format = std::string(detail_value(d, "sample_format").value_or(""));
            rec.audio_name = std::string(detail_value(d, "audio_file").value_or(""));
            continue;
        }
        if (row.kind == "chunk_open") {
            have_open = true;
            info.first_frame = row.session_frame;
            info.first_realtime_ns = row.realtime_ns;
            if (rec.audio_name.empty()) {
                rec.audio_name = std::string(detail_value(row.detail, "file").value_or(""));
            }
            continue;
        }
        if (row.kind == "chunk_close") {
            info.closed = true;
            if (row.frames) {
                if (*row.frames < 0) {
                    throw ArchiveError(
                        path, row.line,
                        fmt::format("chunk_close frames is negative: {}", *row.frames));
                }
                close_frames = static_cast<uint64_t>(*row.frames);
            }
            continue;
        }
        const std::optional<EventKind> kind = event_kind_of(row.kind);
        if (!kind) {
            continue;  // a kind this reader does not know (allowed within version 1)
        }
        if (*kind == EventKind::crash_recovery) {
            info.recovered = true;
            if (row.frames && *row.frames >= 0) {
                recovery_frames = static_cast<uint64_t>(*row.frames);
            }
        }
        rec.events.push_back(event_of(*kind, row));
    }
    info.torn_tail = reader->torn_tail();
    if (!have_start) {
        const bool only_recovery = first_row_kind.empty() || first_row_kind == "crash_recovery" ||
                                   first_row_kind == "chunk_close";
        if (only_recovery && (rec.info.partial || info.recovered || rows == 0)) {
            rec.skip_reason = rows == 0
                                  ? "timing log holds no rows (a crash before its first flush)"
                                  : "timing log lost its rows in a crash (only the recovery "
                                    "rows remain)";
            return rec;
        }
        throw ArchiveError(path, first_row_line,
                           fmt::format("first row is '{}', expected log_start", first_row_kind));
    }
    if (!have_open) {
        rec.skip_reason = "timing log has no chunk_open row";
        return rec;
    }
    if (info.stream.empty()) {
        // The folder layout <stream>/<date>/<file> names the stream when log_start does not.
        info.stream = path.parent_path().parent_path().filename().string();
    }
    if (rec.audio_name.empty()) {
        std::string name = path.filename().string();
        name = name.substr(0, name.find(".timing.csv"));
        rec.audio_name = name + ".flac";
    }
    if (close_frames) {
        info.frames = *close_frames;
        info.frames_exact = true;
    } else if (recovery_frames) {
        info.frames = *recovery_frames;
        info.frames_exact = true;
    } else {
        info.frames =
            rec.last_point_frame > info.first_frame ? rec.last_point_frame - info.first_frame : 0;
    }
    info.log_size = size;
    info.log_mtime_ns = mtime_ns;
    return rec;
}

namespace {

int64_t ns_of(const struct timespec& t) {
    return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

DirStamp stamp_of(std::string rel, const struct stat& st) {
    return DirStamp{.rel_path = std::move(rel),
                    .ino = static_cast<uint64_t>(st.st_ino),
                    .mtime_ns = ns_of(st.st_mtim),
                    .ctime_ns = ns_of(st.st_ctim)};
}

// Lists one folder (root + rel) into `out` (its stamp, logs and audio) and `subdirs`, with
// readdir: a directory_iterator and path objects per entry cost several times more, and a full
// walk of a 120-day archive visits ~17 000 logs. The folder is stamped before it is read, so a
// change made while it is read moves its stamp on. Returns 0, or errno when it cannot be opened.
int list_dir(const std::string& root, const std::string& rel, Discovery& out,
             std::vector<std::string>& subdirs) {
    const std::string dir = rel.empty() ? root : root + "/" + rel;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        return errno;
    }
    struct stat dir_st {};
    if (::fstat(::dirfd(d), &dir_st) == 0) {
        out.dirs.push_back(stamp_of(rel, dir_st));
    }
    while (const dirent* e = ::readdir(d)) {
        const std::string_view name = e->d_name;
        if (name == "." || name == "..") {
            continue;
        }
        std::string child = rel.empty() ? std::string(name) : rel + "/" + std::string(name);
        unsigned char type = e->d_type;
        struct stat st {};
        bool have_stat = false;
        const bool link = type == DT_LNK;
        if (type == DT_UNKNOWN || type == DT_LNK) {
            if (::fstatat(::dirfd(d), e->d_name, &st, link ? 0 : AT_SYMLINK_NOFOLLOW) != 0) {
                continue;
            }
            have_stat = true;
            // Symlinked folders are not followed (as find(1) does not): no loops.
            type = S_ISDIR(st.st_mode) ? (link ? DT_LNK : DT_DIR)
                                       : (S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN);
        }
        if (type == DT_DIR) {
            subdirs.push_back(std::move(child));
            continue;
        }
        if (type != DT_REG) {
            continue;
        }
        const bool log = ends_with(name, ".timing.csv") || ends_with(name, ".timing.csv.partial");
        if (!log) {
            if (ends_with(name, ".flac") || ends_with(name, ".wav") ||
                ends_with(name, ".flac.partial") || ends_with(name, ".wav.partial") ||
                ends_with(name, ".corrupt")) {
                out.audio.push_back(std::move(child));
            }
            continue;
        }
        if (!have_stat && ::fstatat(::dirfd(d), e->d_name, &st, 0) != 0) {
            continue;
        }
        out.logs.push_back(FoundLog{.rel_path = std::move(child),
                                    .size = static_cast<uint64_t>(st.st_size),
                                    .mtime_ns = ns_of(st.st_mtim),
                                    .symlink = link});
    }
    ::closedir(d);
    return 0;
}

void walk(const std::string& root, const std::string& rel, Discovery& out, int depth) {
    std::vector<std::string> subdirs;
    if (const int err = list_dir(root, rel, out, subdirs); err != 0) {
        const std::string dir = rel.empty() ? root : root + "/" + rel;
        if (depth == 0) {
            throw ArchiveError(dir, 0,
                               fmt::format("cannot read the folder: {}", std::strerror(err)));
        }
        // An unreadable sub-folder holds nothing we can index; made readable, it changes.
        struct stat st {};
        if (::lstat(dir.c_str(), &st) == 0) {
            out.dirs.push_back(stamp_of(rel, st));
        }
        return;
    }
    for (const std::string& sub : subdirs) {
        walk(root, sub, out, depth + 1);
    }
}

std::string_view parent_of(std::string_view rel) {
    const std::size_t slash = rel.rfind('/');
    return slash == std::string_view::npos ? std::string_view() : rel.substr(0, slash);
}

// Whether folder `rel` holds now what `cached` says it held: the same logs with the same size
// and mtime, the same audio files and the same sub-folders.
bool listing_matches(const std::string& root, const std::string& rel, const Discovery& cached) {
    Discovery now;
    std::vector<std::string> subdirs;
    if (list_dir(root, rel, now, subdirs) != 0) {
        return false;
    }
    std::vector<const FoundLog*> logs;
    for (const FoundLog& f : cached.logs) {
        if (parent_of(f.rel_path) == rel) {
            logs.push_back(&f);
        }
    }
    std::vector<std::string_view> audio;
    for (const std::string& a : cached.audio) {
        if (parent_of(a) == rel) {
            audio.push_back(a);
        }
    }
    std::vector<std::string_view> dirs;
    for (const DirStamp& d : cached.dirs) {
        if (!d.rel_path.empty() && parent_of(d.rel_path) == rel) {
            dirs.push_back(d.rel_path);
        }
    }
    std::sort(now.logs.begin(), now.logs.end(),
              [](const FoundLog& a, const FoundLog& b) { return a.rel_path < b.rel_path; });
    std::sort(now.audio.begin(), now.audio.end());
    std::sort(subdirs.begin(), subdirs.end());
    std::sort(dirs.begin(), dirs.end());
    // cached.logs and cached.audio are sorted, so their entries of one folder are too.
    if (logs.size() != now.logs.size() ||
        !std::equal(audio.begin(), audio.end(), now.audio.begin(), now.audio.end()) ||
        !std::equal(dirs.begin(), dirs.end(), subdirs.begin(), subdirs.end())) {
        return false;
    }
    for (std::size_t i = 0; i < logs.size(); ++i) {
        const FoundLog& a = *logs[i];
        const FoundLog& b = now.logs[i];
        if (a.rel_path != b.rel_path || a.size != b.size || a.mtime_ns != b.mtime_ns ||
            a.symlink != b.symlink) {
            return false;
        }
    }
    return true;
}

int64_t realtime_now_ns() {
    struct timespec t {};
    ::clock_gettime(CLOCK_REALTIME, &t);
    return ns_of(t);
}

}  // namespace

Discovery discover(const fsys::path& root, int64_t settle_ns) {
    Discovery out;
    out.listed_at_ns = realtime_now_ns();
    walk(root.string(), "", out, 0);
    std::sort(out.logs.begin(), out.logs.end(),
              [](const FoundLog& a, const FoundLog& b) { return a.rel_path < b.rel_path; });
    std::sort(out.audio.begin(), out.audio.end());
    std::sort(out.dirs.begin(), out.dirs.end(),
              [](const DirStamp& a, const DirStamp& b) { return a.rel_path < b.rel_path; });
    // Timestamps are coarse (a kernel tick; whole seconds on some file systems): a folder
    // changed again within its stamp's resolution of being listed would keep its stamp.
    const int64_t settled_before = out.listed_at_ns - settle_ns;
    for (DirStamp& dir : out.dirs) {
        dir.racy = std::max(dir.mtime_ns, dir.ctime_ns) >= settled_before;
    }
    return out;
}

bool unchanged_since_listed(const fsys::path& root, const std::vector<DirStamp>& dirs,
                            const std::vector<WatchedLog>& watched, const Discovery* listing) {
    if (dirs.empty()) {
        return false;  // the root at least was stamped
    }
    const std::string root_path = root.string();
    std::string path = root_path;
    auto at = [&](std::string_view rel) -> const char* {
        path.resize(root_path.size());
        if (!rel.empty()) {
            path += '/';
            path += rel;
        }
        return path.c_str();
    };
    struct stat st {};
    for (const DirStamp& d : dirs) {
        if (::lstat(at(d.rel_path), &st) != 0 || !S_ISDIR(st.st_mode) ||
            static_cast<uint64_t>(st.st_ino) != d.ino || ns_of(st.st_mtim) != d.mtime_ns ||
            ns_of(st.st_ctim) != d.ctime_ns) {
            return false;
        }
        // Its stamp cannot show a change made in the tick it was listed: list it again.
        if (d.racy && (listing == nullptr || !listing_matches(root_path, d.rel_path, *listing))) {
            return false;
        }
    }
    for (const WatchedLog& w : watched) {
        if (::stat(at(w.rel_path), &st) != 0 || static_cast<uint64_t>(st.st_size) != w.size ||
            ns_of(st.st_mtim) != w.mtime_ns) {
            return false;
        }
    }
    return true;
}

}  // namespace framestamp::archive
