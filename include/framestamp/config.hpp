// framestampd's configuration: one YAML file, loaded once into a validated, immutable Config.
// Every key, its default and its range are documented in docs/configuration.md.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "framestamp/audio_format.hpp"

namespace framestamp {

// One problem found in a configuration file, reported the way compilers do.
struct ConfigIssue {
    std::string file;
    int line = 0;     // 1-based; 0 when the problem concerns the whole file (e.g. unreadable)
    std::string key;  // key path such as "streams[0].rate_hz"; empty for file-level problems
    std::string message;

    // "<file>:<line>: <key>: <message>", leaving out the parts that are empty or 0.
    std::string to_string() const;
    bool operator==(const ConfigIssue&) const = default;
};

// Thrown by the loaders with every problem found, not only the first. what() is all the issues'
// to_string() joined by newlines, in file order.
class ConfigError : public std::runtime_error {
  public:
    explicit ConfigError(std::vector<ConfigIssue> issues);
    const std::vector<ConfigIssue>& issues() const noexcept { return issues_; }

  private:
    std::vector<ConfigIssue> issues_;
};

// The microphone / sound card of one stream, copied into file metadata. Empty when not given.
struct HardwareInfo {
    std::string make;
    std::string model;
    std::string serial;
    bool operator==(const HardwareInfo&) const = default;
};

// Where and with what the recording is made, copied into file metadata.
struct SiteInfo {
    std::string recorder_id;
    std::string site;
    std::string notes;
    std::optional<double> latitude_deg;   // WGS84, -90..90, positive north
    std::optional<double> longitude_deg;  // WGS84, -180..180, positive east
    std::optional<double> elevation_m;    // metres above mean sea level, -500..9000
    bool operator==(const SiteInfo&) const = default;
};

struct StreamConfig {
    std::string name;    // [A-Za-z0-9_-]{1,32}; the stream's folder and file-name prefix
    std::string device;  // ALSA PCM name, e.g. "hw:CARD=Device,DEV=0"
    uint32_t rate_hz = 48000;
    uint32_t channels = 2;
    SampleFormat format = SampleFormat::s16_le;
    uint32_t period_frames = 0;    // requested ALSA period; never 0 after loading
    uint32_t buffer_frames = 0;    // requested ALSA buffer, >= 2 periods; never 0 after loading
    uint32_t ring_seconds = 10;    // depth of the capture -> writer ring
    uint32_t chunk_seconds = 600;  // chunks start at UTC times that are multiples of this
    FileFormat file_format = FileFormat::flac;
    int flac_level = 5;              // 0..8; ignored unless file_format is flac
    uint32_t flush_interval_s = 10;  // a crash loses at most this much audio
    bool overrun_fill_silence =
        true;  // zero-fill frames lost to an overrun (overrun_fill: silence)
    HardwareInfo hardware;
    // A GPS PPS wired to one of the stream's channels (docs/timing-model.md, "PPS anchors"):
    // its number counted from 1, 0 for none; the on-time edge's direction; the smallest edge,
    // as a fraction of full scale.
    uint32_t pps_channel = 0;
    bool pps_falling = false;
    double pps_min_step = 0.05;
    bool operator==(const StreamConfig&) const = default;
};

// Whether framestampd asks chronyd for the clock's sync state (clock_sync.chronyd).
enum class ChronydMode : uint8_t {
    automatic,  // "auto": ask when chronyc exists; chronyd not answering is logged as info
    yes,        // always ask; chronyc missing or chronyd not answering is a warning
    no,         // never ask: the kernel's ntp_adjtime state only
};

// "auto", "yes", "no": the configuration file's spelling.
std::string_view chronyd_mode_name(ChronydMode mode);

// How the clock's sync state is read besides ntp_adjtime (the clock_sync block).
struct ClockSyncConfig {
    ChronydMode chronyd = ChronydMode::automatic;
    std::string chronyc_path = "/usr/bin/chronyc";  // absolute path of chronyc
    // chronyc -h: an absolute Unix socket path or a host name / address, or a comma-separated
    // list of them tried in order (chronyc's own fallback).
    std::string chronyd_socket = "/run/chrony/chronyd.sock";
    uint32_t timeout_ms = 1000;  // 100..10000; chronyc is killed when it takes longer
    bool operator==(const ClockSyncConfig&) const = default;
};

struct Config {
    std::string source_file;           // the file (or source name) this was loaded from
    std::string data_dir;              // absolute path of an existing, writable directory
    uint32_t timing_points_per_s = 8;  // per stream
    uint32_t timing_dither_us = 2000;  // random wait before each point (blocking sources only)
    // A timing point whose CLOCK_MONOTONIC_RAW window is longer than this is flagged unreliable.
    uint32_t timing_max_window_us = 200;
    uint32_t sync_sample_interval_s = 5;        // how often clock sync state is sampled
    int64_t clock_step_threshold_ns = 500'000;  // |jump of REALTIME - MONOTONIC_RAW| that is a step
    ClockSyncConfig clock_sync;
    uint64_t min_free_disk_mib = 256;  // free space on data_dir's file system kept in reserve
    // Warn when data_dir's file system has less free space than this, in MiB; 0 = off, else at
    // least min_free_disk_mib.
    uint64_t disk_warn_free_mib = 2048;
    // Warn when the recording time left at the current write rate drops below this many days;
    // 0 = off; 0..365.
    uint32_t disk_warn_days = 3;
    std::string log_level = "info";  // trace|debug|info|warning|error (spdlog's names)
    SiteInfo site;
    std::vector<StreamConfig> streams;  // 1..16, names unique ignoring case
    bool operator==(const Config&) const = default;
};

struct ConfigLoadOptions {
    // When set, replaces the file's data_dir (which must still be present and a string) and is
    // checked exactly as strictly: it must exist, be a directory and be writable. For tests that
    // load config/framestamp.yaml, and for a command-line --data-dir. There is deliberately no way
    // to skip the data_dir check.
    std::optional<std::string> data_dir_override;
};

// Reads and validates a configuration file. Throws ConfigError listing every problem, including
// an unreadable file.
Config config_load_file(const std::string& path, const ConfigLoadOptions& options = {});

// The same from text already in memory; source_name stands in for the file name in issues and in
// Config::source_file.
Config config_load_string(std::string_view yaml, const std::string& source_name,
                          const ConfigLoadOptions& options = {});

// The period used when a stream leaves period_frames at 0: the power of two nearest to 20 ms of
// audio (rate_hz / 50), ties going up; 1024 frames at 44.1 and 48 kHz, 128 at 8 kHz.
uint32_t config_default_period_frames(uint32_t rate_hz);

// The effective configuration as commented YAML with every default filled in. Loading it back
// (with the same source name) gives a Config equal to the one dumped.
std::string config_dump(const Config& config);

}  // namespace framestamp
