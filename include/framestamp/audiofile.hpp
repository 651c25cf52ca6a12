// Audio chunk files: one chunk of one stream written as FLAC, WAV or RF64, crash-safe, with the
// UTC of its first sample in its metadata, and recovery of the `.partial` a crash leaves behind.
// docs/file-format.md describes the bytes on disk.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "framestamp/audio_format.hpp"
#include "framestamp/audiofile_io.hpp"

namespace framestamp {

// What goes into every chunk's metadata (bext + guan chunks, or FLAC Vorbis comments). The daemon
// fills it; nothing here depends on the config module.
struct ChunkMetadata {
    std::string stream;                // stream name, e.g. "mic1"
    std::string session;               // session id of the stream's current device session
    uint64_t first_session_frame = 0;  // session frame index of the chunk's first frame
    int64_t first_sample_utc_ns = 0;   // CLOCK_REALTIME of the first frame, ns since the epoch
    uint32_t rate_hz = 0;              // nominal sample rate
    uint32_t channels = 0;
    SampleFormat format = SampleFormat::s16_le;  // format of the frames handed to write()
    std::string recorder_id;
    std::string site;
    std::string notes;
    std::optional<double> latitude_deg;   // WGS84, positive north
    std::optional<double> longitude_deg;  // WGS84, positive east
    std::optional<double> elevation_m;    // above mean sea level
    std::string make;
    std::string model;
    std::string serial;
    std::string
        software_version;  // framestamp's bare version, "0.1.0": the writers add "framestamp "
};

// A failed file operation. The message names the operation and the file and ends with the
// system's description of errno, e.g. "write /data/a.wav.partial: No space left on device".
struct FileError {
    int errno_value = 0;  // errno of the failing call (EINVAL, EFBIG, ... for non-system errors)
    std::string message;
};

// A value or a FileError.
template <typename T>
class [[nodiscard]] FileResult {
  public:
    FileResult(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    FileResult(FileError error) : v_(std::in_place_index<1>, std::move(error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    const FileError& error() const { return std::get<1>(v_); }

  private:
    std::variant<T, FileError> v_;
};

template <>
class [[nodiscard]] FileResult<void> {
  public:
    FileResult() = default;
    FileResult(FileError error) : error_(std::move(error)) {}

    bool ok() const { return !error_.has_value(); }
    explicit operator bool() const { return ok(); }
    const FileError& error() const { return *error_; }

  private:
    std::optional<FileError> error_;
};

using FileStatus = FileResult<void>;

// One chunk file being written under `<final path>.partial`. Move-only; used by one thread.
//
// Crash safety: after create() and after every flush() the .partial is a valid, readable file
// holding everything written up to that call (FLAC: up to the last complete encoder block), made
// durable with fdatasync. close() finalises it, fsyncs it, renames it to the final name (never
// replacing an existing file) and fsyncs the directory.
//
// Errors: a write or sync failure makes the file "failed": write() and flush() then return the
// same error, and close() cuts the file back to the last whole frame that reached it, patches its
// header and renames it as usual, so whatever was written stays readable. A write refused by the
// WAV size limit (EFBIG) writes nothing and does not fail the file.
class ChunkFile {
  public:
    // Largest RIFF size field of a plain WAV file: its bytes after the first 8 must fit 32 bits.
    static constexpr uint64_t wav_max_riff_bytes = 0xFFFFFFFFULL;

    // flac_level 0..8 is used for FLAC only. FLAC accepts S16_LE, S24_LE and S24_3LE. Fails with
    // EEXIST if the final file or its .partial already exists (recover the .partial first). `io`
    // must outlive the ChunkFile; nullptr means system_io().
    static FileResult<ChunkFile> create(const std::filesystem::path& final_path, FileFormat format,
                                        int flac_level, const ChunkMetadata& meta,
                                        Io* io = nullptr);

    ChunkFile(ChunkFile&& other) noexcept;
    ChunkFile& operator=(ChunkFile&& other) noexcept;
    ChunkFile(const ChunkFile&) = delete;
    ChunkFile& operator=(const ChunkFile&) = delete;
    // Closes the file if still open, logging (never throwing) any error.
    ~ChunkFile();

    // Appends `frames` interleaved frames in the metadata's sample format and channel count.
    FileStatus write(const void* interleaved, uint64_t frames);
    // Makes everything written so far durable and readable (see above).
    FileStatus flush();
    // Finalises, syncs and renames to the final name. Idempotent: later calls return the first
    // call's result.
    FileStatus close();
    // Test hook that simulates a crash: drops the file descriptor with no header update, sync or
    // rename, leaving the .partial exactly as the last write left it in the page cache.
    void abandon();

    // Frames accepted by write() that are in the file (or in the FLAC encoder's block buffer).
    // After a failure: the frames the closed file will hold.
    uint64_t frames_written() const;
    // Frames readable from the .partial after a power cut now (as of the last flush()).
    uint64_t frames_durable() const;
    bool is_open() const;
    FileFormat format() const;
    const std::filesystem::path& final_path() const;
    const std::filesystem::path& partial_path() const;

    class Impl;

  private:
    explicit ChunkFile(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// The .partial name of a chunk: "<final path>.partial".
std::filesystem::path partial_path_for(const std::filesystem::path& final_path);

enum class RecoveryMethod {
    wav_sizes_fixed,        // RIFF and data sizes set from the file length, torn frame cut
    rf64_sizes_fixed,       // ds64 sizes set from the file length, torn frame cut
    flac_streaminfo_fixed,  // cut after the last whole frame, STREAMINFO sample count set
    flac_damaged_kept,      // damage before the end: nothing cut, STREAMINFO count set unknown
    quarantined,            // hopeless: renamed to <partial>.corrupt, bytes untouched
};

std::string_view recovery_method_name(RecoveryMethod m);

// What recover_partial() did, for the daemon's log and the chunk's timing log.
struct RecoveryReport {
    RecoveryMethod method = RecoveryMethod::quarantined;
    std::filesystem::path path;  // where the file is now: the final name, or the .corrupt name
    uint64_t frames_recovered = 0;
    uint64_t bytes_dropped = 0;  // bytes cut from the end of the file (a torn frame)
    uint32_t rate_hz = 0;        // from the file's header, 0 if unknown
    uint32_t channels = 0;
    // Read back from the file's own metadata when present.
    std::optional<uint64_t> first_session_frame;
    std::optional<int64_t> first_sample_utc_ns;
    // Also from the file's metadata, empty when absent: enough to rebuild the head of a timing
    // log that lost it.
    std::string session;
    std::string sample_format;
    std::string recorder;
    std::string detail;  // one line for the log: what was found and done
};

// Start-up after a crash: makes `partial` (a "<final>.partial" file) a readable file and renames
// it to its final name, or renames a hopeless one aside to "<partial>.corrupt". Nothing recorded
// is ever deleted. Fails (touching nothing) with EEXIST if the final name is taken, or with the
// errno of a failing call.
FileResult<RecoveryReport> recover_partial(const std::filesystem::path& partial, Io* io = nullptr);

}  // namespace framestamp
