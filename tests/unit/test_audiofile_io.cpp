// Disk trouble through the Io seam: EINTR and short writes are retried, ENOSPC and EIO become
// clear errors that leave the open chunk readable and closed chunks untouched, and the WAV size
// limit is enforced (4 GiB of writes that a fake Io swallows).
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <limits>

#include "test_audiofile_support.hpp"

namespace {

using framestamp::ChunkFile;
using framestamp::Io;
using namespace fs_test;

// The real file system, with faults on demand.
class FaultyIo : public Io {
  public:
    int64_t pwrite(int fd, const void* buf, std::size_t len, int64_t offset) override {
        ++pwrite_calls;
        if (eintr_left > 0) {
            --eintr_left;
            ++eintr_returned;
            return -EINTR;
        }
        eintr_left = eintr_each;
        if (len > max_write) {
            len = max_write;
            ++short_writes;
        }
        // Only bytes past the end of the file need space; overwriting never does.
        const int64_t end = Io::file_size(fd);
        const int64_t new_bytes =
            std::max<int64_t>(0, offset + static_cast<int64_t>(len) - std::max(end, offset));
        if (new_bytes > space_left) {
            const int64_t fits = static_cast<int64_t>(len) - (new_bytes - space_left);
            if (fits <= 0) {
                return -ENOSPC;
            }
            len = static_cast<std::size_t>(fits);
        }
        const int64_t n = Io::pwrite(fd, buf, len, offset);
        if (n > 0) {
            space_left -= std::max<int64_t>(0, offset + n - std::max(end, offset));
        }
        return n;
    }
    int fdatasync(int fd) override {
        if (fdatasync_eintr > 0) {
            --fdatasync_eintr;
            return -EINTR;
        }
        if (fdatasync_errno != 0) {
            return -fdatasync_errno;
        }
        return Io::fdatasync(fd);
    }

    int eintr_each = 0;  // EINTRs before each real write
    int eintr_left = 0;
    std::size_t max_write = std::numeric_limits<std::size_t>::max();
    int64_t space_left = std::numeric_limits<int64_t>::max();
    int fdatasync_eintr = 0;
    int fdatasync_errno = 0;
    int pwrite_calls = 0;
    int eintr_returned = 0;
    int short_writes = 0;
};

// Swallows large (sample data) writes so that 4 GiB cost nothing; headers reach the real file.
class NullDataIo : public Io {
  public:
    int64_t pwrite(int fd, const void* buf, std::size_t len, int64_t offset) override {
        if (len > 65536) {
            swallowed += len;
            return static_cast<int64_t>(len);
        }
        return Io::pwrite(fd, buf, len, offset);
    }
    uint64_t swallowed = 0;
};

TEST(Io, EintrAndShortWritesAreRetried) {
    std::mt19937_64 rng(test_seed());
    for (auto f : {FileFormat::wav, FileFormat::flac}) {
        TempDir dir;
        FaultyIo io;
        io.eintr_each = 1;
        io.max_write = 7;
        io.fdatasync_eintr = 3;
        const auto path = dir / ("c." + std::string(framestamp::file_extension(f)));
        const auto input = random_frames(SampleFormat::s16_le, 2, 10000, rng);
        auto file = ChunkFile::create(path, f, 5, test_meta(SampleFormat::s16_le, 2), &io);
        ASSERT_TRUE(file) << file.error().message;
        ASSERT_TRUE(file.value().write(input.data(), 6000));
        ASSERT_TRUE(file.value().flush());
        ASSERT_TRUE(file.value().write(input.data() + std::size_t{6000} * 4, 4000));
        ASSERT_TRUE(file.value().close());
        EXPECT_GT(io.eintr_returned, 100);
        EXPECT_GT(io.short_writes, 100);
        EXPECT_EQ(io.fdatasync_eintr, 0);
        EXPECT_TRUE(same_samples(read_back(path), input, SampleFormat::s16_le, 2, 10000));
    }
}

// Fills the disk in the middle of a write.
void check_disk_full(FileFormat f) {
    std::mt19937_64 rng(test_seed());
    TempDir dir;
    const auto ext = "." + std::string(framestamp::file_extension(f));
    const auto input = random_frames(SampleFormat::s24_3le, 2, 60000, rng);

    // An earlier chunk, closed: must come through byte for byte.
    auto prev = ChunkFile::create(dir / ("prev" + ext), f, 5, test_meta(SampleFormat::s24_3le, 2));
    ASSERT_TRUE(prev);
    ASSERT_TRUE(prev.value().write(input.data(), 30000));
    ASSERT_TRUE(prev.value().close());
    const auto prev_bytes = file_bytes(dir / ("prev" + ext));

    FaultyIo io;
    const auto path = dir / ("c" + ext);
    auto file = ChunkFile::create(path, f, 5, test_meta(SampleFormat::s24_3le, 2), &io);
    ASSERT_TRUE(file);
    ASSERT_TRUE(file.value().write(input.data(), 20000));
    ASSERT_TRUE(file.value().flush());
    const uint64_t durable = file.value().frames_durable();
    io.space_left = 10000 * 6 + 5;  // room for about a quarter of the write, ending mid-frame
    auto w = file.value().write(input.data() + std::size_t{20000} * 6, 40000);
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().errno_value, ENOSPC);
    EXPECT_NE(w.error().message.find("c" + ext + ".partial"), std::string::npos)
        << w.error().message;
    EXPECT_NE(w.error().message.find("No space left on device"), std::string::npos);
    // Failed for good: the same error again, nothing more written.
    auto again = file.value().write(input.data(), 10);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().errno_value, ENOSPC);
    EXPECT_FALSE(file.value().flush());
    const uint64_t kept = file.value().frames_written();
    EXPECT_GE(kept, durable);
    EXPECT_LT(kept, 60000U);

    // Until closed, the .partial stays readable up to its last flush.
    EXPECT_TRUE(same_samples(read_back(file.value().partial_path()), input, SampleFormat::s24_3le,
                             2, durable));
    // close() keeps every whole frame that reached the disk, in a valid file.
    auto closed = file.value().close();
    EXPECT_TRUE(closed) << closed.error().message;
    EXPECT_TRUE(same_samples(read_back(path), input, SampleFormat::s24_3le, 2, kept))
        << "seed " << test_seed();
    EXPECT_EQ(file_bytes(dir / ("prev" + ext)), prev_bytes);
}

TEST(Io, DiskFullMidWriteWav) {
    check_disk_full(FileFormat::wav);
}

TEST(Io, DiskFullMidWriteFlac) {
    check_disk_full(FileFormat::flac);
}

TEST(Io, DiskFullAtCreateLeavesNothing) {
    for (auto f : {FileFormat::wav, FileFormat::rf64, FileFormat::flac}) {
        TempDir dir;
        FaultyIo io;
        io.space_left = 100;
        const auto path = dir / ("c." + std::string(framestamp::file_extension(f)));
        auto file = ChunkFile::create(path, f, 5, test_meta(SampleFormat::s16_le, 1), &io);
        ASSERT_FALSE(file);
        EXPECT_EQ(file.error().errno_value, ENOSPC) << file.error().message;
        EXPECT_TRUE(fsys::is_empty(dir.path()));
    }
}

TEST(Io, SyncFailureFailsTheFlushAndCloseStillFinishes) {
    std::mt19937_64 rng(test_seed());
    TempDir dir;
    FaultyIo io;
    const auto input = random_frames(SampleFormat::s16_le, 1, 1000, rng);
    auto file = ChunkFile::create(dir / "c.wav", FileFormat::wav, 0,
                                  test_meta(SampleFormat::s16_le, 1), &io);
    ASSERT_TRUE(file);
    ASSERT_TRUE(file.value().write(input.data(), 1000));
    io.fdatasync_errno = EIO;
    auto flushed = file.value().flush();
    ASSERT_FALSE(flushed);
    EXPECT_EQ(flushed.error().errno_value, EIO);
    EXPECT_NE(flushed.error().message.find("fdatasync"), std::string::npos);
    EXPECT_FALSE(file.value().write(input.data(), 10));
    EXPECT_EQ(file.value().frames_durable(), 0U);
    EXPECT_TRUE(file.value().close());
    EXPECT_TRUE(same_samples(read_back(dir / "c.wav"), input, SampleFormat::s16_le, 1, 1000));
}

TEST(WavLimit, RefusesToPassFourGiB) {
    TempDir dir;
    NullDataIo io;
    const auto path = dir / "big.wav";
    auto file =
        ChunkFile::create(path, FileFormat::wav, 0, test_meta(SampleFormat::s16_le, 2), &io);
    ASSERT_TRUE(file);
    const uint64_t header = fsys::file_size(file.value().partial_path());
    const uint64_t max_frames = (ChunkFile::wav_max_riff_bytes - (header - 8)) / 4;
    const uint64_t piece = 1 << 22;  // 16 MiB of stereo S16
    std::vector<uint8_t> buf(piece * 4);
    uint64_t written = 0;
    while (written + piece <= max_frames - 10) {
        ASSERT_TRUE(file.value().write(buf.data(), piece));
        written += piece;
    }
    // A write that would cross the limit is refused whole and leaves the file usable.
    const uint64_t rest = max_frames - written;
    auto refused = file.value().write(buf.data(), rest + 1);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().errno_value, EFBIG);
    EXPECT_NE(refused.error().message.find("4 GiB"), std::string::npos);
    EXPECT_EQ(file.value().frames_written(), written);
    ASSERT_TRUE(file.value().write(buf.data(), rest));
    EXPECT_FALSE(file.value().write(buf.data(), 1));
    ASSERT_TRUE(file.value().flush());
    ASSERT_TRUE(file.value().close());
    EXPECT_EQ(file.value().frames_written(), max_frames);

    const auto b = file_bytes(path);
    ASSERT_EQ(b.size(), header);
    const auto chunks = riff_chunks(b);
    ASSERT_EQ(chunks.back().first, "data");
    EXPECT_EQ(chunks.back().second.size, max_frames * 4);
    EXPECT_EQ(le32(b.data() + 4), header - 8 + max_frames * 4);
    EXPECT_LE(header - 8 + max_frames * 4, 0xFFFFFFFFULL);
    EXPECT_GT(header - 8 + (max_frames + 1) * 4, 0xFFFFFFFFULL);
}

TEST(Rf64, PassesFourGiBWithDs64Sizes) {
    TempDir dir;
    NullDataIo io;
    const auto path = dir / "big.wav";
    auto file =
        ChunkFile::create(path, FileFormat::rf64, 0, test_meta(SampleFormat::s16_le, 2), &io);
    ASSERT_TRUE(file);
    const uint64_t header = fsys::file_size(file.value().partial_path());
    const uint64_t piece = 1 << 22;
    std::vector<uint8_t> buf(piece * 4);
    const uint64_t frames = 290 * piece;  // 4.53 GiB
    for (uint64_t at = 0; at < frames; at += piece) {
        ASSERT_TRUE(file.value().write(buf.data(), piece));
    }
    ASSERT_TRUE(file.value().close());
    EXPECT_EQ(io.swallowed, frames * 4);
    const auto b = file_bytes(path);
    ASSERT_EQ(std::string(b.begin(), b.begin() + 4), "RF64");
    const auto chunks = riff_chunks(b);
    ASSERT_EQ(chunks.front().first, "ds64");
    const std::size_t ds64 = chunks.front().second.body;
    EXPECT_EQ(le32(b.data() + 4), 0xFFFFFFFFU);
    EXPECT_EQ(chunks.back().second.size, 0xFFFFFFFFU);
    EXPECT_EQ(le64(b.data() + ds64), header - 8 + frames * 4);
    EXPECT_EQ(le64(b.data() + ds64 + 8), frames * 4);
    EXPECT_EQ(le64(b.data() + ds64 + 16), frames);
}

}  // namespace
