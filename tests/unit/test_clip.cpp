// extract_clips on synthetic archives written as framestampd writes them: sample-exact across
// chunk boundaries, clicks at the right sample, resampled clicks at the exact UTC for cards of
// different drift, and every error.
#include <gtest/gtest.h>
#include <sndfile.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "clip/plan.hpp"
#include "framestamp/archive.hpp"
#include "framestamp/clip.hpp"
#include "framestamp/synth.hpp"
#include "test_support.hpp"

namespace {

namespace fsys = std::filesystem;
using namespace framestamp;

constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kStart = 1'795'000'020LL * kS;  // a whole UTC second
// How far (in samples at 48 kHz) the drift model may place a frame from its true UTC here.
constexpr double kFitToleranceSamples = 1.0;

uint64_t test_seed() {
    const char* s = std::getenv("FS_TEST_SEED");
    return s != nullptr ? std::strtoull(s, nullptr, 10) : 20261124ULL;
}

template <typename T>
std::vector<T> read_all(const fsys::path& p, SF_INFO& info) {
    info = SF_INFO{};
    SNDFILE* f = sf_open(p.c_str(), SFM_READ, &info);
    EXPECT_NE(f, nullptr) << p << ": " << sf_strerror(nullptr);
    if (f == nullptr) {
        return {};
    }
    std::vector<T> out(static_cast<std::size_t>(info.frames * info.channels));
    if constexpr (std::is_same_v<T, short>) {
        EXPECT_EQ(sf_readf_short(f, out.data(), info.frames), info.frames);
    } else {
        EXPECT_EQ(sf_readf_float(f, out.data(), info.frames), info.frames);
    }
    sf_close(f);
    return out;
}

// Peak position of a band-limited click, by windowed-sinc interpolation around the largest sample
// (parabolic interpolation is biased by up to a tenth of a sample on a sinc).
double peak_position(const std::vector<float>& y, std::size_t k) {
    auto value = [&](double t) {
        double acc = 0;
        for (long i = static_cast<long>(k) - 32; i <= static_cast<long>(k) + 32; ++i) {
            if (i < 0 || i >= static_cast<long>(y.size())) {
                continue;
            }
            const double d = t - static_cast<double>(i);
            const double sinc = std::abs(d) < 1e-12 ? 1.0 : std::sin(M_PI * d) / (M_PI * d);
            const double w = std::abs(d) < 33 ? 0.5 + 0.5 * std::cos(M_PI * d / 33) : 0.0;
            acc += static_cast<double>(y[static_cast<std::size_t>(i)]) * sinc * w;
        }
        return acc;
    };
    double best_t = static_cast<double>(k);
    double best = value(best_t);
    for (double t = static_cast<double>(k) - 1; t <= static_cast<double>(k) + 1; t += 0.001) {
        const double v = value(t);
        if (v > best) {
            best = v;
            best_t = t;
        }
    }
    return best_t;
}

class ClipTest : public ::testing::Test {
  protected:
    void SetUp() override {
        seed_ = test_seed();
        dir_ = fstest::fresh_test_dir("fs_clip");
    }
    void TearDown() override {
        if (HasFailure()) {
            std::fprintf(stderr, "FS_TEST_SEED=%llu\n", static_cast<unsigned long long>(seed_));
        }
        fsys::remove_all(dir_);
    }
    SynthSpec spec(const std::string& stream, double ppm, SynthSignal signal) const {
        SynthSpec s;
        s.data_dir = dir_ / "data";
        s.stream = stream;
        s.sim.ppm = ppm;
        s.sim.granularity_s = 0.001;
        s.sim.start_utc_ns = kStart;
        s.sim.seed = seed_ + std::hash<std::string>{}(stream);
        s.duration_s = 40;
        s.chunk_s = 10;
        s.signal = signal;
        return s;
    }
    Archive open() const {
        ArchiveOptions o;
        o.use_cache = false;
        return Archive::open(dir_ / "data", o);
    }
    uint64_t seed_ = 0;
    fsys::path dir_;
};

TEST_F(ClipTest, SampleExactAcrossChunkBoundary) {
    write_synthetic_archive(spec("a", 80, SynthSignal::frame_counter));
    const Archive ar = open();
    ASSERT_GE(ar.chunks().size(), 3u);
    // A range 3 s either side of the second chunk's start.
    const int64_t boundary = ar.chunks()[1].first_realtime_ns;
    ExtractOptions o{.from_utc_ns = boundary - 3 * kS + 123'456,
                     .to_utc_ns = boundary + 3 * kS + 7'890,
                     .output = dir_ / "out.wav"};
    const std::vector<ExtractResult> r = extract_clips(ar, o);
    ASSERT_EQ(r.size(), 1u);
    const SegmentModel& m = ar.model(0);
    const uint64_t first = static_cast<uint64_t>(std::ceil(*m.utc_to_frame(o.from_utc_ns)));
    const uint64_t end = static_cast<uint64_t>(std::ceil(*m.utc_to_frame(o.to_utc_ns)));
    EXPECT_EQ(r[0].first_session_frame, first);
    EXPECT_EQ(r[0].frames, end - first);
    EXPECT_EQ(r[0].zero_frames, 0u);
    EXPECT_EQ(r[0].first_sample_utc_ns, m.frame_to_utc(first).utc_ns);
    EXPECT_GE(r[0].first_sample_utc_ns, o.from_utc_ns);
    EXPECT_LT(r[0].first_sample_utc_ns - o.from_utc_ns, kS / 48000 + 1);
    SF_INFO info;
    const std::vector<short> got = read_all<short>(r[0].output, info);
    ASSERT_EQ(static_cast<uint64_t>(info.frames), end - first);
    for (uint64_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i], static_cast<short>((first + i) & 0x7FFF)) << "frame " << first + i;
    }
    // The chunk files hold the same samples at the same session frames.
    SF_INFO cinfo;
    const std::vector<short> c1 = read_all<short>(ar.chunks()[1].audio_path, cinfo);
    const uint64_t off = ar.chunks()[1].first_frame - first;
    ASSERT_LT(off, got.size());
    EXPECT_EQ(got[off], c1[0]);
    // Its GUANO block carries the clip's first-sample UTC and the recorder it came from.
    const std::string bytes = fstest::slurp(r[0].output);
    EXPECT_NE(bytes.find("framestamp|Recorder: synth\n"), std::string::npos);
    EXPECT_NE(bytes.find("framestamp|Stream: a\n"), std::string::npos);
    EXPECT_NE(bytes.find("framestamp|First Sample UTC ns: " +
                         std::to_string(r[0].first_sample_utc_ns) + "\n"),
              std::string::npos);
}

TEST_F(ClipTest, ClicksLandOnTheirFrames) {
    const SynthSpec s = spec("a", 80, SynthSignal::clicks);
    write_synthetic_archive(s);
    const Archive ar = open();
    ExtractOptions o{.from_utc_ns = kStart + 12 * kS + kS / 2,
                     .to_utc_ns = kStart + 16 * kS + kS / 2,
                     .output = dir_ / "clicks.flac"};
    const ExtractResult r = extract_clips(ar, o).at(0);
    EXPECT_EQ(r.file_format, FileFormat::flac);
    SF_INFO info;
    const std::vector<short> got = read_all<short>(r.output, info);
    const SimCard truth(s.sim);
    std::size_t clicks = 0;
    for (const short v : got) {
        clicks += v != 0 ? 1 : 0;
    }
    EXPECT_EQ(clicks, 4u);
    for (int sec = 13; sec <= 16; ++sec) {
        const auto frame = static_cast<uint64_t>(std::llround(truth.frames_at(sec)));
        ASSERT_GE(frame, r.first_session_frame);
        const uint64_t i = frame - r.first_session_frame;
        ASSERT_LT(i, got.size());
        EXPECT_EQ(got[i], 32767) << "second " << sec;
    }
}

TEST_F(ClipTest, ResampledClicksOfTwoCardsMeetAtTheExactUtc) {
    const SynthSpec sa = spec("a", 80, SynthSignal::clicks);
    const SynthSpec sb = spec("b", -45, SynthSignal::clicks);
    write_synthetic_archive(sa);
    write_synthetic_archive(sb);
    const Archive ar = open();
    const int64_t from = kStart + 10 * kS + 250'123'457;
    ExtractOptions o{.from_utc_ns = from,
                     .to_utc_ns = from + 6 * kS,
                     .output = dir_ / "utc.wav",
                     .resample = true};
    const std::vector<ExtractResult> r = extract_clips(ar, o);
    ASSERT_EQ(r.size(), 2u);
    std::vector<std::vector<double>> peaks(2);
    for (std::size_t k = 0; k < 2; ++k) {
        EXPECT_EQ(r[k].output, dir_ / ("utc_" + r[k].stream + ".wav"));
        EXPECT_EQ(r[k].frames, clip::samples_before(6 * kS, 48000));
        EXPECT_EQ(r[k].sample_format, SampleFormat::float_le);
        EXPECT_EQ(r[k].first_sample_utc_ns, from);
        SF_INFO info;
        const std::vector<float> y = read_all<float>(r[k].output, info);
        const SimCard truth(k == 0 ? sa.sim : sb.sim);
        for (int sec = 11; sec <= 16; ++sec) {
            const double frame = std::round(truth.frames_at(sec));
            // Where the click truly is: its frame's true UTC on the output grid.
            const double expect =
                static_cast<double>(truth.true_utc_ns(frame) - from) * 48000 / 1e9 +
                truth.true_utc_frac_ns(frame) * 48000 / 1e9;
            std::size_t best = static_cast<std::size_t>(std::llround(expect));
            for (std::size_t i = best - 5; i <= best + 5; ++i) {
                if (y[i] > y[best]) {
                    best = i;
                }
            }
            EXPECT_GT(y[best], 0.5f);
            const double got = peak_position(y, best);
            // The resampler puts the click where the model says its frame is, to a small
            // fraction of a sample...
            const std::size_t seg = k == 0 ? 0 : ar.segments().size() - 1;
            ASSERT_EQ(ar.segments()[seg].stream, r[k].stream);
            const TimeEstimate at = ar.model(seg).frame_to_utc(static_cast<uint64_t>(frame));
            const double by_model =
                (static_cast<double>(at.utc_ns - from) + at.utc_frac_ns) * 48000 / 1e9;
            EXPECT_NEAR(got, by_model, 0.02) << r[k].stream << " second " << sec;
            // ...and the model puts it at the true UTC. The bound is the fit's, not the
            // resampler's: 0.1 sample (2 us) once the fit reaches its design accuracy.
            EXPECT_NEAR(got, expect, kFitToleranceSamples)
                << r[k].stream << " second " << sec
                << ": model - truth = " << static_cast<double>(at.utc_ns - truth.true_utc_ns(frame))
                << " ns";
            peaks[k].push_back(got);
        }
    }
    // Both cards' clicks sit at the same output sample (each is within half a frame of the whole
    // second, so within one sample of each other), although the cards differ by 125 ppm.
    for (std::size_t i = 0; i < peaks[0].size(); ++i) {
        EXPECT_NEAR(peaks[0][i], peaks[1][i], 1.0);
    }
}

TEST_F(ClipTest, Errors) {
    SynthSpec s = spec("a", 30, SynthSignal::frame_counter);
    s.events.push_back({.kind = SynthEvent::Kind::device_lost, .at_s = 25, .frames = 2 * 48000});
    write_synthetic_archive(s);
    write_synthetic_archive(spec("b", -20, SynthSignal::frame_counter));
    const Archive ar = open();
    auto message = [&](const ExtractOptions& o) -> std::string {
        try {
            extract_clips(ar, o);
        } catch (const ClipError& e) {
            return e.what();
        }
        return "no error";
    };
    const fsys::path out = dir_ / "e.wav";
    ExtractOptions base{
        .from_utc_ns = kStart + 5 * kS, .to_utc_ns = kStart + 6 * kS, .output = out};

    ExtractOptions o = base;
    o.to_utc_ns = o.from_utc_ns;
    EXPECT_NE(message(o).find("empty range"), std::string::npos) << message(o);
    o = base;
    o.streams = {"nope"};
    EXPECT_NE(message(o).find("no stream \"nope\""), std::string::npos) << message(o);
    o = base;
    o.output = dir_ / "e.mp3";
    EXPECT_NE(message(o).find("unknown extension"), std::string::npos) << message(o);
    o = base;
    o.from_utc_ns = kStart - 100 * kS;
    o.to_utc_ns = kStart - 90 * kS;
    o.fill_gaps = true;
    EXPECT_NE(message(o).find("stream a has no recording at"), std::string::npos) << message(o);
    EXPECT_NE(message(o).find("it covers 2026-"), std::string::npos) << message(o);
    o = base;
    o.from_utc_ns = kStart - kS;
    o.streams = {"b"};
    EXPECT_NE(message(o).find("stream b has no recording at"), std::string::npos) << message(o);

    // Across the device loss.
    o = base;
    o.streams = {"a"};
    o.from_utc_ns = kStart + 23 * kS;
    o.to_utc_ns = kStart + 30 * kS;
    const std::string gap = message(o);
    EXPECT_NE(gap.find("gap"), std::string::npos) << gap;
    EXPECT_NE(gap.find("device_lost"), std::string::npos) << gap;
    EXPECT_FALSE(fsys::exists(out));
    o.fill_gaps = true;
    const ExtractResult filled = extract_clips(ar, o).at(0);
    EXPECT_NEAR(static_cast<double>(filled.zero_frames), 2 * 48000, 48000 * 0.05);
    EXPECT_FALSE(filled.notes.empty());
    EXPECT_NEAR(static_cast<double>(filled.frames), 7 * 48000, 48000 * 0.01);

    // An existing output.
    o.fill_gaps = true;
    EXPECT_NE(message(o).find("exists"), std::string::npos) << message(o);
    o.overwrite = true;
    EXPECT_EQ(message(o), "no error");

    // A missing chunk file, then a short one.
    o = base;
    o.streams = {"b"};
    std::vector<std::size_t> b_chunks;
    for (std::size_t i = 0; i < ar.chunks().size(); ++i) {
        if (ar.chunks()[i].stream == "b") {
            b_chunks.push_back(i);
        }
    }
    ASSERT_GE(b_chunks.size(), 3u);
    const ChunkInfo& c = ar.chunks()[b_chunks[b_chunks.size() / 2]];
    const fsys::path moved = dir_ / "moved.wav";
    fsys::rename(c.audio_path, moved);
    o.from_utc_ns = c.first_realtime_ns - kS;
    o.to_utc_ns = c.first_realtime_ns + kS;
    const std::string missing = message(o);
    EXPECT_NE(missing.find("is missing"), std::string::npos) << missing;
    EXPECT_NE(missing.find(c.audio_path.filename().string()), std::string::npos) << missing;
    o.fill_gaps = true;
    o.output = dir_ / "m.wav";
    const ExtractResult mf = extract_clips(ar, o).at(0);
    EXPECT_NEAR(static_cast<double>(mf.zero_frames), 48000, 48000 * 0.01);
    // Short: the first half of the file only.
    {
        SF_INFO info{};
        SNDFILE* in = sf_open(moved.c_str(), SFM_READ, &info);
        ASSERT_NE(in, nullptr);
        std::vector<short> half(static_cast<std::size_t>(info.frames / 2));
        ASSERT_EQ(sf_readf_short(in, half.data(), info.frames / 2), info.frames / 2);
        sf_close(in);
        SF_INFO oi = info;
        oi.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
        SNDFILE* w = sf_open(c.audio_path.c_str(), SFM_WRITE, &oi);
        ASSERT_NE(w, nullptr);
        ASSERT_EQ(sf_writef_short(w, half.data(), info.frames / 2), info.frames / 2);
        sf_close(w);
    }
    o.fill_gaps = false;
    o.from_utc_ns = c.first_realtime_ns + 9 * kS;
    o.to_utc_ns = c.first_realtime_ns + 11 * kS;
    const std::string shorter = message(o);
    EXPECT_NE(shorter.find("holds"), std::string::npos) << shorter;
    EXPECT_NE(shorter.find("its timing log says"), std::string::npos) << shorter;
}

TEST_F(ClipTest, WriteGapInsideASegment) {
    SynthSpec s = spec("a", 50, SynthSignal::frame_counter);
    s.events.push_back({.kind = SynthEvent::Kind::write_gap, .at_s = 15, .frames = 24000});
    write_synthetic_archive(s);
    const Archive ar = open();
    ExtractOptions o{
        .from_utc_ns = kStart + 12 * kS, .to_utc_ns = kStart + 22 * kS, .output = dir_ / "g.wav"};
    try {
        extract_clips(ar, o);
        ADD_FAILURE() << "no error across the write gap";
    } catch (const ClipError& e) {
        EXPECT_NE(std::string(e.what()).find("not in the audio files"), std::string::npos)
            << e.what();
    }
    o.fill_gaps = true;
    const ExtractResult r = extract_clips(ar, o).at(0);
    EXPECT_EQ(r.zero_frames, 24000u);
    ASSERT_EQ(r.notes.size(), 1u);
    // Around the gap the frames are the recorded ones: the counter runs on after it.
    SF_INFO info;
    const std::vector<short> got = read_all<short>(r.output, info);
    std::size_t zeros = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        if (got[i] == 0 && (r.first_session_frame + i) % 0x8000 != 0) {
            ++zeros;
        } else {
            ASSERT_EQ(got[i], static_cast<short>((r.first_session_frame + i) & 0x7FFF)) << i;
        }
    }
    // (a gap frame whose counter value would be 0 is not told apart)
    EXPECT_NEAR(static_cast<double>(zeros), 24000, 1);
}

#ifndef FRAMESTAMP_VERSION
#error "tests/unit/clip.cmake defines FRAMESTAMP_VERSION, the project's version"
#endif

// Every writer of audio (the synthesiser, which feeds chunks as the daemon does, and extract)
// names the program once: ENCODER and CodingHistory read "framestamp 0.1.0"; the keys that are
// already framestamp's own (FRAMESTAMP_VERSION, GUANO framestamp|Version) hold the bare version.
// The writers add "framestamp " themselves, so a caller passing "framestamp 0.1.0" doubled it.
TEST_F(ClipTest, EveryFileNamesFramestampAndItsVersionOnce) {
    const std::string v = FRAMESTAMP_VERSION;
    ASSERT_FALSE(v.empty());
    SynthSpec w = spec("w", 20, SynthSignal::clicks);
    SynthSpec f = spec("f", -15, SynthSignal::clicks);
    w.duration_s = f.duration_s = 20;
    f.file_format = FileFormat::flac;
    const SynthResult rw = write_synthetic_archive(w);
    const SynthResult rf = write_synthetic_archive(f);
    ASSERT_FALSE(rw.audio_files.empty());
    ASSERT_FALSE(rf.audio_files.empty());
    const Archive ar = open();
    const int64_t from = ar.chunks()[0].first_realtime_ns + 2 * kS;
    ASSERT_EQ(extract_clips(ar, {.from_utc_ns = from,
                                 .to_utc_ns = from + kS,
                                 .streams = {"w"},
                                 .output = dir_ / "clip.wav"})
                  .size(),
              1u);
    ASSERT_EQ(extract_clips(ar, {.from_utc_ns = from,
                                 .to_utc_ns = from + kS,
                                 .streams = {"f"},
                                 .output = dir_ / "clip.flac"})
                  .size(),
              1u);
    auto expect_names = [&](const fsys::path& p, bool flac) {
        SCOPED_TRACE(p.string());
        const std::string b = fstest::slurp(p);
        ASSERT_FALSE(b.empty());
        EXPECT_EQ(b.find("framestamp framestamp"), std::string::npos);
        EXPECT_NE(b.find("framestamp|Version: " + v + "\n"), std::string::npos);
        if (flac) {
            EXPECT_NE(b.find("ENCODER=framestamp " + v), std::string::npos);
            EXPECT_NE(b.find("FRAMESTAMP_VERSION=" + v), std::string::npos);
        } else {
            EXPECT_NE(b.find(",T=framestamp " + v + " from "), std::string::npos);
        }
    };
    expect_names(rw.audio_files.front(), false);
    expect_names(rf.audio_files.front(), true);
    expect_names(dir_ / "clip.wav", false);
    expect_names(dir_ / "clip.flac", true);
}

TEST(ClipNaming, OneFilePerStreamWhenSeveral) {
    EXPECT_EQ(clip_output_path("/x/clip.flac", "front", 1), fsys::path("/x/clip.flac"));
    EXPECT_EQ(clip_output_path("/x/clip.flac", "front", 2), fsys::path("/x/clip_front.flac"));
    EXPECT_EQ(clip::samples_before(kS, 48000), 48000u);
    EXPECT_EQ(clip::samples_before(1, 48000), 1u);
    EXPECT_EQ(clip::samples_before(0, 48000), 0u);
    int64_t ns = 0;
    double frac = 0;
    clip::sample_time(1, 48000, ns, frac);
    EXPECT_EQ(ns, 20833);
    EXPECT_NEAR(frac, 1.0 / 3, 1e-12);
}

}  // namespace
