// The timing-log writer: CSV layout, quoting, crash-safe .partial naming and flushing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "framestamp/timing_log.hpp"
#include "test_support.hpp"

namespace {

namespace fsys = std::filesystem;
using framestamp::TimingLogWriter;
using framestamp::TimingRow;

class TimingLogTest : public ::testing::Test {
  protected:
    void SetUp() override { dir_ = fstest::fresh_test_dir("fs_tlog"); }
    void TearDown() override { fsys::remove_all(dir_); }
    fsys::path dir_;
};

TEST(TimingRowFormat, EveryRowHasAllColumnsAndChunkFrame) {
    std::string out;
    TimingRow point{.kind = "point",
                    .session_frame = 1'000'123,
                    .realtime_ns = 1'795'500'000'123'456'789,
                    .monotonic_raw_ns = 12'345'678'901,
                    .window_ns = 4200,
                    .delay_frames = 512};
    framestamp::timing_row_format(out, point, 1'000'000);
    EXPECT_EQ(out, "point,1000123,123,1795500000123456789,12345678901,4200,512,,,,,,\n");

    out.clear();
    TimingRow ev{.kind = "session_start",
                 .session_frame = 0,
                 .realtime_ns = 5,
                 .monotonic_raw_ns = 6,
                 .detail = "device=hw:CARD=X,DEV=0;rate_hz=48000"};
    framestamp::timing_row_format(out, ev, 0);
    const auto fields = framestamp::csv_split(out.substr(0, out.size() - 1));
    const auto header = framestamp::csv_split(std::string(framestamp::kTimingLogHeader));
    ASSERT_EQ(fields.size(), header.size());
    EXPECT_EQ(fields.back(), "device=hw:CARD=X,DEV=0;rate_hz=48000");
}

TEST(CsvSplit, UndoesCsvFieldForAnyText) {
    const std::vector<std::string> fields = {"plain", "", "a,b", "say \"hi\"", "x;y=z", ",", "\""};
    std::string line;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        line += (i > 0 ? "," : "") + framestamp::csv_field(fields[i]);
    }
    EXPECT_EQ(framestamp::csv_split(line), fields);
    EXPECT_EQ(framestamp::csv_split(""), std::vector<std::string>{""});
}

TEST(CsvField, QuotesOnlyWhenNeeded) {
    EXPECT_EQ(framestamp::csv_field("plain;text=1"), "plain;text=1");
    EXPECT_EQ(framestamp::csv_field("a,b"), "\"a,b\"");
    EXPECT_EQ(framestamp::csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
}

TEST(TimingRowFormat, NegativeChunkFrameBeforeTheChunk) {
    // A point taken just before a boundary but logged in the next chunk has a negative offset.
    std::string out;
    framestamp::timing_row_format(out, TimingRow{.kind = "point", .session_frame = 990}, 1000);
    EXPECT_EQ(out.rfind("point,990,-10,", 0), 0U);
}

TEST_F(TimingLogTest, PartialUntilCloseThenRenamed) {
    const fsys::path final_path = dir_ / "s_20261124T061000Z.timing.csv";
    TimingLogWriter w;
    ASSERT_TRUE(w.open(final_path, 480000)) << w.error();
    EXPECT_TRUE(fsys::exists(w.partial_path()));
    EXPECT_FALSE(fsys::exists(final_path));
    w.append(
        {.kind = "chunk_open", .session_frame = 480000, .realtime_ns = 1, .monotonic_raw_ns = 2});
    // Not yet flushed: a crash now leaves only what was flushed (here: nothing).
    EXPECT_EQ(fstest::slurp(w.partial_path()), "");
    ASSERT_TRUE(w.flush()) << w.error();
    const std::string flushed = fstest::slurp(w.partial_path());
    EXPECT_EQ(flushed.rfind(std::string(framestamp::kTimingLogHeader) + "\n", 0), 0U);
    EXPECT_NE(flushed.find("chunk_open,480000,0,1,2,"), std::string::npos);
    w.append({.kind = "chunk_close", .session_frame = 960000, .frames = 480000});
    ASSERT_TRUE(w.close()) << w.error();
    EXPECT_FALSE(fsys::exists(w.partial_path()));
    const std::string text = fstest::slurp(final_path);
    EXPECT_NE(text.find("chunk_close,960000,480000,0,0,,,480000,"), std::string::npos);
    EXPECT_TRUE(w.close());  // idempotent
}

TEST_F(TimingLogTest, RefusesToOverwriteALeftOverPartial) {
    const fsys::path final_path = dir_ / "x.timing.csv";
    std::ofstream(dir_ / "x.timing.csv.partial") << "left by a crash";
    TimingLogWriter w;
    EXPECT_FALSE(w.open(final_path, 0));
    EXPECT_NE(w.error().find("x.timing.csv.partial"), std::string::npos);
    EXPECT_NE(w.error().find("exists"), std::string::npos) << w.error();
    EXPECT_EQ(fstest::slurp(dir_ / "x.timing.csv.partial"), "left by a crash");
}

TEST_F(TimingLogTest, DestructorClosesAndRenames) {
    const fsys::path final_path = dir_ / "d.timing.csv";
    {
        TimingLogWriter w;
        ASSERT_TRUE(w.open(final_path, 0));
        w.append({.kind = "point", .session_frame = 7});
        TimingLogWriter moved = std::move(w);
        EXPECT_FALSE(w.is_open());
        EXPECT_TRUE(moved.is_open());
    }
    EXPECT_TRUE(fsys::exists(final_path));
    EXPECT_NE(fstest::slurp(final_path).find("point,7,7,"), std::string::npos);
}

TEST_F(TimingLogTest, AbandonLeavesWhatEarlierFlushesWrote) {
    const fsys::path final_path = dir_ / "a.timing.csv";
    TimingLogWriter w;
    ASSERT_TRUE(w.open(final_path, 100));
    w.append({.kind = "point", .session_frame = 101});
    // Written without a sync: in the file for any reader (and a crash of the process) at once.
    ASSERT_TRUE(w.write_buffered()) << w.error();
    const std::string written = fstest::slurp(w.partial_path());
    EXPECT_EQ(written.rfind(std::string(framestamp::kTimingLogHeader) + "\n", 0), 0U);
    EXPECT_NE(written.find("point,101,1,"), std::string::npos);
    w.append({.kind = "point", .session_frame = 102});
    w.abandon();
    EXPECT_FALSE(w.is_open());
    EXPECT_FALSE(fsys::exists(final_path));
    EXPECT_EQ(fstest::slurp(w.partial_path()), written);
    EXPECT_TRUE(w.close());  // nothing left to close: the .partial stays
    EXPECT_TRUE(fsys::exists(w.partial_path()));
}

}  // namespace

#include "framestamp/utc.hpp"

namespace {

TEST(Utc, FormatsAndFloorsCorrectly) {
    // 2026-11-24T06:00:00.000123456Z
    const int64_t t = 1'795'500'000'000'000'000 + 123'456;
    const framestamp::UtcTime u = framestamp::utc_from_ns(t);
    EXPECT_EQ(u.year, 2026);
    EXPECT_EQ(u.month, 11);
    EXPECT_EQ(u.day, 24);
    EXPECT_EQ(u.hour, 6);
    EXPECT_EQ(u.minute, 0);
    EXPECT_EQ(framestamp::utc_compact(t), framestamp::utc_compact(t - 123'456));
    EXPECT_EQ(framestamp::utc_iso_ns(t).substr(19), ".000123456Z");
    EXPECT_EQ(framestamp::utc_iso_us(t).substr(19), ".000123Z");
    EXPECT_EQ(framestamp::utc_session_id(t).size(), 23U);
    // Before 1970 floors towards the past, not towards zero.
    EXPECT_EQ(framestamp::utc_iso_ns(-1), "1969-12-31T23:59:59.999999999Z");
    EXPECT_EQ(framestamp::utc_date(0), "1970-01-01");
    EXPECT_EQ(framestamp::utc_compact(951'782'400LL * 1'000'000'000), "20000229T000000Z");
}

TEST(Utc, UncertaintyReadsInTheUnitThatFits) {
    using framestamp::format_uncertainty;
    EXPECT_EQ(format_uncertainty(0), "0 ns");
    EXPECT_EQ(format_uncertainty(850), "850 ns");
    EXPECT_EQ(format_uncertainty(999), "999 ns");
    EXPECT_EQ(format_uncertainty(3'700), "3.70 \u00b5s");
    EXPECT_EQ(format_uncertainty(14'210), "14.2 \u00b5s");
    EXPECT_EQ(format_uncertainty(101'400), "101 \u00b5s");
    EXPECT_EQ(format_uncertainty(999'960), "1.00 ms");  // rounds into the next unit
    EXPECT_EQ(format_uncertainty(1'250'000), "1.25 ms");
    // extract used to print this as "16000004.1 µs"; when printed "16.0 s"
    EXPECT_EQ(format_uncertainty(16'000'004'100), "16.0 s");
    EXPECT_EQ(format_uncertainty(7'200'000'000'000), "7200 s");
}

}  // namespace
