// The configuration loader: defaults, every kind of bad input (with its line and key), data_dir
// checks, the example config, and config_dump round trips.
#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "config/config_parts.hpp"
#include "framestamp/config.hpp"

namespace {

using framestamp::ChronydMode;
using framestamp::Config;
using framestamp::config_dump;
using framestamp::config_load_file;
using framestamp::config_load_string;
using framestamp::ConfigError;
using framestamp::ConfigIssue;
using framestamp::ConfigLoadOptions;
using framestamp::FileFormat;
using framestamp::SampleFormat;
using framestamp::StreamConfig;
namespace fs = std::filesystem;

uint64_t test_seed() {
    const char* s = std::getenv("FS_TEST_SEED");
    return s != nullptr ? std::strtoull(s, nullptr, 10) : 20261124ULL;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (std::size_t at = text.find(from); at != std::string::npos;
         at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
    return text;
}

std::string all_issues(const std::vector<ConfigIssue>& issues) {
    std::string out;
    for (const auto& i : issues) {
        out += "  " + i.to_string() + "\n";
    }
    return out;
}

// True when one of issues is at line, names key, and its message contains fragment.
::testing::AssertionResult has_issue(const std::vector<ConfigIssue>& issues, int line,
                                     const std::string& key, const std::string& fragment) {
    for (const auto& i : issues) {
        if (i.line == line && i.key == key && i.message.find(fragment) != std::string::npos) {
            return ::testing::AssertionSuccess();
        }
    }
    return ::testing::AssertionFailure() << "no issue at line " << line << " for '" << key
                                         << "' containing '" << fragment << "'; got:\n"
                                         << all_issues(issues);
}

class ConfigTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "fs_config_XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override {
        ::chmod(dir_.c_str(), 0700);
        fs::remove_all(dir_);
    }

    // The text with $DIR replaced by the temporary data directory.
    std::string yaml(const std::string& text) const { return replace_all(text, "$DIR", dir_); }

    Config load(const std::string& text) const {
        return config_load_string(yaml(text), "test.yaml");
    }

    std::vector<ConfigIssue> issues_of(const std::string& text) const {
        try {
            config_load_string(yaml(text), "test.yaml");
        } catch (const ConfigError& e) {
            for (const auto& i : e.issues()) {
                EXPECT_EQ(i.file, "test.yaml");
            }
            return e.issues();
        }
        ADD_FAILURE() << "loaded without an error:\n" << yaml(text);
        return {};
    }

    std::string dir_;
};

// The smallest valid file: data_dir on line 1, the stream's mapping starting on line 3.
const char* const kMinimal = R"(data_dir: $DIR
streams:
  - name: front
    device: hw:0
)";

TEST_F(ConfigTest, DefaultsAreFilledIn) {
    const Config c = load(kMinimal);
    EXPECT_EQ(c.source_file, "test.yaml");
    EXPECT_EQ(c.data_dir, dir_);
    EXPECT_EQ(c.timing_points_per_s, 8u);
    EXPECT_EQ(c.timing_dither_us, 2000u);
    EXPECT_EQ(c.timing_max_window_us, 200u);
    EXPECT_EQ(c.sync_sample_interval_s, 5u);
    EXPECT_EQ(c.clock_step_threshold_ns, 500'000);
    EXPECT_EQ(c.min_free_disk_mib, 256u);
    EXPECT_EQ(c.disk_warn_free_mib, 2048u);
    EXPECT_EQ(c.disk_warn_days, 3u);
    EXPECT_EQ(c.clock_sync.chronyd, ChronydMode::automatic);
    EXPECT_EQ(c.clock_sync.chronyc_path, "/usr/bin/chronyc");
    EXPECT_EQ(c.clock_sync.chronyd_socket, "/run/chrony/chronyd.sock");
    EXPECT_EQ(c.clock_sync.timeout_ms, 1000u);
    EXPECT_EQ(c.log_level, "info");
    EXPECT_EQ(c.site, framestamp::SiteInfo{});
    ASSERT_EQ(c.streams.size(), 1u);
    const StreamConfig& s = c.streams[0];
    EXPECT_EQ(s.name, "front");
    EXPECT_EQ(s.device, "hw:0");
    EXPECT_EQ(s.rate_hz, 48000u);
    EXPECT_EQ(s.channels, 2u);
    EXPECT_EQ(s.format, SampleFormat::s16_le);
    EXPECT_EQ(s.period_frames, 1024u);
    EXPECT_EQ(s.buffer_frames, 8192u);
    EXPECT_EQ(s.ring_seconds, 10u);
    EXPECT_EQ(s.chunk_seconds, 600u);
    EXPECT_EQ(s.file_format, FileFormat::flac);
    EXPECT_EQ(s.flac_level, 5);
    EXPECT_EQ(s.flush_interval_s, 10u);
    EXPECT_TRUE(s.overrun_fill_silence);
    EXPECT_EQ(s.hardware, framestamp::HardwareInfo{});
}

TEST_F(ConfigTest, EmptyValuesAndZeroFramesTakeTheDefault) {
    const Config c = load(R"(data_dir: $DIR
log_level:
site:
clock_sync:
disk_warn_free_mib:
streams:
  - name: front
    device: hw:0
    rate_hz: 8000
    period_frames: 0
    buffer_frames:
    hardware:
)");
    EXPECT_EQ(c.log_level, "info");
    EXPECT_EQ(c.clock_sync, framestamp::ClockSyncConfig{});
    EXPECT_EQ(c.disk_warn_free_mib, 2048u);
    EXPECT_EQ(c.streams[0].period_frames, 128u);
    EXPECT_EQ(c.streams[0].buffer_frames, 1024u);
}

const char* const kFull = R"(data_dir: $DIR
timing_points_per_s: 20
timing_dither_us: 0
sync_sample_interval_s: 60
clock_step_threshold_us: 2000
clock_sync:
  chronyd: yes
  chronyc_path: /opt/chrony/bin/chronyc
  chronyd_socket: /run/chrony/chronyd.sock,127.0.0.1,::1
  timeout_ms: 250
min_free_disk_mib: 0
disk_warn_free_mib: 100
disk_warn_days: 0
log_level: debug
site:
  recorder_id: "rec-07"
  site: "Wytham Woods, plot 3: # \"north\""
  latitude: 51.7712
  longitude: -1.3380
  elevation_m: -12.5
  notes: 'multi word notes'
streams:
  - name: front
    device: "hw:CARD=Device,DEV=0"
    rate_hz: 96000
    channels: 4
    format: S24_3LE
    period_frames: 480
    buffer_frames: 960
    ring_seconds: 30
    chunk_seconds: 3600
    file_format: wav
    flac_level: 8
    flush_interval_s: 2
    overrun_fill: none
    hardware:
      make: Behringer
      model: UMC404HD
      serial: "007"
  - name: Rear_2
    device: dsnoop:CARD=Other
    format: FLOAT_LE
    file_format: rf64
)";

TEST_F(ConfigTest, EveryKeyIsRead) {
    const Config c = load(kFull);
    EXPECT_EQ(c.timing_points_per_s, 20u);
    EXPECT_EQ(c.timing_dither_us, 0u);
    EXPECT_EQ(c.sync_sample_interval_s, 60u);
    EXPECT_EQ(c.clock_step_threshold_ns, 2'000'000);
    EXPECT_EQ(c.min_free_disk_mib, 0u);
    EXPECT_EQ(c.disk_warn_free_mib, 100u);
    EXPECT_EQ(c.disk_warn_days, 0u);
    EXPECT_EQ(c.clock_sync.chronyd, ChronydMode::yes);
    EXPECT_EQ(c.clock_sync.chronyc_path, "/opt/chrony/bin/chronyc");
    EXPECT_EQ(c.clock_sync.chronyd_socket, "/run/chrony/chronyd.sock,127.0.0.1,::1");
    EXPECT_EQ(c.clock_sync.timeout_ms, 250u);
    EXPECT_EQ(c.log_level, "debug");
    EXPECT_EQ(c.site.recorder_id, "rec-07");
    EXPECT_EQ(c.site.site, "Wytham Woods, plot 3: # \"north\"");
    EXPECT_EQ(c.site.latitude_deg, 51.7712);
    EXPECT_EQ(c.site.longitude_deg, -1.3380);
    EXPECT_EQ(c.site.elevation_m, -12.5);
    EXPECT_EQ(c.site.notes, "multi word notes");
    ASSERT_EQ(c.streams.size(), 2u);
    const StreamConfig& s = c.streams[0];
    EXPECT_EQ(s.device, "hw:CARD=Device,DEV=0");
    EXPECT_EQ(s.rate_hz, 96000u);
    EXPECT_EQ(s.channels, 4u);
    EXPECT_EQ(s.format, SampleFormat::s24_3le);
    EXPECT_EQ(s.period_frames, 480u);
    EXPECT_EQ(s.buffer_frames, 960u);
    EXPECT_EQ(s.ring_seconds, 30u);
    EXPECT_EQ(s.chunk_seconds, 3600u);
    EXPECT_EQ(s.file_format, FileFormat::wav);
    EXPECT_EQ(s.flac_level, 8);
    EXPECT_EQ(s.flush_interval_s, 2u);
    EXPECT_FALSE(s.overrun_fill_silence);
    EXPECT_EQ(s.hardware, (framestamp::HardwareInfo{"Behringer", "UMC404HD", "007"}));
    EXPECT_EQ(c.streams[1].name, "Rear_2");
    EXPECT_EQ(c.streams[1].format, SampleFormat::float_le);
    EXPECT_EQ(c.streams[1].file_format, FileFormat::rf64);
}

TEST_F(ConfigTest, DumpOfFullConfigLoadsBackEqual) {
    const Config c = load(kFull);
    const std::string dumped = config_dump(c);
    EXPECT_EQ(config_load_string(dumped, "test.yaml"), c) << dumped;
    EXPECT_EQ(config_dump(config_load_string(dumped, "test.yaml")), dumped);
    // Derived values are shown for the reader: 480 frames at 96 kHz are 5 ms.
    EXPECT_THAT(dumped, ::testing::HasSubstr("period_frames: 480"));
    EXPECT_THAT(dumped, ::testing::HasSubstr("# 5.000 ms"));
    const Config minimal = load(kMinimal);
    EXPECT_EQ(config_load_string(config_dump(minimal), "test.yaml"), minimal);
    EXPECT_THAT(config_dump(minimal), ::testing::HasSubstr("latitude:"));
}

// Random text with the characters YAML treats specially.
std::string random_text(std::mt19937_64& rng) {
    static const std::vector<std::string> pieces = {
        "a", "Z", "9", " ", ":",  "# ", "\"", "'",    "\\",   "-", "{",   "[",    "*",   "&",
        "!", "%", "@", "é", "µs", "\t", "\n", "\x01", "null", "~", "yes", "0x1F", "---", "?"};
    std::uniform_int_distribution<std::size_t> count(0, 8);
    std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
    std::string out;
    for (std::size_t n = count(rng); n > 0; --n) {
        out += pieces[pick(rng)];
    }
    return out;
}

template <typename T>
T pick_one(std::mt19937_64& rng, std::initializer_list<T> values) {
    std::uniform_int_distribution<std::size_t> d(0, values.size() - 1);
    return *(values.begin() + d(rng));
}

// A random Config that satisfies every rule, built directly (not from YAML).
Config random_config(std::mt19937_64& rng, const std::string& dir) {
    auto uniform = [&rng](int64_t lo, int64_t hi) {
        return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    auto real = [&rng](double lo, double hi) {
        return std::uniform_real_distribution<double>(lo, hi)(rng);
    };
    Config c;
    c.source_file = "random.yaml";
    c.data_dir = dir;
    c.timing_points_per_s = static_cast<uint32_t>(uniform(4, 1000));
    c.timing_dither_us = static_cast<uint32_t>(uniform(0, 20'000));
    c.timing_max_window_us = static_cast<uint32_t>(uniform(10, 100'000));
    c.sync_sample_interval_s = static_cast<uint32_t>(uniform(1, 3600));
    c.clock_step_threshold_ns = 1000 * uniform(1, 10'000'000);
    c.min_free_disk_mib = static_cast<uint64_t>(uniform(0, 1 << 20));
    c.disk_warn_free_mib =
        uniform(0, 3) == 0 ? 0
                           : static_cast<uint64_t>(uniform(int64_t(c.min_free_disk_mib), 1 << 20));
    c.disk_warn_days = static_cast<uint32_t>(uniform(0, 365));
    c.clock_sync.chronyd =
        pick_one(rng, {ChronydMode::automatic, ChronydMode::yes, ChronydMode::no});
    c.clock_sync.chronyc_path = "/" + random_text(rng);
    c.clock_sync.chronyd_socket = pick_one<std::string>(
        rng, {"/run/chrony/chronyd.sock", "127.0.0.1", "::1", "chrony-host.example.org",
              "/tmp/x y/#:\"/s.sock,fe80::1%eth0"});
    c.clock_sync.timeout_ms = static_cast<uint32_t>(uniform(100, 10'000));
    c.log_level = pick_one<std::string>(rng, {"trace", "debug", "info", "warning", "error"});
    c.site = {random_text(rng), random_text(rng), random_text(rng),
              std::nullopt,     std::nullopt,     std::nullopt};
    if (uniform(0, 1) == 1) {
        c.site.latitude_deg = real(-90, 90);
        c.site.longitude_deg = real(-180, 180);
        c.site.elevation_m = real(-500, 9000);
    }
    const auto n = uniform(1, 16);
    for (int64_t i = 0; i < n; ++i) {
        StreamConfig s;
        s.name = "s" + std::to_string(i) + pick_one<std::string>(rng, {"", "_x", "-Y"});
        s.device = "hw:" + std::to_string(i) + random_text(rng);
        s.rate_hz = pick_one<uint32_t>(rng, {8000, 44100, 48000, 96000, 192000, 384000});
        s.channels = static_cast<uint32_t>(uniform(1, 8));
        s.format = pick_one(rng, {SampleFormat::s16_le, SampleFormat::s24_le, SampleFormat::s24_3le,
                                  SampleFormat::s32_le, SampleFormat::float_le});
        s.period_frames = static_cast<uint32_t>(uniform(16, s.rate_hz));
        s.buffer_frames =
            static_cast<uint32_t>(uniform(2 * int64_t{s.period_frames}, 10 * int64_t{s.rate_hz}));
        s.ring_seconds = static_cast<uint32_t>(uniform(1, 10));
        s.chunk_seconds = static_cast<uint32_t>(uniform(1, 600));
        s.file_format =
            framestamp::sample_bits(s.format) > 24 ? FileFormat::rf64 : FileFormat::flac;
        s.flac_level = static_cast<int>(uniform(0, 8));
        s.flush_interval_s = static_cast<uint32_t>(uniform(1, 3600));
        s.overrun_fill_silence = uniform(0, 1) == 1;
        s.hardware = {random_text(rng), random_text(rng), random_text(rng)};
        c.streams.push_back(s);
    }
    return c;
}

TEST_F(ConfigTest, RandomConfigsRoundTripThroughDump) {
    std::mt19937_64 rng(test_seed());
    for (int round = 0; round < 200; ++round) {
        const Config c = random_config(rng, dir_);
        const std::string dumped = config_dump(c);
        try {
            EXPECT_EQ(config_load_string(dumped, "random.yaml"), c)
                << "seed " << test_seed() << " round " << round << "\n"
                << dumped;
        } catch (const ConfigError& e) {
            ADD_FAILURE() << "seed " << test_seed() << " round " << round << "\n"
                          << e.what() << "\n"
                          << dumped;
        }
    }
}

TEST_F(ConfigTest, ExampleConfigLoadsWithItsDataDirOverridden) {
    ConfigLoadOptions options;
    options.data_dir_override = dir_;
    const Config c = config_load_file(FS_EXAMPLE_CONFIG, options);
    EXPECT_EQ(c.source_file, FS_EXAMPLE_CONFIG);
    EXPECT_EQ(c.data_dir, dir_);
    ASSERT_EQ(c.streams.size(), 1u);
    EXPECT_EQ(c.streams[0].name, "front");
    EXPECT_EQ(c.streams[0].period_frames, 1024u);
    EXPECT_EQ(c.streams[0].hardware.model, "UMC204HD");
    EXPECT_EQ(c.site.latitude_deg, 51.7712);

    // Without the override the production check still applies to the example's own data_dir.
    if (fs::exists("/var/lib/framestamp")) {
        GTEST_SKIP() << "/var/lib/framestamp exists here; cannot show it is checked";
    }
    std::ifstream in(FS_EXAMPLE_CONFIG);
    int line = 0;
    int data_dir_line = 0;
    for (std::string text; std::getline(in, text);) {
        ++line;
        if (text.starts_with("data_dir:")) {
            data_dir_line = line;
        }
    }
    try {
        config_load_file(FS_EXAMPLE_CONFIG);
        ADD_FAILURE() << "loaded with a data_dir that does not exist";
    } catch (const ConfigError& e) {
        ASSERT_EQ(e.issues().size(), 1u) << e.what();
        EXPECT_TRUE(has_issue(e.issues(), data_dir_line, "data_dir", "does not exist"));
        EXPECT_EQ(e.issues()[0].file, FS_EXAMPLE_CONFIG);
    }
}

TEST_F(ConfigTest, OverrideIsCheckedAsStrictly) {
    ConfigLoadOptions options;
    options.data_dir_override = dir_ + "/missing";
    try {
        config_load_string(yaml(kMinimal), "test.yaml", options);
        ADD_FAILURE() << "loaded with a missing override";
    } catch (const ConfigError& e) {
        EXPECT_TRUE(has_issue(e.issues(), 1, "data_dir", "given by the override"));
    }
}

TEST_F(ConfigTest, EveryKeyIsDocumented) {
    namespace cd = framestamp::config_detail;
    std::ifstream doc_in(FS_CONFIG_DOC);
    std::ifstream example_in(FS_EXAMPLE_CONFIG);
    std::stringstream doc;
    std::stringstream example;
    doc << doc_in.rdbuf();
    example << example_in.rdbuf();
    ASSERT_FALSE(doc.str().empty());
    for (const auto& keys : {std::span<const std::string_view>(cd::kTopKeys),
                             std::span<const std::string_view>(cd::kSiteKeys),
                             std::span<const std::string_view>(cd::kStreamKeys),
                             std::span<const std::string_view>(cd::kHardwareKeys),
                             std::span<const std::string_view>(cd::kClockSyncKeys)}) {
        for (const auto key : keys) {
            EXPECT_THAT(doc.str(), ::testing::HasSubstr("`" + std::string(key) + "`"));
            EXPECT_THAT(example.str(), ::testing::HasSubstr(std::string(key) + ":"));
        }
    }
}

TEST_F(ConfigTest, QuotedNumbersAndPlusSignsAreAccepted) {
    const Config c = load(R"(data_dir: $DIR
streams:
  - name: "007"
    device: hw:0
    rate_hz: "44100"
    channels: +1
)");
    EXPECT_EQ(c.streams[0].name, "007");
    EXPECT_EQ(c.streams[0].rate_hz, 44100u);
    EXPECT_EQ(c.streams[0].channels, 1u);
}

TEST_F(ConfigTest, DataDirNotWritable) {
    const std::string text = yaml(kMinimal);
    if (::geteuid() != 0) {
        ASSERT_EQ(::chmod(dir_.c_str(), 0555), 0);
        try {
            config_load_string(text, "test.yaml");
            ADD_FAILURE() << "loaded with a read-only data_dir";
        } catch (const ConfigError& e) {
            ASSERT_EQ(e.issues().size(), 1u) << e.what();
            EXPECT_TRUE(has_issue(e.issues(), 1, "data_dir", "is not writable by uid"));
        }
        return;
    }
    // As root, access(W_OK) grants any mode bits, so a read-only mode proves nothing. Check the
    // directory (root's, mode 0755) as an unprivileged user instead, in a child that drops to
    // uid/gid 65534 ("nobody"); exit code 77 means it could not.
    constexpr uid_t kNobody = 65534;
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) {
            ::_exit(77);
        }
        int code = 3;
        try {
            config_load_string(text, "test.yaml");
            code = 1;
        } catch (const ConfigError& e) {
            const auto& issues = e.issues();
            const bool ok =
                issues.size() == 1 && issues[0].line == 1 && issues[0].key == "data_dir" &&
                issues[0].message.find("is not writable by uid 65534") != std::string::npos;
            if (!ok) {
                std::fprintf(stderr, "%s\n", e.what());
            }
            code = ok ? 0 : 2;
        }
        ::_exit(code);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
        GTEST_SKIP() << "running as root without the right to drop to uid 65534: access(W_OK) "
                        "is always true for root, so the unwritable case cannot be shown here";
    }
    EXPECT_EQ(WEXITSTATUS(status), 0) << "the child's loader did not report line 1 data_dir "
                                         "as not writable (its issues are on stderr)";
}

// The suggested limits in the WAV and ring messages are exact: the limit loads, one more fails.
TEST_F(ConfigTest, SuggestedLimitsAreExact) {
    const std::string wav = R"(data_dir: $DIR
streams:
  - name: front
    device: hw:0
    file_format: wav
    chunk_seconds: )";
    EXPECT_NO_THROW(load(wav + "22369\n"));
    EXPECT_TRUE(has_issue(issues_of(wav + "22370\n"), 5, "streams[0].file_format",
                          "chunk_seconds <= 22369"));
    const std::string ring = R"(data_dir: $DIR
streams:
  - name: front
    device: hw:0
    rate_hz: 384000
    channels: 32
    format: S32_LE
    file_format: wav
    chunk_seconds: 60
    ring_seconds: )";
    EXPECT_NO_THROW(load(ring + "21\n"));
    EXPECT_TRUE(
        has_issue(issues_of(ring + "22\n"), 10, "streams[0].ring_seconds", "ring_seconds <= 21"));
}

TEST_F(ConfigTest, LoadFileNamesTheFileInEveryIssue) {
    const std::string path = dir_ + "/framestamp.yaml";
    {
        std::ofstream out(path);
        out << yaml(kMinimal) << "    formatt: S16_LE\n";
    }
    try {
        config_load_file(path);
        ADD_FAILURE() << "loaded a file with an unknown key";
    } catch (const ConfigError& e) {
        ASSERT_EQ(e.issues().size(), 1u) << e.what();
        EXPECT_EQ(e.issues()[0].file, path);
        EXPECT_EQ(std::string(e.what()),
                  path + ":5: streams[0].formatt: unknown key; did you mean 'format'?");
    }
    {
        std::ofstream out(path);
        out << yaml(kMinimal);
    }
    EXPECT_EQ(config_load_file(path).source_file, path);
}

TEST_F(ConfigTest, UnreadableFilesAreConfigErrors) {
    const std::string missing = dir_ + "/none.yaml";
    try {
        config_load_file(missing);
        ADD_FAILURE() << "loaded a missing file";
    } catch (const ConfigError& e) {
        ASSERT_EQ(e.issues().size(), 1u);
        EXPECT_EQ(e.issues()[0].file, missing);
        EXPECT_EQ(e.issues()[0].line, 0);
        EXPECT_THAT(e.what(), ::testing::HasSubstr("No such file or directory (errno 2)"));
    }
    try {
        config_load_file(dir_);
        ADD_FAILURE() << "loaded a directory";
    } catch (const ConfigError& e) {
        EXPECT_THAT(e.what(), ::testing::HasSubstr("is a directory"));
    }
}

// The directory of a chronyd socket path must leave room for chronyc's own socket beside it:
// 69 characters load, 70 do not.
TEST_F(ConfigTest, ChronydSocketLengthLimitsAreExact) {
    auto text = [](const std::string& socket) {
        return "data_dir: $DIR\nclock_sync:\n  chronyd_socket: " + socket +
               "\nstreams:\n  - name: front\n    device: hw:0\n";
    };
    const std::string dir69 = "/" + std::string(68, 'd');
    EXPECT_EQ(load(text(dir69 + "/chronyd.sock")).clock_sync.chronyd_socket,
              dir69 + "/chronyd.sock");
    EXPECT_TRUE(has_issue(issues_of(text(dir69 + "d/chronyd.sock")), 3, "clock_sync.chronyd_socket",
                          "keep the directory to 69 characters"));
    // The whole path must fit in sun_path (107 bytes and a NUL).
    EXPECT_NO_THROW(load(text("/s/" + std::string(104, 'f'))));
    EXPECT_TRUE(has_issue(issues_of(text("/s/" + std::string(105, 'f'))), 3,
                          "clock_sync.chronyd_socket", "is 108 bytes"));
    // A list is checked entry by entry.
    EXPECT_TRUE(has_issue(issues_of(text("/run/chrony/chronyd.sock,,::1")), 3,
                          "clock_sync.chronyd_socket", "has an empty entry"));
    EXPECT_TRUE(has_issue(issues_of(text("127.0.0.1,run/chronyd.sock")), 3,
                          "clock_sync.chronyd_socket", "must be absolute"));
}

// disk_warn_free_mib may equal the reserve; below it is an error unless 0.
TEST_F(ConfigTest, DiskWarningAgainstTheReserve) {
    auto text = [](const std::string& keys) {
        return "data_dir: $DIR\n" + keys + "streams:\n  - name: front\n    device: hw:0\n";
    };
    EXPECT_EQ(load(text("min_free_disk_mib: 4096\ndisk_warn_free_mib: 4096\n")).disk_warn_free_mib,
              4096u);
    EXPECT_EQ(load(text("min_free_disk_mib: 4096\ndisk_warn_free_mib: 0\n")).disk_warn_free_mib,
              0u);
    EXPECT_EQ(load(text("min_free_disk_mib: 2048\n")).disk_warn_free_mib, 2048u);
    EXPECT_TRUE(has_issue(issues_of(text("min_free_disk_mib: 4096\ndisk_warn_free_mib: 4095\n")), 3,
                          "disk_warn_free_mib", "4095 is below min_free_disk_mib (4096)"));
    EXPECT_TRUE(has_issue(issues_of(text("min_free_disk_mib: 2049\n")), 2, "min_free_disk_mib",
                          "above disk_warn_free_mib's default of 2048"));
    // A bad reserve is reported once, not again as a conflict.
    const auto issues = issues_of(text("min_free_disk_mib: lots\ndisk_warn_free_mib: 1\n"));
    EXPECT_EQ(issues.size(), 1u) << all_issues(issues);
}

// Each file in config_cases/ lists the issues it must produce in "# expect:" lines (README.md).
struct Expected {
    int line;
    std::string key;
    std::string fragment;
};

std::vector<std::string> case_files() {
    std::vector<std::string> out;
    for (const auto& entry : fs::directory_iterator(FS_CONFIG_CASES)) {
        if (entry.path().extension() == ".yaml") {
            out.push_back(entry.path().string());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

class ConfigCases : public ConfigTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(ConfigCases, ReportsExactlyTheExpectedIssues) {
    const std::string file_path = dir_ + "/plain_file";
    std::ofstream(file_path) << "not a directory\n";
    std::ifstream in(GetParam());
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string text =
        replace_all(replace_all(buffer.str(), "$FILE", file_path), "$DIR", dir_);

    std::vector<Expected> expected;
    std::istringstream lines(text);
    const std::string prefix = "# expect: ";
    for (std::string l; std::getline(lines, l);) {
        if (!l.starts_with(prefix)) {
            continue;
        }
        const std::string rest = l.substr(prefix.size());
        const auto colon = rest.find(": ");
        const auto key_end = rest.find(": ", colon + 2);
        ASSERT_NE(key_end, std::string::npos) << l;
        expected.push_back(Expected{std::stoi(rest.substr(0, colon)),
                                    rest.substr(colon + 2, key_end - colon - 2),
                                    rest.substr(key_end + 2)});
    }
    ASSERT_FALSE(expected.empty()) << GetParam() << " has no '# expect:' lines";

    const std::string name = fs::path(GetParam()).filename().string();
    std::vector<ConfigIssue> issues;
    try {
        config_load_string(text, name);
        FAIL() << name << " loaded without an error";
    } catch (const ConfigError& e) {
        issues = e.issues();
        const std::string what = e.what();
        EXPECT_EQ(std::count(what.begin(), what.end(), '\n') + 1, static_cast<long>(issues.size()));
    }
    for (const auto& x : expected) {
        EXPECT_TRUE(has_issue(issues, x.line, x.key, x.fragment));
    }
    EXPECT_EQ(issues.size(), expected.size()) << all_issues(issues);
    for (std::size_t i = 0; i < issues.size(); ++i) {
        EXPECT_EQ(issues[i].file, name);
        if (i > 0) {
            EXPECT_LE(issues[i - 1].line, issues[i].line) << "issues not in file order";
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Files, ConfigCases, ::testing::ValuesIn(case_files()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                             return fs::path(param.param).stem().string();
                         });

TEST(ConfigDefaults, PeriodIsThePowerOfTwoNearestTwentyMilliseconds) {
    EXPECT_EQ(framestamp::config_default_period_frames(8000), 128u);
    EXPECT_EQ(framestamp::config_default_period_frames(44100), 1024u);
    EXPECT_EQ(framestamp::config_default_period_frames(48000), 1024u);
    EXPECT_EQ(framestamp::config_default_period_frames(96000), 2048u);
    EXPECT_EQ(framestamp::config_default_period_frames(384000), 8192u);
    std::mt19937_64 rng(test_seed());
    std::uniform_int_distribution<uint32_t> rate(8000, 384000);
    for (int i = 0; i < 1000; ++i) {
        const uint32_t r = rate(rng);
        const uint32_t p = framestamp::config_default_period_frames(r);
        ASSERT_EQ(p & (p - 1), 0u) << "seed " << test_seed() << " rate " << r;
        // No other power of two is nearer to r / 50 (ties go to the larger).
        const double target = r / 50.0;
        EXPECT_LE(std::abs(p - target), std::abs(p / 2.0 - target)) << "rate " << r;
        EXPECT_LT(std::abs(p - target), std::abs(p * 2.0 - target)) << "rate " << r;
        EXPECT_GE(p, 16u);
        EXPECT_LE(p, r);
    }
}

TEST(ConfigIssueText, IsFormattedLikeACompilerMessage) {
    const ConfigIssue issue{"/etc/framestamp/framestamp.yaml", 14, "streams[0].formatt",
                            "unknown key; did you mean 'format'?"};
    EXPECT_EQ(issue.to_string(),
              "/etc/framestamp/framestamp.yaml:14: streams[0].formatt: unknown key; did you mean "
              "'format'?");
    EXPECT_EQ((ConfigIssue{"f.yaml", 0, "", "cannot open"}).to_string(), "f.yaml: cannot open");
    const ConfigError error({issue, ConfigIssue{"f.yaml", 2, "k", "m"}});
    EXPECT_STREQ(error.what(), (issue.to_string() + "\nf.yaml:2: k: m").c_str());
    EXPECT_EQ(error.issues().size(), 2u);
}

}  // namespace
