// The FLAC half of recover_partial(): decode frame by frame (each carries a CRC), cut the file
// after the last good frame and set STREAMINFO's sample count to match. No re-encoding: it needs
// no free space, which may be exactly what the crash ran out of.
#include <FLAC/stream_decoder.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "audiofile/io.hpp"
#include "audiofile/recover.hpp"
#include "audiofile/writer.hpp"

namespace framestamp::audiofile {

namespace {

struct DecodeState {
    Io& io;
    int fd;
    const std::filesystem::path& file;
    uint64_t size = 0;
    uint64_t pos = 0;
    std::optional<FileError> io_error;
    bool got_streaminfo = false;
    uint32_t rate_hz = 0;
    uint32_t channels = 0;
    bool got_frame = false;
    uint32_t frame_frames = 0;
    bool error = false;    // the last process call reported damage
    bool crc_bad = false;  // ... and its frame failed its CRC
    std::string first_error;
    std::optional<uint64_t> first_session_frame;
    std::optional<int64_t> first_sample_utc_ns;
    std::string session;
    std::string sample_format;
    std::string recorder;
};

template <typename T>
std::optional<T> parse_number(std::string_view s) {
    T v{};
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

FLAC__StreamDecoderReadStatus on_read(const FLAC__StreamDecoder* /*dec*/, FLAC__byte buffer[],
                                      size_t* bytes, void* self) {
    auto& d = *static_cast<DecodeState*>(self);
    const uint64_t want = std::min<uint64_t>(*bytes, d.size > d.pos ? d.size - d.pos : 0);
    if (want == 0) {
        *bytes = 0;
        return FLAC__STREAM_DECODER_READ_STATUS_END_OF_STREAM;
    }
    auto got = read_upto(d.io, d.fd, d.file, buffer, want, static_cast<int64_t>(d.pos));
    if (!got) {
        d.io_error = got.error();
        return FLAC__STREAM_DECODER_READ_STATUS_ABORT;
    }
    // Show the decoder a sample count of 0 ("unknown"): a count set at the last flush would
    // otherwise make it stop there and miss the frames written after.
    for (uint64_t i = 0; i < got.value(); ++i) {
        const uint64_t at = d.pos + i;
        if (at == static_cast<uint64_t>(flac_total_samples_offset)) {
            buffer[i] &= 0xF0;
        } else if (at > static_cast<uint64_t>(flac_total_samples_offset) &&
                   at < static_cast<uint64_t>(flac_total_samples_offset) + 5) {
            buffer[i] = 0;
        } else if (at >= static_cast<uint64_t>(flac_total_samples_offset) + 5) {
            break;
        }
    }
    d.pos += got.value();
    *bytes = got.value();
    return got.value() == 0 ? FLAC__STREAM_DECODER_READ_STATUS_END_OF_STREAM
                            : FLAC__STREAM_DECODER_READ_STATUS_CONTINUE;
}

FLAC__StreamDecoderSeekStatus on_seek(const FLAC__StreamDecoder* /*dec*/, FLAC__uint64 offset,
                                      void* self) {
    static_cast<DecodeState*>(self)->pos = offset;
    return FLAC__STREAM_DECODER_SEEK_STATUS_OK;
}

FLAC__StreamDecoderTellStatus on_tell(const FLAC__StreamDecoder* /*dec*/, FLAC__uint64* offset,
                                      void* self) {
    *offset = static_cast<DecodeState*>(self)->pos;
    return FLAC__STREAM_DECODER_TELL_STATUS_OK;
}

FLAC__StreamDecoderLengthStatus on_length(const FLAC__StreamDecoder* /*dec*/, FLAC__uint64* length,
                                          void* self) {
    *length = static_cast<DecodeState*>(self)->size;
    return FLAC__STREAM_DECODER_LENGTH_STATUS_OK;
}

FLAC__bool on_eof(const FLAC__StreamDecoder* /*dec*/, void* self) {
    const auto& d = *static_cast<DecodeState*>(self);
    return d.pos >= d.size;
}

FLAC__StreamDecoderWriteStatus on_frame(const FLAC__StreamDecoder* /*dec*/,
                                        const FLAC__Frame* frame,
                                        const FLAC__int32* const /*buffer*/[], void* self) {
    auto& d = *static_cast<DecodeState*>(self);
    d.got_frame = true;
    d.frame_frames = frame->header.blocksize;
    return FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE;
}

void on_metadata(const FLAC__StreamDecoder* /*dec*/, const FLAC__StreamMetadata* block,
                 void* self) {
    auto& d = *static_cast<DecodeState*>(self);
    if (block->type == FLAC__METADATA_TYPE_STREAMINFO) {
        d.got_streaminfo = true;
        d.rate_hz = block->data.stream_info.sample_rate;
        d.channels = block->data.stream_info.channels;
    } else if (block->type == FLAC__METADATA_TYPE_VORBIS_COMMENT) {
        const auto& vc = block->data.vorbis_comment;
        for (uint32_t i = 0; i < vc.num_comments; ++i) {
            const std::string_view c(reinterpret_cast<const char*>(vc.comments[i].entry),
                                     vc.comments[i].length);
            const auto eq = c.find('=');
            if (eq == std::string_view::npos) {
                continue;
            }
            const auto name = c.substr(0, eq);
            const auto value = c.substr(eq + 1);
            if (name == "FRAMESTAMP_FIRST_SESSION_FRAME") {
                d.first_session_frame = parse_number<uint64_t>(value);
            } else if (name == "FRAMESTAMP_FIRST_SAMPLE_UTC_NS") {
                d.first_sample_utc_ns = parse_number<int64_t>(value);
            } else if (name == "FRAMESTAMP_SESSION") {
                d.session = std::string(value);
            } else if (name == "FRAMESTAMP_SAMPLE_FORMAT") {
                d.sample_format = std::string(value);
            } else if (name == "FRAMESTAMP_RECORDER") {
                d.recorder = std::string(value);
            }
        }
    }
}

void on_error(const FLAC__StreamDecoder* /*dec*/, FLAC__StreamDecoderErrorStatus status,
              void* self) {
    auto& d = *static_cast<DecodeState*>(self);
    if (d.first_error.empty()) {
        d.first_error = FLAC__StreamDecoderErrorStatusString[status];
    }
    d.error = true;
    if (status == FLAC__STREAM_DECODER_ERROR_STATUS_FRAME_CRC_MISMATCH) {
        d.crc_bad = true;
    }
}

// End of the metadata blocks, from their headers; nullopt if they run past the end of the file.
FileResult<std::optional<uint64_t>> metadata_end(Io& io, int fd, const std::filesystem::path& file,
                                                 uint64_t size) {
    uint64_t at = 4;
    for (;;) {
        uint8_t h[4];
        auto got = read_upto(io, fd, file, h, sizeof h, static_cast<int64_t>(at));
        if (!got) {
            return got.error();
        }
        if (got.value() < sizeof h) {
            return std::optional<uint64_t>();
        }
        const uint64_t len = (uint64_t{h[1]} << 16) | (uint64_t{h[2]} << 8) | h[3];
        at += 4 + len;
        if (at > size) {
            return std::optional<uint64_t>();
        }
        if ((h[0] & 0x80) != 0) {
            return std::optional<uint64_t>(at);
        }
    }
}

struct DecoderDeleter {
    void operator()(FLAC__StreamDecoder* d) const { FLAC__stream_decoder_delete(d); }
};

}  // namespace

FileResult<Salvage> salvage_flac(Io& io, int fd, const std::filesystem::path& file, int64_t size) {
    Salvage s;
    const auto file_bytes = static_cast<uint64_t>(size);
    auto meta_end = metadata_end(io, fd, file, file_bytes);
    if (!meta_end) {
        return meta_end.error();
    }
    uint8_t first_block[4] = {};
    auto got = read_upto(io, fd, file, first_block, sizeof first_block, 4);
    if (!got) {
        return got.error();
    }
    // STREAMINFO must come first, 34 bytes long: the sample count is patched at a fixed place.
    if (!meta_end.value() || (first_block[0] & 0x7F) != 0 || first_block[3] != 34) {
        s.hopeless = true;
        s.report.detail = "FLAC metadata torn or without STREAMINFO first";
        return s;
    }

    std::unique_ptr<FLAC__StreamDecoder, DecoderDeleter> dec(FLAC__stream_decoder_new());
    if (!dec) {
        return FileError{ENOMEM, fmt::format("recover {}: out of memory", file.string())};
    }
    DecodeState d{io, fd, file};
    d.size = file_bytes;
    FLAC__stream_decoder_set_md5_checking(dec.get(), false);
    FLAC__stream_decoder_set_metadata_respond(dec.get(), FLAC__METADATA_TYPE_VORBIS_COMMENT);
    if (FLAC__stream_decoder_init_stream(dec.get(), on_read, on_seek, on_tell, on_length, on_eof,
                                         on_frame, on_metadata, on_error,
                                         &d) != FLAC__STREAM_DECODER_INIT_STATUS_OK) {
        return FileError{ENOMEM,
                         fmt::format("recover {}: FLAC decoder would not start", file.string())};
    }
    const bool meta_ok = FLAC__stream_decoder_process_until_end_of_metadata(dec.get());
    if (d.io_error) {
        return *d.io_error;
    }
    if (!meta_ok || !d.got_streaminfo) {
        s.hopeless = true;
        s.report.detail = "FLAC metadata does not decode";
        return s;
    }

    // Frames up to the first damage are kept and counted; frames decoding after it mean the damage
    // is not a torn end, and then nothing is cut.
    uint64_t good_end = *meta_end.value();
    uint64_t good_frames = 0;
    uint64_t frames_after_damage = 0;
    bool damaged = false;
    for (;;) {
        d.got_frame = false;
        d.error = false;
        d.crc_bad = false;
        const bool ok = FLAC__stream_decoder_process_single(dec.get());
        if (d.io_error) {
            return *d.io_error;
        }
        damaged = damaged || d.error;
        // A frame that failed its CRC comes out as silence; one found after lost sync is good.
        if (d.got_frame && !d.crc_bad) {
            FLAC__uint64 pos = 0;
            if (damaged) {
                frames_after_damage += d.frame_frames;
            } else if (FLAC__stream_decoder_get_decode_position(dec.get(), &pos)) {
                good_end = pos;
                good_frames += d.frame_frames;
            }
        }
        if (!ok ||
            FLAC__stream_decoder_get_state(dec.get()) >= FLAC__STREAM_DECODER_END_OF_STREAM) {
            break;
        }
    }
    dec.reset();

    uint8_t byte13 = 0;
    got = read_upto(io, fd, file, &byte13, 1, flac_total_samples_offset);
    if (!got) {
        return got.error();
    }
    const bool cut_tail = frames_after_damage == 0;
    uint64_t dropped = 0;
    if (cut_tail && good_end < file_bytes) {
        dropped = file_bytes - good_end;
        auto status = truncate_to(io, fd, file, static_cast<int64_t>(good_end));
        if (!status) {
            return status.error();
        }
    }
    if (dropped > 0 || !cut_tail) {
        // The MD5 of a finished file no longer matches once anything is cut; zeros mean unknown.
        const uint8_t no_md5[16] = {};
        auto status = write_all(io, fd, file, no_md5, sizeof no_md5, flac_md5_offset);
        if (!status) {
            return status.error();
        }
    }
    uint8_t total[5];
    flac_total_samples_bytes(byte13, cut_tail ? good_frames : 0, total);
    auto status = write_all(io, fd, file, total, sizeof total, flac_total_samples_offset);
    if (!status) {
        return status.error();
    }

    s.report.method =
        cut_tail ? RecoveryMethod::flac_streaminfo_fixed : RecoveryMethod::flac_damaged_kept;
    s.report.frames_recovered = good_frames + frames_after_damage;
    s.report.bytes_dropped = dropped;
    s.report.rate_hz = d.rate_hz;
    s.report.channels = d.channels;
    s.report.first_session_frame = d.first_session_frame;
    s.report.first_sample_utc_ns = d.first_sample_utc_ns;
    s.report.session = d.session;
    s.report.sample_format = d.sample_format;
    s.report.recorder = d.recorder;
    if (cut_tail) {
        s.report.detail = fmt::format(
            "FLAC: {} frames in whole FLAC frames kept, {} bytes after "
            "the last good FLAC frame cut{}",
            good_frames, dropped, damaged ? fmt::format(" ({})", d.first_error) : "");
    } else {
        s.report.detail = fmt::format(
            "FLAC: damaged before its end ({}); nothing cut, {} + {} "
            "frames decode, sample count set to unknown",
            d.first_error, good_frames, frames_after_damage);
    }
    return s;
}

}  // namespace framestamp::audiofile
