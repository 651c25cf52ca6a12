// Sample and file formats shared by the config, capture and file-writing modules.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace framestamp {

// ALSA sample formats framestamp records. All little-endian, interleaved.
enum class SampleFormat { s16_le, s24_le, s24_3le, s32_le, float_le };

// Bytes one sample occupies in memory (S24_LE is 24 bits in 4 bytes).
constexpr std::size_t sample_bytes(SampleFormat f) {
    switch (f) {
        case SampleFormat::s16_le:
            return 2;
        case SampleFormat::s24_3le:
            return 3;
        case SampleFormat::s24_le:
        case SampleFormat::s32_le:
        case SampleFormat::float_le:
            return 4;
    }
    return 0;
}

// Significant bits of one sample (what a file format must be able to hold).
constexpr unsigned sample_bits(SampleFormat f) {
    switch (f) {
        case SampleFormat::s16_le:
            return 16;
        case SampleFormat::s24_le:
        case SampleFormat::s24_3le:
            return 24;
        case SampleFormat::s32_le:
        case SampleFormat::float_le:
            return 32;
    }
    return 0;
}

// ALSA's name for the format ("S16_LE", ...).
constexpr std::string_view sample_format_name(SampleFormat f) {
    switch (f) {
        case SampleFormat::s16_le:
            return "S16_LE";
        case SampleFormat::s24_le:
            return "S24_LE";
        case SampleFormat::s24_3le:
            return "S24_3LE";
        case SampleFormat::s32_le:
            return "S32_LE";
        case SampleFormat::float_le:
            return "FLOAT_LE";
    }
    return "?";
}

constexpr std::optional<SampleFormat> parse_sample_format(std::string_view name) {
    for (auto f : {SampleFormat::s16_le, SampleFormat::s24_le, SampleFormat::s24_3le,
                   SampleFormat::s32_le, SampleFormat::float_le}) {
        if (sample_format_name(f) == name) {
            return f;
        }
    }
    return std::nullopt;
}

enum class FileFormat { flac, wav, rf64 };

constexpr std::string_view file_format_name(FileFormat f) {
    switch (f) {
        case FileFormat::flac:
            return "flac";
        case FileFormat::wav:
            return "wav";
        case FileFormat::rf64:
            return "rf64";
    }
    return "?";
}

// File name extension, without the dot. RF64 files keep the .wav extension that tools expect.
constexpr std::string_view file_extension(FileFormat f) {
    return f == FileFormat::flac ? "flac" : "wav";
}

constexpr std::optional<FileFormat> parse_file_format(std::string_view name) {
    for (auto f : {FileFormat::flac, FileFormat::wav, FileFormat::rf64}) {
        if (file_format_name(f) == name) {
            return f;
        }
    }
    return std::nullopt;
}

}  // namespace framestamp
