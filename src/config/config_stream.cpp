// The streams list: per-stream keys, their combinations, and the streams against each other.
#include <algorithm>
#include <cstdio>
#include <string>

#include "config/config_parts.hpp"

namespace framestamp::config_detail {

namespace {

constexpr uint32_t kMinPeriodFrames = 16;
// Hardware buffers longer than this many seconds are almost certainly a typo (ALSA grants far
// less); the deep buffer is the writer ring.
constexpr uint32_t kMaxBufferSeconds = 10;

// What the cross-stream checks need to know about one parsed stream.
struct StreamInfo {
    std::size_t index = 0;  // in the YAML list, which may hold entries that were not streams
    int name_line = 0;
    int device_line = 0;
    bool name_ok = false;
    bool device_ok = false;
};

std::string lower_ascii(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

bool valid_stream_name(std::string_view name) {
    constexpr std::size_t kMaxNameLength = 32;
    if (name.empty() || name.size() > kMaxNameLength) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
}

std::string hint_for_hardware(std::string_view key) {
    if (std::find(std::begin(kStreamKeys), std::end(kStreamKeys), key) != std::end(kStreamKeys)) {
        return "'" + std::string(key) +
               "' belongs in the stream itself, not in its 'hardware' block";
    }
    return {};
}

HardwareInfo parse_hardware(const MapReader& stream, IssueList& issues) {
    HardwareInfo hw;
    const YAML::Node* node = stream.value("hardware");
    if (node == nullptr || node->IsNull()) {
        return hw;
    }
    if (!node->IsMap()) {
        stream.report("hardware", "expected a mapping with keys make, model, serial, got " +
                                      describe_node(*node));
        return hw;
    }
    const MapReader r(*node, stream.path("hardware"), issues, kHardwareKeys, hint_for_hardware);
    hw.make = r.text("make", false).get_or("");
    hw.model = r.text("model", false).get_or("");
    hw.serial = r.text("serial", false).get_or("");
    return hw;
}

// Memory and file sizes that cannot work, checked once every key involved parsed cleanly.
void check_sizes(const MapReader& r, const StreamConfig& s) {
    const uint64_t bytes_per_s = uint64_t{s.rate_hz} * s.channels * sample_bytes(s.format);
    const std::string shape = std::to_string(s.channels) + " ch x " +
                              std::to_string(sample_bytes(s.format)) + "-byte samples at " +
                              std::to_string(s.rate_hz) + " Hz";

    const uint64_t ring_bytes = bytes_per_s * s.ring_seconds;
    if (ring_bytes > kMaxRingBytes) {
        r.report("ring_seconds", "a ring of " + std::to_string(s.ring_seconds) + " s of " + shape +
                                     " is " + human_bytes(ring_bytes) +
                                     ", over the 1 GiB limit; use ring_seconds <= " +
                                     std::to_string(kMaxRingBytes / bytes_per_s));
    }

    // Counted at the in-memory sample size (S24_LE as 4 bytes), an upper bound on what any WAV
    // writer stores per sample.
    const uint64_t wav_bytes = bytes_per_s * s.chunk_seconds + kWavHeaderAllowanceBytes;
    if (s.file_format == FileFormat::wav && wav_bytes > kMaxWavFileBytes) {
        r.report("file_format",
                 "a " + std::to_string(s.chunk_seconds) + " s chunk of " + shape + " is " +
                     human_bytes(wav_bytes) +
                     ", over the 4 GiB limit of WAV files; use file_format rf64, or chunk_seconds "
                     "<= " +
                     std::to_string((kMaxWavFileBytes - kWavHeaderAllowanceBytes) / bytes_per_s));
    }
}

StreamConfig parse_stream(const MapReader& r, IssueList& issues, StreamInfo& info) {
    StreamConfig s;
    const auto name = r.text("name", true);
    info.name_line = name.line;
    if (name.value && !valid_stream_name(*name.value)) {
        r.report("name", "invalid stream name '" + *name.value +
                             "': use 1 to 32 characters from A-Z a-z 0-9 _ -");
    } else if (name.value) {
        info.name_ok = true;
    }
    s.name = name.get_or("");

    const auto device = r.text("device", true);
    info.device_line = device.line;
    if (device.value && device.value->empty()) {
        r.report("device", "must not be empty; give an ALSA PCM name such as hw:CARD=Device,DEV=0");
    } else if (device.value) {
        info.device_ok = true;
    }
    s.device = device.get_or("");

    const auto rate = r.integer("rate_hz", 8000, 384000);
    const auto channels = r.integer("channels", 1, 32);
    const auto format = r.choice("format", kSampleFormats);
    const auto period = r.integer("period_frames", 0, 384000);
    const auto buffer = r.integer("buffer_frames", 0, int64_t{384000} * kMaxBufferSeconds);
    const auto ring = r.integer("ring_seconds", 1, 600);
    const auto chunk = r.integer("chunk_seconds", 1, 86400);
    const auto file_format = r.choice("file_format", kFileFormats);
    const auto flac_level = r.integer("flac_level", 0, 8);
    const auto flush = r.integer("flush_interval_s", 1, 3600);
    const auto fill = r.choice("overrun_fill", kOverrunFills);
    const auto pps_channel = r.integer("pps_channel", 0, 32);
    const auto pps_polarity = r.choice("pps_polarity", kPpsPolarities);
    const auto pps_min_step = r.real("pps_min_step", 0.001, 1.0);

    s.rate_hz = static_cast<uint32_t>(rate.get_or(s.rate_hz));
    s.channels = static_cast<uint32_t>(channels.get_or(s.channels));
    if (format.value) {
        s.format = *parse_sample_format(kSampleFormats[*format.value]);
    }
    s.ring_seconds = static_cast<uint32_t>(ring.get_or(s.ring_seconds));
    s.chunk_seconds = static_cast<uint32_t>(chunk.get_or(s.chunk_seconds));
    if (file_format.value) {
        s.file_format = *parse_file_format(kFileFormats[*file_format.value]);
    }
    s.flac_level = static_cast<int>(flac_level.get_or(s.flac_level));
    s.flush_interval_s = static_cast<uint32_t>(flush.get_or(s.flush_interval_s));
    s.overrun_fill_silence = fill.get_or(0) == 0;
    s.hardware = parse_hardware(r, issues);
    s.pps_channel = static_cast<uint32_t>(pps_channel.get_or(0));
    s.pps_falling = pps_polarity.get_or(0) == 1;
    s.pps_min_step = pps_min_step.get_or(s.pps_min_step);
    if (!channels.bad && s.pps_channel > s.channels) {
        r.report("pps_channel", "channel " + std::to_string(s.pps_channel) +
                                    " does not exist: the stream records " +
                                    std::to_string(s.channels) +
                                    " channel(s), numbered from 1 (0: no PPS)");
        s.pps_channel = 0;
    }
    if (s.pps_channel == 0 && (r.has("pps_polarity") || r.has("pps_min_step"))) {
        r.report(r.has("pps_polarity") ? "pps_polarity" : "pps_min_step",
                 "has no effect without pps_channel (the channel the PPS is wired to)");
    }

    // period_frames and buffer_frames: 0 (or absent) asks for the default.
    const int64_t p = period.get_or(0);
    if (p != 0 && (p < kMinPeriodFrames || (!rate.bad && p > s.rate_hz))) {
        r.report("period_frames",
                 "out of range: " + std::to_string(p) + " (must be " +
                     std::to_string(kMinPeriodFrames) + ".." +
                     (rate.bad ? std::string("rate_hz") : std::to_string(s.rate_hz)) +
                     ", i.e. at most one second, or 0 for the default)");
    } else if (!period.bad) {
        s.period_frames =
            p != 0 ? static_cast<uint32_t>(p) : config_default_period_frames(s.rate_hz);
    }
    const int64_t b = buffer.get_or(0);
    if (b != 0 && s.period_frames != 0 && b < int64_t{2} * s.period_frames) {
        r.report("buffer_frames", "buffer of " + std::to_string(b) +
                                      " frames is less than two periods (2 x " +
                                      std::to_string(s.period_frames) +
                                      "); ALSA needs at least two to capture without gaps");
    } else if (b != 0 && !rate.bad && b > int64_t{kMaxBufferSeconds} * s.rate_hz) {
        r.report("buffer_frames", "out of range: " + std::to_string(b) + " (at most " +
                                      std::to_string(kMaxBufferSeconds) + " s of audio, " +
                                      std::to_string(kMaxBufferSeconds * s.rate_hz) +
                                      " frames; the deep buffer is ring_seconds)");
    } else if (!buffer.bad) {
        s.buffer_frames = b != 0 ? static_cast<uint32_t>(b) : 8 * s.period_frames;
    }

    if (!format.bad && !file_format.bad && s.file_format == FileFormat::flac &&
        sample_bits(s.format) > 24) {
        r.report(r.has("file_format") ? "file_format" : "format",
                 "FLAC files (libsndfile/libFLAC) hold 16- and 24-bit samples only, not " +
                     std::string(sample_format_name(s.format)) +
                     "; use file_format wav or rf64, or format S24_LE or S24_3LE");
    }
    if (!rate.bad && !channels.bad && !format.bad && !ring.bad && !chunk.bad && !file_format.bad) {
        check_sizes(r, s);
    }
    return s;
}

}  // namespace

std::string hint_for_stream(std::string_view key) {
    if (std::find(std::begin(kTopKeys), std::end(kTopKeys), key) != std::end(kTopKeys)) {
        return "'" + std::string(key) + "' is a top-level key, not a per-stream one";
    }
    if (std::find(std::begin(kHardwareKeys), std::end(kHardwareKeys), key) !=
        std::end(kHardwareKeys)) {
        return "'" + std::string(key) + "' belongs in this stream's 'hardware' block";
    }
    if (std::find(std::begin(kClockSyncKeys), std::end(kClockSyncKeys), key) !=
        std::end(kClockSyncKeys)) {
        return "'" + std::string(key) + "' belongs in the top-level 'clock_sync' block";
    }
    return {};
}

std::string human_bytes(uint64_t bytes) {
    const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    std::size_t u = 0;
    while (v >= 1024 && u + 1 < std::size(units)) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    if (u == 0) {
        std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
    } else {
        std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
    }
    return buf;
}

void parse_streams(const YAML::Node& list, IssueList& issues, std::vector<StreamConfig>& out) {
    std::vector<StreamInfo> infos;
    for (std::size_t i = 0; i < list.size(); ++i) {
        const YAML::Node item = list[i];
        const std::string path = "streams[" + std::to_string(i) + "]";
        if (!item.IsMap()) {
            issues.add(
                node_line(item), path,
                "expected a mapping (name: ..., device: ..., ...), got " + describe_node(item));
            continue;
        }
        const MapReader r(item, path, issues, kStreamKeys, hint_for_stream);
        StreamInfo info;
        info.index = i;
        out.push_back(parse_stream(r, issues, info));
        infos.push_back(info);
    }

    // Names become folder names, and FAT/exFAT disks ignore case: "Front" and "front" collide.
    // Two streams cannot open one hardware device; plugins such as dsnoop can be shared.
    for (std::size_t i = 0; i < out.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
            if (infos[i].name_ok && infos[j].name_ok &&
                lower_ascii(out[i].name) == lower_ascii(out[j].name)) {
                issues.add(infos[i].name_line,
                           "streams[" + std::to_string(infos[i].index) + "].name",
                           "duplicate stream name '" + out[i].name + "': streams[" +
                               std::to_string(infos[j].index) + "] at line " +
                               std::to_string(infos[j].name_line) + " is already named '" +
                               out[j].name + "' (names must differ ignoring case)");
                break;
            }
        }
        const bool exclusive =
            out[i].device.starts_with("hw:") || out[i].device.starts_with("plughw:");
        for (std::size_t j = 0; j < i; ++j) {
            if (exclusive && infos[i].device_ok && infos[j].device_ok &&
                out[i].device == out[j].device) {
                issues.add(infos[i].device_line,
                           "streams[" + std::to_string(infos[i].index) + "].device",
                           "device '" + out[i].device + "' is already used by stream '" +
                               out[j].name + "' at line " + std::to_string(infos[j].device_line) +
                               "; a hardware device can be opened only once (record all its "
                               "channels in one stream, or share it through dsnoop)");
                break;
            }
        }
    }
}

}  // namespace framestamp::config_detail

namespace framestamp {

uint32_t config_default_period_frames(uint32_t rate_hz) {
    // Largest power of two p with 50 p <= rate_hz (p <= 20 ms), then p or 2p, whichever is
    // nearer to 20 ms; compared in whole frames x 50 to stay exact.
    uint32_t p = 16;
    while (uint64_t{100} * p <= rate_hz) {
        p *= 2;
    }
    const uint64_t below = rate_hz >= uint64_t{50} * p ? rate_hz - uint64_t{50} * p : 0;
    const uint64_t above = uint64_t{100} * p - rate_hz;
    return below < above ? p : 2 * p;
}

}  // namespace framestamp
