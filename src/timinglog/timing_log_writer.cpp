#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>

#include "framestamp/timing_log.hpp"

namespace framestamp {

namespace {

void put_optional(std::string& out, const std::optional<int64_t>& v) {
    out.push_back(',');
    if (v) {
        fmt::format_to(std::back_inserter(out), "{}", *v);
    }
}

}  // namespace

std::string csv_field(std::string_view s) {
    if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
        return std::string(s);
    }
    std::string q = "\"";
    for (char c : s) {
        if (c == '"') {
            q.push_back('"');
        }
        q.push_back(c);
    }
    q.push_back('"');
    return q;
}

std::vector<std::string> csv_split(std::string_view line) {
    std::vector<std::string> out(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                out.back().push_back('"');
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                out.back().push_back(c);
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            out.emplace_back();
        } else {
            out.back().push_back(c);
        }
    }
    return out;
}

void timing_row_format(std::string& out, const TimingRow& row, uint64_t chunk_first_frame) {
    const auto chunk_frame =
        static_cast<int64_t>(row.session_frame) - static_cast<int64_t>(chunk_first_frame);
    fmt::format_to(std::back_inserter(out), "{},{},{},{},{}", row.kind, row.session_frame,
                   chunk_frame, row.realtime_ns, row.monotonic_raw_ns);
    put_optional(out, row.window_ns);
    put_optional(out, row.delay_frames);
    put_optional(out, row.frames);
    put_optional(out, row.sync_status);
    put_optional(out, row.sync_offset_ns);
    put_optional(out, row.sync_esterror_ns);
    put_optional(out, row.sync_maxerror_ns);
    out.push_back(',');
    out += csv_field(row.detail);
    out.push_back('\n');
}

int write_all(int fd, const char* buf, std::size_t len) {
    while (len > 0) {
        const ssize_t n = ::write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        buf += n;
        len -= static_cast<std::size_t>(n);
    }
    return 0;
}

int fsync_parent_dir(const std::filesystem::path& path) {
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    int err = 0;
    if (::fsync(fd) != 0) {
        err = errno;
    }
    ::close(fd);
    return err;
}

TimingLogWriter::~TimingLogWriter() {
    if (fd_ >= 0) {
        close();
    }
}

TimingLogWriter::TimingLogWriter(TimingLogWriter&& other) noexcept
    : fd_(other.fd_),
      chunk_first_frame_(other.chunk_first_frame_),
      final_path_(std::move(other.final_path_)),
      buffer_(std::move(other.buffer_)),
      error_(std::move(other.error_)) {
    other.fd_ = -1;
}

TimingLogWriter& TimingLogWriter::operator=(TimingLogWriter&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) {
            close();
        }
        fd_ = other.fd_;
        chunk_first_frame_ = other.chunk_first_frame_;
        final_path_ = std::move(other.final_path_);
        buffer_ = std::move(other.buffer_);
        error_ = std::move(other.error_);
        other.fd_ = -1;
    }
    return *this;
}

std::filesystem::path TimingLogWriter::partial_path() const {
    std::filesystem::path p = final_path_;
    p += ".partial";
    return p;
}

bool TimingLogWriter::fail(std::string_view what, int err) {
    error_ = fmt::format("{} {}: {}", what, partial_path().string(), std::strerror(err));
    return false;
}

bool TimingLogWriter::open(const std::filesystem::path& final_path, uint64_t chunk_first_frame) {
    if (fd_ >= 0) {
        close();
    }
    final_path_ = final_path;
    chunk_first_frame_ = chunk_first_frame;
    buffer_.clear();
    error_.clear();
    fd_ = ::open(partial_path().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        return fail("cannot create", errno);
    }
    buffer_.append(kTimingLogHeader);
    buffer_.push_back('\n');
    return true;
}

void TimingLogWriter::append(const TimingRow& row) {
    timing_row_format(buffer_, row, chunk_first_frame_);
}

bool TimingLogWriter::write_buffered() {
    if (fd_ < 0 || buffer_.empty()) {
        return true;
    }
    const int err = write_all(fd_, buffer_.data(), buffer_.size());
    if (err != 0) {
        // Keep the rows: a later flush (after space is freed) may still save them.
        return fail("cannot write", err);
    }
    buffer_.clear();
    return true;
}

bool TimingLogWriter::flush() {
    if (fd_ < 0) {
        return true;
    }
    if (!write_buffered()) {
        return false;
    }
    if (::fdatasync(fd_) != 0) {
        return fail("cannot sync", errno);
    }
    return true;
}

bool TimingLogWriter::close() {
    if (fd_ < 0) {
        return true;
    }
    bool ok = flush();
    if (::fsync(fd_) != 0 && ok) {
        ok = fail("cannot sync", errno);
    }
    ::close(fd_);
    fd_ = -1;
    if (std::rename(partial_path().c_str(), final_path_.c_str()) != 0) {
        return fail("cannot rename", errno);
    }
    const int err = fsync_parent_dir(final_path_);
    if (err != 0 && ok) {
        ok = fail("cannot sync directory of", err);
    }
    return ok;
}

void TimingLogWriter::abandon() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    buffer_.clear();
}

}  // namespace framestamp
