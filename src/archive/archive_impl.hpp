// Internals of the archive index shared by its source files: what one timing log contributes
// (cached per log), the discovery walk, the cache file and the Archive's state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "framestamp/archive.hpp"

namespace framestamp::archive {

// An event row of one log, without what the log as a whole says (stream, session, file).
struct LogEvent {
    EventKind kind = EventKind::overrun;
    uint64_t session_frame = 0;
    std::optional<int64_t> frames;
    int64_t realtime_ns = 0;
    int64_t raw_ns = 0;
    uint64_t line = 0;
    std::string detail;
};

// Everything the index keeps of one timing log: read once, then kept in the cache until the
// log's size or mtime changes.
struct LogRecord {
    std::string rel_path;  // timing log, relative to the archive root
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    std::string skip_reason;  // non-empty: not indexed (see SkippedLog)
    ChunkInfo info;           // stream .. last_realtime_ns; paths are filled at assembly
    std::string audio_name;   // the audio file's name per the log (final name, no .partial)
    uint64_t last_point_frame = 0;
    // Events and every `sync` row whose synced= state differs from the row before it in this
    // log (and the log's first one), in line order.
    std::vector<LogEvent> events;
    std::vector<LogEvent> sync_marks;  // kind unsynced / resynced by the row's own state
};

// Reads the log at root/rel_path. Throws ArchiveError for a malformed log; an empty or
// unusable crash left-over comes back with skip_reason set.
LogRecord scan_log(const std::filesystem::path& root, const std::string& rel_path, uint64_t size,
                   int64_t mtime_ns);

// What the walk over the archive's folders found.
struct FoundLog {
    std::string rel_path;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    bool symlink = false;  // a link to a log elsewhere: its folder does not see it change
};
// A folder as it was when listed. Creating, removing or renaming an entry in it changes its
// mtime and ctime; nothing but the kernel sets ctime (cp -a and rsync -a set mtime back).
struct DirStamp {
    std::string rel_path;  // "" for the root
    uint64_t ino = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool racy = false;  // changed too shortly before it was listed to trust its stamp later
};
struct Discovery {
    std::vector<FoundLog> logs;      // sorted by rel_path
    std::vector<std::string> audio;  // relative paths of audio files (incl. .partial)
    std::vector<DirStamp> dirs;      // every folder walked, sorted by rel_path
    int64_t listed_at_ns = 0;        // CLOCK_REALTIME before the walk began
};
// Walks root; folders whose mtime or ctime is settle_ns or less before the walk are marked racy.
Discovery discover(const std::filesystem::path& root, int64_t settle_ns);

// The logs the cheap check stats although their folder did not change: those that can change
// in place. framestampd appends only to the .partial log it is writing; closing a log renames
// it, and crash recovery writes a copy and renames it, which changes the folder.
struct WatchedLog {
    std::string_view rel_path;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
};
// True when every folder in `dirs` has its recorded inode, mtime and ctime, every racy one still
// holds what `listing` (the walk's, from the cache; null: fail) says, and every watched log has its
// size and mtime: the cached index is then taken as it is.
bool unchanged_since_listed(const std::filesystem::path& root, const std::vector<DirStamp>& dirs,
                            const std::vector<WatchedLog>& watched, const Discovery* listing);

// Which rows of which chunks feed a segment's fit: rows after (first_chunk, after_line) up to
// and excluding (last_chunk, before_line).
struct SegmentRange {
    std::size_t first_chunk = 0;
    uint64_t after_line = 0;
    std::size_t last_chunk = 0;
    uint64_t before_line = UINT64_MAX;
    int64_t coarse_first_utc_ns = 0;  // chunk_open realtimes: a UTC range before any fit
    int64_t coarse_end_utc_ns = 0;
    uint64_t logs_key = 0;  // hash of the segment and the path, size and mtime of its logs
    uint64_t key = 0;       // logs_key and the fit options: the model cache's key
};

// A stream's segments by coarse UTC, for finding the ones near an instant.
struct StreamTimeIndex {
    std::string stream;
    std::vector<std::size_t> by_first;  // segment indices, ascending coarse_first_utc_ns
    std::vector<int64_t> max_end;       // running maximum of coarse_end_utc_ns along by_first
};

struct ModelSlot {
    std::unique_ptr<SegmentModel> model;
    std::string_view cached;  // serialized model in the mapped cache file
    bool fresh = false;       // fitted now, not yet saved
};

// A read-only mapping of the cache file, kept while the Archive lives (models load lazily).
class MappedFile {
  public:
    MappedFile() = default;
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    bool open(const std::filesystem::path& path);
    std::string_view bytes() const { return {static_cast<const char*>(data_), size_}; }

  private:
    void* data_ = nullptr;
    std::size_t size_ = 0;
};

// A cache file's parts, as views into its mapping (docs/archive-index.md, "Cache"). Open reads
// the folder stamps, the watch list, the streams, the skipped logs and the segments; the rest
// is read on demand: the per-log records only when something changed, chunk rows one by one.
struct CacheView {
    std::filesystem::path file;  // the cache file, for errors
    std::string_view index;      // the whole index part, reused as it is when only models change
    std::vector<DirStamp> dirs;
    std::vector<WatchedLog> watched;
    std::string_view logs;     // every log found: rel_path, size, mtime, flags
    std::string_view audio;    // relative audio paths
    std::string_view records;  // LogRecord of every log
    std::vector<std::string> streams;
    std::vector<std::pair<std::string, std::string>> skipped;  // rel_path, reason
    uint64_t chunk_count = 0;
    std::string_view chunk_offsets;  // u64 per chunk into chunk_rows
    std::string_view chunk_rows;
    std::vector<SegmentInfo> segments;
    std::vector<SegmentRange> ranges;  // key not set (it depends on the fit options)
    std::string_view events;
    std::unordered_map<uint64_t, std::string_view> models;  // by SegmentRange::key
};

// What an index built from the logs saves (the segments' keys are taken without the options).
struct IndexParts {
    const Discovery* found = nullptr;
    const std::vector<LogRecord>* records = nullptr;
    const std::vector<ChunkInfo>* chunks = nullptr;
    const std::vector<std::string>* audio_rels = nullptr;  // of each chunk, as in audio_path
    const std::vector<SegmentInfo>* segments = nullptr;
    const std::vector<SegmentRange>* ranges = nullptr;
    const std::vector<ArchiveEvent>* events = nullptr;
    const std::vector<std::size_t>* event_chunks = nullptr;  // chunk index of each event
    const std::vector<std::string>* streams = nullptr;
    int64_t settle_ns = 0;
};

std::filesystem::path cache_file_for(const std::filesystem::path& root,
                                     const ArchiveOptions& options);
// Parses a mapped cache file's fixed parts; false when it is corrupt, foreign, of another
// version or for another root.
bool load_cache(std::string_view bytes, const std::filesystem::path& root, CacheView& out);
// The per-log records of a loaded cache (false when they do not parse).
bool load_records(const CacheView& view, std::vector<LogRecord>& out);
// Every log found, and the audio files, as the walk saw them.
bool load_found(const CacheView& view, Discovery& out);
// Chunk `i`, its timing log, and every event, of a loaded cache (paths under root). The index
// part was checked whole at load, so these throw ArchiveError only on a writer's bug.
ChunkInfo load_chunk(const CacheView& view, const std::filesystem::path& root, std::size_t i);
std::filesystem::path load_timing_path(const CacheView& view, const std::filesystem::path& root,
                                       std::size_t i);
std::vector<ArchiveEvent> load_events(const CacheView& view, const std::filesystem::path& root);
// The index part of a cache file for an index built from the logs.
std::string encode_index(const std::filesystem::path& root, const IndexParts& parts);
// Writes the cache atomically; false (and nothing changed) on any failure.
bool write_cache(const std::filesystem::path& file, std::string_view index,
                 const std::vector<std::pair<uint64_t, std::string_view>>& models);

// A cached model: a check hash, then serialize_model's bytes.
std::string model_blob(std::string_view serialized);
bool model_from_blob(std::string_view blob, std::string_view& serialized);

uint64_t fnv1a(std::string_view bytes, uint64_t h = 0xcbf29ce484222325ULL);

}  // namespace framestamp::archive

namespace framestamp {

class Archive::Impl {
  public:
    std::filesystem::path root;
    ArchiveOptions options;
    std::string index_source;
    std::filesystem::path cache_path;
    // Taken from an unchanged cache: chunks, events and the per-log data stay in the mapping
    // (`view`) until asked for. Otherwise everything below was built at open.
    bool from_view = false;
    archive::CacheView view;
    std::unique_ptr<archive::MappedFile> cache_map;

    std::vector<SegmentInfo> segments;
    std::vector<archive::SegmentRange> ranges;
    std::vector<SkippedLog> skipped;
    std::vector<std::string> stream_names;
    std::size_t chunk_count = 0;
    std::vector<archive::StreamTimeIndex> time_index;

    // Built at open, or loaded from `view` on first use; under `mutex` once open returned.
    mutable bool have_chunks = false;
    mutable std::vector<ChunkInfo> chunks;
    mutable std::unordered_map<std::size_t, ChunkInfo> single_chunks;  // loaded one by one
    mutable bool have_events = false;
    mutable std::vector<ArchiveEvent> events;
    mutable bool have_found = false;
    mutable archive::Discovery found;
    // Only for an index built at open (saved with it).
    std::vector<archive::LogRecord> records;  // in chunk order (indexed ones first)
    std::vector<std::string> audio_rels;      // per chunk
    std::vector<std::size_t> event_chunks;
    std::vector<std::vector<std::size_t>> overrun_events;  // per chunk, indices into events

    // Built on first use (find_chunk, unlogged_audio), under `mutex`.
    mutable bool lookups_built = false;
    mutable std::vector<std::filesystem::path> unlogged_audio;
    mutable std::unordered_map<std::string, std::size_t> chunk_by_path;

    mutable std::mutex mutex;  // guards models, dirty and what is loaded on demand
    mutable std::vector<archive::ModelSlot> models;
    mutable bool dirty = false;  // a model was fitted, or cached ones were dropped
    // An index built at open: its encoding, and whether the cache file holds it.
    mutable std::string encoded_index;
    mutable bool index_saved = false;

    void assemble();
    void build_segments();
    void build_time_index();
    void attach_models(const archive::CacheView* cached);
    // Need `mutex` held (or open not yet returned).
    void load_chunks() const;
    void load_events() const;
    void load_found() const;
    void build_lookups() const;
    const ChunkInfo& chunk_locked(std::size_t i) const;
    // The timing log of chunk i, without loading the chunk (no lock needed).
    std::filesystem::path timing_path(std::size_t i) const;
};

}  // namespace framestamp
