// The index cache: one binary file per archive, read with one mmap. Layout (native byte order,
// checked by a tag):
//   "FSARCIDX" u32 version u32 0x01020304 u64 index_bytes u64 index_hash
//   index: root, log records, model table (key, offset, length)
//   model blobs (u64 hash + serialize_model bytes each), "FSARCEND"
// Anything that does not check out makes the whole cache count as absent.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "archive/archive_impl.hpp"
#include "framestamp/timing_log.hpp"

namespace framestamp::archive {

namespace {

namespace fsys = std::filesystem;

constexpr std::string_view kMagic = "FSARCIDX";
constexpr std::string_view kEnd = "FSARCEND";
constexpr uint32_t kVersion = 1;
constexpr uint32_t kByteOrder = 0x01020304;
constexpr std::size_t kHeaderBytes = 8 + 4 + 4 + 8 + 8;

// A fast 64-bit hash, 8 bytes a step: guards the cache against torn or damaged bytes only.
uint64_t hash64(std::string_view b) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ b.size();
    std::size_t i = 0;
    for (; i + 8 <= b.size(); i += 8) {
        uint64_t w = 0;
        std::memcpy(&w, b.data() + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    for (; i < b.size(); ++i) {
        h = (h ^ static_cast<unsigned char>(b[i])) * 0xC4CEB9FE1A85EC53ULL;
    }
    return h ^ (h >> 29);
}

class Out {
  public:
    template <typename T>
    void put(T v) {
        static_assert(std::is_trivially_copyable_v<T>);
        s.append(reinterpret_cast<const char*>(&v), sizeof v);
    }
    void str(std::string_view v) {
        put(static_cast<uint32_t>(v.size()));
        s.append(v);
    }
    std::string s;
};

struct Corrupt {};

class In {
  public:
    explicit In(std::string_view b) : b_(b) {}
    template <typename T>
    T get() {
        if (b_.size() - pos_ < sizeof(T)) {
            throw Corrupt{};
        }
        T v;
        std::memcpy(&v, b_.data() + pos_, sizeof v);
        pos_ += sizeof v;
        return v;
    }
    std::string str() { return std::string(view(get<uint32_t>())); }
    std::string_view view(std::size_t n) {
        if (b_.size() - pos_ < n) {
            throw Corrupt{};
        }
        const std::string_view v = b_.substr(pos_, n);
        pos_ += n;
        return v;
    }
    bool at_end() const { return pos_ == b_.size(); }

  private:
    std::string_view b_;
    std::size_t pos_ = 0;
};

void put_events(Out& o, const std::vector<LogEvent>& events) {
    o.put(static_cast<uint32_t>(events.size()));
    for (const LogEvent& e : events) {
        o.put(static_cast<uint8_t>(e.kind));
        o.put(e.session_frame);
        o.put(static_cast<uint8_t>(e.frames.has_value()));
        o.put(e.frames.value_or(0));
        o.put(e.realtime_ns);
        o.put(e.raw_ns);
        o.put(e.line);
        o.str(e.detail);
    }
}

void get_events(In& in, std::vector<LogEvent>& events) {
    const auto n = in.get<uint32_t>();
    events.resize(n);
    for (LogEvent& e : events) {
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
}

enum : uint8_t { kPartial = 1, kClosed = 2, kRecovered = 4, kTorn = 8, kExact = 16 };

void put_record(Out& o, const LogRecord& r) {
    const ChunkInfo& c = r.info;
    o.str(r.rel_path);
    o.put(r.size);
    o.put(r.mtime_ns);
    o.str(r.skip_reason);
    o.str(c.stream);
    o.str(c.session);
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
    const auto flags = in.get<uint8_t>();
    c.partial = (flags & kPartial) != 0;
    c.closed = (flags & kClosed) != 0;
    c.recovered = (flags & kRecovered) != 0;
    c.torn_tail = (flags & kTorn) != 0;
    c.frames_exact = (flags & kExact) != 0;
    c.rate_hz = in.get<uint32_t>();
    c.channels = in.get<uint32_t>();
    c.sample_format = in.str();
    c.first_frame = in.get<uint64_t>();
    c.frames = in.get<uint64_t>();
    c.points = in.get<uint64_t>();
    c.first_realtime_ns = in.get<int64_t>();
    c.last_realtime_ns = in.get<int64_t>();
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

}  // namespace

uint64_t fnv1a(std::string_view bytes, uint64_t h) {
    for (const char ch : bytes) {
        h = (h ^ static_cast<unsigned char>(ch)) * 0x100000001B3ULL;
    }
    return h;
}

MappedFile::~MappedFile() {
    if (data_ != nullptr) {
        ::munmap(data_, size_);
    }
}

bool MappedFile::open(const fsys::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
        ::close(fd);
        return false;
    }
    void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) {
        return false;
    }
    data_ = p;
    size_ = static_cast<std::size_t>(st.st_size);
    return true;
}

fsys::path cache_file_for(const fsys::path& root, const ArchiveOptions& options) {
    fsys::path dir = options.cache_dir;
    if (dir.empty()) {
        const char* xdg = std::getenv("XDG_CACHE_HOME");
        const char* home = std::getenv("HOME");
        if (xdg != nullptr && xdg[0] == '/') {
            dir = fsys::path(xdg) / "framestamp";
        } else if (home != nullptr && home[0] == '/') {
            dir = fsys::path(home) / ".cache" / "framestamp";
        } else {
            return {};
        }
    }
    return dir / fmt::format("archive-{:016x}.idx", fnv1a(root.string()));
}

namespace {

bool parse_cache(std::string_view bytes, const fsys::path& root, CacheContents& out) {
    try {
        In head(bytes);
        if (head.view(kMagic.size()) != kMagic || head.get<uint32_t>() != kVersion ||
            head.get<uint32_t>() != kByteOrder) {
            return false;
        }
        const auto index_bytes = head.get<uint64_t>();
        const auto index_hash = head.get<uint64_t>();
        if (index_bytes > bytes.size() - kHeaderBytes || bytes.size() < kEnd.size() ||
            bytes.substr(bytes.size() - kEnd.size()) != kEnd) {
            return false;
        }
        const std::string_view index = bytes.substr(kHeaderBytes, index_bytes);
        if (hash64(index) != index_hash) {
            return false;
        }
        In in(index);
        if (in.str() != root.string()) {
            return false;  // another archive whose path hashed the same
        }
        const auto n = in.get<uint64_t>();
        if (n > index.size()) {
            return false;
        }
        out.records.resize(n);
        for (LogRecord& r : out.records) {
            get_record(in, r);
        }
        const auto models = in.get<uint64_t>();
        for (uint64_t i = 0; i < models; ++i) {
            const auto key = in.get<uint64_t>();
            const auto offset = in.get<uint64_t>();
            const auto length = in.get<uint64_t>();
            if (offset < kHeaderBytes + index_bytes || offset > bytes.size() ||
                length > bytes.size() - offset || length < 8) {
                return false;
            }
            out.models.emplace(key, bytes.substr(offset, length));
        }
        return in.at_end();
    } catch (const Corrupt&) {
        return false;
    } catch (const std::bad_alloc&) {
        return false;
    }
}

}  // namespace

bool load_cache(std::string_view bytes, const fsys::path& root, CacheContents& out) {
    CacheContents parsed;
    if (!parse_cache(bytes, root, parsed)) {
        return false;
    }
    out = std::move(parsed);
    return true;
}

std::string model_blob(std::string_view serialized) {
    Out o;
    o.put(hash64(serialized));
    o.s.append(serialized);
    return std::move(o.s);
}

bool model_from_blob(std::string_view blob, std::string_view& serialized) {
    if (blob.size() < 8) {
        return false;
    }
    uint64_t h = 0;
    std::memcpy(&h, blob.data(), 8);
    serialized = blob.substr(8);
    return hash64(serialized) == h;
}

bool write_cache(const fsys::path& file, const fsys::path& root,
                 const std::vector<LogRecord>& records,
                 const std::vector<std::pair<uint64_t, std::string_view>>& models) {
    Out index;
    index.str(root.string());
    index.put(static_cast<uint64_t>(records.size()));
    for (const LogRecord& r : records) {
        put_record(index, r);
    }
    index.put(static_cast<uint64_t>(models.size()));
    constexpr std::size_t kPerModel = 24;
    uint64_t offset = kHeaderBytes + index.s.size() + models.size() * kPerModel;
    for (const auto& [key, blob] : models) {
        index.put(key);
        index.put(offset);
        index.put(static_cast<uint64_t>(blob.size()));
        offset += blob.size();
    }
    Out head;
    head.s.append(kMagic);
    head.put(kVersion);
    head.put(kByteOrder);
    head.put(static_cast<uint64_t>(index.s.size()));
    head.put(hash64(index.s));

    std::error_code ec;
    fsys::create_directories(file.parent_path(), ec);
    const fsys::path tmp = fmt::format("{}.tmp.{}", file.string(), ::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return false;
    }
    int err = write_all(fd, head.s.data(), head.s.size());
    if (err == 0) {
        err = write_all(fd, index.s.data(), index.s.size());
    }
    for (const auto& m : models) {
        if (err == 0) {
            err = write_all(fd, m.second.data(), m.second.size());
        }
    }
    if (err == 0) {
        err = write_all(fd, kEnd.data(), kEnd.size());
    }
    if (::close(fd) != 0 && err == 0) {
        err = errno;
    }
    if (err == 0) {
        fsys::rename(tmp, file, ec);
    }
    if (err != 0 || ec) {
        fsys::remove(tmp, ec);
        return false;
    }
    return true;
}

}  // namespace framestamp::archive
