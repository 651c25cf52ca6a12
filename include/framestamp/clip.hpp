// `framestamp extract`: the audio of a UTC range, per stream, as a new WAV, RF64 or FLAC file
// with bext/GUANO metadata. Sample-exact (the recorded samples, untouched) or resampled onto the
// UTC grid (drift removed). docs/cli.md ("extract") describes options, naming and errors.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "framestamp/archive.hpp"
#include "framestamp/audio_format.hpp"

namespace framestamp {

// Anything that stops an extraction; what() is a complete sentence naming the stream, the UTC
// and the file concerned, ready to print.
class ClipError : public std::runtime_error {
  public:
    enum class Kind {
        not_recorded,  // the archive cannot give what was asked: no such stream, a gap, no model
        usage,         // the request itself is impossible: empty range, unknown extension
        output,        // the output file exists or cannot be written
    };
    explicit ClipError(const std::string& what, Kind kind = Kind::not_recorded)
        : std::runtime_error(what), kind_(kind) {}
    Kind kind() const { return kind_; }

  private:
    Kind kind_;
};

struct ExtractOptions {
    int64_t from_utc_ns = 0;           // first instant wanted (inclusive)
    int64_t to_utc_ns = 0;             // end (exclusive)
    std::vector<std::string> streams;  // empty: every stream of the archive
    // Output file; its extension sets the format: .wav, .flac or .rf64 (an RF64 file). With more
    // than one stream, each goes to <stem>_<stream><ext> beside it.
    std::filesystem::path output;
    // false: the recorded frames whose UTC lies in [from, to), bit for bit.
    // true: output sample n is at exactly from + n / rate (nominal rate), interpolated from the
    // recording where the drift model puts that instant.
    bool resample = false;
    // Fill gaps (device loss, missing chunk, write gap, missing or short audio file, or no
    // recording at one end of the range) with zero frames instead of failing.
    bool fill_gaps = false;
    bool overwrite = false;  // replace an existing output file
    int flac_level = 5;
};

struct ExtractResult {
    std::string stream;
    std::filesystem::path output;
    FileFormat file_format = FileFormat::wav;
    SampleFormat sample_format = SampleFormat::s16_le;  // of the output file
    uint32_t rate_hz = 0;
    uint32_t channels = 0;
    uint64_t frames = 0;       // written, zero fill included
    uint64_t zero_frames = 0;  // of which filled in for gaps
    std::string session;       // of the first recorded frame
    // Sample-exact: the session frame of the file's first frame. Resampled: the (fractional)
    // session frame at from_utc_ns, i.e. where output sample 0 was taken.
    uint64_t first_session_frame = 0;
    double first_frame_frac = 0;  // resampled only: fractional part, [0, 1)
    // UTC of the file's first sample: the model's UTC of the first frame (sample-exact, at or
    // just after from_utc_ns) or from_utc_ns itself (resampled).
    int64_t first_sample_utc_ns = 0;
    int64_t uncertainty_ns = 0;  // of that UTC (fit + clock), from the model
    bool resampled = false;
    std::vector<std::string> notes;  // gaps filled, segments crossed, ...
};

// Extracts every selected stream's clip. Throws ClipError (bad range or options, no recording,
// a gap without fill_gaps, unreadable audio, an existing output without overwrite, a write
// failure) and ArchiveError from the archive. An output is only created once its plan is known
// to succeed; a failed write leaves no output behind.
std::vector<ExtractResult> extract_clips(const Archive& archive, const ExtractOptions& options);

// The output file of `stream` when `stream_count` streams are extracted to `output`.
std::filesystem::path clip_output_path(const std::filesystem::path& output,
                                       const std::string& stream, std::size_t stream_count);

}  // namespace framestamp
