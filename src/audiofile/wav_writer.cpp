// WAV and RF64 (EBU Tech 3306) written by hand: a fixed-size header (RIFF or RF64+ds64, fmt, fact
// for float, bext, guan), then the samples. The whole header is rebuilt and rewritten in place at
// every flush, so its sizes always describe data that was synced first.
#include <algorithm>
#include <array>
#include <cerrno>

#include <fmt/format.h>

#include "audiofile/io.hpp"
#include "audiofile/metadata.hpp"
#include "audiofile/writer.hpp"

namespace framestamp::audiofile {

namespace {

constexpr uint16_t wave_format_pcm = 1;
constexpr uint16_t wave_format_float = 3;
constexpr uint16_t wave_format_extensible = 0xFFFE;
// The KSDATAFORMAT_SUBTYPE GUIDs after their first two bytes (which hold the format tag).
constexpr std::array<uint8_t, 14> subtype_guid_tail = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                                       0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
// Room for the GUANO Length value to grow from "0.000000" at creation.
constexpr std::size_t guan_slack_bytes = 32;
constexpr uint32_t size_unknown = 0xFFFFFFFF;
// Frames converted per write() when S24_LE must be repacked into 3 bytes.
constexpr uint64_t repack_frames = 4096;

class WavWriter final : public FormatWriter {
  public:
    WavWriter(const WriterContext& ctx, bool rf64);

    FileStatus start();
    FileStatus write(const uint8_t* frames, uint64_t count) override;
    FileStatus patch_header() override;
    FileStatus finish() override { return patch_header(); }
    FileStatus finish_after_error() override;
    void abandon() override { abandoned_ = true; }
    bool failed() const override { return failed_; }
    uint64_t frames_accepted() const override { return frames_in_file(); }
    uint64_t frames_in_file() const override { return data_bytes_ / out_frame_bytes_; }

  private:
    std::vector<uint8_t> header(uint64_t data_bytes) const;
    uint64_t riff_bytes(uint64_t data_bytes) const {
        return header_bytes_ - 8 + data_bytes + (data_bytes & 1);
    }
    FileStatus append(const uint8_t* bytes, uint64_t len);

    Io& io_;
    int fd_;
    std::filesystem::path path_;
    std::string original_filename_;
    ChunkMetadata meta_;
    bool rf64_;
    bool float_;
    bool extensible_;
    uint32_t in_frame_bytes_;
    uint32_t out_frame_bytes_;
    uint16_t stored_bits_;
    std::vector<uint8_t> bext_;
    std::string guano_;  // as at creation; only its Length changes
    std::size_t guan_bytes_ = 0;
    uint64_t header_bytes_ = 0;
    uint64_t data_bytes_ = 0;  // sample bytes in the file, all of them after the header
    bool failed_ = false;
    bool abandoned_ = false;
    std::vector<uint8_t> scratch_;
};

WavWriter::WavWriter(const WriterContext& ctx, bool rf64)
    : io_(ctx.io),
      fd_(ctx.fd),
      path_(ctx.path),
      original_filename_(ctx.original_filename),
      meta_(ctx.meta),
      rf64_(rf64),
      float_(ctx.meta.format == SampleFormat::float_le),
      // WAVE_FORMAT_EXTENSIBLE only where plain tags are ambiguous: more than two channels.
      // Plain PCM/float tags for 24- and 32-bit mono/stereo are what every reader handles.
      extensible_(ctx.meta.channels > 2),
      in_frame_bytes_(static_cast<uint32_t>(sample_bytes(ctx.meta.format)) * ctx.meta.channels),
      // S24_LE keeps its 24 significant bits in 3 bytes; every other format is stored as is.
      out_frame_bytes_(sample_bits(ctx.meta.format) / 8 * ctx.meta.channels),
      stored_bits_(static_cast<uint16_t>(sample_bits(ctx.meta.format))),
      bext_(bext_body(ctx.meta, sample_bits(ctx.meta.format))) {
    guano_ = guano_text(meta_, original_filename_, 0.0);
    guan_bytes_ = guano_.size() + guan_slack_bytes;
    guan_bytes_ += guan_bytes_ % 2;
    header_bytes_ = header(0).size();
}

std::vector<uint8_t> WavWriter::header(uint64_t data_bytes) const {
    const uint64_t frames = data_bytes / out_frame_bytes_;
    std::vector<uint8_t> h;
    h.reserve(header_bytes_ + 64);
    if (rf64_) {
        put_bytes(h, "RF64");
        put_le32(h, size_unknown);
        put_bytes(h, "WAVE");
        put_bytes(h, "ds64");
        put_le32(h, 28);
        put_le64(h, riff_bytes(data_bytes));
        put_le64(h, data_bytes);
        put_le64(h, frames);  // the fact chunk's sample count
        put_le32(h, 0);       // no table of other large chunks
    } else {
        put_bytes(h, "RIFF");
        put_le32(h, static_cast<uint32_t>(riff_bytes(data_bytes)));
        put_bytes(h, "WAVE");
    }

    const uint16_t tag = float_ ? wave_format_float : wave_format_pcm;
    const auto channels = static_cast<uint16_t>(meta_.channels);
    put_bytes(h, "fmt ");
    put_le32(h, extensible_ ? 40 : (float_ ? 18 : 16));
    put_le16(h, extensible_ ? wave_format_extensible : tag);
    put_le16(h, channels);
    put_le32(h, meta_.rate_hz);
    put_le32(h, meta_.rate_hz * out_frame_bytes_);
    put_le16(h, static_cast<uint16_t>(out_frame_bytes_));
    put_le16(h, stored_bits_);
    if (extensible_) {
        put_le16(h, 22);
        put_le16(h, stored_bits_);  // valid bits
        put_le32(h, 0);             // channel mask: microphones, not loudspeaker positions
        put_le16(h, tag);
        h.insert(h.end(), subtype_guid_tail.begin(), subtype_guid_tail.end());
    } else if (float_) {
        put_le16(h, 0);
    }
    if (float_) {
        put_bytes(h, "fact");
        put_le32(h, 4);
        put_le32(h, static_cast<uint32_t>(std::min<uint64_t>(frames, size_unknown)));
    }

    put_bytes(h, "bext");
    put_le32(h, static_cast<uint32_t>(bext_.size()));
    h.insert(h.end(), bext_.begin(), bext_.end());

    auto text = guano_with_length(guano_, guano_length(frames, meta_.rate_hz), guan_bytes_);
    if (!text) {
        // Cannot happen below 10^20 s; keep the size fixed regardless.
        text = guano_with_length(guano_, "", guan_bytes_);
    }
    put_bytes(h, "guan");
    put_le32(h, static_cast<uint32_t>(guan_bytes_));
    put_bytes(h, *text);

    put_bytes(h, "data");
    put_le32(h, rf64_ ? size_unknown : static_cast<uint32_t>(data_bytes));
    return h;
}

FileStatus WavWriter::start() {
    const auto h = header(0);
    return write_all(io_, fd_, path_, h.data(), h.size(), 0);
}

FileStatus WavWriter::append(const uint8_t* bytes, uint64_t len) {
    uint64_t done = 0;
    auto status = write_all(io_, fd_, path_, bytes, len,
                            static_cast<int64_t>(header_bytes_ + data_bytes_), &done);
    data_bytes_ += done;
    if (!status) {
        failed_ = true;
    }
    return status;
}

FileStatus WavWriter::write(const uint8_t* frames, uint64_t count) {
    if (abandoned_) {
        return FileError{EBADF, fmt::format("write {}: abandoned", path_.string())};
    }
    const uint64_t out_bytes = count * out_frame_bytes_;
    if (!rf64_ && riff_bytes(data_bytes_ + out_bytes) > ChunkFile::wav_max_riff_bytes) {
        return FileError{EFBIG, fmt::format("write {}: {} more frames would take the WAV file past "
                                            "its 4 GiB limit; use rf64 or shorter chunks",
                                            path_.string(), count)};
    }
    if (meta_.format != SampleFormat::s24_le) {
        return append(frames, out_bytes);
    }
    const uint32_t samples_per_frame = meta_.channels;
    for (uint64_t at = 0; at < count; at += repack_frames) {
        const uint64_t n = std::min(repack_frames, count - at);
        scratch_.resize(n * out_frame_bytes_);
        const uint8_t* in = frames + at * in_frame_bytes_;
        uint8_t* out = scratch_.data();
        for (uint64_t s = 0; s < n * samples_per_frame; ++s) {
            // The low three bytes hold the sample; the top byte is padding.
            out[0] = in[0];
            out[1] = in[1];
            out[2] = in[2];
            in += 4;
            out += 3;
        }
        auto status = append(scratch_.data(), scratch_.size());
        if (!status) {
            return status;
        }
    }
    return {};
}

FileStatus WavWriter::patch_header() {
    if (abandoned_) {
        return FileError{EBADF, fmt::format("write {}: abandoned", path_.string())};
    }
    if (data_bytes_ % 2 != 0) {
        // RIFF pads odd chunks; the next write() overwrites this byte with samples.
        const uint8_t pad = 0;
        auto status =
            write_all(io_, fd_, path_, &pad, 1, static_cast<int64_t>(header_bytes_ + data_bytes_));
        if (!status) {
            return status;
        }
    }
    const auto h = header(data_bytes_);
    return write_all(io_, fd_, path_, h.data(), h.size(), 0);
}

FileStatus WavWriter::finish_after_error() {
    data_bytes_ -= data_bytes_ % out_frame_bytes_;
    auto status = truncate_to(io_, fd_, path_, static_cast<int64_t>(header_bytes_ + data_bytes_));
    if (!status) {
        return status;
    }
    return patch_header();
}

}  // namespace

FileResult<std::unique_ptr<FormatWriter>> make_wav_writer(const WriterContext& ctx, bool rf64) {
    auto w = std::make_unique<WavWriter>(ctx, rf64);
    auto status = w->start();
    if (!status) {
        return status.error();
    }
    return std::unique_ptr<FormatWriter>(std::move(w));
}

}  // namespace framestamp::audiofile
