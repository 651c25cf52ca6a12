// The timing-log reader: every column, quoting, block boundaries, and each kind of damage, named
// by file and line.
#include <gtest/gtest.h>

#include <random>

#include "framestamp/archive.hpp"
#include "test_archive_support.hpp"

namespace {

using namespace fs_test;
using framestamp::ArchiveError;
using framestamp::detail_value;
using framestamp::TimingLogReader;
using framestamp::TimingLogRow;

const std::string kHeader = std::string(framestamp::kTimingLogHeader) + "\n";
const std::string kStart =
    "log_start,0,0,1795000000000000000,7000000000,,,,,,,,format=framestamp-timing-log;version=1;"
    "stream=a;session=S1;rate_hz=48000;channels=2;sample_format=S16_LE;audio_file=a.flac\n";

// The message of the ArchiveError that reading all of `text` throws ("" if none).
std::string read_error(const fsys::path& file, const std::string& text) {
    spit(file, text);
    try {
        TimingLogReader r(file);
        TimingLogRow row;
        while (r.next(row)) {
        }
    } catch (const ArchiveError& e) {
        return e.what();
    }
    return "";
}

TEST(TimingLogReader, ReadsEveryColumnAndUnquotesDetail) {
    TempDir dir;
    const fsys::path f = dir.path() / "x.timing.csv";
    spit(f, kHeader + kStart +
                "session_start,0,-480,1795000000000000000,7000000000,,,,,,,,"
                "\"device=hw:CARD=X,DEV=0;note=\"\"q\"\"\"\n"
                "point,48123,123,1795000001000000000,7001000000,4200,512,,,,,,\n"
                "sync,48200,200,1795000001100000000,7001100000,,,,8193,-1200,20000,150000,"
                "source=chronyd;synced=1\n");
    TimingLogReader r(f);
    TimingLogRow row;
    ASSERT_TRUE(r.next(row));
    EXPECT_EQ(row.kind, "log_start");
    EXPECT_EQ(row.line, 2u);
    ASSERT_TRUE(r.next(row));
    EXPECT_EQ(row.kind, "session_start");
    EXPECT_EQ(row.chunk_frame, -480);
    EXPECT_EQ(row.detail, "device=hw:CARD=X,DEV=0;note=\"q\"");
    EXPECT_EQ(detail_value(row.detail, "device"), "hw:CARD=X,DEV=0");
    ASSERT_TRUE(r.next(row));
    EXPECT_EQ(row.kind, "point");
    EXPECT_EQ(row.session_frame, 48123u);
    EXPECT_EQ(row.realtime_ns, 1795000001000000000);
    EXPECT_EQ(row.monotonic_raw_ns, 7001000000);
    EXPECT_EQ(row.window_ns, 4200);
    EXPECT_EQ(row.delay_frames, 512);
    EXPECT_FALSE(row.frames);
    EXPECT_FALSE(row.sync_status);
    ASSERT_TRUE(r.next(row));
    EXPECT_EQ(row.sync_status, 8193);
    EXPECT_EQ(row.sync_offset_ns, -1200);
    EXPECT_EQ(row.sync_esterror_ns, 20000);
    EXPECT_EQ(row.sync_maxerror_ns, 150000);
    EXPECT_EQ(detail_value(row.detail, "synced"), "1");
    EXPECT_EQ(row.line, 5u);
    EXPECT_FALSE(r.next(row));
    EXPECT_FALSE(r.torn_tail());
}

// Rows added within version 1 by the decoupled timing points: the session's card_timing row and
// a point flagged unreliable read like any other row, and a log without them still reads.
TEST(TimingLogReader, CardTimingAndFlaggedPointsReadWithinVersion1) {
    TempDir dir;
    const fsys::path f = dir.path() / "x.timing.csv";
    spit(f, kHeader + kStart +
                "card_timing,0,0,1795000000200000000,7000200000,,,,,,,,"
                "pointer_step_frames=44.10;pointer_step_us=1000.0;steps=199;"
                "wakeup_interval_us=1000.0;wakeups=200;probe_us=200000;readings=7900;"
                "reading_interval_us=25.3\n"
                "point,48123,123,1795000001000000000,7001000000,1660000,512,,,,,,"
                "unreliable=window\n"
                "point,48200,200,1795000001100000000,7001100000,4200,512,,,,,,\n");
    TimingLogReader r(f);
    TimingLogRow row;
    ASSERT_TRUE(r.next(row));
    ASSERT_TRUE(r.next(row));
    EXPECT_EQ(row.kind, "card_timing");
    EXPECT_EQ(detail_value(row.detail, "pointer_step_frames"), "44.10");
    EXPECT_EQ(detail_value(row.detail, "wakeup_interval_us"), "1000.0");
    ASSERT_TRUE(r.next(row));
    EXPECT_EQ(row.kind, "point");
    EXPECT_EQ(row.window_ns, 1660000);
    EXPECT_EQ(detail_value(row.detail, "unreliable"), "window");
    ASSERT_TRUE(r.next(row));
    EXPECT_EQ(row.session_frame, 48200u);
    EXPECT_FALSE(detail_value(row.detail, "unreliable"));
    EXPECT_FALSE(r.next(row));
}

TEST(TimingLogReader, QuotedLineBreakIsPartOfTheRow) {
    TempDir dir;
    const fsys::path f = dir.path() / "x.timing.csv";
    spit(f,
         kHeader + kStart + "write_error,5,5,1,2,,,,,,,,\"error=a\nb\"\npoint,6,6,3,4,,,,,,,,\n");
    TimingLogReader r(f);
    TimingLogRow row;
    ASSERT_TRUE(r.next(row));
    ASSERT_TRUE(r.next(row));
    EXPECT_EQ(row.detail, "error=a\nb");
    ASSERT_TRUE(r.next(row));
    EXPECT_EQ(row.kind, "point");
    EXPECT_EQ(row.line, 5u);  // the quoted break took a line
}

TEST(TimingLogReader, RandomRowsRoundTripAcrossBlocks) {
    const uint64_t seed = test_seed();
    SCOPED_TRACE(fmt::format("FS_TEST_SEED={}", seed));
    std::mt19937_64 rng(seed);
    TempDir dir;
    const fsys::path f = dir.path() / "big.timing.csv";
    std::string text = kHeader + kStart;
    std::vector<framestamp::TimingRow> rows;
    std::vector<std::string> details;
    const int n = 90'000;  // > 4 MiB: several block refills, lines split across them
    details.reserve(n);
    for (int i = 0; i < n; ++i) {
        framestamp::TimingRow r{.kind = (i % 7 == 0) ? "sync" : "point",
                                .session_frame = rng() >> 20,
                                .realtime_ns = static_cast<int64_t>(rng() >> 2),
                                .monotonic_raw_ns = static_cast<int64_t>(rng() >> 3) - (1LL << 59)};
        if (rng() % 2 == 0) {
            r.window_ns = static_cast<int64_t>(rng() % 100000);
        }
        if (rng() % 3 == 0) {
            r.frames = -static_cast<int64_t>(rng() % 1000);
        }
        details.push_back(rng() % 5 == 0 ? fmt::format("k={},{}", i, rng() % 100) : "");
        r.detail = details.back();
        framestamp::timing_row_format(text, r, 1000);
        rows.push_back(r);
    }
    spit(f, text);
    TimingLogReader reader(f);
    TimingLogRow row;
    ASSERT_TRUE(reader.next(row));
    for (int i = 0; i < n; ++i) {
        ASSERT_TRUE(reader.next(row)) << i;
        ASSERT_EQ(row.kind, rows[i].kind) << i;
        ASSERT_EQ(row.session_frame, rows[i].session_frame) << i;
        ASSERT_EQ(row.chunk_frame, static_cast<int64_t>(rows[i].session_frame) - 1000) << i;
        ASSERT_EQ(row.realtime_ns, rows[i].realtime_ns) << i;
        ASSERT_EQ(row.monotonic_raw_ns, rows[i].monotonic_raw_ns) << i;
        ASSERT_EQ(row.window_ns, rows[i].window_ns) << i;
        ASSERT_EQ(row.frames, rows[i].frames) << i;
        ASSERT_EQ(row.detail, details[i]) << i;
        ASSERT_EQ(row.line, static_cast<uint64_t>(i) + 3) << i;
    }
    EXPECT_FALSE(reader.next(row));
}

TEST(TimingLogReader, TornTailIsSkipped) {
    TempDir dir;
    const fsys::path f = dir.path() / "x.timing.csv.partial";
    spit(f, kHeader + kStart + "point,6,6,3,4,,,,,,,,\npoint,7,7,17950");
    TimingLogReader r(f);
    TimingLogRow row;
    ASSERT_TRUE(r.next(row));
    ASSERT_TRUE(r.next(row));
    EXPECT_EQ(row.session_frame, 6u);
    EXPECT_FALSE(r.next(row));
    EXPECT_TRUE(r.torn_tail());
}

TEST(TimingLogReader, MissingFileNamesIt) {
    TempDir dir;
    try {
        TimingLogReader r(dir.path() / "nope.timing.csv");
        FAIL();
    } catch (const ArchiveError& e) {
        EXPECT_NE(std::string(e.what()).find("nope.timing.csv: cannot open: No such file"),
                  std::string::npos)
            << e.what();
        EXPECT_EQ(e.line(), 0u);
    }
}

TEST(TimingLogReader, EmptyFileAndWrongHeader) {
    TempDir dir;
    const fsys::path f = dir.path() / "x.timing.csv";
    EXPECT_NE(read_error(f, "").find("x.timing.csv: empty file"), std::string::npos);
    const std::string wrong = read_error(f, "time,frame\n1,2\n");
    EXPECT_NE(wrong.find("x.timing.csv:1: not a framestamp timing log: header is 'time,frame'"),
              std::string::npos)
        << wrong;
    EXPECT_NE(read_error(f, "kind,session_frame").find(":1: header line incomplete"),
              std::string::npos);
}

TEST(TimingLogReader, BadVersionAndFormat) {
    TempDir dir;
    const fsys::path f = dir.path() / "x.timing.csv";
    std::string v2 = kStart;
    v2.replace(v2.find("version=1"), 9, "version=2");
    const std::string e = read_error(f, kHeader + v2);
    EXPECT_NE(e.find("x.timing.csv:2: unsupported timing log version '2'"), std::string::npos) << e;
    std::string other = kStart;
    other.replace(other.find("framestamp-timing-log"), 21, "something-else");
    EXPECT_NE(read_error(f, kHeader + other).find(":2: log_start has no format="),
              std::string::npos);
}

TEST(TimingLogReader, BadNumbersNameLineColumnAndText) {
    TempDir dir;
    const fsys::path f = dir.path() / "x.timing.csv";
    const std::string body = kHeader + kStart + "point,6,6,3,4,,,,,,,,\n";
    std::string e = read_error(f, body + "point,7,7,17x50,4,,,,,,,,\n");
    EXPECT_NE(e.find("x.timing.csv:4: realtime_ns is not an integer: '17x50'"), std::string::npos)
        << e;
    e = read_error(f, body + "point,-7,7,1,4,,,,,,,,\n");
    EXPECT_NE(e.find(":4: session_frame is not a non-negative integer: '-7'"), std::string::npos)
        << e;
    e = read_error(f, body + "point,7,7,1,,,,,,,,,\n");
    EXPECT_NE(e.find(":4: monotonic_raw_ns is empty"), std::string::npos) << e;
    e = read_error(f, body + "point,7,7,1,4,,,,,,,\n");
    EXPECT_NE(e.find(":4: 12 fields, expected 13"), std::string::npos) << e;
    e = read_error(f, body + "point,7,7,1,4,1.5,,,,,,,\n");
    EXPECT_NE(e.find(":4: window_ns is not an integer: '1.5'"), std::string::npos) << e;
    e = read_error(f, body + ",7,7,1,4,,,,,,,,\n");
    EXPECT_NE(e.find(":4: kind is empty"), std::string::npos) << e;
}

TEST(DetailValue, FindsKeysExactly) {
    EXPECT_EQ(detail_value("a=1;ab=2;b=", "ab"), "2");
    EXPECT_EQ(detail_value("a=1;ab=2;b=", "a"), "1");
    EXPECT_EQ(detail_value("a=1;ab=2;b=", "b"), "");
    EXPECT_FALSE(detail_value("a=1;ab=2", "c"));
    EXPECT_FALSE(detail_value("", "a"));
    EXPECT_EQ(detail_value("x=hw:CARD=Y", "x"), "hw:CARD=Y");
}

}  // namespace
