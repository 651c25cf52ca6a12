// Streaming reader of one timing log: large block reads, rows parsed in place with from_chars,
// string_views into the block (no allocation per row except to unquote a quoted field).
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

#include "framestamp/archive.hpp"
#include "framestamp/timing_log.hpp"

namespace framestamp {

namespace {

constexpr std::size_t kBlockBytes = 4u << 20;
constexpr std::size_t kColumns = 13;
constexpr int kMaxShown = 60;  // characters of offending text quoted in an error

std::string shown(std::string_view s) {
    if (s.size() > kMaxShown) {
        return fmt::format("'{}...'", s.substr(0, kMaxShown));
    }
    return fmt::format("'{}'", s);
}

std::string format_error(const std::filesystem::path& file, uint64_t line,
                         const std::string& message) {
    if (line == 0) {
        return fmt::format("{}: {}", file.string(), message);
    }
    return fmt::format("{}:{}: {}", file.string(), line, message);
}

constexpr std::string_view kColumnNames[kColumns] = {
    "kind",           "session_frame",    "chunk_frame",
    "realtime_ns",    "monotonic_raw_ns", "window_ns",
    "delay_frames",   "frames",           "sync_status",
    "sync_offset_ns", "sync_esterror_ns", "sync_maxerror_ns",
    "detail"};

}  // namespace

ArchiveError::ArchiveError(std::filesystem::path file, uint64_t line, const std::string& message)
    : std::runtime_error(format_error(file, line, message)), file_(std::move(file)), line_(line) {}

std::optional<std::string_view> detail_value(std::string_view detail, std::string_view key) {
    std::size_t pos = 0;
    while (pos <= detail.size()) {
        std::size_t end = detail.find(';', pos);
        if (end == std::string_view::npos) {
            end = detail.size();
        }
        const std::string_view pair = detail.substr(pos, end - pos);
        if (pair.size() > key.size() && pair[key.size()] == '=' && pair.starts_with(key)) {
            return pair.substr(key.size() + 1);
        }
        if (pair == key) {
            return std::string_view{};
        }
        pos = end + 1;
    }
    return std::nullopt;
}

class TimingLogReader::Impl {
  public:
    explicit Impl(const std::filesystem::path& path) : path_(path) {
        fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) {
            throw ArchiveError(path_, 0, fmt::format("cannot open: {}", std::strerror(errno)));
        }
        ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
        // A block, or the whole file when smaller (most logs are a few hundred kB): no bytes are
        // initialised, so opening many small logs costs little.
        struct stat st {};
        std::size_t cap = kBlockBytes;
        if (::fstat(fd_, &st) == 0 && st.st_size >= 0) {
            cap = std::clamp<std::size_t>(static_cast<std::size_t>(st.st_size) + 1, 4096,
                                          kBlockBytes);
        }
        buf_.reset(new char[cap]);
        cap_ = cap;
        std::string_view header;
        if (!next_line(header)) {
            if (torn_) {
                throw ArchiveError(
                    path_, 1, fmt::format("header line incomplete (torn): {}", shown(torn_text_)));
            }
            throw ArchiveError(path_, 0, "empty file: no header line");
        }
        if (!header.empty() && header.back() == '\r') {
            header.remove_suffix(1);
        }
        if (header != kTimingLogHeader) {
            throw ArchiveError(
                path_, 1,
                fmt::format("not a framestamp timing log: header is {}, expected '{}'",
                            shown(header), kTimingLogHeader));
        }
    }
    ~Impl() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    bool next(TimingLogRow& row) {
        std::string_view line;
        if (!next_line(line)) {
            return false;
        }
        parse(line, row);
        return true;
    }

    bool torn() const { return torn_; }
    const std::filesystem::path& path() const { return path_; }

  private:
    // Fills the buffer after the bytes from begin_ on; false at end of file.
    bool refill() {
        if (eof_) {
            return false;
        }
        if (begin_ > 0) {
            std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
            scan_ -= begin_;
            end_ -= begin_;
            begin_ = 0;
        }
        if (end_ == cap_) {
            // A line longer than the buffer (or a file that grew): rare, grow.
            std::unique_ptr<char[]> bigger(new char[cap_ * 2]);
            std::memcpy(bigger.get(), buf_.get(), end_);
            buf_ = std::move(bigger);
            cap_ *= 2;
        }
        for (;;) {
            const ssize_t n = ::read(fd_, buf_.get() + end_, cap_ - end_);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                throw ArchiveError(path_, line_no_ + 1,
                                   fmt::format("read failed: {}", std::strerror(errno)));
            }
            if (n == 0) {
                eof_ = true;
                return false;
            }
            end_ += static_cast<std::size_t>(n);
            return true;
        }
    }

    // The next line without its '\n'. A quoted field may hold line breaks (RFC 4180); those are
    // part of the row and counted as lines.
    bool next_line(std::string_view& line) {
        scan_ = begin_;
        bool quoted = false;
        uint64_t breaks = 0;
        for (;;) {
            const char* base = buf_.get();
            while (scan_ < end_) {
                if (!quoted) {
                    const void* nl = std::memchr(base + scan_, '\n', end_ - scan_);
                    const std::size_t stop =
                        nl == nullptr
                            ? end_
                            : static_cast<std::size_t>(static_cast<const char*>(nl) - base);
                    const void* q = std::memchr(base + scan_, '"', stop - scan_);
                    if (q == nullptr) {
                        scan_ = stop;
                        if (stop < end_) {
                            line = std::string_view(base + begin_, stop - begin_);
                            begin_ = stop + 1;
                            line_no_ += 1 + breaks;
                            return true;
                        }
                        break;
                    }
                    scan_ = static_cast<std::size_t>(static_cast<const char*>(q) - base) + 1;
                    quoted = true;
                } else {
                    const char c = base[scan_++];
                    if (c == '"') {
                        quoted = false;  // a doubled quote re-enters at the next '"'
                    } else if (c == '\n') {
                        ++breaks;
                    }
                }
            }
            if (!refill()) {
                if (end_ > begin_) {
                    torn_ = true;
                    torn_text_.assign(buf_.get() + begin_, end_ - begin_);
                    begin_ = end_;
                }
                return false;
            }
        }
    }

    [[noreturn]] void fail(const std::string& what) const {
        throw ArchiveError(path_, line_no_, what);
    }

    // Undoes RFC 4180 quoting of `f` into `scratch`.
    std::string_view unquote(std::string_view f, std::string& scratch) const {
        if (f.size() < 2 || f.back() != '"') {
            fail(fmt::format("unterminated quoted field {}", shown(f)));
        }
        scratch.clear();
        for (std::size_t i = 1; i + 1 < f.size(); ++i) {
            scratch.push_back(f[i]);
            if (f[i] == '"') {
                ++i;  // the second of a doubled quote
            }
        }
        return scratch;
    }

    template <typename T>
    T required(std::string_view f, std::size_t col) {
        if (f.empty()) {
            fail(fmt::format("{} is empty", kColumnNames[col]));
        }
        return number<T>(f, col);
    }

    template <typename T>
    T number(std::string_view f, std::size_t col) {
        if (f.front() == '"') {
            f = unquote(f, number_scratch_);
        }
        T v{};
        const auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
        if (ec != std::errc() || ptr != f.data() + f.size()) {
            fail(fmt::format("{} is not {}: {}", kColumnNames[col],
                             std::is_signed_v<T> ? "an integer" : "a non-negative integer",
                             shown(f)));
        }
        return v;
    }

    std::optional<int64_t> optional(std::string_view f, std::size_t col) {
        if (f.empty()) {
            return std::nullopt;
        }
        return number<int64_t>(f, col);
    }

    void parse(std::string_view line, TimingLogRow& row) {
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        std::string_view f[kColumns];
        std::size_t n = 0;
        std::size_t pos = 0;
        for (;;) {
            std::size_t end = 0;
            if (pos < line.size() && line[pos] == '"') {
                // Quoted: ends at a quote not doubled, followed by ',' or the line's end.
                std::size_t i = pos + 1;
                for (;;) {
                    i = line.find('"', i);
                    if (i == std::string_view::npos) {
                        fail(fmt::format("unterminated quote in {}", shown(line.substr(pos))));
                    }
                    if (i + 1 < line.size() && line[i + 1] == '"') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                end = i + 1;
                if (end < line.size() && line[end] != ',') {
                    fail(fmt::format("text after a closing quote in {}", shown(line.substr(pos))));
                }
            } else {
                end = line.find(',', pos);
                if (end == std::string_view::npos) {
                    end = line.size();
                }
            }
            if (n == kColumns) {
                fail(fmt::format("more than {} fields: {}", kColumns, shown(line)));
            }
            f[n++] = line.substr(pos, end - pos);
            if (end >= line.size()) {
                break;
            }
            pos = end + 1;
        }
        if (n != kColumns) {
            fail(fmt::format("{} fields, expected {}: {}", n, kColumns, shown(line)));
        }
        row.line = line_no_;
        row.kind = f[0].starts_with('"') ? unquote(f[0], kind_scratch_) : f[0];
        if (row.kind.empty()) {
            fail("kind is empty");
        }
        row.session_frame = required<uint64_t>(f[1], 1);
        row.chunk_frame = required<int64_t>(f[2], 2);
        row.realtime_ns = required<int64_t>(f[3], 3);
        row.monotonic_raw_ns = required<int64_t>(f[4], 4);
        row.window_ns = optional(f[5], 5);
        row.delay_frames = optional(f[6], 6);
        row.frames = optional(f[7], 7);
        row.sync_status = optional(f[8], 8);
        row.sync_offset_ns = optional(f[9], 9);
        row.sync_esterror_ns = optional(f[10], 10);
        row.sync_maxerror_ns = optional(f[11], 11);
        row.detail = f[12].starts_with('"') ? unquote(f[12], detail_scratch_) : f[12];
        if (row.kind == "log_start") {
            check_log_start(row.detail);
        }
    }

    void check_log_start(std::string_view detail) const {
        const auto format = detail_value(detail, "format");
        if (!format || *format != "framestamp-timing-log") {
            fail(fmt::format("log_start has no format=framestamp-timing-log: {}", shown(detail)));
        }
        const auto version = detail_value(detail, "version");
        if (!version) {
            fail(fmt::format("log_start has no version: {}", shown(detail)));
        }
        if (*version != std::to_string(kTimingLogVersion)) {
            fail(fmt::format("unsupported timing log version {} (this reader knows version {})",
                             shown(*version), kTimingLogVersion));
        }
    }

    std::filesystem::path path_;
    int fd_ = -1;
    std::unique_ptr<char[]> buf_;
    std::size_t cap_ = 0;
    std::size_t begin_ = 0;  // first byte not yet returned
    std::size_t scan_ = 0;   // where the search for the line end continues
    std::size_t end_ = 0;    // end of the bytes read
    bool eof_ = false;
    bool torn_ = false;
    std::string torn_text_;
    uint64_t line_no_ = 0;
    std::string kind_scratch_;
    std::string detail_scratch_;
    std::string number_scratch_;
};

TimingLogReader::TimingLogReader(const std::filesystem::path& path)
    : impl_(std::make_unique<Impl>(path)) {}
TimingLogReader::~TimingLogReader() = default;
TimingLogReader::TimingLogReader(TimingLogReader&&) noexcept = default;
TimingLogReader& TimingLogReader::operator=(TimingLogReader&&) noexcept = default;

bool TimingLogReader::next(TimingLogRow& row) {
    return impl_->next(row);
}
bool TimingLogReader::torn_tail() const {
    return impl_->torn();
}
const std::filesystem::path& TimingLogReader::path() const {
    return impl_->path();
}

}  // namespace framestamp
