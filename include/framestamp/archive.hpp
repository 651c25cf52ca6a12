// Reading what framestampd wrote: timing logs, and the archive index over a data directory
// (chunks, sessions, continuous segments, discontinuities), cached so repeated queries are fast.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "framestamp/timemap.hpp"

namespace framestamp {

// Any problem with the archive's files. what() is "<file>:<line>: <message>" (line omitted when
// 0), ready to print.
class ArchiveError : public std::runtime_error {
  public:
    ArchiveError(std::filesystem::path file, uint64_t line, const std::string& message);
    const std::filesystem::path& file() const { return file_; }
    uint64_t line() const { return line_; }

  private:
    std::filesystem::path file_;
    uint64_t line_ = 0;
};

// One row of a timing log (docs/timing-log.md), parsed.
struct TimingLogRow {
    std::string_view kind;  // valid until the next row is read
    uint64_t session_frame = 0;
    int64_t chunk_frame = 0;  // negative for points logged before the chunk's first frame
    int64_t realtime_ns = 0;
    int64_t monotonic_raw_ns = 0;
    std::optional<int64_t> window_ns;
    std::optional<int64_t> delay_frames;
    std::optional<int64_t> frames;
    std::optional<int64_t> sync_status;
    std::optional<int64_t> sync_offset_ns;
    std::optional<int64_t> sync_esterror_ns;
    std::optional<int64_t> sync_maxerror_ns;
    std::string_view detail;  // raw `key=value;...`, valid until the next row is read
    uint64_t line = 0;        // 1-based line number in the file
};

// The value of `key` in a detail field ("a=1;b=x"), or nullopt.
std::optional<std::string_view> detail_value(std::string_view detail, std::string_view key);

// Streams the rows of one timing log. Throws ArchiveError naming the file and line for a missing
// or unreadable file, a wrong header, an unknown version, or a malformed row. A last line without
// its line break (torn by a power cut) is skipped and reported by torn_tail().
class TimingLogReader {
  public:
    explicit TimingLogReader(const std::filesystem::path& path);
    ~TimingLogReader();
    TimingLogReader(TimingLogReader&&) noexcept;
    TimingLogReader& operator=(TimingLogReader&&) noexcept;

    // Next row, or false at the end.
    bool next(TimingLogRow& row);
    bool torn_tail() const;
    const std::filesystem::path& path() const;

    class Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

enum class EventKind {
    session_start,
    overrun,
    ring_overflow,
    device_lost,
    device_back,
    clock_step,
    write_error,
    disk_pause,
    write_gap,
    shutdown,
    crash_recovery,
    unsynced,  // the system clock lost NTP synchronisation (from `sync` rows); frames = 0
    resynced,  // ... and regained it
};
std::string_view event_kind_name(EventKind k);

// A discontinuity or notable event, with where it was read.
struct ArchiveEvent {
    EventKind kind = EventKind::overrun;
    std::string stream;
    std::string session;
    uint64_t session_frame = 0;
    std::optional<int64_t> frames;  // frames lost / filled / missing, where the kind has one
    int64_t realtime_ns = 0;
    int64_t raw_ns = 0;
    std::string detail;
    std::filesystem::path file;  // the timing log it came from
    uint64_t line = 0;
};

// One chunk: an audio file and its timing log.
struct ChunkInfo {
    std::string stream;
    std::string session;
    std::filesystem::path audio_path;   // as named by the log (may be missing on disk)
    std::filesystem::path timing_path;  // the timing log
    bool partial = false;    // either file still carries `.partial` (daemon running or crashed)
    bool closed = false;     // the log has its chunk_close row
    bool recovered = false;  // the log has a crash_recovery row
    bool torn_tail = false;  // the log's last line was torn
    uint32_t rate_hz = 0;
    uint32_t channels = 0;
    std::string sample_format;  // as in log_start, e.g. "S16_LE"
    uint64_t first_frame = 0;   // session frame of the audio's first frame (chunk_open)
    uint64_t frames = 0;        // frames in the audio file per the log (close / recovery rows);
                                // for an unclosed log, up to its last point within the chunk
    bool frames_exact = false;  // `frames` came from a chunk_close or crash_recovery count
    uint64_t points = 0;
    int64_t first_realtime_ns = 0;  // chunk_open's realtime (a coarse UTC, before any fit)
    int64_t last_realtime_ns = 0;   // the log's last row
    // For the cache: the timing log's size and mtime when indexed.
    uint64_t log_size = 0;
    int64_t log_mtime_ns = 0;
};

// A stretch of one session over which session frames and the card's clock are continuous, so one
// drift model covers it. Segments end at session ends and at overruns (the frames lost there are
// an estimate); ring overflows and write gaps do not split (their frame counts are exact).
struct SegmentInfo {
    std::string stream;
    std::string session;
    uint32_t rate_hz = 0;
    uint64_t first_frame = 0;
    uint64_t end_frame = 0;           // one past the last frame in the segment's files
    std::vector<std::size_t> chunks;  // indices into Archive::chunks(), in frame order
    std::string starts_with;          // why it starts: "session_start", "overrun", ...
};

// A timing log found but not indexed: empty or holding no log_start / chunk_open row (a crash
// before its first flush). verify reports these.
struct SkippedLog {
    std::filesystem::path path;
    std::string reason;
};

struct ArchiveOptions {
    // Where the index cache lives. Empty: $XDG_CACHE_HOME/framestamp (or ~/.cache/framestamp),
    // one file per archive named after a hash of its canonical path. A cache that cannot be
    // written is not an error (the index is simply rebuilt next time).
    std::filesystem::path cache_dir;
    bool use_cache = true;
    // How a warm cache learns that logs changed (docs/archive-index.md, "Cache"). By default
    // it stats the archive's folders and only the logs that can change in place (.partial ones,
    // each stream's newest, symlinks, ones changed just before indexing); true stats every log,
    // which also notices an old closed log edited in place (verify does this).
    bool stat_every_log = false;
    // A folder changed less than this before it was listed is listed again next time: its
    // timestamps are too coarse (a kernel tick; 1 s on some file systems, 2 s on FAT) to show a
    // change made in the same tick. In ns.
    int64_t dir_settle_ns = 2'000'000'000;
    FitOptions fit;
};

// The index of an archive: a data directory (holding <stream>/ folders), a stream directory, or a
// single date folder. Building it reads every timing log once; after that the cache answers until a
// timing log changes size or mtime, is added or removed (only those are re-read). From an
// unchanged cache, chunks and events are read from the mapped file when first asked for.
class Archive {
  public:
    // Throws ArchiveError when `root` is missing, holds no timing logs, or a log is malformed.
    static Archive open(const std::filesystem::path& root, const ArchiveOptions& options = {});
    ~Archive();
    Archive(Archive&&) noexcept;
    Archive& operator=(Archive&&) noexcept;

    const std::filesystem::path& root() const;
    std::vector<std::string> streams() const;
    const std::vector<ChunkInfo>& chunks() const;  // ordered by stream, then time
    // chunks()[i] without loading every chunk (from a cache, each is read when first asked for).
    const ChunkInfo& chunk(std::size_t chunk_index) const;
    std::size_t chunk_count() const;
    const std::vector<SegmentInfo>& segments() const;  // ordered by stream, then time
    const std::vector<ArchiveEvent>& events() const;   // ordered by stream, then time
    // Where the index came from this time: "cache" (no folder or watched log changed), "cache
    // (rescanned)" (every log stat'ed, none re-read), "updated (N logs re-read)", "built".
    const std::string& index_source() const;
    // Timing logs found but not indexed, and audio files no timing log names.
    const std::vector<SkippedLog>& skipped_logs() const;
    const std::vector<std::filesystem::path>& unlogged_audio() const;
    // The cache file used (empty when caching is off or no cache directory could be found).
    const std::filesystem::path& cache_path() const;

    // The chunk whose audio (or timing log) is `file`, matched by canonical path; nullopt if the
    // file is not part of this archive.
    std::optional<std::size_t> find_chunk(const std::filesystem::path& file) const;
    // The segment holding frame `session_frame` of chunk `chunk_index`.
    std::optional<std::size_t> segment_of(std::size_t chunk_index, uint64_t session_frame) const;

    // The drift model of segment `i`: from the cache, or fitted (streaming over its logs) and
    // cached.
    const SegmentModel& model(std::size_t segment_index) const;
    // Whether model(i) is available without fitting (fitted already or in the cache).
    bool has_model(std::size_t segment_index) const;
    // Fit every segment not yet fitted; `progress` (may be empty) is called after each.
    void fit_all(
        const std::function<void(std::size_t done, std::size_t total)>& progress = {}) const;
    // Saves new models to the cache (also done by the destructor; errors ignored).
    void save_cache() const;

    // Segments whose UTC range from the chunk_open stamps (before any fit; within seconds of the
    // fitted one) comes near utc_ns, of every stream or only `stream`; each stream's latest first.
    std::vector<std::size_t> segments_near(int64_t utc_ns, std::string_view stream = {}) const;
    // That coarse range of segment `i`: [first, end) in ns since 1970.
    std::pair<int64_t, int64_t> coarse_utc_range(std::size_t segment_index) const;

    // Feeds the points, sync and pps rows of segment `i` to `fitter`-like sinks, in order.
    void read_segment(std::size_t segment_index, const std::function<void(const TimePoint&)>& point,
                      const std::function<void(const SyncPoint&)>& sync,
                      const std::function<void(const PpsAnchor&)>& pps = {}) const;

    class Impl;

  private:
    explicit Archive(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Locating a UTC instant: which chunk and sample were recording then.
struct Location {
    std::size_t chunk = 0;
    std::size_t segment = 0;
    uint64_t session_frame = 0;  // the frame captured at or just after utc (rounded to nearest)
    uint64_t sample = 0;         // frame index within the chunk's audio file
    double frac = 0;             // exact position = session_frame + frac (-0.5 <= frac < 0.5)
    TimeEstimate at;             // UTC of session_frame, for checking
};
// Every stream's location of utc_ns (or only `stream`'s). Empty if no segment covers it.
std::vector<Location> locate(const Archive& archive, int64_t utc_ns, std::string_view stream = {});

}  // namespace framestamp
