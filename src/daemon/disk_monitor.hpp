// Free space on the data directory's file system: warnings, and a pause of recording below the
// reserve (chunks are closed cleanly; recording resumes when space returns).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <optional>
#include <string>

namespace framestamp {

struct DiskLimits {
    uint64_t min_free_bytes = 0;   // pause below this; 0 = never pause
    uint64_t warn_free_bytes = 0;  // warn below this; 0 = off
    double warn_days = 0;          // warn when fewer days of recording are left; 0 = off
    // Bytes per second the streams would write uncompressed: the consumption estimate until
    // enough free-space samples exist to measure it.
    double nominal_bytes_per_s = 0;
};

class DiskMonitor {
  public:
    DiskMonitor(std::filesystem::path dir, DiskLimits limits);

    // Samples free space (statvfs) at monotonic time now_ns; logs state changes. Returns false if
    // the file system could not be read.
    bool update(int64_t now_ns);
    // For tests: feed a free-space reading instead of statvfs.
    void update_with(int64_t now_ns, uint64_t free_bytes);

    // Set while below the reserve; streams' writers watch it.
    const std::atomic<bool>& paused() const { return paused_; }
    uint64_t free_bytes() const { return free_bytes_; }
    // Days of recording left at the measured (or nominal) rate; nullopt if nothing is consumed.
    std::optional<double> days_left() const;
    std::string status_text() const;  // "disk 12.3 GiB free, ~41 days left" / "... PAUSED"

  private:
    double consumption_bytes_per_s() const;

    std::filesystem::path dir_;
    DiskLimits limits_;
    std::atomic<bool> paused_{false};
    uint64_t free_bytes_ = 0;
    bool have_reading_ = false;
    bool warned_low_ = false;
    bool warned_days_ = false;
    std::deque<std::pair<int64_t, uint64_t>> samples_;  // (time, free bytes), last 10 minutes
};

}  // namespace framestamp
