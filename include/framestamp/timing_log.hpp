// Writing the per-chunk timing log (docs/timing-log.md, format version 1).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace framestamp {

inline constexpr int kTimingLogVersion = 1;
inline constexpr std::string_view kTimingLogHeader =
    "kind,session_frame,chunk_frame,realtime_ns,monotonic_raw_ns,window_ns,delay_frames,frames,"
    "sync_status,sync_offset_ns,sync_esterror_ns,sync_maxerror_ns,detail";

// One row. Optional fields are written empty when absent.
struct TimingRow {
    std::string_view kind;
    uint64_t session_frame = 0;
    int64_t realtime_ns = 0;
    int64_t monotonic_raw_ns = 0;
    std::optional<int64_t> window_ns;
    std::optional<int64_t> delay_frames;
    std::optional<int64_t> frames;
    std::optional<int64_t> sync_status;
    std::optional<int64_t> sync_offset_ns;
    std::optional<int64_t> sync_esterror_ns;
    std::optional<int64_t> sync_maxerror_ns;
    std::string_view detail;
};

// Appends one CSV line for `row` to `out`; chunk_frame = session_frame - chunk_first_frame.
void timing_row_format(std::string& out, const TimingRow& row, uint64_t chunk_first_frame);

// Quotes a CSV field if it holds a comma, a quote or a line break (RFC 4180).
std::string csv_field(std::string_view s);

// Splits one CSV line (without its line break) into fields, undoing RFC 4180 quoting.
std::vector<std::string> csv_split(std::string_view line);

// The timing log of one chunk, written as <final>.partial and renamed on close. Rows are kept in
// memory between flushes (a few hundred bytes a second); flush() writes them and fdatasync()s, so a
// power cut loses at most the rows since the last flush. Move-only; the destructor closes.
class TimingLogWriter {
  public:
    TimingLogWriter() = default;
    ~TimingLogWriter();
    TimingLogWriter(TimingLogWriter&& other) noexcept;
    TimingLogWriter& operator=(TimingLogWriter&& other) noexcept;
    TimingLogWriter(const TimingLogWriter&) = delete;
    TimingLogWriter& operator=(const TimingLogWriter&) = delete;

    // Creates <final_path>.partial (fails if it exists) and writes the header row.
    // On failure returns false and error() says why.
    bool open(const std::filesystem::path& final_path, uint64_t chunk_first_frame);

    void append(const TimingRow& row);
    bool flush();  // write what is buffered and fdatasync
    // Writes what is buffered without syncing: the rows then survive the process, not a power
    // cut. For writers that simulate the daemon faster than real time.
    bool write_buffered();
    // Flush, fsync, rename .partial to the final name, fsync the directory. Idempotent.
    bool close();
    // Simulates a crash: drops the buffered rows and the descriptor with no write, sync or
    // rename, leaving the .partial as the last flush left it. For tests and simulations.
    void abandon();

    bool is_open() const { return fd_ >= 0; }
    const std::string& error() const { return error_; }
    const std::filesystem::path& final_path() const { return final_path_; }
    std::filesystem::path partial_path() const;

  private:
    bool fail(std::string_view what, int err);

    int fd_ = -1;
    uint64_t chunk_first_frame_ = 0;
    std::filesystem::path final_path_;
    std::string buffer_;
    std::string error_;
};

// Writes all of buf to fd, retrying on EINTR and short writes. Returns 0 or an errno value.
int write_all(int fd, const char* buf, std::size_t len);

// fsync()s the directory holding `path`, so a rename or create in it is durable.
int fsync_parent_dir(const std::filesystem::path& path);

}  // namespace framestamp
