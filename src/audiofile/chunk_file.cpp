// ChunkFile: the .partial's life from O_EXCL creation to the rename, with the sync order that
// keeps it readable after a power cut at any instant.
#include <fcntl.h>

#include <cerrno>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "audiofile/io.hpp"
#include "audiofile/writer.hpp"

namespace framestamp {

using audiofile::FormatWriter;

class ChunkFile::Impl {
  public:
    Impl(Io& io_in, std::filesystem::path final_in, FileFormat format_in)
        : io(io_in),
          final_path(std::move(final_in)),
          partial_path(partial_path_for(final_path)),
          format(format_in) {}
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    ~Impl() {
        writer.reset();
        if (fd >= 0) {
            io.close(fd);
        }
    }

    // Records the first failure; returns the status unchanged.
    FileStatus fail(FileStatus status) {
        if (!status && !failure) {
            failure = status.error();
        }
        return status;
    }
    FileStatus finalize();

    Io& io;
    std::filesystem::path final_path;
    std::filesystem::path partial_path;
    FileFormat format;
    int fd = -1;
    std::unique_ptr<FormatWriter> writer;
    std::optional<FileError> failure;        // the first write or sync failure: sticky
    std::optional<FileStatus> close_result;  // set once closed or abandoned
    uint64_t durable_frames = 0;
    bool dirty = false;  // written since the last flush
};

namespace {

FileError closed_error(const std::filesystem::path& file) {
    return FileError{EBADF, fmt::format("write {}: chunk file already closed", file.string())};
}

FileError invalid(const std::filesystem::path& file, std::string_view why) {
    return FileError{EINVAL, fmt::format("create {}: {}", file.string(), why)};
}

FileStatus validate(const std::filesystem::path& final_path, FileFormat format, int flac_level,
                    const ChunkMetadata& meta) {
    if (final_path.filename().empty()) {
        return invalid(final_path, "no file name");
    }
    if (meta.rate_hz == 0 || meta.channels == 0) {
        return invalid(final_path, "sample rate and channels must be positive");
    }
    if (format == FileFormat::flac) {
        if (sample_bits(meta.format) > 24) {
            return invalid(final_path, fmt::format("FLAC stores 16 or 24 bits, not {}",
                                                   sample_format_name(meta.format)));
        }
        if (flac_level < 0 || flac_level > 8) {
            return invalid(final_path, fmt::format("FLAC level {} is not 0..8", flac_level));
        }
        if (meta.channels > 8) {
            return invalid(final_path, "FLAC stores at most 8 channels");
        }
        if (meta.rate_hz > 1'048'575) {
            return invalid(final_path, "FLAC stores rates up to 1048575 Hz");
        }
        return {};
    }
    const uint64_t block_align = uint64_t{sample_bits(meta.format) / 8} * meta.channels;
    if (block_align > 0xFFFF || block_align * meta.rate_hz > 0xFFFFFFFFULL) {
        return invalid(final_path, "too many channels or too high a rate for a WAV header");
    }
    return {};
}

}  // namespace

std::filesystem::path partial_path_for(const std::filesystem::path& final_path) {
    auto p = final_path;
    p += ".partial";
    return p;
}

FileResult<ChunkFile> ChunkFile::create(const std::filesystem::path& final_path, FileFormat format,
                                        int flac_level, const ChunkMetadata& meta, Io* io) {
    auto valid = validate(final_path, format, flac_level, meta);
    if (!valid) {
        return valid.error();
    }
    auto impl = std::make_unique<Impl>(io != nullptr ? *io : system_io(), final_path, format);
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::symlink_status(final_path, ec))) {
        return audiofile::sys_error(EEXIST, "create", final_path);
    }
    impl->fd = impl->io.open(impl->partial_path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (impl->fd < 0) {
        auto err = audiofile::sys_error(-impl->fd, "create", impl->partial_path);
        if (impl->fd == -EEXIST) {
            err.message += " (a crash left it: recover it first)";
        }
        return err;
    }
    const audiofile::WriterContext ctx{impl->io, impl->fd, impl->partial_path,
                                       final_path.filename().string(), meta};
    auto writer = format == FileFormat::flac
                      ? audiofile::make_flac_writer(ctx, flac_level)
                      : audiofile::make_wav_writer(ctx, format == FileFormat::rf64);
    FileStatus status;
    if (writer) {
        impl->writer = std::move(writer).value();
        // The header and the new directory entry are durable before any audio arrives.
        status = audiofile::sync_data(impl->io, impl->fd, impl->partial_path);
        if (status) {
            status = audiofile::sync_dir(impl->io, audiofile::parent_dir(impl->partial_path));
        }
    } else {
        status = writer.error();
    }
    if (!status) {
        // Nothing was recorded into it yet, so nothing is lost by removing it.
        impl->writer.reset();
        impl->io.close(impl->fd);
        impl->fd = -1;
        impl->io.unlink(impl->partial_path.c_str());
        return status.error();
    }
    return ChunkFile(std::move(impl));
}

ChunkFile::ChunkFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChunkFile::ChunkFile(ChunkFile&& other) noexcept = default;

namespace {

// Closes a chunk that its owner dropped without closing; logs instead of returning or throwing.
void close_dropped(ChunkFile& file) noexcept {
    try {
        auto status = file.close();
        if (!status) {
            spdlog::error("audio chunk closed when dropped: {}", status.error().message);
        }
    } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory while logging; never throw
    }
}

}  // namespace

ChunkFile& ChunkFile::operator=(ChunkFile&& other) noexcept {
    if (this != &other) {
        if (is_open()) {
            close_dropped(*this);
        }
        impl_ = std::move(other.impl_);
    }
    return *this;
}

ChunkFile::~ChunkFile() {
    if (is_open()) {
        close_dropped(*this);
    }
}

FileStatus ChunkFile::write(const void* interleaved, uint64_t frames) {
    if (!impl_ || impl_->close_result) {
        return closed_error(impl_ ? impl_->partial_path : std::filesystem::path());
    }
    if (impl_->failure) {
        return *impl_->failure;
    }
    if (frames == 0) {
        return {};
    }
    auto status = impl_->writer->write(static_cast<const uint8_t*>(interleaved), frames);
    impl_->dirty = true;
    if (!status && impl_->writer->failed()) {
        return impl_->fail(status);
    }
    return status;
}

FileStatus ChunkFile::flush() {
    if (!impl_ || impl_->close_result) {
        return closed_error(impl_ ? impl_->partial_path : std::filesystem::path());
    }
    Impl& m = *impl_;
    if (m.failure) {
        return *m.failure;
    }
    if (!m.dirty) {
        return {};
    }
    // Samples first, then the header that counts them: a header never claims unsynced data.
    auto status = audiofile::sync_data(m.io, m.fd, m.partial_path);
    if (status) {
        status = m.writer->patch_header();
    }
    if (status) {
        status = audiofile::sync_data(m.io, m.fd, m.partial_path);
    }
    if (!status) {
        return m.fail(status);
    }
    m.durable_frames = m.writer->frames_in_file();
    m.dirty = false;
    return {};
}

FileStatus ChunkFile::Impl::finalize() {
    FileStatus first;
    if (!failure) {
        first = fail(writer->finish());
    }
    if (failure) {
        auto status = writer->finish_after_error();
        if (!status && first) {
            first = status;
        }
    }
    auto status = audiofile::sync_all(io, fd, partial_path);
    if (!status && first) {
        first = status;
    }
    durable_frames = writer->frames_in_file();
    writer.reset();
    const int r = io.close(fd);
    fd = -1;
    if (r < 0 && first) {
        first = audiofile::sys_error(-r, "close", partial_path);
    }
    const int renamed = io.rename_noreplace(partial_path.c_str(), final_path.c_str());
    if (renamed < 0) {
        auto err = audiofile::sys_error(-renamed, "rename to " + final_path.string(), partial_path);
        return first ? FileStatus(err) : first;
    }
    status = audiofile::sync_dir(io, audiofile::parent_dir(final_path));
    return first ? status : first;
}

FileStatus ChunkFile::close() {
    if (!impl_) {
        return closed_error({});
    }
    if (!impl_->close_result) {
        impl_->close_result = impl_->finalize();
    }
    return *impl_->close_result;
}

void ChunkFile::abandon() {
    if (!impl_ || impl_->close_result) {
        return;
    }
    impl_->writer->abandon();
    impl_->writer.reset();
    impl_->io.close(impl_->fd);
    impl_->fd = -1;
    impl_->close_result = closed_error(impl_->partial_path);
}

uint64_t ChunkFile::frames_written() const {
    if (!impl_) {
        return 0;
    }
    if (!impl_->writer) {
        return impl_->durable_frames;
    }
    return impl_->writer->failed() ? impl_->writer->frames_in_file()
                                   : impl_->writer->frames_accepted();
}

uint64_t ChunkFile::frames_durable() const {
    return impl_ ? impl_->durable_frames : 0;
}

bool ChunkFile::is_open() const {
    return impl_ && !impl_->close_result;
}

FileFormat ChunkFile::format() const {
    return impl_ ? impl_->format : FileFormat::wav;
}

const std::filesystem::path& ChunkFile::final_path() const {
    static const std::filesystem::path none;
    return impl_ ? impl_->final_path : none;
}

const std::filesystem::path& ChunkFile::partial_path() const {
    static const std::filesystem::path none;
    return impl_ ? impl_->partial_path : none;
}

}  // namespace framestamp
