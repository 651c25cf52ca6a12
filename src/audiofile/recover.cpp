// recover_partial(): find what a crash left in a .partial, make it a valid file, rename it. And the
// WAV/RF64 half: sizes follow from the file's length, since PCM needs no decoding to be trusted.
#include <fcntl.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "audiofile/io.hpp"
#include "audiofile/metadata.hpp"
#include "audiofile/recover.hpp"

namespace framestamp {

namespace audiofile {

namespace {

// Our headers are a few KiB; other writers' rarely pass this before their data chunk.
constexpr std::size_t max_header_scan_bytes = 1 << 20;
constexpr uint32_t size_unknown = 0xFFFFFFFF;

std::string_view id_at(const std::vector<uint8_t>& b, std::size_t at) {
    return {reinterpret_cast<const char*>(b.data() + at), 4};
}

template <typename T>
std::optional<T> parse_number(const std::optional<std::string>& s) {
    if (!s) {
        return std::nullopt;
    }
    T v{};
    const auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
    if (ec != std::errc() || end != s->data() + s->size()) {
        return std::nullopt;
    }
    return v;
}

Salvage hopeless(std::string why) {
    Salvage s;
    s.hopeless = true;
    s.report.detail = std::move(why);
    return s;
}

struct WavChunks {
    std::size_t data_start = 0;  // first sample byte
    std::size_t ds64_at = 0;     // body offsets; 0 when absent
    std::size_t fact_at = 0;
    std::size_t guan_at = 0;
    std::size_t guan_bytes = 0;
    uint16_t channels = 0;
    uint32_t rate_hz = 0;
    uint16_t block_align = 0;
};

// Walks the chunks before "data". Returns a reason when the header is not all there.
std::optional<std::string> walk_chunks(const std::vector<uint8_t>& b, WavChunks& c) {
    std::size_t off = 12;
    while (off + 8 <= b.size()) {
        const std::string_view id = id_at(b, off);
        const uint32_t size = get_le32(b.data() + off + 4);
        const std::size_t body = off + 8;
        if (id == "data") {
            c.data_start = body;
            return std::nullopt;
        }
        if (body + size > b.size()) {
            return fmt::format("header torn inside its '{}' chunk", id);
        }
        if (id == "ds64" && size >= 28) {
            c.ds64_at = body;
        } else if (id == "fmt " && size >= 16) {
            c.channels = get_le16(b.data() + body + 2);
            c.rate_hz = get_le32(b.data() + body + 4);
            c.block_align = get_le16(b.data() + body + 12);
        } else if (id == "fact" && size >= 4) {
            c.fact_at = body;
        } else if (id == "guan") {
            c.guan_at = body;
            c.guan_bytes = size;
        }
        off = body + size + (size & 1);
    }
    return std::string("header torn before its data chunk");
}

}  // namespace

FileResult<Salvage> salvage_wav(Io& io, int fd, const std::filesystem::path& file, int64_t size) {
    std::vector<uint8_t> b(std::min<uint64_t>(static_cast<uint64_t>(size), max_header_scan_bytes));
    auto got = read_upto(io, fd, file, b.data(), b.size(), 0);
    if (!got) {
        return got.error();
    }
    b.resize(got.value());
    if (b.size() < 12 || id_at(b, 8) != "WAVE") {
        return hopeless("shorter than a RIFF header, or not WAVE");
    }
    const bool rf64 = id_at(b, 0) == "RF64";
    WavChunks c;
    if (auto torn = walk_chunks(b, c)) {
        return hopeless(*torn);
    }
    if (c.block_align == 0 || c.rate_hz == 0) {
        return hopeless("no usable fmt chunk");
    }
    if (rf64 && c.ds64_at == 0) {
        return hopeless("RF64 without a ds64 chunk");
    }

    const uint64_t found = static_cast<uint64_t>(size) - c.data_start;
    const uint64_t frames = found / c.block_align;
    const uint64_t data = frames * c.block_align;
    uint64_t cut = found - data;
    const bool pad = data % 2 != 0;
    // A flush pads odd data with one byte; that byte is no torn frame.
    const uint64_t dropped = (pad && cut == 1) ? 0 : cut;
    const uint64_t file_bytes = c.data_start + data + (pad ? 1 : 0);
    if (!rf64 && file_bytes - 8 > size_unknown) {
        return hopeless("a WAV file past 4 GiB (not ours)");
    }

    if (cut > 0) {
        auto status = truncate_to(io, fd, file, static_cast<int64_t>(c.data_start + data));
        if (!status) {
            return status.error();
        }
    }
    if (pad) {
        const uint8_t zero = 0;
        auto status = write_all(io, fd, file, &zero, 1, static_cast<int64_t>(c.data_start + data));
        if (!status) {
            return status.error();
        }
    }

    // Patch the header in memory, then write it back in one piece.
    b.resize(c.data_start);
    if (rf64) {
        set_le32(b.data() + 4, size_unknown);
        set_le64(b.data() + c.ds64_at, file_bytes - 8);
        set_le64(b.data() + c.ds64_at + 8, data);
        set_le64(b.data() + c.ds64_at + 16, frames);
        set_le32(b.data() + c.data_start - 4, size_unknown);
    } else {
        set_le32(b.data() + 4, static_cast<uint32_t>(file_bytes - 8));
        set_le32(b.data() + c.data_start - 4, static_cast<uint32_t>(data));
    }
    if (c.fact_at != 0) {
        set_le32(b.data() + c.fact_at,
                 static_cast<uint32_t>(std::min<uint64_t>(frames, size_unknown)));
    }
    Salvage s;
    if (c.guan_at != 0) {
        const std::string text(reinterpret_cast<const char*>(b.data() + c.guan_at), c.guan_bytes);
        if (auto patched = guano_with_length(text, guano_length(frames, c.rate_hz), c.guan_bytes)) {
            std::memcpy(b.data() + c.guan_at, patched->data(), patched->size());
        }
        s.report.first_session_frame =
            parse_number<uint64_t>(guano_value(text, "framestamp|First Session Frame"));
        s.report.first_sample_utc_ns =
            parse_number<int64_t>(guano_value(text, "framestamp|First Sample UTC ns"));
        s.report.session = guano_value(text, "framestamp|Session").value_or("");
        s.report.sample_format = guano_value(text, "framestamp|Sample Format").value_or("");
        s.report.recorder = guano_value(text, "framestamp|Recorder").value_or("");
    }
    auto status = write_all(io, fd, file, b.data(), b.size(), 0);
    if (!status) {
        return status.error();
    }

    s.report.method = rf64 ? RecoveryMethod::rf64_sizes_fixed : RecoveryMethod::wav_sizes_fixed;
    s.report.frames_recovered = frames;
    s.report.bytes_dropped = dropped;
    s.report.rate_hz = c.rate_hz;
    s.report.channels = c.channels;
    s.report.detail = fmt::format(
        "{}: {} frames kept, {} bytes of a torn frame cut, sizes set "
        "from the file length",
        rf64 ? "RF64" : "WAV", frames, dropped);
    return s;
}

namespace {

// Renames a hopeless file aside without replacing anything; returns its new name.
FileResult<std::filesystem::path> quarantine(Io& io, const std::filesystem::path& partial) {
    for (int i = 0; i < 1000; ++i) {
        auto aside = partial;
        aside += i == 0 ? std::string(".corrupt") : fmt::format(".corrupt.{}", i);
        const int r = io.rename_noreplace(partial.c_str(), aside.c_str());
        if (r == 0) {
            return aside;
        }
        if (r != -EEXIST) {
            return sys_error(-r, "rename to " + aside.string(), partial);
        }
    }
    return sys_error(EEXIST, "rename aside", partial);
}

}  // namespace

}  // namespace audiofile

std::string_view recovery_method_name(RecoveryMethod m) {
    switch (m) {
        case RecoveryMethod::wav_sizes_fixed:
            return "wav_sizes_fixed";
        case RecoveryMethod::rf64_sizes_fixed:
            return "rf64_sizes_fixed";
        case RecoveryMethod::flac_streaminfo_fixed:
            return "flac_streaminfo_fixed";
        case RecoveryMethod::flac_damaged_kept:
            return "flac_damaged_kept";
        case RecoveryMethod::quarantined:
            return "quarantined";
    }
    return "?";
}

FileResult<RecoveryReport> recover_partial(const std::filesystem::path& partial, Io* io_ptr) {
    using namespace audiofile;
    Io& io = io_ptr != nullptr ? *io_ptr : system_io();
    constexpr std::string_view suffix = ".partial";
    const std::string name = partial.string();
    if (name.size() <= suffix.size() || !name.ends_with(suffix)) {
        return FileError{EINVAL, fmt::format("recover {}: not a .partial file", name)};
    }
    const std::filesystem::path final_path = name.substr(0, name.size() - suffix.size());
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::symlink_status(final_path, ec))) {
        return sys_error(EEXIST, "recover (final name taken: " + final_path.string() + ")",
                         partial);
    }

    const int fd = io.open(partial.c_str(), O_RDWR, 0);
    if (fd < 0) {
        return sys_error(-fd, "open", partial);
    }
    auto salvage = [&]() -> FileResult<Salvage> {
        auto size = size_of(io, fd, partial);
        if (!size) {
            return size.error();
        }
        char magic[4] = {};
        auto got = read_upto(io, fd, partial, magic, sizeof magic, 0);
        if (!got) {
            return got.error();
        }
        const std::string_view m(magic, got.value());
        if (m == "RIFF" || m == "RF64") {
            return salvage_wav(io, fd, partial, size.value());
        }
        if (m == "fLaC") {
            return salvage_flac(io, fd, partial, size.value());
        }
        Salvage s;
        s.hopeless = true;
        s.report.detail = fmt::format("{} bytes, no RIFF, RF64 or fLaC header", size.value());
        return s;
    }();
    FileStatus synced;
    if (salvage && !salvage.value().hopeless) {
        synced = sync_all(io, fd, partial);
    }
    io.close(fd);
    if (!salvage) {
        return salvage.error();
    }
    if (!synced) {
        return synced.error();
    }

    RecoveryReport report = std::move(salvage.value().report);
    if (salvage.value().hopeless) {
        auto aside = quarantine(io, partial);
        if (!aside) {
            return aside.error();
        }
        report.method = RecoveryMethod::quarantined;
        report.path = aside.value();
        report.frames_recovered = 0;
        report.bytes_dropped = 0;
    } else {
        const int r = io.rename_noreplace(partial.c_str(), final_path.c_str());
        if (r < 0) {
            return sys_error(-r, "rename to " + final_path.string(), partial);
        }
        report.path = final_path;
    }
    auto status = sync_dir(io, parent_dir(partial));
    if (!status) {
        return status.error();
    }
    return report;
}

}  // namespace framestamp
