// The archive index over archives written with the real writers: discovery, order, sessions,
// segments, events, models, the cache, find_chunk and locate.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "framestamp/archive.hpp"
#include "test_archive_support.hpp"

namespace {

using namespace fs_test;
using framestamp::Archive;
using framestamp::ArchiveError;
using framestamp::ArchiveOptions;
using framestamp::EventKind;

class ArchiveIndex : public ::testing::Test {
  protected:
    ArchiveOptions options() const {
        ArchiveOptions o;
        o.cache_dir = tmp_.path() / "cache";
        o.dir_settle_ns = kSettleNs;
        return o;
    }
    // Folders written less than dir_settle_ns before they are indexed are listed again by the
    // next open; waiting this long lets the next open take the cache as it is.
    static constexpr int64_t kSettleNs = 50'000'000;
    static void settle() { std::this_thread::sleep_for(std::chrono::nanoseconds(2 * kSettleNs)); }
    fsys::path data() const { return tmp_.path() / "data"; }
    FakeSpec spec(const std::string& stream) const {
        FakeSpec s;
        s.data_dir = data();
        s.stream = stream;
        s.seed = test_seed();
        return s;
    }
    TempDir tmp_;
};

std::size_t count_kind(const Archive& a, EventKind k) {
    return static_cast<std::size_t>(std::count_if(a.events().begin(), a.events().end(),
                                                  [k](const auto& e) { return e.kind == k; }));
}

TEST_F(ArchiveIndex, TwoStreamsAndASessionRestart) {
    {
        FakeDaemon a(spec("front"));
        a.start_session();
        a.record(25);
        a.device_lost(3.0);
        a.start_session(true);
        a.record(12);
        a.shutdown();
        FakeSpec sb = spec("back");
        sb.ppm = -40;
        FakeDaemon b(sb);
        b.start_session();
        b.record(15);
        b.shutdown();
    }
    const Archive a = Archive::open(data(), options());
    EXPECT_EQ(a.index_source(), "built");
    EXPECT_EQ(a.streams(), (std::vector<std::string>{"back", "front"}));
    // back: 15 s = 2 chunks; front: 25 s = 3 chunks, then 12 s = 2 chunks.
    ASSERT_EQ(a.chunks().size(), 7u);
    EXPECT_EQ(a.chunks()[0].stream, "back");
    const auto& c = a.chunks();
    for (std::size_t i = 1; i < c.size(); ++i) {
        if (c[i].stream == c[i - 1].stream && c[i].session == c[i - 1].session) {
            EXPECT_EQ(c[i].first_frame, c[i - 1].first_frame + c[i - 1].frames);
        }
        EXPECT_TRUE(c[i].closed);
        EXPECT_TRUE(c[i].frames_exact);
        EXPECT_EQ(c[i].rate_hz, 8000u);
        EXPECT_EQ(c[i].sample_format, "S16_LE");
        EXPECT_GT(c[i].points, 0u);
    }
    EXPECT_NE(c[2].session, c[5].session);
    EXPECT_LT(c[2].first_realtime_ns, c[5].first_realtime_ns);
    ASSERT_EQ(a.segments().size(), 3u);
    EXPECT_EQ(a.segments()[1].stream, "front");
    EXPECT_EQ(a.segments()[1].starts_with, "session_start");
    EXPECT_EQ(a.segments()[1].chunks, (std::vector<std::size_t>{2, 3, 4}));
    EXPECT_EQ(a.segments()[1].end_frame, c[4].first_frame + c[4].frames);
    EXPECT_EQ(count_kind(a, EventKind::session_start), 3u);
    EXPECT_EQ(count_kind(a, EventKind::device_lost), 1u);
    EXPECT_EQ(count_kind(a, EventKind::device_back), 1u);
    EXPECT_EQ(count_kind(a, EventKind::shutdown), 2u);
    // Events in stream order, then time.
    EXPECT_EQ(a.events().front().stream, "back");
    EXPECT_EQ(a.events().back().kind, EventKind::shutdown);
    EXPECT_EQ(a.events().back().stream, "front");
}

TEST_F(ArchiveIndex, OverrunSplitsWriteGapAndRingOverflowDoNot) {
    FakeDaemon d(spec("front"));
    d.start_session();
    d.record(14);
    d.ring_overflow(400);
    d.record(3);
    const uint64_t overrun_at = d.written();
    d.overrun(1200, true);
    d.record(9);
    d.write_gap(16000);
    d.record(12);
    d.shutdown();
    const Archive a = Archive::open(data(), options());
    ASSERT_EQ(a.segments().size(), 2u);
    const auto& s0 = a.segments()[0];
    const auto& s1 = a.segments()[1];
    EXPECT_EQ(s0.end_frame, overrun_at);
    EXPECT_EQ(s1.first_frame, overrun_at + 1200);
    EXPECT_EQ(s1.starts_with, "overrun");
    EXPECT_EQ(count_kind(a, EventKind::write_gap), 1u);
    EXPECT_EQ(count_kind(a, EventKind::ring_overflow), 1u);
    EXPECT_EQ(count_kind(a, EventKind::disk_pause), 1u);
    // The chunk holding the overrun belongs to both segments.
    EXPECT_EQ(s0.chunks.back(), s1.chunks.front());
    // Points before the overrun row feed segment 0, after it segment 1, in frame order.
    for (std::size_t i = 0; i < 2; ++i) {
        uint64_t n = 0;
        uint64_t last = 0;
        a.read_segment(i,
                       [&](const framestamp::TimePoint& p) {
                           EXPECT_GE(p.frame, last);
                           last = p.frame;
                           if (i == 1) {
                               EXPECT_GE(p.frame, s1.first_frame);
                           } else {
                               EXPECT_LE(p.frame, s0.end_frame);
                           }
                           ++n;
                       },
                       {});
        EXPECT_GT(n, 30u) << i;
    }
}

TEST_F(ArchiveIndex, PartialLeftOverIsIndexed) {
    FakeDaemon d(spec("front"));
    d.start_session();
    d.record(14);
    d.crash();
    const Archive a = Archive::open(data(), options());
    ASSERT_EQ(a.chunks().size(), 2u);
    EXPECT_FALSE(a.chunks()[0].partial);
    const auto& c = a.chunks()[1];
    EXPECT_TRUE(c.partial);
    EXPECT_FALSE(c.closed);
    EXPECT_FALSE(c.frames_exact);
    EXPECT_EQ(c.audio_path.extension(), ".partial");
    EXPECT_EQ(c.timing_path.extension(), ".partial");
    // Frames up to the last point, which runs at most a point interval ahead of the file.
    EXPECT_NEAR(static_cast<double>(c.first_frame + c.frames), static_cast<double>(d.written()),
                2100.0);
    EXPECT_EQ(a.segments().size(), 1u);
}

TEST_F(ArchiveIndex, EmptyPartialLogIsSkippedAndOthersAreErrors) {
    {
        FakeDaemon d(spec("front"));
        d.start_session();
        d.record(5);
        d.shutdown();
    }
    const fsys::path dir = data() / "front" / framestamp::utc_date(1'795'000'000'000'000'000);
    spit(dir / "front_20261124T000000Z.timing.csv.partial", "");
    {
        const Archive a = Archive::open(data(), options());
        ASSERT_EQ(a.skipped_logs().size(), 1u);
        EXPECT_NE(a.skipped_logs()[0].reason.find("empty"), std::string::npos);
        EXPECT_EQ(a.chunks().size(), 1u);
    }
    spit(dir / "front_20261124T000001Z.timing.csv", "kind,x\n");
    EXPECT_THROW(Archive::open(data(), options()), ArchiveError);
    EXPECT_THROW(Archive::open(tmp_.path() / "absent", options()), ArchiveError);
    fsys::create_directories(tmp_.path() / "empty");
    try {
        Archive::open(tmp_.path() / "empty", options());
        FAIL();
    } catch (const ArchiveError& e) {
        EXPECT_NE(std::string(e.what()).find("no timing logs"), std::string::npos);
    }
}

TEST_F(ArchiveIndex, RootMayBeAStreamOrDateFolder) {
    FakeDaemon d(spec("front"));
    d.start_session();
    d.record(12);
    d.shutdown();
    const Archive whole = Archive::open(data(), options());
    const Archive stream = Archive::open(data() / "front", options());
    const Archive date = Archive::open(d.audio_files()[0].parent_path(), options());
    EXPECT_EQ(stream.chunks().size(), whole.chunks().size());
    EXPECT_EQ(date.chunks().size(), whole.chunks().size());
    EXPECT_EQ(date.chunks()[0].stream, "front");
}

TEST_F(ArchiveIndex, SyncTransitionsBecomeEvents) {
    FakeDaemon d(spec("front"));
    d.start_session();
    d.sync(true);
    d.record(5);
    d.sync(false);
    d.record(5);
    d.sync(false);
    d.record(5);
    d.sync(true);
    d.record(12);
    d.sync(false);
    d.record(1);
    d.shutdown();
    const Archive a = Archive::open(data(), options());
    EXPECT_EQ(count_kind(a, EventKind::unsynced), 2u);
    EXPECT_EQ(count_kind(a, EventKind::resynced), 1u);
}

TEST_F(ArchiveIndex, FindChunkByAudioOrLogPath) {
    FakeDaemon d(spec("front"));
    d.start_session();
    d.record(25);
    d.shutdown();
    const Archive a = Archive::open(data(), options());
    ASSERT_EQ(a.chunks().size(), 3u);
    EXPECT_EQ(a.find_chunk(d.audio_files()[1]), 1u);
    EXPECT_EQ(a.find_chunk(d.logs()[2]), 2u);
    // Another spelling of the same file.
    const fsys::path odd = d.audio_files()[1].parent_path() / ".." /
                           d.audio_files()[1].parent_path().filename() /
                           d.audio_files()[1].filename();
    EXPECT_EQ(a.find_chunk(odd), 1u);
    const fsys::path outside = tmp_.path() / "other.wav";
    spit(outside, "x");
    EXPECT_FALSE(a.find_chunk(outside));
    EXPECT_FALSE(a.find_chunk(tmp_.path() / "absent.flac"));
}

TEST_F(ArchiveIndex, LocateMatchesTruthAndChunkBoundaries) {
    FakeDaemon d(spec("front"));
    d.start_session();
    d.sync(true);
    d.record(35);
    d.shutdown();
    const Archive a = Archive::open(data(), options());
    ASSERT_EQ(a.chunks().size(), 4u);
    // The first frame of the second chunk.
    const uint64_t boundary = a.chunks()[1].first_frame;
    const auto at_boundary = framestamp::locate(a, d.true_utc_of(boundary));
    ASSERT_EQ(at_boundary.size(), 1u);
    const auto& loc = at_boundary[0];
    EXPECT_LE(std::llabs(static_cast<int64_t>(loc.session_frame) - static_cast<int64_t>(boundary)),
              1);
    EXPECT_EQ(loc.chunk, loc.session_frame < boundary ? 0u : 1u);
    EXPECT_EQ(loc.sample, loc.session_frame - a.chunks()[loc.chunk].first_frame);
    // Mid-chunk, against the truth (the fit is good to well under a sample at 8 kHz).
    const uint64_t mid = a.chunks()[2].first_frame + 12'345;
    const auto m = framestamp::locate(a, d.true_utc_of(mid), "front");
    ASSERT_EQ(m.size(), 1u);
    EXPECT_LE(std::llabs(static_cast<int64_t>(m[0].session_frame) - static_cast<int64_t>(mid)), 1);
    EXPECT_EQ(m[0].chunk, 2u);
    EXPECT_TRUE(framestamp::locate(a, d.true_utc_of(mid), "back").empty());
    EXPECT_TRUE(framestamp::locate(a, d.true_utc_of(0) - 60'000'000'000).empty());
    EXPECT_TRUE(framestamp::locate(a, d.true_utc_of(mid) + 3'600'000'000'000).empty());
}

TEST_F(ArchiveIndex, CacheHitUpdateAndCorruption) {
    {
        FakeDaemon d(spec("front"));
        d.start_session();
        d.record(14);
        d.overrun(800, true);
        d.record(14);
        d.shutdown();
    }
    settle();
    fsys::path cache;
    std::vector<framestamp::ChunkInfo> first_chunks;
    {
        const Archive a = Archive::open(data(), options());
        EXPECT_EQ(a.index_source(), "built");
        ASSERT_EQ(a.segments().size(), 2u);
        a.fit_all();
        cache = a.cache_path();
        first_chunks = a.chunks();
    }
    ASSERT_TRUE(fsys::exists(cache));
    {
        const Archive a = Archive::open(data(), options());
        EXPECT_EQ(a.index_source(), "cache");
        ASSERT_EQ(a.chunks().size(), first_chunks.size());
        for (std::size_t i = 0; i < first_chunks.size(); ++i) {
            EXPECT_EQ(a.chunks()[i].timing_path, first_chunks[i].timing_path);
            EXPECT_EQ(a.chunks()[i].frames, first_chunks[i].frames);
            EXPECT_EQ(a.chunks()[i].first_realtime_ns, first_chunks[i].first_realtime_ns);
        }
        EXPECT_TRUE(a.has_model(0));
        EXPECT_TRUE(a.has_model(1));
        EXPECT_FALSE(a.model(1).empty());
    }
    // The newest log (the second segment's) grows in place: it alone is re-read, its model
    // dropped.
    const fsys::path last_log = Archive::open(data(), options()).chunks().back().timing_path;
    {
        std::ofstream out(last_log, std::ios::app);
        out << "note,1,1,1,1,,,,,,,,appended=1\n";
    }
    {
        const Archive a = Archive::open(data(), options());
        EXPECT_EQ(a.index_source(), "updated (1 logs re-read)");
        EXPECT_TRUE(a.has_model(0));
        EXPECT_FALSE(a.has_model(1));
    }
    // Damaged or foreign caches are ignored.
    for (const std::string& junk : {std::string("garbage"), std::string()}) {
        spit(cache, junk);
        const Archive a = Archive::open(data(), options());
        EXPECT_EQ(a.index_source(), "built");
    }
    {
        std::string bytes = slurp(cache);
        ASSERT_GT(bytes.size(), 200u);
        bytes[100] ^= 0x40;  // inside the index part
        spit(cache, bytes);
        const Archive a = Archive::open(data(), options());
        EXPECT_EQ(a.index_source(), "built");
        EXPECT_EQ(a.chunks().size(), first_chunks.size());
    }
    // No usable cache folder: not an error.
    ArchiveOptions o = options();
    spit(tmp_.path() / "file", "x");
    o.cache_dir = tmp_.path() / "file" / "sub";
    EXPECT_EQ(Archive::open(data(), o).index_source(), "built");
    o.use_cache = false;
    EXPECT_EQ(Archive::open(data(), o).index_source(), "built");
}

}  // namespace
