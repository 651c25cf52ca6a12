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
};
struct Discovery {
    std::vector<FoundLog> logs;      // sorted by rel_path
    std::vector<std::string> audio;  // relative paths of audio files (incl. .partial)
};
Discovery discover(const std::filesystem::path& root);

// Which rows of which chunks feed a segment's fit: rows after (first_chunk, after_line) up to
// and excluding (last_chunk, before_line).
struct SegmentRange {
    std::size_t first_chunk = 0;
    uint64_t after_line = 0;
    std::size_t last_chunk = 0;
    uint64_t before_line = UINT64_MAX;
    int64_t coarse_first_utc_ns = 0;  // chunk_open realtimes: a UTC range before any fit
    int64_t coarse_end_utc_ns = 0;
    uint64_t key = 0;  // identifies the segment and the logs it reads, for the model cache
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

struct CacheContents {
    std::vector<LogRecord> records;
    std::unordered_map<uint64_t, std::string_view> models;  // by SegmentRange::key
};

std::filesystem::path cache_file_for(const std::filesystem::path& root,
                                     const ArchiveOptions& options);
// Parses a mapped cache file; false when it is corrupt, foreign or for another root.
bool load_cache(std::string_view bytes, const std::filesystem::path& root, CacheContents& out);
// Writes the cache atomically; false (and nothing changed) on any failure.
bool write_cache(const std::filesystem::path& file, const std::filesystem::path& root,
                 const std::vector<LogRecord>& records,
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
    std::vector<archive::LogRecord> records;  // in chunk order (indexed ones first)
    std::vector<ChunkInfo> chunks;
    std::vector<SegmentInfo> segments;
    std::vector<archive::SegmentRange> ranges;
    std::vector<ArchiveEvent> events;
    std::vector<SkippedLog> skipped;
    std::vector<std::vector<std::size_t>> overrun_events;  // per chunk, indices into events
    std::vector<std::string> audio_found;                  // relative, sorted

    // Built on first use (find_chunk, unlogged_audio), under `mutex`.
    mutable bool lookups_built = false;
    mutable std::vector<std::filesystem::path> unlogged_audio;
    mutable std::unordered_map<std::string, std::size_t> chunk_by_path;

    std::unique_ptr<archive::MappedFile> cache_map;
    mutable std::mutex mutex;  // guards models, dirty and the lookups
    mutable std::vector<archive::ModelSlot> models;
    mutable bool dirty = false;

    std::vector<archive::StreamTimeIndex> time_index;

    void assemble(const archive::Discovery& found);
    void build_segments();
    void build_time_index();
    void build_lookups() const;
};

}  // namespace framestamp
