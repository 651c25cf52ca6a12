// BWF bext (EBU Tech 3285 v1), GUANO 1.0 text and Vorbis comments from a ChunkMetadata.
#include "audiofile/metadata.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "audiofile/io.hpp"

namespace framestamp::audiofile {

namespace {

constexpr int64_t ns_per_s = 1'000'000'000;
constexpr int64_t ns_per_day = 86'400 * ns_per_s;

struct UtcParts {
    int year = 0;
    unsigned month = 0;
    unsigned day = 0;
    int64_t hour = 0;
    int64_t minute = 0;
    int64_t second = 0;
    int64_t micro = 0;
};

UtcParts utc_parts(int64_t utc_ns) {
    using namespace std::chrono;
    const sys_time<nanoseconds> tp{nanoseconds{utc_ns}};
    const auto midnight = floor<days>(tp);
    const year_month_day ymd{midnight};
    const int64_t in_day_us = duration_cast<microseconds>(tp - midnight).count();
    UtcParts p;
    p.year = static_cast<int>(ymd.year());
    p.month = static_cast<unsigned>(ymd.month());
    p.day = static_cast<unsigned>(ymd.day());
    p.hour = in_day_us / 3'600'000'000;
    p.minute = in_day_us / 60'000'000 % 60;
    p.second = in_day_us / 1'000'000 % 60;
    p.micro = in_day_us % 1'000'000;
    return p;
}

// GUANO values are single lines; only Note may carry newlines, escaped as the two bytes "\n".
std::string one_line(std::string_view s) {
    std::string out(s);
    std::replace(out.begin(), out.end(), '\n', ' ');
    std::replace(out.begin(), out.end(), '\r', ' ');
    return out;
}

std::string multiline(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
            continue;
        }
        if (s[i] == '\n' || s[i] == '\r') {
            out += "\\n";
        } else {
            out += s[i];
        }
    }
    return out;
}

// bext text fields are fixed-size ASCII, NUL-padded; only CodingHistory has line breaks.
void put_fixed_ascii(std::vector<uint8_t>& out, std::string_view s, std::size_t size,
                     bool crlf = false) {
    for (std::size_t i = 0; i < size; ++i) {
        if (i >= s.size()) {
            out.push_back(0);
            continue;
        }
        const auto c = static_cast<unsigned char>(s[i]);
        const bool keep = (c >= 0x20 && c < 0x7F) || (crlf && (c == '\r' || c == '\n'));
        out.push_back(keep ? c : '?');
    }
}

std::string_view trim(std::string_view s) {
    const auto ws = std::string_view(" \t\r\n\0", 5);
    const auto b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) {
        return {};
    }
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

std::string_view channel_mode(uint32_t channels) {
    if (channels == 1) {
        return "mono";
    }
    return channels == 2 ? "stereo" : "multitrack";
}

}  // namespace

std::string iso_utc_us(int64_t utc_ns) {
    const UtcParts p = utc_parts(utc_ns);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", p.year, p.month, p.day, p.hour,
                       p.minute, p.second, p.micro);
}

uint64_t samples_since_utc_midnight(int64_t utc_ns, uint32_t rate_hz) {
    int64_t in_day_ns = utc_ns % ns_per_day;
    if (in_day_ns < 0) {
        in_day_ns += ns_per_day;
    }
    // Whole seconds and the fraction apart: 86400e9 ns * 768 kHz would overflow 64 bits.
    const auto whole_s = static_cast<uint64_t>(in_day_ns / ns_per_s);
    const auto frac_ns = static_cast<uint64_t>(in_day_ns % ns_per_s);
    const auto ns = static_cast<uint64_t>(ns_per_s);
    return whole_s * rate_hz + (frac_ns * rate_hz + ns / 2) / ns;
}

std::string guano_length(uint64_t frames, uint32_t rate_hz) {
    const double s = rate_hz == 0 ? 0.0 : static_cast<double>(frames) / rate_hz;
    return fmt::format("{:.6f}", s);
}

std::string guano_text(const ChunkMetadata& meta, std::string_view original_filename,
                       std::optional<double> length_s) {
    std::string t = "GUANO|Version: 1.0\n";
    auto line = [&t](std::string_view key, std::string_view value) {
        t += fmt::format("{}: {}\n", key, value);
    };
    line("Timestamp", iso_utc_us(meta.first_sample_utc_ns));
    line("Samplerate", fmt::format("{}", meta.rate_hz));
    if (length_s) {
        line("Length", fmt::format("{:.6f}", *length_s));
    }
    if (meta.latitude_deg && meta.longitude_deg) {
        line("Loc Position", fmt::format("{} {}", *meta.latitude_deg, *meta.longitude_deg));
    }
    if (meta.elevation_m) {
        line("Loc Elevation", fmt::format("{}", *meta.elevation_m));
    }
    if (!meta.make.empty()) {
        line("Make", one_line(meta.make));
    }
    if (!meta.model.empty()) {
        line("Model", one_line(meta.model));
    }
    if (!meta.serial.empty()) {
        line("Serial", one_line(meta.serial));
    }
    if (!meta.notes.empty()) {
        line("Note", multiline(meta.notes));
    }
    if (!original_filename.empty()) {
        line("Original Filename", one_line(original_filename));
    }
    line("framestamp|Stream", one_line(meta.stream));
    line("framestamp|Session", one_line(meta.session));
    line("framestamp|First Session Frame", fmt::format("{}", meta.first_session_frame));
    line("framestamp|First Sample UTC ns", fmt::format("{}", meta.first_sample_utc_ns));
    line("framestamp|Sample Format", sample_format_name(meta.format));
    line("framestamp|Recorder", one_line(meta.recorder_id));
    line("framestamp|Site", one_line(meta.site));
    line("framestamp|Version", one_line(meta.software_version));
    return t;
}

namespace {

// Calls f(line, key) for each line of GUANO text, key being the trimmed text before the first
// colon (empty when there is none). Stops early when f returns true.
template <typename F>
void for_each_guano_line(std::string_view text, F&& f) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        const std::string_view line = text.substr(pos, end - pos);
        const std::size_t colon = line.find(':');
        const std::string_view key =
            colon != std::string_view::npos ? trim(line.substr(0, colon)) : std::string_view{};
        if (f(line, key)) {
            return;
        }
        pos = end + 1;
    }
}

}  // namespace

std::optional<std::string> guano_value(std::string_view text, std::string_view key) {
    std::optional<std::string> value;
    for_each_guano_line(text, [&](std::string_view line, std::string_view k) {
        if (line.find(':') != std::string_view::npos && k == key) {
            value = std::string(trim(line.substr(line.find(':') + 1)));
            return true;
        }
        return false;
    });
    return value;
}

std::optional<std::string> guano_with_length(std::string_view text, std::string_view length_text,
                                             std::size_t size) {
    std::string out;
    bool replaced = false;
    for_each_guano_line(text, [&](std::string_view line, std::string_view k) {
        if (k == "Length") {
            out += fmt::format("Length: {}\n", length_text);
            replaced = true;
        } else if (!trim(line).empty()) {
            out += line;
            out += '\n';
        }
        return false;
    });
    if (!replaced) {
        out += fmt::format("Length: {}\n", length_text);
    }
    if (out.size() > size) {
        return std::nullopt;
    }
    out.resize(size, ' ');
    return out;
}

std::vector<uint8_t> bext_body(const ChunkMetadata& meta, unsigned stored_bits) {
    const UtcParts p = utc_parts(meta.first_sample_utc_ns);
    const std::string iso = iso_utc_us(meta.first_sample_utc_ns);
    std::vector<uint8_t> b;
    b.reserve(700);
    put_fixed_ascii(b,
                    fmt::format("framestamp stream {} session {} first session frame {} "
                                "first sample {}",
                                meta.stream, meta.session, meta.first_session_frame, iso),
                    256);
    put_fixed_ascii(b, "framestamp", 32);
    // Unique per chunk: the stream's name (shortened) and the first sample's UTC, compact.
    std::string compact = iso;
    compact.erase(std::remove(compact.begin(), compact.end(), '-'), compact.end());
    compact.erase(std::remove(compact.begin(), compact.end(), ':'), compact.end());
    const std::size_t room = compact.size() < 31 ? 31 - compact.size() : 0;
    const std::string ref = fmt::format("{}_{}", meta.stream.substr(0, room), compact);
    put_fixed_ascii(b, ref, 32);
    put_fixed_ascii(b, fmt::format("{:04}-{:02}-{:02}", p.year, p.month, p.day), 10);
    put_fixed_ascii(b, fmt::format("{:02}:{:02}:{:02}", p.hour, p.minute, p.second), 8);
    const uint64_t time_ref = samples_since_utc_midnight(meta.first_sample_utc_ns, meta.rate_hz);
    put_le32(b, static_cast<uint32_t>(time_ref));
    put_le32(b, static_cast<uint32_t>(time_ref >> 32));
    put_le16(b, 1);            // Version
    b.resize(b.size() + 64);   // UMID: none
    b.resize(b.size() + 190);  // reserved (v1)
    std::string history =
        fmt::format("A=PCM,F={},W={},M={},T=framestamp {} from {}\r\n", meta.rate_hz, stored_bits,
                    channel_mode(meta.channels), one_line(meta.software_version),
                    sample_format_name(meta.format));
    put_fixed_ascii(b, history, history.size(), true);
    if (b.size() % 2 != 0) {
        b.push_back(0);
    }
    return b;
}

std::vector<std::pair<std::string, std::string>> vorbis_comments(const ChunkMetadata& meta,
                                                                 std::string_view guano) {
    const std::string iso = iso_utc_us(meta.first_sample_utc_ns);
    std::vector<std::pair<std::string, std::string>> c = {
        {"DATE", iso},
        {"ENCODER", fmt::format("framestamp {}", meta.software_version)},
        {"FRAMESTAMP_STREAM", meta.stream},
        {"FRAMESTAMP_SESSION", meta.session},
        {"FRAMESTAMP_FIRST_SESSION_FRAME", fmt::format("{}", meta.first_session_frame)},
        {"FRAMESTAMP_FIRST_SAMPLE_UTC", iso},
        {"FRAMESTAMP_FIRST_SAMPLE_UTC_NS", fmt::format("{}", meta.first_sample_utc_ns)},
        {"FRAMESTAMP_RATE_HZ", fmt::format("{}", meta.rate_hz)},
        {"FRAMESTAMP_SAMPLE_FORMAT", std::string(sample_format_name(meta.format))},
        {"FRAMESTAMP_RECORDER", meta.recorder_id},
        {"FRAMESTAMP_SITE", meta.site},
        {"FRAMESTAMP_VERSION", meta.software_version},
    };
    auto optional = [&c](const char* name, const std::string& value) {
        if (!value.empty()) {
            c.emplace_back(name, value);
        }
    };
    if (meta.latitude_deg) {
        c.emplace_back("FRAMESTAMP_LATITUDE", fmt::format("{}", *meta.latitude_deg));
    }
    if (meta.longitude_deg) {
        c.emplace_back("FRAMESTAMP_LONGITUDE", fmt::format("{}", *meta.longitude_deg));
    }
    if (meta.elevation_m) {
        c.emplace_back("FRAMESTAMP_ELEVATION", fmt::format("{}", *meta.elevation_m));
    }
    optional("FRAMESTAMP_MAKE", meta.make);
    optional("FRAMESTAMP_MODEL", meta.model);
    optional("FRAMESTAMP_SERIAL", meta.serial);
    optional("FRAMESTAMP_NOTES", meta.notes);
    c.emplace_back("GUANO", std::string(guano));
    return c;
}

}  // namespace framestamp::audiofile
