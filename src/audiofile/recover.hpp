// The format-specific halves of recover_partial(): each makes an open .partial consistent in
// place, or says why it cannot.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "framestamp/audiofile.hpp"

namespace framestamp::audiofile {

struct Salvage {
    bool hopeless = false;  // leave the bytes alone and quarantine the file; `detail` says why
    RecoveryReport report;  // everything but `path`
};

// `fd` is open read-write; `size` is the file's length in bytes.
FileResult<Salvage> salvage_wav(Io& io, int fd, const std::filesystem::path& file, int64_t size);
FileResult<Salvage> salvage_flac(Io& io, int fd, const std::filesystem::path& file, int64_t size);

}  // namespace framestamp::audiofile
