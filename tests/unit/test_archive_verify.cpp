// verify_archive: what it finds in damaged archives, severities, and its renderings.
#include <gtest/gtest.h>

#include <algorithm>

#include "framestamp/archive.hpp"
#include "framestamp/archive_verify.hpp"
#include "test_archive_support.hpp"

namespace {

using namespace fs_test;
using framestamp::Archive;
using framestamp::ArchiveOptions;
using framestamp::Severity;
using framestamp::VerifyItem;
using framestamp::VerifyReport;

class Verify : public ::testing::Test {
  protected:
    ArchiveOptions options() const {
        ArchiveOptions o;
        o.cache_dir = tmp_.path() / "cache";
        return o;
    }
    fsys::path data() const { return tmp_.path() / "data"; }
    FakeSpec spec() const {
        FakeSpec s;
        s.data_dir = data();
        s.seed = test_seed();
        return s;
    }
    VerifyReport verify(bool fit = false) const {
        const Archive a = Archive::open(data(), options());
        return framestamp::verify_archive(a, {.fit_models = fit});
    }
    TempDir tmp_;
};

std::vector<VerifyItem> with_code(const VerifyReport& r, const std::string& code) {
    std::vector<VerifyItem> out;
    std::copy_if(r.items.begin(), r.items.end(), std::back_inserter(out),
                 [&](const VerifyItem& i) { return i.code == code; });
    return out;
}

TEST_F(Verify, CleanArchiveIsOk) {
    FakeDaemon d(spec());
    d.start_session();
    d.sync(true);
    d.record(25);
    d.shutdown();
    const VerifyReport r = verify();
    EXPECT_TRUE(r.ok()) << framestamp::verify_report_text(r);
    EXPECT_EQ(r.count(Severity::warning), 0u) << framestamp::verify_report_text(r);
    EXPECT_EQ(r.chunks, 3u);
    EXPECT_EQ(r.audio_checked, 3u);
    EXPECT_EQ(r.sessions, 1u);
    EXPECT_EQ(with_code(r, "shutdown").size(), 1u);
    EXPECT_NEAR(r.recorded_s, 25.0 * (1 + 25e-6), 0.01);
}

TEST_F(Verify, FrameCountMismatchAndMissingAudio) {
    FakeDaemon d(spec());
    d.start_session();
    d.record(35);
    d.shutdown();
    // Chunk 1's audio replaced by a shorter file; chunk 2's audio deleted.
    const fsys::path shorter = d.audio_files()[1];
    fsys::remove(shorter);
    {
        framestamp::ChunkMetadata meta;
        meta.stream = "front";
        meta.rate_hz = 8000;
        meta.channels = 1;
        auto f = framestamp::ChunkFile::create(shorter, framestamp::FileFormat::wav, 5, meta);
        ASSERT_TRUE(f.ok());
        std::vector<int16_t> z(1000);
        ASSERT_TRUE(f.value().write(z.data(), 1000).ok());
        ASSERT_TRUE(f.value().close().ok());
    }
    fsys::remove(d.audio_files()[2]);
    const VerifyReport r = verify();
    EXPECT_FALSE(r.ok());
    const auto mismatch = with_code(r, "frame_count_mismatch");
    ASSERT_EQ(mismatch.size(), 1u) << framestamp::verify_report_text(r);
    EXPECT_EQ(mismatch[0].severity, Severity::error);
    EXPECT_EQ(mismatch[0].file, fsys::canonical(shorter));
    EXPECT_EQ(mismatch[0].frames, 1000 - 80000);
    EXPECT_NE(mismatch[0].message.find("holds 1000 frames, the timing log says 80000"),
              std::string::npos);
    const auto missing = with_code(r, "audio_missing");
    ASSERT_EQ(missing.size(), 1u);
    EXPECT_EQ(missing[0].file.filename(), d.audio_files()[2].filename());
    EXPECT_TRUE(missing[0].utc_ns.has_value());
}

TEST_F(Verify, GapsAreWarningsWithUtcAndLength) {
    FakeDaemon d(spec());
    d.start_session();
    d.sync(true);
    d.record(12);
    const int64_t overrun_utc = d.now_utc();
    d.overrun(800, true);
    d.record(6);
    d.sync(false);
    d.write_gap(24000);
    d.record(8);
    d.sync(true);
    d.record(4);
    d.device_lost(2.5);
    d.start_session(true);
    d.record(4);
    d.shutdown();
    const VerifyReport r = verify(true);
    EXPECT_TRUE(r.ok()) << framestamp::verify_report_text(r);
    EXPECT_TRUE(with_code(r, "not_contiguous").empty());
    const auto overrun = with_code(r, "overrun");
    ASSERT_EQ(overrun.size(), 1u);
    EXPECT_EQ(overrun[0].severity, Severity::warning);
    EXPECT_EQ(overrun[0].frames, 800);
    EXPECT_DOUBLE_EQ(*overrun[0].seconds, 0.1);
    EXPECT_TRUE(overrun[0].utc_from_model);
    EXPECT_LT(std::llabs(*overrun[0].utc_ns - overrun_utc), 1'000'000);
    const auto gap = with_code(r, "write_gap");
    ASSERT_EQ(gap.size(), 1u);
    EXPECT_EQ(gap[0].frames, 24000);
    EXPECT_DOUBLE_EQ(*gap[0].seconds, 3.0);
    const auto unsynced = with_code(r, "unsynced");
    ASSERT_EQ(unsynced.size(), 1u);
    ASSERT_TRUE(unsynced[0].end_utc_ns);
    EXPECT_NEAR(*unsynced[0].seconds, 11.0, 0.3);
    const auto lost = with_code(r, "device_lost");
    ASSERT_EQ(lost.size(), 1u);
    EXPECT_NEAR(*lost[0].seconds, 2.5, 0.3);
    EXPECT_EQ(with_code(r, "between_sessions").size(), 1u);
    const std::string text = framestamp::verify_report_text(r);
    EXPECT_NE(text.find("OK: 0 errors"), std::string::npos) << text;
    EXPECT_NE(text.find("WARNING"), std::string::npos);
}

TEST_F(Verify, UnaccountedDiscontinuityLeftOversAndOrphans) {
    FakeDaemon d(spec());
    d.start_session();
    d.record(35);
    d.crash();
    // A middle chunk vanishes with its log: frames missing without a write_gap.
    fsys::remove(d.audio_files()[1]);
    fsys::remove(d.logs()[1]);
    // Audio no log names.
    spit(d.audio_files()[0].parent_path() / "front_20990101T000000Z.wav", "RIFF");
    const VerifyReport r = verify();
    EXPECT_FALSE(r.ok());
    const auto gap = with_code(r, "not_contiguous");
    ASSERT_EQ(gap.size(), 1u) << framestamp::verify_report_text(r);
    EXPECT_EQ(gap[0].frames, 80000);
    EXPECT_EQ(with_code(r, "audio_without_log").size(), 1u);
    const auto partial = with_code(r, "partial_file");
    ASSERT_EQ(partial.size(), 1u);
    EXPECT_NE(partial[0].message.find("run framestampd"), std::string::npos);
}

TEST_F(Verify, JsonIsEscaped) {
    FakeDaemon d(spec());
    d.start_session();
    d.record(3);
    d.shutdown();
    const fsys::path log = d.logs()[0];
    std::string text = slurp(log);
    const std::size_t p = text.find("device=hw:CARD=Fake,DEV=0;rate_hz");
    ASSERT_NE(p, std::string::npos);
    // A detail holding a quote, a backslash and a tab, CSV-quoted as the writer does.
    text.insert(p, "note=\"\"a\\b\t\"\";");
    spit(log, text);
    const VerifyReport r = verify();
    const std::string json = framestamp::verify_report_json(r);
    EXPECT_EQ(json.rfind("{\"root\":", 0), 0u);
    EXPECT_NE(json.find("\"ok\":true"), std::string::npos);
    EXPECT_NE(json.find("note=\\\"a\\\\b\\t\\\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"code\":\"session_start\""), std::string::npos);
    EXPECT_EQ(std::count(json.begin(), json.end(), '{'), std::count(json.begin(), json.end(), '}'));
    EXPECT_EQ(json.find('\t'), std::string::npos);
}

}  // namespace
