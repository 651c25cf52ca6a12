// The index cache's staleness check: an unchanged archive is answered from the cache as it is,
// and every change the cheap check is meant to see (a log that grows, a log added to a folder, a
// new date folder, a log removed, a log rewritten with the same size, a folder whose mtime a copy
// tool set back) changes the answer.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "framestamp/archive.hpp"
#include "test_archive_support.hpp"

namespace {

using namespace fs_test;
using framestamp::Archive;
using framestamp::ArchiveOptions;
using framestamp::ChunkInfo;

constexpr int64_t kSettleNs = 50'000'000;
constexpr int64_t kDayNs = 86'400'000'000'000;

class ArchiveCache : public ::testing::Test {
  protected:
    ArchiveOptions options() const {
        ArchiveOptions o;
        o.cache_dir = tmp_.path() / "cache";
        o.dir_settle_ns = kSettleNs;
        return o;
    }
    fsys::path data() const { return tmp_.path() / "data"; }
    FakeSpec spec(const std::string& stream) const {
        FakeSpec s;
        s.data_dir = data();
        s.stream = stream;
        s.seed = test_seed();
        return s;
    }
    // Lets the folders just written age past dir_settle_ns, so that the next index trusts their
    // stamps (otherwise it lists them again, and the cheap check would not be what is tested).
    static void settle() { std::this_thread::sleep_for(std::chrono::nanoseconds(2 * kSettleNs)); }
    // One stream, one session of 35 s: chunks of 10, 10, 10 and 5 s in one date folder.
    FakeDaemon& four_chunks() {
        daemon_.emplace(spec("front"));
        daemon_->start_session();
        daemon_->sync(true);
        daemon_->record(35);
        daemon_->shutdown();
        return *daemon_;
    }
    TempDir tmp_;
    std::optional<FakeDaemon> daemon_;
};

// Changes the last digit of the chunk_close row's frame count in place: same size, same inode.
// Returns the new count.
uint64_t rewrite_close_frames(const fsys::path& log) {
    std::string text = slurp(log);
    const std::size_t row = text.rfind("\nchunk_close,");
    EXPECT_NE(row, std::string::npos);
    std::size_t field = row + 1;
    for (int i = 0; i < 7; ++i) {
        field = text.find(',', field) + 1;
    }
    const std::size_t end = text.find(',', field);
    char& last = text[end - 1];
    last = last == '9' ? '8' : static_cast<char>(last + 1);
    const uint64_t frames = std::stoull(text.substr(field, end - field));
    const uint64_t size = fsys::file_size(log);
    {
        std::ofstream out(log, std::ios::binary | std::ios::in | std::ios::out);
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
    }
    EXPECT_EQ(fsys::file_size(log), size);
    return frames;
}

void shift_mtime(const fsys::path& p, std::chrono::seconds by) {
    fsys::last_write_time(p, fsys::last_write_time(p) + by);
}

void expect_same_chunk(const ChunkInfo& a, const ChunkInfo& b) {
    EXPECT_EQ(a.stream, b.stream);
    EXPECT_EQ(a.session, b.session);
    EXPECT_EQ(a.audio_path, b.audio_path);
    EXPECT_EQ(a.timing_path, b.timing_path);
    EXPECT_EQ(a.partial, b.partial);
    EXPECT_EQ(a.closed, b.closed);
    EXPECT_EQ(a.recovered, b.recovered);
    EXPECT_EQ(a.torn_tail, b.torn_tail);
    EXPECT_EQ(a.rate_hz, b.rate_hz);
    EXPECT_EQ(a.channels, b.channels);
    EXPECT_EQ(a.sample_format, b.sample_format);
    EXPECT_EQ(a.first_frame, b.first_frame);
    EXPECT_EQ(a.frames, b.frames);
    EXPECT_EQ(a.frames_exact, b.frames_exact);
    EXPECT_EQ(a.points, b.points);
    EXPECT_EQ(a.first_realtime_ns, b.first_realtime_ns);
    EXPECT_EQ(a.last_realtime_ns, b.last_realtime_ns);
    EXPECT_EQ(a.log_size, b.log_size);
    EXPECT_EQ(a.log_mtime_ns, b.log_mtime_ns);
}

TEST_F(ArchiveCache, UnchangedArchiveIsAnsweredFromTheCacheAsBuilt) {
    int64_t utc_front = 0;
    int64_t utc_back = 0;
    {
        FakeDaemon f(spec("front"));
        f.start_session();
        f.sync(true);
        f.record(14);
        f.overrun(800, true);
        f.record(14);
        utc_front = f.true_utc_of(f.written() - 30'000);
        f.crash();  // leaves the open chunk's log .partial
        FakeSpec sb = spec("back");
        sb.ppm = -40;
        FakeDaemon b(sb);
        b.start_session();
        b.sync(false);
        b.record(15);
        utc_back = b.true_utc_of(50'000);
        b.shutdown();
        spit(b.audio_files()[0].parent_path() / "back_20991231T000000Z.wav", "RIFF");
    }
    settle();
    Archive::open(data(), options()).fit_all();
    const Archive cached = Archive::open(data(), options());
    EXPECT_EQ(cached.index_source(), "cache");
    ArchiveOptions no_cache = options();
    no_cache.use_cache = false;
    const Archive built = Archive::open(data(), no_cache);
    EXPECT_EQ(built.index_source(), "built");

    EXPECT_EQ(cached.streams(), built.streams());
    // One by one first (read from the mapping), then all at once.
    ASSERT_EQ(cached.chunk_count(), built.chunks().size());
    for (std::size_t i = 0; i < built.chunks().size(); ++i) {
        expect_same_chunk(cached.chunk(i), built.chunks()[i]);
    }
    ASSERT_EQ(cached.chunks().size(), built.chunks().size());
    for (std::size_t i = 0; i < built.chunks().size(); ++i) {
        expect_same_chunk(cached.chunks()[i], built.chunks()[i]);
    }
    EXPECT_TRUE(std::any_of(built.chunks().begin(), built.chunks().end(),
                            [](const ChunkInfo& c) { return c.partial; }));
    ASSERT_EQ(cached.segments().size(), built.segments().size());
    EXPECT_EQ(cached.segments().size(), 3u);
    for (std::size_t i = 0; i < built.segments().size(); ++i) {
        const auto& a = cached.segments()[i];
        const auto& b = built.segments()[i];
        EXPECT_EQ(a.stream, b.stream);
        EXPECT_EQ(a.session, b.session);
        EXPECT_EQ(a.rate_hz, b.rate_hz);
        EXPECT_EQ(a.first_frame, b.first_frame);
        EXPECT_EQ(a.end_frame, b.end_frame);
        EXPECT_EQ(a.chunks, b.chunks);
        EXPECT_EQ(a.starts_with, b.starts_with);
        EXPECT_EQ(cached.coarse_utc_range(i), built.coarse_utc_range(i));
        EXPECT_TRUE(cached.has_model(i));
    }
    ASSERT_EQ(cached.events().size(), built.events().size());
    EXPECT_GT(built.events().size(), 4u);
    for (std::size_t i = 0; i < built.events().size(); ++i) {
        const auto& a = cached.events()[i];
        const auto& b = built.events()[i];
        EXPECT_EQ(a.kind, b.kind);
        EXPECT_EQ(a.stream, b.stream);
        EXPECT_EQ(a.session, b.session);
        EXPECT_EQ(a.session_frame, b.session_frame);
        EXPECT_EQ(a.frames, b.frames);
        EXPECT_EQ(a.realtime_ns, b.realtime_ns);
        EXPECT_EQ(a.raw_ns, b.raw_ns);
        EXPECT_EQ(a.detail, b.detail);
        EXPECT_EQ(a.file, b.file);
        EXPECT_EQ(a.line, b.line);
    }
    ASSERT_EQ(cached.skipped_logs().size(), built.skipped_logs().size());
    EXPECT_EQ(cached.unlogged_audio(), built.unlogged_audio());
    EXPECT_EQ(built.unlogged_audio().size(), 1u);
    for (std::size_t i = 0; i < built.chunks().size(); ++i) {
        EXPECT_EQ(cached.find_chunk(built.chunks()[i].audio_path), i);
    }
    // Late in front's recording back had stopped; early in back's both were recording.
    for (const auto& [utc, streams] : {std::pair{utc_front, 1u}, std::pair{utc_back, 2u}}) {
        const auto a = framestamp::locate(cached, utc);
        const auto b = framestamp::locate(built, utc);
        ASSERT_EQ(b.size(), streams);
        ASSERT_EQ(a.size(), b.size());
        for (std::size_t i = 0; i < b.size(); ++i) {
            EXPECT_EQ(a[i].chunk, b[i].chunk);
            EXPECT_EQ(a[i].segment, b[i].segment);
            EXPECT_EQ(a[i].session_frame, b[i].session_frame);
            EXPECT_EQ(a[i].sample, b[i].sample);
        }
    }
}

TEST_F(ArchiveCache, GrowingPartialLogIsNoticed) {
    FakeDaemon d(spec("front"));
    d.start_session();
    d.sync(true);
    d.record(25);
    const int64_t late_utc = d.true_utc_of(d.written() - 2'000);
    d.crash();
    // The open chunk's log as the daemon had flushed it a few seconds earlier.
    const fsys::path partial = d.logs().back().string() + ".partial";
    const std::string full = slurp(partial);
    const std::string earlier = full.substr(0, full.find('\n', full.size() / 2) + 1);
    spit(partial, earlier);
    settle();
    uint64_t frames_before = 0;
    {
        const Archive a = Archive::open(data(), options());
        ASSERT_EQ(a.chunk_count(), 3u);
        frames_before = a.chunk(2).frames;
        EXPECT_TRUE(framestamp::locate(a, late_utc).empty());
    }
    spit(partial, full);  // the daemon's next flush: same file, longer
    const Archive a = Archive::open(data(), options());
    EXPECT_EQ(a.index_source(), "updated (1 logs re-read)");
    EXPECT_GT(a.chunk(2).frames, frames_before + 8'000);
    const auto loc = framestamp::locate(a, late_utc);
    ASSERT_EQ(loc.size(), 1u);
    EXPECT_EQ(loc[0].chunk, 2u);
}

TEST_F(ArchiveCache, NewLogInAnExistingDateFolderIsNoticed) {
    FakeDaemon& d = four_chunks();
    const fsys::path held = tmp_.path() / "held";
    fsys::create_directories(held);
    const fsys::path log = d.logs()[3];
    const fsys::path audio = d.audio_files()[3];
    fsys::rename(log, held / log.filename());
    fsys::rename(audio, held / audio.filename());
    settle();
    const int64_t utc = d.true_utc_of(3 * 80'000 + 16'000);
    {
        const Archive a = Archive::open(data(), options());
        EXPECT_EQ(a.chunk_count(), 3u);
        EXPECT_TRUE(framestamp::locate(a, utc).empty());
    }
    // Moved in as rsync or mv would: size and mtime as they were.
    fsys::rename(held / log.filename(), log);
    fsys::rename(held / audio.filename(), audio);
    const Archive a = Archive::open(data(), options());
    EXPECT_EQ(a.index_source(), "updated (1 logs re-read)");
    EXPECT_EQ(a.chunk_count(), 4u);
    const auto loc = framestamp::locate(a, utc);
    ASSERT_EQ(loc.size(), 1u);
    EXPECT_EQ(a.chunk(loc[0].chunk).timing_path, log);
    EXPECT_NEAR(static_cast<double>(loc[0].sample), 16'000.0, 1.0);
}

TEST_F(ArchiveCache, NewDateFolderIsNoticed) {
    FakeDaemon& d = four_chunks();
    settle();
    EXPECT_EQ(Archive::open(data(), options()).chunk_count(), 4u);
    FakeSpec next = spec("front");
    next.start_utc_ns += kDayNs;
    next.start_raw_ns += kDayNs;
    FakeDaemon e(next);
    e.start_session();
    e.sync(true);
    e.record(15);
    e.shutdown();
    ASSERT_NE(e.logs()[0].parent_path(), d.logs()[0].parent_path());
    const int64_t utc = e.true_utc_of(20'000);
    const Archive a = Archive::open(data(), options());
    EXPECT_EQ(a.index_source(), "updated (2 logs re-read)");
    EXPECT_EQ(a.chunk_count(), 6u);
    const auto loc = framestamp::locate(a, utc);
    ASSERT_EQ(loc.size(), 1u);
    EXPECT_EQ(a.chunk(loc[0].chunk).timing_path, e.logs()[0]);
}

TEST_F(ArchiveCache, RemovedLogIsNoticed) {
    FakeDaemon& d = four_chunks();
    settle();
    const int64_t utc = d.true_utc_of(80'000 + 40'000);
    {
        const Archive a = Archive::open(data(), options());
        const auto loc = framestamp::locate(a, utc);
        ASSERT_EQ(loc.size(), 1u);
        EXPECT_EQ(loc[0].chunk, 1u);
    }
    fsys::remove(d.logs()[1]);
    fsys::remove(d.audio_files()[1]);
    const Archive a = Archive::open(data(), options());
    EXPECT_EQ(a.index_source(), "updated (0 logs re-read)");
    EXPECT_EQ(a.chunk_count(), 3u);
    EXPECT_TRUE(framestamp::locate(a, utc).empty());
    EXPECT_FALSE(a.find_chunk(d.logs()[1]));
}

TEST_F(ArchiveCache, NewestLogRewrittenInPlaceWithTheSameSizeIsNoticed) {
    FakeDaemon& d = four_chunks();
    settle();
    uint64_t frames_before = 0;
    {
        const Archive a = Archive::open(data(), options());
        frames_before = a.chunk(3).frames;
    }
    const uint64_t frames = rewrite_close_frames(d.logs()[3]);
    ASSERT_NE(frames, frames_before);
    shift_mtime(d.logs()[3], std::chrono::seconds(1));  // a later write: a later mtime
    const Archive a = Archive::open(data(), options());
    EXPECT_EQ(a.index_source(), "updated (1 logs re-read)");
    EXPECT_EQ(a.chunk(3).frames, frames);
    EXPECT_EQ(a.segments().back().end_frame, a.chunk(3).first_frame + frames);
}

// rsync -a and cp -a replace a file through a new one and then set the folder's mtime back to
// the source's: the folder's ctime and the file's inode still tell.
TEST_F(ArchiveCache, LogReplacedUnderAFolderWhoseMtimeWasSetBackIsNoticed) {
    FakeDaemon& d = four_chunks();
    settle();
    uint64_t frames_before = 0;
    {
        const Archive a = Archive::open(data(), options());
        frames_before = a.chunk(1).frames;
    }
    const fsys::path log = d.logs()[1];
    const fsys::path dir = log.parent_path();
    const auto dir_mtime = fsys::last_write_time(dir);
    const fsys::path copy = dir / ".copy.tmp";
    fsys::copy_file(log, copy);
    const uint64_t frames = rewrite_close_frames(copy);
    fsys::last_write_time(copy, fsys::last_write_time(log) + std::chrono::seconds(1));
    fsys::rename(copy, log);
    fsys::last_write_time(dir, dir_mtime);
    ASSERT_NE(frames, frames_before);
    const Archive a = Archive::open(data(), options());
    EXPECT_EQ(a.index_source(), "updated (1 logs re-read)");
    EXPECT_EQ(a.chunk(1).frames, frames);
}

// A folder changed shortly before it was listed may change again within its timestamps'
// resolution without showing it, so the next open lists it again and stats every log in it.
TEST_F(ArchiveCache, FolderChangedJustBeforeIndexingIsListedAgain) {
    FakeDaemon& d = four_chunks();
    ArchiveOptions o = options();
    o.dir_settle_ns = 3600LL * 1'000'000'000;  // everything written by this test is "just now"
    const fsys::path log = d.logs()[1];
    const auto written = fsys::last_write_time(log);
    fsys::last_write_time(log, written - std::chrono::hours(2));  // old and closed: not watched
    uint64_t frames_before = 0;
    {
        const Archive a = Archive::open(data(), o);
        frames_before = a.chunk(1).frames;
    }
    // Listed again and found as it was: the cache is used.
    EXPECT_EQ(Archive::open(data(), o).index_source(), "cache");
    const uint64_t frames = rewrite_close_frames(log);
    ASSERT_NE(frames, frames_before);
    fsys::last_write_time(log, written - std::chrono::hours(2) + std::chrono::seconds(1));
    const Archive a = Archive::open(data(), o);
    EXPECT_EQ(a.index_source(), "updated (1 logs re-read)");
    EXPECT_EQ(a.chunk(1).frames, frames);
}

// verify's mode: every log is stat'ed, so an old closed log edited in place is re-read too.
TEST_F(ArchiveCache, StatEveryLogNoticesAnOldLogEditedInPlace) {
    FakeDaemon& d = four_chunks();
    settle();
    uint64_t frames_before = 0;
    {
        const Archive a = Archive::open(data(), options());
        frames_before = a.chunk(1).frames;
    }
    const uint64_t frames = rewrite_close_frames(d.logs()[1]);
    ASSERT_NE(frames, frames_before);
    shift_mtime(d.logs()[1], std::chrono::seconds(1));
    ArchiveOptions o = options();
    o.stat_every_log = true;
    const Archive a = Archive::open(data(), o);
    EXPECT_EQ(a.index_source(), "updated (1 logs re-read)");
    EXPECT_EQ(a.chunk(1).frames, frames);
}

TEST_F(ArchiveCache, CacheOfAnotherVersionIsRebuiltAndModelsFollowFitOptions) {
    four_chunks();
    settle();
    fsys::path cache;
    {
        const Archive a = Archive::open(data(), options());
        a.fit_all();
        cache = a.cache_path();
    }
    {
        const Archive a = Archive::open(data(), options());
        EXPECT_EQ(a.index_source(), "cache");
        EXPECT_TRUE(a.has_model(0));
        // The same index with other fit options: the cached model is not theirs.
        ArchiveOptions other = options();
        other.fit.knot_spacing_s = 5.0;
        const Archive b = Archive::open(data(), other);
        EXPECT_EQ(b.index_source(), "cache");
        EXPECT_FALSE(b.has_model(0));
    }
    std::string bytes = slurp(cache);
    ASSERT_GT(bytes.size(), 16u);
    const uint32_t old_version = 1;
    std::memcpy(bytes.data() + 8, &old_version, sizeof old_version);  // after "FSARCIDX"
    spit(cache, bytes);
    const Archive a = Archive::open(data(), options());
    EXPECT_EQ(a.index_source(), "built");
    EXPECT_EQ(a.chunk_count(), 4u);
}

}  // namespace
