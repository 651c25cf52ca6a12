// The disk monitor's pause/resume hysteresis and days-left estimate, on fed readings.
#include <gtest/gtest.h>

#include "daemon/disk_monitor.hpp"

namespace {

using framestamp::DiskLimits;
using framestamp::DiskMonitor;

constexpr uint64_t kMiB = 1ULL << 20;
constexpr int64_t kS = 1'000'000'000;

TEST(DiskMonitor, PausesBelowReserveAndResumesOnlyWithMargin) {
    DiskLimits l;
    l.min_free_bytes = 256 * kMiB;
    DiskMonitor m("/", l);
    m.update_with(0, 1000 * kMiB);
    EXPECT_FALSE(m.paused().load());
    m.update_with(5 * kS, 255 * kMiB);
    EXPECT_TRUE(m.paused().load());
    // Margin: 10 % + min(16 MiB, half the reserve) = 25.6 + 16 MiB above the reserve.
    m.update_with(10 * kS, 290 * kMiB);
    EXPECT_TRUE(m.paused().load());
    m.update_with(15 * kS, 298 * kMiB);
    EXPECT_FALSE(m.paused().load());
    EXPECT_NE(m.status_text().find("298.0 MiB free"), std::string::npos) << m.status_text();
}

TEST(DiskMonitor, SmallReserveStillResumes) {
    DiskLimits l;
    l.min_free_bytes = 2 * kMiB;
    DiskMonitor m("/", l);
    m.update_with(0, 1 * kMiB);
    EXPECT_TRUE(m.paused().load());
    m.update_with(5 * kS, 6 * kMiB);
    EXPECT_FALSE(m.paused().load());
}

TEST(DiskMonitor, DaysLeftFromNominalRateThenFromMeasurement) {
    DiskLimits l;
    l.min_free_bytes = 0;
    l.nominal_bytes_per_s = 192000;  // 48 kHz stereo 16-bit, uncompressed
    DiskMonitor m("/", l);
    const uint64_t free0 = 100ULL * 1000 * 1000 * 1000;
    m.update_with(0, free0);
    ASSERT_TRUE(m.days_left().has_value());
    EXPECT_NEAR(*m.days_left(), 1e11 / 192000.0 / 86400.0, 0.01);
    // Measured consumption (FLAC: half the nominal) takes over after a minute of samples.
    m.update_with(120 * kS, free0 - 96000ULL * 120);
    EXPECT_NEAR(*m.days_left(), static_cast<double>(free0 - 96000ULL * 120) / 96000.0 / 86400.0,
                0.01);
    EXPECT_EQ(m.status_text().find("PAUSED"), std::string::npos);
}

}  // namespace
