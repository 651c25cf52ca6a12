// config_dump: the effective configuration as YAML that loads back to the same Config. Written by
// hand rather than with YAML::Emitter to control the layout and add comments with derived values.
#include <charconv>
#include <cstdio>
#include <optional>
#include <string>

#include "config/config_parts.hpp"
#include "framestamp/config.hpp"

namespace framestamp {

namespace {

// Column where trailing comments start, so the values line up.
constexpr std::size_t kCommentColumn = 36;

// A YAML double-quoted scalar: safe for any text, including ':', '#', leading '-' and "null".
std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

// Shortest text that parses back to exactly v.
std::string real_text(double v) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string duration_text(uint64_t seconds) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%llu:%02llu:%02llu",
                  static_cast<unsigned long long>(seconds / 3600),
                  static_cast<unsigned long long>(seconds / 60 % 60),
                  static_cast<unsigned long long>(seconds % 60));
    return buf;
}

class Writer {
  public:
    void line(int indent, std::string_view key, const std::string& value,
              const std::string& comment = "") {
        std::string l(static_cast<std::size_t>(indent), ' ');
        l += key;
        l += ':';
        if (!value.empty()) {
            l += ' ';
            l += value;
        }
        if (!comment.empty()) {
            l.resize(std::max(l.size() + 2, kCommentColumn), ' ');
            l += "# " + comment;
        }
        out_ += l + '\n';
    }
    void raw(const std::string& text) { out_ += text + '\n'; }
    void optional_real(int indent, std::string_view key, const std::optional<double>& v) {
        if (v) {
            line(indent, key, real_text(*v));
        } else {
            line(indent, key, "", "not set");
        }
    }
    std::string take() { return std::move(out_); }

  private:
    std::string out_;
};

void dump_stream(Writer& w, const StreamConfig& s) {
    const double ms_per_frame = 1000.0 / s.rate_hz;
    const uint64_t bytes_per_s = uint64_t{s.rate_hz} * s.channels * sample_bytes(s.format);
    w.raw("  - name: " + quoted(s.name));
    w.line(4, "device", quoted(s.device));
    w.line(4, "rate_hz", std::to_string(s.rate_hz));
    w.line(4, "channels", std::to_string(s.channels));
    w.line(4, "format", std::string(sample_format_name(s.format)));
    w.line(4, "period_frames", std::to_string(s.period_frames),
           fixed(s.period_frames * ms_per_frame, 3) + " ms");
    w.line(4, "buffer_frames", std::to_string(s.buffer_frames),
           fixed(s.buffer_frames * ms_per_frame, 3) + " ms");
    w.line(4, "ring_seconds", std::to_string(s.ring_seconds),
           config_detail::human_bytes(bytes_per_s * s.ring_seconds) + " of memory");
    w.line(4, "chunk_seconds", std::to_string(s.chunk_seconds),
           duration_text(s.chunk_seconds) + ", " +
               config_detail::human_bytes(bytes_per_s * s.chunk_seconds) + " of samples");
    w.line(4, "file_format", std::string(file_format_name(s.file_format)));
    w.line(4, "flac_level", std::to_string(s.flac_level),
           s.file_format == FileFormat::flac ? "" : "unused: file_format is not flac");
    w.line(4, "flush_interval_s", std::to_string(s.flush_interval_s));
    w.line(4, "overrun_fill", s.overrun_fill_silence ? "silence" : "none");
    w.line(4, "pps_channel", std::to_string(s.pps_channel), s.pps_channel == 0 ? "no PPS" : "");
    if (s.pps_channel != 0) {
        w.line(4, "pps_polarity", s.pps_falling ? "falling" : "rising");
        w.line(4, "pps_min_step", fixed(s.pps_min_step, 3));
    }
    w.line(4, "hardware", "");
    w.line(6, "make", quoted(s.hardware.make));
    w.line(6, "model", quoted(s.hardware.model));
    w.line(6, "serial", quoted(s.hardware.serial));
}

}  // namespace

std::string config_dump(const Config& c) {
    constexpr int64_t kNsPerUs = 1000;
    Writer w;
    w.raw("# framestamp configuration loaded from " + c.source_file);
    w.raw("# (effective values: every default filled in)");
    w.line(0, "data_dir", quoted(c.data_dir));
    w.line(0, "timing_points_per_s", std::to_string(c.timing_points_per_s));
    w.line(0, "timing_dither_us", std::to_string(c.timing_dither_us));
    w.line(0, "timing_max_window_us", std::to_string(c.timing_max_window_us));
    w.line(0, "sync_sample_interval_s", std::to_string(c.sync_sample_interval_s));
    w.line(0, "clock_step_threshold_us", std::to_string(c.clock_step_threshold_ns / kNsPerUs));
    w.line(0, "clock_sync", "");
    w.line(2, "chronyd", std::string(chronyd_mode_name(c.clock_sync.chronyd)));
    w.line(2, "chronyc_path", quoted(c.clock_sync.chronyc_path));
    w.line(2, "chronyd_socket", quoted(c.clock_sync.chronyd_socket));
    w.line(2, "timeout_ms", std::to_string(c.clock_sync.timeout_ms));
    constexpr uint64_t kBytesPerMib = uint64_t{1} << 20;
    w.line(0, "min_free_disk_mib", std::to_string(c.min_free_disk_mib),
           c.min_free_disk_mib == 0
               ? "off"
               : config_detail::human_bytes(c.min_free_disk_mib * kBytesPerMib));
    w.line(0, "disk_warn_free_mib", std::to_string(c.disk_warn_free_mib),
           c.disk_warn_free_mib == 0
               ? "off"
               : config_detail::human_bytes(c.disk_warn_free_mib * kBytesPerMib));
    w.line(0, "disk_warn_days", std::to_string(c.disk_warn_days),
           c.disk_warn_days == 0 ? "off" : "");
    w.line(0, "log_level", c.log_level);
    w.line(0, "site", "");
    w.line(2, "recorder_id", quoted(c.site.recorder_id));
    w.line(2, "site", quoted(c.site.site));
    w.optional_real(2, "latitude", c.site.latitude_deg);
    w.optional_real(2, "longitude", c.site.longitude_deg);
    w.optional_real(2, "elevation_m", c.site.elevation_m);
    w.line(2, "notes", quoted(c.site.notes));
    w.line(0, "streams", "");
    for (const auto& s : c.streams) {
        dump_stream(w, s);
    }
    return w.take();
}

}  // namespace framestamp
