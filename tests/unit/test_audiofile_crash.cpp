// Power cuts and recovery. A power cut keeps what the last flush made durable plus any part of the
// later writes; the tests build exactly those files (a copy taken at the flush, then torn tails
// of what followed) and check that each is readable as it is and after recover_partial().
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>

#include "test_audiofile_support.hpp"

namespace {

using framestamp::ChunkFile;
using framestamp::recover_partial;
using framestamp::RecoveryMethod;
using namespace fs_test;

struct CrashCase {
    FileFormat file;
    SampleFormat sample;
    uint32_t channels;
};

std::string case_name(const ::testing::TestParamInfo<CrashCase>& info) {
    return std::string(framestamp::file_format_name(info.param.file)) + "_" +
           std::string(framestamp::sample_format_name(info.param.sample)) + "_" +
           std::to_string(info.param.channels) + "ch";
}

std::string ext(FileFormat f) {
    return "." + std::string(framestamp::file_extension(f));
}

// Writes `bytes` as <dir>/<stem>.<ext>.partial, recovers it and returns the report.
framestamp::RecoveryReport recover_bytes(const TempDir& dir, const std::string& stem, FileFormat f,
                                         const std::vector<uint8_t>& bytes) {
    const auto final_path = dir / (stem + ext(f));
    write_bytes(partial_path_for(final_path), bytes);
    auto r = recover_partial(partial_path_for(final_path));
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    if (!r) {
        return {};
    }
    EXPECT_EQ(r.value().path, final_path);
    EXPECT_TRUE(fsys::exists(final_path));
    EXPECT_FALSE(fsys::exists(partial_path_for(final_path)));
    return r.value();
}

class Crash : public ::testing::TestWithParam<CrashCase> {};

TEST_P(Crash, PowerCutLosesAtMostTheLastFlushInterval) {
    const auto [file_format, sample_format, channels] = GetParam();
    std::mt19937_64 rng(test_seed());
    TempDir dir;
    const auto path = dir / ("chunk" + ext(file_format));
    const uint64_t total = 100'000 + rng() % 50'000;
    const auto input = random_frames(sample_format, channels, total, rng);
    const std::size_t frame_bytes = framestamp::sample_bytes(sample_format) * channels;
    auto file = ChunkFile::create(path, file_format, 5, test_meta(sample_format, channels));
    ASSERT_TRUE(file);

    // Write and flush a few times, copying the file at the last flush: what survives a power cut.
    const uint64_t flushed_at = total / 2 + rng() % (total / 4);
    uint64_t at = 0;
    std::vector<uint8_t> at_flush;
    while (at < total) {
        const uint64_t n = std::min(total - at, 1 + rng() % 9000);
        ASSERT_TRUE(file.value().write(input.data() + at * frame_bytes, n));
        at += n;
        if (at >= flushed_at && at_flush.empty()) {
            ASSERT_TRUE(file.value().flush());
            at_flush = file_bytes(file.value().partial_path());
        }
    }
    const uint64_t durable = file.value().frames_durable();
    ASSERT_LE(durable, flushed_at + 9000);
    if (file_format == FileFormat::flac) {
        // Frames still in the encoder's block (4096 at level 5) wait for the next block.
        EXPECT_GE(durable + 4096, flushed_at);
    } else {
        EXPECT_GE(durable, flushed_at);
    }
    file.value().abandon();
    const auto everything = file_bytes(partial_path_for(path));
    ASSERT_GE(everything.size(), at_flush.size());

    // As it was at the flush, with no recovery: readable and holding exactly the durable frames.
    const auto as_is = dir / ("as_is" + ext(file_format));
    write_bytes(as_is, at_flush);
    EXPECT_TRUE(same_samples(read_back(as_is), input, sample_format, channels, durable))
        << "seed " << test_seed();

    // Recovered: the durable frames, and whatever whole frames of the later writes made it.
    auto report = recover_bytes(dir, "flushed", file_format, at_flush);
    EXPECT_EQ(report.frames_recovered, durable);
    EXPECT_EQ(report.bytes_dropped, 0U);
    EXPECT_EQ(report.first_session_frame, 123'456'789U);
    EXPECT_EQ(report.first_sample_utc_ns, example_utc_ns);
    EXPECT_EQ(report.rate_hz, 48000U);
    EXPECT_EQ(report.channels, channels);
    EXPECT_TRUE(same_samples(read_back(report.path), input, sample_format, channels, durable));

    for (int i = 0; i < 4; ++i) {
        const std::size_t len = at_flush.size() + rng() % (everything.size() - at_flush.size() + 1);
        std::vector<uint8_t> torn(everything.begin(), everything.begin() + static_cast<long>(len));
        report = recover_bytes(dir, "torn" + std::to_string(i), file_format, torn);
        EXPECT_GE(report.frames_recovered, durable);
        EXPECT_LE(report.frames_recovered, total);
        if (file_format != FileFormat::flac) {
            // Every whole frame present is kept.
            const uint64_t stored = uint64_t{framestamp::sample_bits(sample_format)} / 8 * channels;
            const uint64_t header = at_flush.size() - durable * stored - ((durable * stored) & 1);
            EXPECT_EQ(report.frames_recovered, (len - header) / stored);
        }
        EXPECT_TRUE(same_samples(read_back(report.path), input, sample_format, channels,
                                 report.frames_recovered))
            << "torn at " << len << " of " << everything.size() << ", seed " << test_seed();
    }

    // Everything that reached the page cache before the "crash".
    report = recover_bytes(dir, "all", file_format, everything);
    if (file_format == FileFormat::flac) {
        EXPECT_GE(report.frames_recovered + 4096, total);
    } else {
        EXPECT_EQ(report.frames_recovered, total);
    }
    EXPECT_TRUE(same_samples(read_back(report.path), input, sample_format, channels,
                             report.frames_recovered));
}

INSTANTIATE_TEST_SUITE_P(Formats, Crash,
                         ::testing::Values(CrashCase{FileFormat::wav, SampleFormat::s24_3le, 2},
                                           CrashCase{FileFormat::wav, SampleFormat::s24_le, 1},
                                           CrashCase{FileFormat::rf64, SampleFormat::float_le, 3},
                                           CrashCase{FileFormat::rf64, SampleFormat::s16_le, 1},
                                           CrashCase{FileFormat::flac, SampleFormat::s24_le, 2},
                                           CrashCase{FileFormat::flac, SampleFormat::s16_le, 1}),
                         case_name);

TEST(Recovery, GarbageAfterTheLastFlushIsCutFromFlac) {
    std::mt19937_64 rng(test_seed());
    TempDir dir;
    const auto path = dir / "c.flac";
    const auto input = random_frames(SampleFormat::s16_le, 2, 40000, rng);
    auto file = ChunkFile::create(path, FileFormat::flac, 5, test_meta(SampleFormat::s16_le, 2));
    ASSERT_TRUE(file);
    ASSERT_TRUE(file.value().write(input.data(), 40000));
    ASSERT_TRUE(file.value().flush());
    const auto at_flush = file_bytes(file.value().partial_path());
    const uint64_t durable = file.value().frames_durable();
    file.value().abandon();
    for (bool zeros : {false, true}) {
        auto bytes = at_flush;
        const std::size_t tail = 1 + rng() % 6000;
        for (std::size_t i = 0; i < tail; ++i) {
            bytes.push_back(zeros ? 0 : static_cast<uint8_t>(rng()));
        }
        auto report = recover_bytes(dir, zeros ? "zeros" : "garbage", FileFormat::flac, bytes);
        EXPECT_EQ(report.method, RecoveryMethod::flac_streaminfo_fixed);
        EXPECT_EQ(report.frames_recovered, durable);
        EXPECT_EQ(report.bytes_dropped, tail);
        EXPECT_EQ(file_bytes(report.path).size(), at_flush.size());
        EXPECT_TRUE(same_samples(read_back(report.path), input, SampleFormat::s16_le, 2, durable));
    }
}

TEST(Recovery, TornWavFrameIsCutButThePadByteIsNot) {
    std::mt19937_64 rng(test_seed());
    TempDir dir;
    const auto path = dir / "c.wav";
    // Mono S24_3LE: 3-byte frames, so an odd frame count leaves an odd data size and a pad byte.
    const auto input = random_frames(SampleFormat::s24_3le, 1, 1001, rng);
    auto file = ChunkFile::create(path, FileFormat::wav, 0, test_meta(SampleFormat::s24_3le, 1));
    ASSERT_TRUE(file);
    ASSERT_TRUE(file.value().write(input.data(), 1001));
    ASSERT_TRUE(file.value().flush());
    const auto at_flush = file_bytes(file.value().partial_path());
    file.value().abandon();
    auto report = recover_bytes(dir, "padded", FileFormat::wav, at_flush);
    EXPECT_EQ(report.method, RecoveryMethod::wav_sizes_fixed);
    EXPECT_EQ(report.frames_recovered, 1001U);
    EXPECT_EQ(report.bytes_dropped, 0U);
    EXPECT_EQ(file_bytes(report.path), at_flush);

    // Two bytes of a next frame after the pad position: cut, and the pad put back.
    auto torn = at_flush;
    torn.back() = 0x11;
    torn.push_back(0x22);
    report = recover_bytes(dir, "torn", FileFormat::wav, torn);
    EXPECT_EQ(report.frames_recovered, 1001U);
    EXPECT_EQ(report.bytes_dropped, 2U);
    EXPECT_EQ(file_bytes(report.path), at_flush);
}

TEST(Recovery, ClosedFileRecoversToItself) {
    std::mt19937_64 rng(test_seed());
    for (auto f : {FileFormat::wav, FileFormat::rf64, FileFormat::flac}) {
        TempDir dir;
        const auto path = dir / ("c" + ext(f));
        const auto input = random_frames(SampleFormat::s16_le, 1, 20001, rng);
        auto file = ChunkFile::create(path, f, 8, test_meta(SampleFormat::s16_le, 1));
        ASSERT_TRUE(file);
        ASSERT_TRUE(file.value().write(input.data(), 20001));
        ASSERT_TRUE(file.value().close());
        const auto closed = file_bytes(path);
        // A crash between the last fsync and the rename leaves a finished .partial.
        fsys::rename(path, partial_path_for(path));
        auto r = recover_partial(partial_path_for(path));
        ASSERT_TRUE(r);
        EXPECT_EQ(r.value().frames_recovered, 20001U);
        EXPECT_EQ(r.value().bytes_dropped, 0U);
        EXPECT_EQ(file_bytes(path), closed) << framestamp::file_format_name(f);
    }
}

TEST(Recovery, FlacDamagedMidFileKeepsEveryByte) {
    std::mt19937_64 rng(test_seed());
    TempDir dir;
    const auto path = dir / "c.flac";
    const auto input = random_frames(SampleFormat::s16_le, 1, 100000, rng);
    auto file = ChunkFile::create(path, FileFormat::flac, 5, test_meta(SampleFormat::s16_le, 1));
    ASSERT_TRUE(file);
    ASSERT_TRUE(file.value().write(input.data(), 100000));
    ASSERT_TRUE(file.value().close());
    auto bytes = file_bytes(path);
    fsys::remove(path);
    for (std::size_t i = bytes.size() / 3; i < bytes.size() / 3 + 200; ++i) {
        bytes[i] = 0x55;  // a bad sector, not a torn end
    }
    auto report = recover_bytes(dir, "c", FileFormat::flac, bytes);
    EXPECT_EQ(report.method, RecoveryMethod::flac_damaged_kept);
    EXPECT_EQ(report.bytes_dropped, 0U);
    EXPECT_EQ(file_bytes(path).size(), bytes.size());
    EXPECT_GT(report.frames_recovered, 50000U);
    EXPECT_LT(report.frames_recovered, 100000U);
}

TEST(Recovery, HopelessPartialsAreRenamedAsideUntouched) {
    std::mt19937_64 rng(test_seed());
    TempDir dir;
    // Real headers to tear: a WAV's and a FLAC's first bytes.
    std::vector<uint8_t> wav_head;
    std::vector<uint8_t> flac_head;
    for (auto f : {FileFormat::wav, FileFormat::flac}) {
        auto file =
            ChunkFile::create(dir / ("src" + ext(f)), f, 5, test_meta(SampleFormat::s16_le, 1));
        ASSERT_TRUE(file);
        (f == FileFormat::wav ? wav_head : flac_head) = file_bytes(file.value().partial_path());
        file.value().abandon();
    }
    wav_head.resize(100);
    flac_head.resize(60);
    std::vector<uint8_t> junk(5000);
    for (auto& b : junk) {
        b = static_cast<uint8_t>(rng());
    }
    const std::vector<std::pair<std::string, std::vector<uint8_t>>> cases = {
        {"empty.wav", {}},        {"tiny.wav", {'R', 'I', 'F', 'F', 0, 0}},
        {"header.wav", wav_head}, {"meta.flac", flac_head},
        {"junk.flac", junk},
    };
    for (const auto& [name, bytes] : cases) {
        const auto partial = partial_path_for(dir / name);
        write_bytes(partial, bytes);
        auto r = recover_partial(partial);
        ASSERT_TRUE(r) << name;
        EXPECT_EQ(r.value().method, RecoveryMethod::quarantined) << name;
        EXPECT_EQ(r.value().path.string(), partial.string() + ".corrupt");
        EXPECT_EQ(file_bytes(r.value().path), bytes) << name;
        EXPECT_FALSE(r.value().detail.empty());
        EXPECT_FALSE(fsys::exists(dir / name));
        EXPECT_FALSE(fsys::exists(partial));
    }
    // A second hopeless file of the same name never replaces the first.
    const auto partial = partial_path_for(dir / "tiny.wav");
    write_bytes(partial, {1});
    auto r = recover_partial(partial);
    ASSERT_TRUE(r);
    EXPECT_EQ(r.value().path.string(), partial.string() + ".corrupt.1");
    EXPECT_EQ(file_bytes(partial.string() + ".corrupt").size(), 6U);
}

TEST(Recovery, RefusesWhenTheFinalNameIsTakenOrNotPartial) {
    TempDir dir;
    write_bytes(dir / "c.wav", {1, 2, 3});
    write_bytes(dir / "c.wav.partial", {4, 5, 6});
    auto r = recover_partial(dir / "c.wav.partial");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().errno_value, EEXIST);
    EXPECT_EQ(file_bytes(dir / "c.wav.partial"), (std::vector<uint8_t>{4, 5, 6}));
    EXPECT_EQ(file_bytes(dir / "c.wav"), (std::vector<uint8_t>{1, 2, 3}));

    r = recover_partial(dir / "c.wav");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().errno_value, EINVAL);
    r = recover_partial(dir / "missing.wav.partial");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().errno_value, ENOENT);
}

}  // namespace
