// Shared by the audio chunk file tests: seeded random frames, a temporary directory, reading files
// back with libsndfile (independent of the writer) and a small RIFF chunk parser of our own.
#pragma once

#include <gtest/gtest.h>
#include <sndfile.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "framestamp/audiofile.hpp"

namespace fs_test {

namespace fsys = std::filesystem;
using framestamp::ChunkMetadata;
using framestamp::FileFormat;
using framestamp::partial_path_for;
using framestamp::SampleFormat;

inline uint64_t test_seed() {
    const char* s = std::getenv("FS_TEST_SEED");
    return s != nullptr ? std::strtoull(s, nullptr, 10) : 20261124ULL;
}

class TempDir {
  public:
    TempDir() {
        const char* base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/fs_audiofile_XXXXXX";
        if (mkdtemp(tmpl.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fsys::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fsys::path& path() const { return path_; }
    fsys::path operator/(const std::string& name) const { return path_ / name; }

  private:
    fsys::path path_;
};

// 2026-11-24T06:10:00.000123456Z
constexpr int64_t example_utc_ns = 1'795'500'600'000'123'456LL;

inline ChunkMetadata test_meta(SampleFormat format, uint32_t channels, uint32_t rate_hz = 48000) {
    ChunkMetadata m;
    m.stream = "mic1";
    m.session = "s-20261124T061000Z";
    m.first_session_frame = 123'456'789;
    m.first_sample_utc_ns = example_utc_ns;
    m.rate_hz = rate_hz;
    m.channels = channels;
    m.format = format;
    m.recorder_id = "pi-07";
    m.site = "Marsh north";
    m.notes = "windy\nheavy rain after 06:30";
    m.latitude_deg = 52.3702157;
    m.longitude_deg = -4.8951679;
    m.elevation_m = 12.5;
    m.make = "Focusrite";
    m.model = "Scarlett 2i2";
    m.serial = "Y8A1234";
    m.software_version = "0.1.0";
    return m;
}

// Random frames as ALSA would deliver them; S24_LE sign-extended into its top byte.
inline std::vector<uint8_t> random_frames(SampleFormat f, uint32_t channels, uint64_t frames,
                                          std::mt19937_64& rng) {
    const std::size_t bytes = framestamp::sample_bytes(f);
    std::vector<uint8_t> out(frames * channels * bytes);
    std::uniform_int_distribution<uint32_t> u32;
    std::uniform_real_distribution<float> unit(-1.0F, 1.0F);
    for (std::size_t i = 0; i < frames * channels; ++i) {
        uint8_t* p = out.data() + i * bytes;
        if (f == SampleFormat::float_le) {
            const float v = unit(rng);
            std::memcpy(p, &v, 4);
            continue;
        }
        uint32_t v = u32(rng);
        if (f == SampleFormat::s24_le) {
            v = static_cast<uint32_t>(static_cast<int32_t>(v << 8) >> 8);
        }
        for (std::size_t b = 0; b < bytes; ++b) {
            p[b] = static_cast<uint8_t>(v >> (8 * b));
        }
    }
    return out;
}

inline uint32_t le32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
           (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
inline uint64_t le64(const uint8_t* p) {
    return le32(p) | (static_cast<uint64_t>(le32(p + 4)) << 32);
}

// What libsndfile's sf_readf_int returns for one input sample: left-justified in 32 bits.
inline int32_t expected_int(SampleFormat f, const uint8_t* p) {
    uint32_t v = 0;
    switch (f) {
        case SampleFormat::s16_le:
            v = (static_cast<uint32_t>(p[0]) << 16) | (static_cast<uint32_t>(p[1]) << 24);
            break;
        case SampleFormat::s24_le:
        case SampleFormat::s24_3le:
            v = (static_cast<uint32_t>(p[0]) << 8) | (static_cast<uint32_t>(p[1]) << 16) |
                (static_cast<uint32_t>(p[2]) << 24);
            break;
        default:
            std::memcpy(&v, p, 4);
            break;
    }
    return static_cast<int32_t>(v);
}

struct Decoded {
    bool opened = false;
    std::string error;
    SF_INFO info{};
    std::vector<int32_t> ints;
    std::vector<float> floats;
};

inline Decoded read_back(const fsys::path& file) {
    Decoded d;
    SNDFILE* sf = sf_open(file.c_str(), SFM_READ, &d.info);
    if (sf == nullptr) {
        d.error = sf_strerror(nullptr);
        return d;
    }
    d.opened = true;
    const auto n =
        static_cast<std::size_t>(d.info.frames) * static_cast<std::size_t>(d.info.channels);
    if ((d.info.format & SF_FORMAT_SUBMASK) == SF_FORMAT_FLOAT) {
        d.floats.resize(n);
        d.floats.resize(
            static_cast<std::size_t>(sf_readf_float(sf, d.floats.data(), d.info.frames)) *
            static_cast<std::size_t>(d.info.channels));
    } else {
        d.ints.resize(n);
        d.ints.resize(static_cast<std::size_t>(sf_readf_int(sf, d.ints.data(), d.info.frames)) *
                      static_cast<std::size_t>(d.info.channels));
    }
    sf_close(sf);
    return d;
}

// Checks that `d` starts with the first `frames` frames of `input` and, unless `prefix_only`,
// holds nothing more.
inline ::testing::AssertionResult same_samples(const Decoded& d, const std::vector<uint8_t>& input,
                                               SampleFormat f, uint32_t channels, uint64_t frames,
                                               bool prefix_only = false) {
    if (!d.opened) {
        return ::testing::AssertionFailure() << "libsndfile: " << d.error;
    }
    const auto have = static_cast<uint64_t>(d.info.frames);
    if (prefix_only ? have < frames : have != frames) {
        return ::testing::AssertionFailure() << have << " frames, expected " << frames;
    }
    const std::size_t bytes = framestamp::sample_bytes(f);
    const std::size_t n = frames * channels;
    const std::size_t got = f == SampleFormat::float_le ? d.floats.size() : d.ints.size();
    if (got < n || (!prefix_only && got != n)) {
        return ::testing::AssertionFailure() << got << " samples read, expected " << n;
    }
    for (std::size_t i = 0; i < n; ++i) {
        const uint8_t* p = input.data() + i * bytes;
        if (f == SampleFormat::float_le) {
            // Bit for bit: the file must hold the very same floats.
            uint32_t read_bits = 0;
            std::memcpy(&read_bits, &d.floats[i], 4);
            if (read_bits != le32(p)) {
                return ::testing::AssertionFailure() << "float sample " << i << " differs";
            }
        } else if (d.ints[i] != expected_int(f, p)) {
            return ::testing::AssertionFailure()
                   << "sample " << i << " is " << d.ints[i] << ", expected " << expected_int(f, p);
        }
    }
    return ::testing::AssertionSuccess();
}

inline std::vector<uint8_t> file_bytes(const fsys::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const fsys::path& file, const std::vector<uint8_t>& bytes) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
}

struct RiffChunk {
    std::size_t body = 0;  // offset of the body in the file
    uint32_t size = 0;     // the size field as written
};

// The chunks of a RIFF/RF64 file, in order, up to and including "data".
inline std::vector<std::pair<std::string, RiffChunk>> riff_chunks(const std::vector<uint8_t>& b) {
    std::vector<std::pair<std::string, RiffChunk>> out;
    std::size_t off = 12;
    while (off + 8 <= b.size()) {
        const std::string id(reinterpret_cast<const char*>(b.data() + off), 4);
        const uint32_t size = le32(b.data() + off + 4);
        out.emplace_back(id, RiffChunk{off + 8, size});
        if (id == "data") {
            break;
        }
        off += 8 + size + (size & 1);
    }
    return out;
}

inline std::map<std::string, std::string> parse_guano(const std::string& text) {
    std::map<std::string, std::string> kv;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) {
            end = text.size();
        }
        const std::string line = text.substr(pos, end - pos);
        const auto colon = line.find(':');
        if (colon != std::string::npos) {
            auto value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            value.erase(value.find_last_not_of(' ') + 1);
            kv[line.substr(0, colon)] = value;
        }
        pos = end + 1;
    }
    return kv;
}

}  // namespace fs_test
