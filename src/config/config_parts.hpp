// Internals shared by the config loader's source files.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/yaml_map.hpp"
#include "framestamp/config.hpp"

namespace framestamp::config_detail {

inline constexpr std::size_t kMaxStreams = 16;
// Largest capture -> writer ring of one stream, in bytes.
inline constexpr uint64_t kMaxRingBytes = uint64_t{1} << 30;
// A RIFF/WAVE file's sizes are 32-bit: the whole file must stay below 4 GiB.
inline constexpr uint64_t kMaxWavFileBytes = (uint64_t{1} << 32) - 1;
// Room reserved for the WAV header and metadata chunks (fmt, LIST/INFO, PEAK, ...) when checking
// that a chunk fits; far more than libsndfile writes.
inline constexpr uint64_t kWavHeaderAllowanceBytes = 64 * 1024;

// Key names at each level, in documentation order.
inline constexpr std::string_view kTopKeys[] = {"data_dir",
                                                "timing_points_per_s",
                                                "timing_dither_us",
                                                "timing_max_window_us",
                                                "sync_sample_interval_s",
                                                "clock_step_threshold_us",
                                                "clock_sync",
                                                "min_free_disk_mib",
                                                "disk_warn_free_mib",
                                                "disk_warn_days",
                                                "log_level",
                                                "site",
                                                "streams"};
inline constexpr std::string_view kSiteKeys[] = {"recorder_id", "site",        "latitude",
                                                 "longitude",   "elevation_m", "notes"};
inline constexpr std::string_view kStreamKeys[] = {
    "name",          "device",           "rate_hz",      "channels",      "format",
    "period_frames", "buffer_frames",    "ring_seconds", "chunk_seconds", "file_format",
    "flac_level",    "flush_interval_s", "overrun_fill", "hardware",      "pps_channel",
    "pps_polarity",  "pps_min_step"};
inline constexpr std::string_view kHardwareKeys[] = {"make", "model", "serial"};
inline constexpr std::string_view kClockSyncKeys[] = {"chronyd", "chronyc_path", "chronyd_socket",
                                                      "timeout_ms"};

inline constexpr std::string_view kLogLevels[] = {"trace", "debug", "info", "warning", "error"};
inline constexpr std::string_view kSampleFormats[] = {"S16_LE", "S24_LE", "S24_3LE", "S32_LE",
                                                      "FLOAT_LE"};
inline constexpr std::string_view kFileFormats[] = {"flac", "wav", "rf64"};
inline constexpr std::string_view kOverrunFills[] = {"silence", "none"};
inline constexpr std::string_view kPpsPolarities[] = {"rising", "falling"};
// Indexed by ChronydMode.
inline constexpr std::string_view kChronydModes[] = {"auto", "yes", "no"};

// Hints for a key given at the wrong level ("'rate_hz' belongs in each entry under 'streams'").
std::string hint_for_top_level(std::string_view key);
std::string hint_for_stream(std::string_view key);

// "1.8 MiB", "16.6 GiB".
std::string human_bytes(uint64_t bytes);

// Parses the clock_sync block of the top-level mapping (absent or empty: the defaults).
ClockSyncConfig parse_clock_sync(const MapReader& top, IssueList& issues);

// Checks disk_warn_free_mib against min_free_disk_mib, both parsed without a problem. Reported
// at disk_warn_free_mib when the file gives it, else at min_free_disk_mib (above the default).
void check_disk_warnings(const MapReader& top, const Config& config, bool warn_free_given);

// Parses streams (a YAML list, already known to be one) into out, reporting every problem, then
// checks the streams against each other (duplicate names and hardware devices).
void parse_streams(const YAML::Node& list, IssueList& issues, std::vector<StreamConfig>& out);

}  // namespace framestamp::config_detail
