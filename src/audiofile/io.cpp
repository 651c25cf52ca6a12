// The operating system behind the Io seam, and the checked helpers built on it.
#include "audiofile/io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <fmt/format.h>

namespace framestamp {

namespace {

int neg_errno() {
    return errno != 0 ? -errno : -EIO;
}

}  // namespace

int Io::open(const char* path, int flags, unsigned mode) {
    const int fd = ::open64(path, flags | O_CLOEXEC, static_cast<mode_t>(mode));
    return fd >= 0 ? fd : neg_errno();
}

int Io::close(int fd) {
    // Linux releases the descriptor even when close() fails, so it is never retried.
    return ::close(fd) == 0 ? 0 : neg_errno();
}

int64_t Io::pwrite(int fd, const void* buf, std::size_t len, int64_t offset) {
    const ssize_t n = ::pwrite64(fd, buf, len, offset);
    return n >= 0 ? static_cast<int64_t>(n) : neg_errno();
}

int64_t Io::pread(int fd, void* buf, std::size_t len, int64_t offset) {
    const ssize_t n = ::pread64(fd, buf, len, offset);
    return n >= 0 ? static_cast<int64_t>(n) : neg_errno();
}

int Io::fdatasync(int fd) {
    return ::fdatasync(fd) == 0 ? 0 : neg_errno();
}

int Io::fsync(int fd) {
    return ::fsync(fd) == 0 ? 0 : neg_errno();
}

int Io::ftruncate(int fd, int64_t length) {
    return ::ftruncate64(fd, length) == 0 ? 0 : neg_errno();
}

int64_t Io::file_size(int fd) {
    struct stat64 st {};
    if (::fstat64(fd, &st) != 0) {
        return neg_errno();
    }
    return static_cast<int64_t>(st.st_size);
}

int Io::rename_noreplace(const char* from, const char* to) {
    if (::renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) {
        return 0;
    }
    const int err = errno;
    if (err != EINVAL && err != ENOSYS) {
        return -err;
    }
    // The file system lacks RENAME_NOREPLACE: a hard link fails atomically if `to` exists.
    if (::link(from, to) == 0) {
        return ::unlink(from) == 0 ? 0 : neg_errno();
    }
    if (errno == EEXIST) {
        return -EEXIST;
    }
    // No hard links either (vfat): check, then rename. Only this process writes here.
    struct stat64 st {};
    if (::lstat64(to, &st) == 0) {
        return -EEXIST;
    }
    return ::rename(from, to) == 0 ? 0 : neg_errno();
}

int Io::unlink(const char* path) {
    return ::unlink(path) == 0 ? 0 : neg_errno();
}

Io& system_io() {
    static Io io;
    return io;
}

namespace audiofile {

FileError sys_error(int err, std::string_view op, const std::filesystem::path& file) {
    return FileError{err, fmt::format("{} {}: {}", op, file.string(), std::strerror(err))};
}

FileStatus write_all(Io& io, int fd, const std::filesystem::path& file, const void* buf,
                     std::size_t len, int64_t offset, uint64_t* done) {
    const auto* p = static_cast<const uint8_t*>(buf);
    std::size_t left = len;
    uint64_t written = 0;
    FileStatus status;
    while (left > 0) {
        const int64_t n = io.pwrite(fd, p, left, offset + static_cast<int64_t>(written));
        if (n == -EINTR) {
            continue;
        }
        if (n < 0) {
            status = sys_error(static_cast<int>(-n), "write", file);
            break;
        }
        if (n == 0) {
            // No progress and no errno: the device is full in all but name.
            status = sys_error(ENOSPC, "write (no progress)", file);
            break;
        }
        p += n;
        left -= static_cast<std::size_t>(n);
        written += static_cast<uint64_t>(n);
    }
    if (done != nullptr) {
        *done = written;
    }
    return status;
}

FileResult<uint64_t> read_upto(Io& io, int fd, const std::filesystem::path& file, void* buf,
                               std::size_t len, int64_t offset) {
    auto* p = static_cast<uint8_t*>(buf);
    uint64_t got = 0;
    while (got < len) {
        const int64_t n = io.pread(fd, p + got, len - static_cast<std::size_t>(got),
                                   offset + static_cast<int64_t>(got));
        if (n == -EINTR) {
            continue;
        }
        if (n < 0) {
            return sys_error(static_cast<int>(-n), "read", file);
        }
        if (n == 0) {
            break;
        }
        got += static_cast<uint64_t>(n);
    }
    return got;
}

FileStatus sync_data(Io& io, int fd, const std::filesystem::path& file) {
    int r = 0;
    do {
        r = io.fdatasync(fd);
    } while (r == -EINTR);
    if (r < 0) {
        return sys_error(-r, "fdatasync", file);
    }
    return {};
}

FileStatus sync_all(Io& io, int fd, const std::filesystem::path& file) {
    int r = 0;
    do {
        r = io.fsync(fd);
    } while (r == -EINTR);
    if (r < 0) {
        return sys_error(-r, "fsync", file);
    }
    return {};
}

FileStatus sync_dir(Io& io, const std::filesystem::path& dir) {
    const int fd = io.open(dir.c_str(), O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) {
        return sys_error(-fd, "open directory", dir);
    }
    FileStatus status = sync_all(io, fd, dir);
    io.close(fd);
    return status;
}

FileResult<int64_t> size_of(Io& io, int fd, const std::filesystem::path& file) {
    const int64_t n = io.file_size(fd);
    if (n < 0) {
        return sys_error(static_cast<int>(-n), "stat", file);
    }
    return n;
}

FileStatus truncate_to(Io& io, int fd, const std::filesystem::path& file, int64_t length) {
    int r = 0;
    do {
        r = io.ftruncate(fd, length);
    } while (r == -EINTR);
    if (r < 0) {
        return sys_error(-r, "truncate", file);
    }
    return {};
}

std::filesystem::path parent_dir(const std::filesystem::path& file) {
    auto dir = file.parent_path();
    return dir.empty() ? std::filesystem::path(".") : dir;
}

}  // namespace audiofile
}  // namespace framestamp
