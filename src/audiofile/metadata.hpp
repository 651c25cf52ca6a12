// The metadata written into every chunk: BWF bext, GUANO text and FLAC Vorbis comments, all built
// from one ChunkMetadata so the three carry the same facts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "framestamp/audiofile.hpp"

namespace framestamp::audiofile {

// "2026-11-24T06:10:00.000123Z": UTC, microseconds truncated (never rounded into the next second).
std::string iso_utc_us(int64_t utc_ns);

// Samples since the UTC midnight before utc_ns at the nominal rate, rounded to the nearest
// sample: the BWF TimeReference of a first sample at utc_ns.
uint64_t samples_since_utc_midnight(int64_t utc_ns, uint32_t rate_hz);

// GUANO metadata text ("GUANO|Version: 1.0" first, one "key: value" line each). Length in
// seconds is left out when not given.
std::string guano_text(const ChunkMetadata& meta, std::string_view original_filename,
                       std::optional<double> length_s);

// "Length: ..." value text for a chunk of `frames` frames.
std::string guano_length(uint64_t frames, uint32_t rate_hz);

// The trimmed value of `key` in GUANO text, if present.
std::optional<std::string> guano_value(std::string_view text, std::string_view key);

// `text` with its Length line set to length_text, padded with spaces to exactly `size` bytes;
// nullopt if it does not fit.
std::optional<std::string> guano_with_length(std::string_view text, std::string_view length_text,
                                             std::size_t size);

// The body of a BWF bext chunk (EBU Tech 3285 version 1), an even number of bytes.
std::vector<uint8_t> bext_body(const ChunkMetadata& meta, unsigned stored_bits);

// FLAC Vorbis comments (name, value), names upper case.
std::vector<std::pair<std::string, std::string>> vorbis_comments(const ChunkMetadata& meta,
                                                                 std::string_view guano);

}  // namespace framestamp::audiofile
