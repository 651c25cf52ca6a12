// The file-system seam of the audio chunk writer and of recovery. Every system call that can be
// interrupted, cut short or fail for lack of space goes through one Io object, so tests can inject
// EINTR, short writes, ENOSPC and EIO without touching a real disk's failure modes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace framestamp {

// Each call returns its result (>= 0) on success and -errno on failure; errno itself is neither
// read nor relied upon by callers. Offsets and sizes are 64-bit on every platform (RF64 files pass
// 4 GiB on 32-bit ARM too). The default implementations call the operating system once each, with
// no retry: retrying EINTR and short writes is the caller's job, so a fake sees every attempt.
class Io {
  public:
    Io() = default;
    Io(const Io&) = delete;
    Io& operator=(const Io&) = delete;
    virtual ~Io() = default;

    virtual int open(const char* path, int flags, unsigned mode);
    virtual int close(int fd);
    // Bytes written (possibly fewer than len), or -errno.
    virtual int64_t pwrite(int fd, const void* buf, std::size_t len, int64_t offset);
    // Bytes read (0 at end of file), or -errno.
    virtual int64_t pread(int fd, void* buf, std::size_t len, int64_t offset);
    virtual int fdatasync(int fd);
    virtual int fsync(int fd);
    virtual int ftruncate(int fd, int64_t length);
    // Size of the open file in bytes, or -errno.
    virtual int64_t file_size(int fd);
    // Renames without ever replacing an existing file (-EEXIST if `to` exists): a chunk whose
    // name collides, e.g. after the clock stepped back, must never overwrite a closed chunk.
    virtual int rename_noreplace(const char* from, const char* to);
    virtual int unlink(const char* path);
};

// The process-wide Io that calls the operating system.
Io& system_io();

}  // namespace framestamp
