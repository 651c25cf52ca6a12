// Checked I/O on top of the Io seam: retries EINTR and short writes, turns failures into
// FileErrors naming the file, and little-endian byte packing for the headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "framestamp/audiofile.hpp"

namespace framestamp::audiofile {

// "<op> <file>: <strerror(err)>"; err is a positive errno.
FileError sys_error(int err, std::string_view op, const std::filesystem::path& file);

// Writes all of buf at offset, retrying EINTR and continuing after short writes. On failure,
// *done (if given) holds the bytes that did reach the file, all before the failing one.
FileStatus write_all(Io& io, int fd, const std::filesystem::path& file, const void* buf,
                     std::size_t len, int64_t offset, uint64_t* done = nullptr);

// Reads up to len bytes at offset, retrying EINTR; fewer only at end of file. Returns the count.
FileResult<uint64_t> read_upto(Io& io, int fd, const std::filesystem::path& file, void* buf,
                               std::size_t len, int64_t offset);

// fdatasync / fsync, retrying EINTR only: after EIO the kernel may already have dropped the
// dirty pages, so a retry that succeeded would lie about durability.
FileStatus sync_data(Io& io, int fd, const std::filesystem::path& file);
FileStatus sync_all(Io& io, int fd, const std::filesystem::path& file);
// Makes a rename or a new entry in `dir` durable.
FileStatus sync_dir(Io& io, const std::filesystem::path& dir);

FileResult<int64_t> size_of(Io& io, int fd, const std::filesystem::path& file);
FileStatus truncate_to(Io& io, int fd, const std::filesystem::path& file, int64_t length);

// The directory holding `file` ("." for a bare name).
std::filesystem::path parent_dir(const std::filesystem::path& file);

// Little-endian packing.
inline void put_le16(std::vector<uint8_t>& out, uint16_t v) {
    out.push_back(static_cast<uint8_t>(v));
    out.push_back(static_cast<uint8_t>(v >> 8));
}
inline void put_le32(std::vector<uint8_t>& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
}
inline void put_le64(std::vector<uint8_t>& out, uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
}
inline void put_bytes(std::vector<uint8_t>& out, std::string_view s) {
    out.insert(out.end(), s.begin(), s.end());
}
inline void set_le32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        p[i] = static_cast<uint8_t>(v >> (8 * i));
    }
}
inline void set_le64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        p[i] = static_cast<uint8_t>(v >> (8 * i));
    }
}
inline uint16_t get_le16(const uint8_t* p) {
    return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
inline uint32_t get_le32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
           (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
inline uint64_t get_le64(const uint8_t* p) {
    return static_cast<uint64_t>(get_le32(p)) | (static_cast<uint64_t>(get_le32(p + 4)) << 32);
}

}  // namespace framestamp::audiofile
