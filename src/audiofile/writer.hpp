// The format-specific half of a ChunkFile: WAV/RF64 written by hand, FLAC through libFLAC's stream
// encoder. ChunkFile owns the descriptor, the syncs and the rename; a FormatWriter owns the bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "framestamp/audiofile.hpp"

namespace framestamp::audiofile {

struct WriterContext {
    Io& io;
    int fd;
    std::filesystem::path path;     // the .partial, for error messages
    std::string original_filename;  // the final name, for the GUANO "Original Filename"
    ChunkMetadata meta;
};

class FormatWriter {
  public:
    FormatWriter() = default;
    FormatWriter(const FormatWriter&) = delete;
    FormatWriter& operator=(const FormatWriter&) = delete;
    virtual ~FormatWriter() = default;

    // Appends frames in meta.format. A failure that reached the file sets failed().
    virtual FileStatus write(const uint8_t* frames, uint64_t count) = 0;
    // Brings the header up to date with frames_in_file(); ChunkFile syncs before and after.
    virtual FileStatus patch_header() = 0;
    // Normal end: drains the encoder and writes the final header.
    virtual FileStatus finish() = 0;
    // End after a failure: cuts the file after the last whole frame and fixes the header to it.
    virtual FileStatus finish_after_error() = 0;
    // Stops all further writes, for a simulated crash.
    virtual void abandon() = 0;

    virtual bool failed() const = 0;
    // Frames accepted by write() (FLAC: including those still in the encoder's block).
    virtual uint64_t frames_accepted() const = 0;
    // Frames whose bytes are completely in the file.
    virtual uint64_t frames_in_file() const = 0;
};

// Each writes its header before returning.
FileResult<std::unique_ptr<FormatWriter>> make_wav_writer(const WriterContext& ctx, bool rf64);
FileResult<std::unique_ptr<FormatWriter>> make_flac_writer(const WriterContext& ctx, int level);

// FLAC's STREAMINFO lies at a fixed place: "fLaC", a 4-byte block header, then the block. Its
// 36-bit total sample count starts in the low nibble of the block's byte 13.
constexpr int64_t flac_total_samples_offset = 8 + 13;
constexpr int64_t flac_md5_offset = 8 + 18;

// The 5 bytes at flac_total_samples_offset for `total` samples; `byte13` is the byte already
// there, whose high nibble (part of bits per sample) is kept.
void flac_total_samples_bytes(uint8_t byte13, uint64_t total, uint8_t out[5]);

}  // namespace framestamp::audiofile
