// The index cache: one binary file per archive, read with one mmap. Layout (native byte order,
// checked by a tag):
//   "FSARCIDX" u32 version u32 0x01020304 u64 index_bytes u64 index_hash u64 table_bytes
//   u64 table_hash
//   index (cache_index.cpp): root, folder stamps, watched logs, logs found, per-log records,
//     streams, skipped logs, chunk rows, segments, events
//   model table: key, offset, length of each model blob
//   model blobs (u64 hash + serialize_model bytes each), "FSARCEND"
// Anything that does not check out makes the whole cache count as absent.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cstdlib>
#include <cstring>

#include "archive/cache_codec.hpp"
#include "framestamp/timing_log.hpp"

namespace framestamp::archive {

namespace {

namespace fsys = std::filesystem;

constexpr std::string_view kMagic = "FSARCIDX";
constexpr std::string_view kEnd = "FSARCEND";
// 2: folder stamps and a watch list for the cheap staleness check; the assembled index (chunk
// rows, segments, events) beside the per-log records; the model table outside the index part.
constexpr uint32_t kVersion = 2;
constexpr uint32_t kByteOrder = 0x01020304;
constexpr std::size_t kHeaderBytes = 8 + 4 + 4 + 4 * 8;
constexpr std::size_t kPerModel = 3 * 8;

uint64_t mix(uint64_t h, uint64_t w) {
    h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
    return h ^ (h >> 32);
}

}  // namespace

uint64_t fnv1a(std::string_view bytes, uint64_t h) {
    for (const char ch : bytes) {
        h = (h ^ static_cast<unsigned char>(ch)) * 0x100000001B3ULL;
    }
    return h;
}

uint64_t hash64(std::string_view b) {
    uint64_t lane[4] = {0x9E3779B97F4A7C15ULL ^ b.size(), 0xC2B2AE3D27D4EB4FULL,
                        0x165667B19E3779F9ULL, 0x27D4EB2F165667C5ULL};
    std::size_t i = 0;
    for (; i + 32 <= b.size(); i += 32) {
        for (std::size_t k = 0; k < 4; ++k) {
            uint64_t w = 0;
            std::memcpy(&w, b.data() + i + 8 * k, 8);
            lane[k] = mix(lane[k], w);
        }
    }
    uint64_t h = mix(mix(mix(lane[0], lane[1]), lane[2]), lane[3]);
    for (; i + 8 <= b.size(); i += 8) {
        uint64_t w = 0;
        std::memcpy(&w, b.data() + i, 8);
        h = mix(h, w);
    }
    for (; i < b.size(); ++i) {
        h = (h ^ static_cast<unsigned char>(b[i])) * 0xC4CEB9FE1A85EC53ULL;
    }
    return h ^ (h >> 29);
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

bool parse_cache(std::string_view bytes, const fsys::path& root, CacheView& out) {
    try {
        In head(bytes);
        if (head.view(kMagic.size()) != kMagic || head.get<uint32_t>() != kVersion ||
            head.get<uint32_t>() != kByteOrder) {
            return false;
        }
        const auto index_bytes = head.get<uint64_t>();
        const auto index_hash = head.get<uint64_t>();
        const auto table_bytes = head.get<uint64_t>();
        const auto table_hash = head.get<uint64_t>();
        if (bytes.size() < kHeaderBytes + kEnd.size() ||
            bytes.substr(bytes.size() - kEnd.size()) != kEnd ||
            index_bytes > bytes.size() - kHeaderBytes - kEnd.size() ||
            table_bytes > bytes.size() - kHeaderBytes - kEnd.size() - index_bytes) {
            return false;
        }
        const std::string_view index = bytes.substr(kHeaderBytes, index_bytes);
        const std::string_view table = bytes.substr(kHeaderBytes + index_bytes, table_bytes);
        if (hash64(index) != index_hash || hash64(table) != table_hash) {
            return false;
        }
        if (!parse_index(index, root, out)) {
            return false;  // another archive whose path hashed the same
        }
        out.index = index;
        In in(table);
        const uint64_t blobs_from = kHeaderBytes + index_bytes + table_bytes;
        const uint64_t blobs_end = bytes.size() - kEnd.size();
        const auto models = in.count(kPerModel);
        for (uint64_t i = 0; i < models; ++i) {
            const auto key = in.get<uint64_t>();
            const auto offset = in.get<uint64_t>();
            const auto length = in.get<uint64_t>();
            if (offset < blobs_from || offset > blobs_end || length > blobs_end - offset ||
                length < 8) {
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

bool load_cache(std::string_view bytes, const fsys::path& root, CacheView& out) {
    CacheView parsed;
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

bool write_cache(const fsys::path& file, std::string_view index,
                 const std::vector<std::pair<uint64_t, std::string_view>>& models) {
    Out table;
    table.put(static_cast<uint64_t>(models.size()));
    uint64_t offset = kHeaderBytes + index.size() + 8 + models.size() * kPerModel;
    for (const auto& [key, blob] : models) {
        table.put(key);
        table.put(offset);
        table.put(static_cast<uint64_t>(blob.size()));
        offset += blob.size();
    }
    Out head;
    head.s.append(kMagic);
    head.put(kVersion);
    head.put(kByteOrder);
    head.put(static_cast<uint64_t>(index.size()));
    head.put(hash64(index));
    head.put(static_cast<uint64_t>(table.s.size()));
    head.put(hash64(table.s));

    std::error_code ec;
    fsys::create_directories(file.parent_path(), ec);
    const fsys::path tmp = fmt::format("{}.tmp.{}", file.string(), ::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return false;
    }
    int err = write_all(fd, head.s.data(), head.s.size());
    if (err == 0) {
        err = write_all(fd, index.data(), index.size());
    }
    if (err == 0) {
        err = write_all(fd, table.s.data(), table.s.size());
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
