// FLAC through libFLAC's stream encoder with our own write/seek/tell callbacks, so every byte goes
// through the Io seam and we know where each whole frame ends. libsndfile is not used for writing
// because it cannot store arbitrary Vorbis comment names (FRAMESTAMP_*, GUANO).
#include <FLAC/metadata.h>
#include <FLAC/stream_encoder.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "audiofile/io.hpp"
#include "audiofile/metadata.hpp"
#include "audiofile/writer.hpp"

namespace framestamp::audiofile {

void flac_total_samples_bytes(uint8_t byte13, uint64_t total, uint8_t out[5]) {
    // 36 bits, big-endian, after the 4 low bits of bits-per-sample-minus-one.
    out[0] = static_cast<uint8_t>((byte13 & 0xF0) | ((total >> 32) & 0x0F));
    out[1] = static_cast<uint8_t>(total >> 24);
    out[2] = static_cast<uint8_t>(total >> 16);
    out[3] = static_cast<uint8_t>(total >> 8);
    out[4] = static_cast<uint8_t>(total);
}

namespace {

// Frames handed to the encoder per call; the int32 scratch holds this many.
constexpr uint64_t convert_frames = 4096;
// Room for later tag edits (metaflac) without rewriting the audio.
constexpr unsigned padding_bytes = 1024;

class FlacWriter final : public FormatWriter {
  public:
    explicit FlacWriter(const WriterContext& ctx);
    ~FlacWriter() override;
    FlacWriter(const FlacWriter&) = delete;
    FlacWriter& operator=(const FlacWriter&) = delete;

    FileStatus start(int level);
    FileStatus write(const uint8_t* frames, uint64_t count) override;
    FileStatus patch_header() override;
    FileStatus finish() override;
    FileStatus finish_after_error() override;
    void abandon() override { abandoned_ = true; }
    bool failed() const override { return failed_; }
    uint64_t frames_accepted() const override { return failed_ ? encoded_frames_ : accepted_; }
    uint64_t frames_in_file() const override { return encoded_frames_; }

  private:
    static FLAC__StreamEncoderWriteStatus on_write(const FLAC__StreamEncoder* enc,
                                                   const FLAC__byte buffer[], size_t bytes,
                                                   uint32_t samples, uint32_t current_frame,
                                                   void* self);
    static FLAC__StreamEncoderSeekStatus on_seek(const FLAC__StreamEncoder* enc,
                                                 FLAC__uint64 offset, void* self);
    static FLAC__StreamEncoderTellStatus on_tell(const FLAC__StreamEncoder* enc,
                                                 FLAC__uint64* offset, void* self);
    FileError encoder_error(std::string_view op) const;
    FileStatus set_total_samples(uint64_t total);

    Io& io_;
    int fd_;
    std::filesystem::path path_;
    std::string original_filename_;
    ChunkMetadata meta_;
    FLAC__StreamEncoder* enc_ = nullptr;
    // libFLAC reads these until the encoder is finished.
    FLAC__StreamMetadata* tags_ = nullptr;
    FLAC__StreamMetadata* padding_ = nullptr;
    uint64_t offset_ = 0;          // where the encoder writes next
    uint64_t good_end_ = 0;        // end of the last frame written whole
    uint64_t encoded_frames_ = 0;  // frames in the frames written whole
    uint64_t accepted_ = 0;
    uint8_t streaminfo_byte13_ = 0;
    std::optional<FileError> io_error_;  // set by a failing callback
    bool failed_ = false;
    bool abandoned_ = false;
    std::vector<FLAC__int32> scratch_;
};

FlacWriter::FlacWriter(const WriterContext& ctx)
    : io_(ctx.io),
      fd_(ctx.fd),
      path_(ctx.path),
      original_filename_(ctx.original_filename),
      meta_(ctx.meta) {}

FlacWriter::~FlacWriter() {
    if (enc_ != nullptr) {
        // Deleting an unfinished encoder finishes it; after close() or abandon() the callbacks
        // refuse, so nothing more reaches the file.
        abandoned_ = true;
        FLAC__stream_encoder_delete(enc_);
    }
    if (tags_ != nullptr) {
        FLAC__metadata_object_delete(tags_);
    }
    if (padding_ != nullptr) {
        FLAC__metadata_object_delete(padding_);
    }
}

FLAC__StreamEncoderWriteStatus FlacWriter::on_write(const FLAC__StreamEncoder* /*enc*/,
                                                    const FLAC__byte buffer[], size_t bytes,
                                                    uint32_t samples, uint32_t /*current_frame*/,
                                                    void* self) {
    auto* w = static_cast<FlacWriter*>(self);
    if (w->abandoned_) {
        return FLAC__STREAM_ENCODER_WRITE_STATUS_FATAL_ERROR;
    }
    uint64_t done = 0;
    auto status =
        write_all(w->io_, w->fd_, w->path_, buffer, bytes, static_cast<int64_t>(w->offset_), &done);
    w->offset_ += done;
    if (!status) {
        w->io_error_ = status.error();
        w->failed_ = true;
        return FLAC__STREAM_ENCODER_WRITE_STATUS_FATAL_ERROR;
    }
    // libFLAC hands over each audio frame in one call; samples is 0 for metadata.
    if (samples > 0) {
        w->encoded_frames_ += samples;
        w->good_end_ = w->offset_;
    }
    return FLAC__STREAM_ENCODER_WRITE_STATUS_OK;
}

FLAC__StreamEncoderSeekStatus FlacWriter::on_seek(const FLAC__StreamEncoder* /*enc*/,
                                                  FLAC__uint64 offset, void* self) {
    auto* w = static_cast<FlacWriter*>(self);
    if (w->abandoned_) {
        return FLAC__STREAM_ENCODER_SEEK_STATUS_ERROR;
    }
    w->offset_ = offset;
    return FLAC__STREAM_ENCODER_SEEK_STATUS_OK;
}

FLAC__StreamEncoderTellStatus FlacWriter::on_tell(const FLAC__StreamEncoder* /*enc*/,
                                                  FLAC__uint64* offset, void* self) {
    *offset = static_cast<FlacWriter*>(self)->offset_;
    return FLAC__STREAM_ENCODER_TELL_STATUS_OK;
}

FileError FlacWriter::encoder_error(std::string_view op) const {
    if (io_error_) {
        return *io_error_;
    }
    const auto state = FLAC__stream_encoder_get_state(enc_);
    return FileError{EIO, fmt::format("{} {}: FLAC encoder: {}", op, path_.string(),
                                      FLAC__StreamEncoderStateString[state])};
}

FileStatus FlacWriter::start(int level) {
    enc_ = FLAC__stream_encoder_new();
    tags_ = FLAC__metadata_object_new(FLAC__METADATA_TYPE_VORBIS_COMMENT);
    padding_ = FLAC__metadata_object_new(FLAC__METADATA_TYPE_PADDING);
    if (enc_ == nullptr || tags_ == nullptr || padding_ == nullptr) {
        return FileError{ENOMEM, fmt::format("create {}: out of memory", path_.string())};
    }
    padding_->length = padding_bytes;
    const std::string guano = guano_text(meta_, original_filename_, std::nullopt);
    for (const auto& [name, value] : vorbis_comments(meta_, guano)) {
        FLAC__StreamMetadata_VorbisComment_Entry entry;
        if (!FLAC__metadata_object_vorbiscomment_entry_from_name_value_pair(&entry, name.c_str(),
                                                                            value.c_str()) ||
            !FLAC__metadata_object_vorbiscomment_append_comment(tags_, entry, false)) {
            return FileError{EINVAL, fmt::format("create {}: bad Vorbis comment {}={}",
                                                 path_.string(), name, value)};
        }
    }
    const unsigned bits = sample_bits(meta_.format);
    FLAC__StreamMetadata* blocks[] = {tags_, padding_};
    bool ok = FLAC__stream_encoder_set_channels(enc_, meta_.channels) &&
              FLAC__stream_encoder_set_bits_per_sample(enc_, bits) &&
              FLAC__stream_encoder_set_sample_rate(enc_, meta_.rate_hz) &&
              FLAC__stream_encoder_set_compression_level(enc_, static_cast<unsigned>(level)) &&
              // The streamable subset caps the rate at 655350 Hz; ultrasound may go beyond.
              FLAC__stream_encoder_set_streamable_subset(
                  enc_, FLAC__format_sample_rate_is_subset(meta_.rate_hz)) &&
              FLAC__stream_encoder_set_metadata(enc_, blocks, 2);
    if (!ok) {
        return FileError{
            EINVAL, fmt::format("create {}: FLAC encoder refused the settings", path_.string())};
    }
    const auto init = FLAC__stream_encoder_init_stream(
        enc_, &FlacWriter::on_write, &FlacWriter::on_seek, &FlacWriter::on_tell, nullptr, this);
    if (init != FLAC__STREAM_ENCODER_INIT_STATUS_OK) {
        if (io_error_) {
            return *io_error_;
        }
        if (init == FLAC__STREAM_ENCODER_INIT_STATUS_ENCODER_ERROR) {
            return encoder_error("create");
        }
        return FileError{EINVAL, fmt::format("create {}: FLAC encoder: {}", path_.string(),
                                             FLAC__StreamEncoderInitStatusString[init])};
    }
    good_end_ = offset_;
    // Bits per sample minus one, low four bits, in the high nibble (see writer.hpp).
    streaminfo_byte13_ = static_cast<uint8_t>(((bits - 1) & 0x0F) << 4);
    return {};
}

FileStatus FlacWriter::write(const uint8_t* frames, uint64_t count) {
    if (abandoned_ || failed_) {
        return encoder_error("write");
    }
    const uint32_t channels = meta_.channels;
    const std::size_t in_sample_bytes = sample_bytes(meta_.format);
    for (uint64_t at = 0; at < count; at += convert_frames) {
        const uint64_t n = std::min(convert_frames, count - at);
        scratch_.resize(n * channels);
        const uint8_t* in = frames + at * channels * in_sample_bytes;
        for (auto& out : scratch_) {
            if (meta_.format == SampleFormat::s16_le) {
                out = static_cast<int16_t>(static_cast<uint16_t>(in[0] | (in[1] << 8)));
            } else {
                // S24_LE or S24_3LE: the low three bytes, sign-extended from bit 23.
                const uint32_t v = static_cast<uint32_t>(in[0]) |
                                   (static_cast<uint32_t>(in[1]) << 8) |
                                   (static_cast<uint32_t>(in[2]) << 16);
                out = static_cast<int32_t>(v << 8) >> 8;
            }
            in += in_sample_bytes;
        }
        if (!FLAC__stream_encoder_process_interleaved(enc_, scratch_.data(),
                                                      static_cast<uint32_t>(n))) {
            failed_ = true;
            return encoder_error("write");
        }
        accepted_ += n;
    }
    return {};
}

FileStatus FlacWriter::set_total_samples(uint64_t total) {
    uint8_t bytes[5];
    flac_total_samples_bytes(streaminfo_byte13_, total, bytes);
    return write_all(io_, fd_, path_, bytes, sizeof bytes, flac_total_samples_offset);
}

FileStatus FlacWriter::patch_header() {
    if (abandoned_) {
        return FileError{EBADF, fmt::format("write {}: abandoned", path_.string())};
    }
    // Frames still in the encoder's block buffer wait for the next block or close().
    return set_total_samples(encoded_frames_);
}

FileStatus FlacWriter::finish() {
    if (abandoned_ || failed_) {
        return encoder_error("close");
    }
    if (!FLAC__stream_encoder_finish(enc_)) {
        failed_ = true;
        return encoder_error("close");
    }
    return {};
}

FileStatus FlacWriter::finish_after_error() {
    auto status = truncate_to(io_, fd_, path_, static_cast<int64_t>(good_end_));
    if (!status) {
        return status;
    }
    // A failure inside FLAC__stream_encoder_finish() may have left the MD5 of all frames while
    // not all made it; all zeros means "not computed", which is always true.
    const uint8_t no_md5[16] = {};
    status = write_all(io_, fd_, path_, no_md5, sizeof no_md5, flac_md5_offset);
    if (!status) {
        return status;
    }
    return set_total_samples(encoded_frames_);
}

}  // namespace

FileResult<std::unique_ptr<FormatWriter>> make_flac_writer(const WriterContext& ctx, int level) {
    auto w = std::make_unique<FlacWriter>(ctx);
    auto status = w->start(level);
    if (!status) {
        return status.error();
    }
    return std::unique_ptr<FormatWriter>(std::move(w));
}

}  // namespace framestamp::audiofile
