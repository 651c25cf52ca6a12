// Audio chunk files: exact round trips for every format pair, the metadata in each file, and the
// life of a ChunkFile (create, close, rename, refusals).
#include <FLAC/metadata.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <tuple>

#include "audiofile/metadata.hpp"
#include "test_audiofile_support.hpp"

namespace {

using framestamp::ChunkFile;
using framestamp::file_format_name;
using framestamp::sample_format_name;
using namespace fs_test;

struct Pair {
    FileFormat file;
    SampleFormat sample;
};

std::vector<Pair> allowed_pairs() {
    std::vector<Pair> out;
    for (auto f : {FileFormat::wav, FileFormat::rf64}) {
        for (auto s : {SampleFormat::s16_le, SampleFormat::s24_le, SampleFormat::s24_3le,
                       SampleFormat::s32_le, SampleFormat::float_le}) {
            out.push_back({f, s});
        }
    }
    for (auto s : {SampleFormat::s16_le, SampleFormat::s24_le, SampleFormat::s24_3le}) {
        out.push_back({FileFormat::flac, s});
    }
    return out;
}

int expected_sndfile_format(FileFormat f, SampleFormat s, uint32_t channels) {
    int major = SF_FORMAT_FLAC;
    if (f == FileFormat::rf64) {
        major = SF_FORMAT_RF64;
    } else if (f == FileFormat::wav) {
        major = channels > 2 ? SF_FORMAT_WAVEX : SF_FORMAT_WAV;
    }
    switch (s) {
        case SampleFormat::s16_le:
            return major | SF_FORMAT_PCM_16;
        case SampleFormat::s24_le:
        case SampleFormat::s24_3le:
            return major | SF_FORMAT_PCM_24;
        case SampleFormat::s32_le:
            return major | SF_FORMAT_PCM_32;
        case SampleFormat::float_le:
            return major | SF_FORMAT_FLOAT;
    }
    return 0;
}

fsys::path chunk_name(const TempDir& dir, FileFormat f, const std::string& stem = "chunk") {
    return dir / (stem + "." + std::string(framestamp::file_extension(f)));
}

class RoundTrip : public ::testing::TestWithParam<Pair> {};

TEST_P(RoundTrip, SamplesComeBackExactly) {
    const auto [file_format, sample_format] = GetParam();
    std::mt19937_64 rng(test_seed());
    for (uint32_t channels : {1U, 2U, 3U}) {
        TempDir dir;
        const auto path = chunk_name(dir, file_format);
        const uint64_t frames = std::uniform_int_distribution<uint64_t>(1, 30000)(rng);
        const auto input = random_frames(sample_format, channels, frames, rng);
        const int level = std::uniform_int_distribution<int>(0, 8)(rng);
        auto meta = test_meta(sample_format, channels);
        auto file = ChunkFile::create(path, file_format, level, meta);
        ASSERT_TRUE(file) << file.error().message;
        EXPECT_TRUE(fsys::exists(file.value().partial_path()));
        // Random pieces, with flushes in between, as the writer thread delivers them.
        const std::size_t frame_bytes = framestamp::sample_bytes(sample_format) * channels;
        uint64_t at = 0;
        while (at < frames) {
            const uint64_t n =
                std::min(frames - at, std::uniform_int_distribution<uint64_t>(1, 7000)(rng));
            ASSERT_TRUE(file.value().write(input.data() + at * frame_bytes, n));
            at += n;
            if (rng() % 3 == 0) {
                ASSERT_TRUE(file.value().flush());
            }
        }
        EXPECT_EQ(file.value().frames_written(), frames);
        auto closed = file.value().close();
        ASSERT_TRUE(closed) << closed.error().message;
        EXPECT_EQ(file.value().frames_durable(), frames);
        EXPECT_FALSE(fsys::exists(partial_path_for(path)));
        const Decoded d = read_back(path);
        EXPECT_TRUE(same_samples(d, input, sample_format, channels, frames))
            << file_format_name(file_format) << " " << sample_format_name(sample_format) << " "
            << channels << " ch, seed " << test_seed();
        EXPECT_EQ(d.info.format, expected_sndfile_format(file_format, sample_format, channels));
        EXPECT_EQ(d.info.samplerate, 48000);
        EXPECT_EQ(d.info.channels, static_cast<int>(channels));
    }
}

std::string pair_name(const ::testing::TestParamInfo<Pair>& info) {
    return std::string(file_format_name(info.param.file)) + "_" +
           std::string(sample_format_name(info.param.sample));
}

INSTANTIATE_TEST_SUITE_P(AllowedPairs, RoundTrip, ::testing::ValuesIn(allowed_pairs()), pair_name);

TEST(RoundTripS24Le, TopPaddingByteIsIgnored) {
    std::mt19937_64 rng(test_seed());
    for (auto f : {FileFormat::wav, FileFormat::flac}) {
        TempDir dir;
        auto input = random_frames(SampleFormat::s24_le, 2, 5000, rng);
        auto clean = input;
        for (std::size_t i = 3; i < input.size(); i += 4) {
            input[i] = static_cast<uint8_t>(rng());  // garbage where ALSA pads
        }
        auto file = ChunkFile::create(chunk_name(dir, f), f, 5, test_meta(SampleFormat::s24_le, 2));
        ASSERT_TRUE(file);
        ASSERT_TRUE(file.value().write(input.data(), 5000));
        ASSERT_TRUE(file.value().close());
        EXPECT_TRUE(
            same_samples(read_back(chunk_name(dir, f)), clean, SampleFormat::s24_le, 2, 5000))
            << file_format_name(f);
    }
}

std::string body_text(const std::vector<uint8_t>& b, const RiffChunk& c, std::size_t at,
                      std::size_t len) {
    std::string s(reinterpret_cast<const char*>(b.data() + c.body + at), len);
    return s.substr(0, s.find('\0'));
}

void check_bext_and_guan(const std::vector<uint8_t>& b, uint64_t frames, uint32_t channels,
                         const std::string& filename) {
    const auto chunks = riff_chunks(b);
    std::map<std::string, RiffChunk> by_id(chunks.begin(), chunks.end());
    ASSERT_TRUE(by_id.contains("bext") && by_id.contains("guan") && by_id.contains("data"));
    EXPECT_EQ(chunks.back().first, "data");

    const RiffChunk bext = by_id["bext"];
    ASSERT_GE(bext.size, 602U);
    EXPECT_NE(body_text(b, bext, 0, 256).find("mic1"), std::string::npos);
    EXPECT_EQ(body_text(b, bext, 256, 32), "framestamp");
    EXPECT_FALSE(body_text(b, bext, 288, 32).empty());
    EXPECT_EQ(body_text(b, bext, 320, 10), "2026-11-24");
    EXPECT_EQ(body_text(b, bext, 330, 8), "06:10:00");
    // (6 h 10 min) * 48000 + 123.456 us * 48000 = 1065600000 + 5.93 samples.
    const uint64_t time_ref = le32(b.data() + bext.body + 338) |
                              (static_cast<uint64_t>(le32(b.data() + bext.body + 342)) << 32);
    EXPECT_EQ(time_ref, 1'065'600'006U);
    EXPECT_EQ(b[bext.body + 346] | (b[bext.body + 347] << 8), 1);  // Version
    const std::string history = body_text(b, bext, 602, bext.size - 602);
    EXPECT_EQ(history.rfind("A=PCM,F=48000,", 0), 0U) << history;
    EXPECT_NE(history.find("T=framestamp 0.1.0"), std::string::npos);
    EXPECT_EQ(history.substr(history.size() - 2), "\r\n");

    const RiffChunk guan = by_id["guan"];
    EXPECT_EQ(guan.size % 2, 0U);
    const std::string text(reinterpret_cast<const char*>(b.data() + guan.body), guan.size);
    EXPECT_EQ(text.rfind("GUANO|Version: 1.0\n", 0), 0U);
    auto kv = parse_guano(text);
    EXPECT_EQ(kv["Timestamp"], "2026-11-24T06:10:00.000123Z");
    EXPECT_EQ(kv["Samplerate"], "48000");
    EXPECT_NEAR(std::stod(kv["Length"]), static_cast<double>(frames) / 48000, 1e-6);
    EXPECT_EQ(kv["Loc Position"], "52.3702157 -4.8951679");
    EXPECT_EQ(kv["Loc Elevation"], "12.5");
    EXPECT_EQ(kv["Make"], "Focusrite");
    EXPECT_EQ(kv["Model"], "Scarlett 2i2");
    EXPECT_EQ(kv["Serial"], "Y8A1234");
    EXPECT_EQ(kv["Note"], "windy\\nheavy rain after 06:30");
    EXPECT_EQ(kv["Original Filename"], filename);
    EXPECT_EQ(kv["framestamp|Stream"], "mic1");
    EXPECT_EQ(kv["framestamp|Session"], "s-20261124T061000Z");
    EXPECT_EQ(kv["framestamp|First Session Frame"], "123456789");
    EXPECT_EQ(kv["framestamp|First Sample UTC ns"], "1795500600000123456");
    EXPECT_EQ(kv["framestamp|Recorder"], "pi-07");
    EXPECT_EQ(kv["framestamp|Site"], "Marsh north");
    EXPECT_EQ(kv["framestamp|Version"], "0.1.0");

    const RiffChunk data = by_id["data"];
    const uint64_t data_bytes = frames * 3 * channels;
    const bool rf64 = std::string(b.begin(), b.begin() + 4) == "RF64";
    EXPECT_EQ(b.size(), data.body + data_bytes + (data_bytes & 1));
    if (rf64) {
        ASSERT_EQ(chunks.front().first, "ds64");
        const std::size_t ds64 = chunks.front().second.body;
        EXPECT_EQ(le32(b.data() + 4), 0xFFFFFFFFU);
        EXPECT_EQ(data.size, 0xFFFFFFFFU);
        EXPECT_EQ(le64(b.data() + ds64), b.size() - 8);
        EXPECT_EQ(le64(b.data() + ds64 + 8), data_bytes);
        EXPECT_EQ(le64(b.data() + ds64 + 16), frames);
    } else {
        EXPECT_EQ(le32(b.data() + 4), b.size() - 8);
        EXPECT_EQ(data.size, data_bytes);
    }
}

TEST(Metadata, WavAndRf64CarryBextAndGuano) {
    std::mt19937_64 rng(test_seed());
    for (auto f : {FileFormat::wav, FileFormat::rf64}) {
        TempDir dir;
        const auto path = chunk_name(dir, f);
        // Mono 24-bit, odd frame count: the data chunk needs its pad byte.
        const uint64_t frames = 9601;
        const auto input = random_frames(SampleFormat::s24_3le, 1, frames, rng);
        auto file = ChunkFile::create(path, f, 0, test_meta(SampleFormat::s24_3le, 1));
        ASSERT_TRUE(file);
        ASSERT_TRUE(file.value().write(input.data(), frames));
        ASSERT_TRUE(file.value().flush());
        // At a flush the header already counts everything written.
        check_bext_and_guan(file_bytes(file.value().partial_path()), frames, 1, "chunk.wav");
        ASSERT_TRUE(file.value().write(input.data(), frames));
        ASSERT_TRUE(file.value().close());
        check_bext_and_guan(file_bytes(path), 2 * frames, 1, "chunk.wav");
        EXPECT_EQ(read_back(path).info.frames, static_cast<sf_count_t>(2 * frames));
    }
}

TEST(Metadata, FlacCarriesVorbisComments) {
    TempDir dir;
    const auto path = chunk_name(dir, FileFormat::flac);
    std::mt19937_64 rng(test_seed());
    const auto input = random_frames(SampleFormat::s16_le, 2, 10000, rng);
    auto file = ChunkFile::create(path, FileFormat::flac, 5, test_meta(SampleFormat::s16_le, 2));
    ASSERT_TRUE(file);
    ASSERT_TRUE(file.value().write(input.data(), 10000));
    ASSERT_TRUE(file.value().close());

    FLAC__StreamMetadata* tags = nullptr;
    ASSERT_TRUE(FLAC__metadata_get_tags(path.c_str(), &tags));
    std::map<std::string, std::string> kv;
    for (uint32_t i = 0; i < tags->data.vorbis_comment.num_comments; ++i) {
        const auto& e = tags->data.vorbis_comment.comments[i];
        const std::string c(reinterpret_cast<const char*>(e.entry), e.length);
        kv[c.substr(0, c.find('='))] = c.substr(c.find('=') + 1);
    }
    FLAC__metadata_object_delete(tags);
    EXPECT_EQ(kv["DATE"], "2026-11-24T06:10:00.000123Z");
    EXPECT_EQ(kv["FRAMESTAMP_STREAM"], "mic1");
    EXPECT_EQ(kv["FRAMESTAMP_SESSION"], "s-20261124T061000Z");
    EXPECT_EQ(kv["FRAMESTAMP_FIRST_SESSION_FRAME"], "123456789");
    EXPECT_EQ(kv["FRAMESTAMP_FIRST_SAMPLE_UTC"], "2026-11-24T06:10:00.000123Z");
    EXPECT_EQ(kv["FRAMESTAMP_FIRST_SAMPLE_UTC_NS"], "1795500600000123456");
    EXPECT_EQ(kv["FRAMESTAMP_RATE_HZ"], "48000");
    EXPECT_EQ(kv["FRAMESTAMP_RECORDER"], "pi-07");
    EXPECT_EQ(kv["FRAMESTAMP_SITE"], "Marsh north");
    EXPECT_EQ(kv["FRAMESTAMP_LATITUDE"], "52.3702157");
    EXPECT_EQ(kv["FRAMESTAMP_LONGITUDE"], "-4.8951679");
    EXPECT_EQ(kv["FRAMESTAMP_ELEVATION"], "12.5");
    EXPECT_EQ(kv["FRAMESTAMP_MAKE"], "Focusrite");
    EXPECT_EQ(kv["FRAMESTAMP_MODEL"], "Scarlett 2i2");
    EXPECT_EQ(kv["FRAMESTAMP_SERIAL"], "Y8A1234");
    EXPECT_EQ(kv["FRAMESTAMP_NOTES"], "windy\nheavy rain after 06:30");
    EXPECT_EQ(parse_guano(kv["GUANO"])["framestamp|First Session Frame"], "123456789");
    EXPECT_EQ(kv["GUANO"].rfind("GUANO|Version: 1.0\n", 0), 0U);

    FLAC__StreamMetadata info;
    ASSERT_TRUE(FLAC__metadata_get_streaminfo(path.c_str(), &info));
    EXPECT_EQ(info.data.stream_info.total_samples, 10000U);
    EXPECT_EQ(info.data.stream_info.bits_per_sample, 16U);
}

TEST(Metadata, Formatting) {
    using framestamp::audiofile::iso_utc_us;
    using framestamp::audiofile::samples_since_utc_midnight;
    EXPECT_EQ(iso_utc_us(example_utc_ns), "2026-11-24T06:10:00.000123Z");
    EXPECT_EQ(iso_utc_us(0), "1970-01-01T00:00:00.000000Z");
    // Microseconds truncate: 999999999 ns never rounds into the next second.
    EXPECT_EQ(iso_utc_us(999'999'999), "1970-01-01T00:00:00.999999Z");
    EXPECT_EQ(iso_utc_us(-1), "1969-12-31T23:59:59.999999Z");
    // 2028-02-29T23:59:59.5Z, a leap day.
    EXPECT_EQ(iso_utc_us(1'835'481'599'500'000'000LL), "2028-02-29T23:59:59.500000Z");
    EXPECT_EQ(samples_since_utc_midnight(example_utc_ns, 48000), 1'065'600'006U);
    // The last sample period of a day at 768 kHz: no overflow, 86400 * 768000 - 1.
    EXPECT_EQ(samples_since_utc_midnight(86'400'000'000'000LL - 1'302, 768000), 66'355'199'999U);
    EXPECT_EQ(samples_since_utc_midnight(3 * 86'400'000'000'000LL, 96000), 0U);
}

TEST(Metadata, GuanoLinesStaySingle) {
    auto meta = test_meta(SampleFormat::s16_le, 1);
    meta.site = "line one\nline two";
    meta.notes = "a\r\nb\nc";
    const auto text = framestamp::audiofile::guano_text(meta, "x.wav", 1.5);
    auto kv = parse_guano(text);
    EXPECT_EQ(kv["framestamp|Site"], "line one line two");
    EXPECT_EQ(kv["Note"], "a\\nb\\nc");
    EXPECT_EQ(kv["Length"], "1.500000");
    meta.latitude_deg.reset();
    EXPECT_EQ(
        parse_guano(framestamp::audiofile::guano_text(meta, "x.wav", 1.5)).count("Loc Position"),
        0U);
}

TEST(Create, RefusesWhatFormatsCannotHold) {
    TempDir dir;
    const auto flac = chunk_name(dir, FileFormat::flac);
    for (auto s : {SampleFormat::s32_le, SampleFormat::float_le}) {
        auto r = ChunkFile::create(flac, FileFormat::flac, 5, test_meta(s, 2));
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().errno_value, EINVAL);
    }
    auto r = ChunkFile::create(flac, FileFormat::flac, 9, test_meta(SampleFormat::s16_le, 2));
    EXPECT_FALSE(r);
    r = ChunkFile::create(flac, FileFormat::flac, 5, test_meta(SampleFormat::s16_le, 9));
    EXPECT_FALSE(r);
    r = ChunkFile::create(chunk_name(dir, FileFormat::wav), FileFormat::wav, 0,
                          test_meta(SampleFormat::s16_le, 0));
    EXPECT_FALSE(r);
    EXPECT_TRUE(fsys::is_empty(dir.path()));
}

TEST(Create, RefusesAnExistingFinalOrPartial) {
    TempDir dir;
    const auto path = chunk_name(dir, FileFormat::wav);
    const auto meta = test_meta(SampleFormat::s16_le, 1);
    write_bytes(path, {1, 2, 3});
    auto r = ChunkFile::create(path, FileFormat::wav, 0, meta);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().errno_value, EEXIST);
    fsys::remove(path);
    write_bytes(partial_path_for(path), {1, 2, 3});
    r = ChunkFile::create(path, FileFormat::wav, 0, meta);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().errno_value, EEXIST);
    EXPECT_NE(r.error().message.find("chunk.wav.partial"), std::string::npos);
    EXPECT_EQ(file_bytes(partial_path_for(path)).size(), 3U);
}

TEST(Close, IsIdempotentAndWritesAfterwardFail) {
    TempDir dir;
    const auto path = chunk_name(dir, FileFormat::flac);
    auto file = ChunkFile::create(path, FileFormat::flac, 5, test_meta(SampleFormat::s16_le, 1));
    ASSERT_TRUE(file);
    const int16_t samples[4] = {1, -1, 300, -300};
    ASSERT_TRUE(file.value().write(samples, 4));
    EXPECT_TRUE(file.value().close());
    EXPECT_TRUE(file.value().close());
    EXPECT_FALSE(file.value().is_open());
    auto w = file.value().write(samples, 4);
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().errno_value, EBADF);
    EXPECT_FALSE(file.value().flush());
    EXPECT_EQ(read_back(path).info.frames, 4);
}

TEST(Close, DestructorAndMoveClose) {
    TempDir dir;
    const int16_t samples[2] = {7, 8};
    {
        auto file = ChunkFile::create(dir / "a.wav", FileFormat::wav, 0,
                                      test_meta(SampleFormat::s16_le, 1));
        ASSERT_TRUE(file);
        ChunkFile moved = std::move(file.value());
        ASSERT_TRUE(moved.write(samples, 2));
        EXPECT_EQ(moved.final_path(), dir / "a.wav");
        auto other = ChunkFile::create(dir / "b.wav", FileFormat::wav, 0,
                                       test_meta(SampleFormat::s16_le, 1));
        ASSERT_TRUE(other);
        moved = std::move(other.value());  // closes a.wav
        EXPECT_TRUE(fsys::exists(dir / "a.wav"));
        EXPECT_TRUE(moved.is_open());
    }
    EXPECT_EQ(read_back(dir / "a.wav").info.frames, 2);
    EXPECT_EQ(read_back(dir / "b.wav").info.frames, 0);
    EXPECT_FALSE(fsys::exists(dir / "b.wav.partial"));
}

TEST(Close, NeverReplacesAFileThatAppearedMeanwhile) {
    TempDir dir;
    const auto path = chunk_name(dir, FileFormat::wav);
    auto file = ChunkFile::create(path, FileFormat::wav, 0, test_meta(SampleFormat::s16_le, 1));
    ASSERT_TRUE(file);
    const int16_t samples[3] = {1, 2, 3};
    ASSERT_TRUE(file.value().write(samples, 3));
    write_bytes(path, {9, 9, 9});  // e.g. another chunk after a clock step
    auto closed = file.value().close();
    ASSERT_FALSE(closed);
    EXPECT_EQ(closed.error().errno_value, EEXIST);
    EXPECT_EQ(file_bytes(path), (std::vector<uint8_t>{9, 9, 9}));
    // The finished .partial stays, complete and readable.
    EXPECT_EQ(read_back(partial_path_for(path)).info.frames, 3);
}

}  // namespace
