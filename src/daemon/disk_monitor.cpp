#include "daemon/disk_monitor.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace framestamp {

namespace {

constexpr int64_t kNsPerS = 1'000'000'000;
constexpr int64_t kWindowNs = 600 * kNsPerS;     // consumption measured over 10 minutes
constexpr int64_t kMinMeasureNs = 60 * kNsPerS;  // ... once a minute of samples exists

std::string gib(uint64_t bytes) {
    const double mib = static_cast<double>(bytes) / (1024.0 * 1024.0);
    if (mib < 10240.0) {
        return fmt::format("{:.1f} MiB", mib);
    }
    return fmt::format("{:.1f} GiB", mib / 1024.0);
}

}  // namespace

DiskMonitor::DiskMonitor(std::filesystem::path dir, DiskLimits limits)
    : dir_(std::move(dir)), limits_(limits) {}

bool DiskMonitor::update(int64_t now_ns) {
    struct statvfs st {};
    if (statvfs(dir_.c_str(), &st) != 0) {
        spdlog::error("cannot read free space of {}: {}", dir_.string(), std::strerror(errno));
        return false;
    }
    // f_bavail: blocks available to unprivileged users, which is what framestamp's user gets.
    update_with(now_ns, static_cast<uint64_t>(st.f_bavail) * st.f_frsize);
    return true;
}

void DiskMonitor::update_with(int64_t now_ns, uint64_t free_bytes) {
    free_bytes_ = free_bytes;
    have_reading_ = true;
    samples_.emplace_back(now_ns, free_bytes);
    while (!samples_.empty() && now_ns - samples_.front().first > kWindowNs) {
        samples_.pop_front();
    }
    const bool was_paused = paused_.load(std::memory_order_relaxed);
    if (limits_.min_free_bytes > 0) {
        // Resume only with some room to spare, so the pause does not flap around the limit.
        const uint64_t margin = limits_.min_free_bytes / 10 +
                                std::min<uint64_t>(16ULL << 20, limits_.min_free_bytes / 2);
        const uint64_t resume_at = limits_.min_free_bytes + margin;
        if (!was_paused && free_bytes < limits_.min_free_bytes) {
            paused_.store(true, std::memory_order_relaxed);
            spdlog::error(
                "disk almost full: {} free on {}, below the {} reserve "
                "(min_free_disk_mib): recording PAUSED, chunks closed; it resumes when "
                "{} are free",
                gib(free_bytes), dir_.string(), gib(limits_.min_free_bytes), gib(resume_at));
        } else if (was_paused && free_bytes >= resume_at) {
            paused_.store(false, std::memory_order_relaxed);
            spdlog::warn("disk space back: {} free on {}: recording resumed", gib(free_bytes),
                         dir_.string());
        }
    }
    if (limits_.warn_free_bytes > 0) {
        if (!warned_low_ && free_bytes < limits_.warn_free_bytes) {
            warned_low_ = true;
            spdlog::warn("disk space low: {} free on {} (warning below {}, disk_warn_free_mib)",
                         gib(free_bytes), dir_.string(), gib(limits_.warn_free_bytes));
        } else if (warned_low_ && free_bytes > limits_.warn_free_bytes + (64 << 20)) {
            warned_low_ = false;
        }
    }
    const auto days = days_left();
    if (limits_.warn_days > 0 && days) {
        if (!warned_days_ && *days < limits_.warn_days) {
            warned_days_ = true;
            spdlog::warn("disk space low: about {:.1f} days of recording left on {} ({} free)",
                         *days, dir_.string(), gib(free_bytes));
        } else if (warned_days_ && *days > limits_.warn_days * 1.1) {
            warned_days_ = false;
        }
    }
}

double DiskMonitor::consumption_bytes_per_s() const {
    if (samples_.size() >= 2) {
        const auto& [t0, f0] = samples_.front();
        const auto& [t1, f1] = samples_.back();
        if (t1 - t0 >= kMinMeasureNs && f0 > f1) {
            return static_cast<double>(f0 - f1) * 1e9 / static_cast<double>(t1 - t0);
        }
    }
    return limits_.nominal_bytes_per_s;
}

std::optional<double> DiskMonitor::days_left() const {
    const double rate = consumption_bytes_per_s();
    if (!have_reading_ || rate <= 0) {
        return std::nullopt;
    }
    const double usable = free_bytes_ > limits_.min_free_bytes
                              ? static_cast<double>(free_bytes_ - limits_.min_free_bytes)
                              : 0.0;
    return usable / rate / 86400.0;
}

std::string DiskMonitor::status_text() const {
    if (!have_reading_) {
        return "disk: unknown";
    }
    std::string s = "disk " + gib(free_bytes_) + " free";
    if (const auto d = days_left()) {
        s += fmt::format(", ~{:.0f} days left", *d);
    }
    if (paused_.load(std::memory_order_relaxed)) {
        s += ", RECORDING PAUSED (disk full)";
    }
    return s;
}

}  // namespace framestamp
