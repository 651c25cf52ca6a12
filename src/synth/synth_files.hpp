// framestampd's file naming and start-up recovery, for the synthesiser.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "framestamp/audio_format.hpp"

namespace framestamp::synth_detail {

// chunk_audio_path() and timing_log_path_for() of recorder.hpp.
std::filesystem::path audio_path(const std::filesystem::path& data_dir, const std::string& stream,
                                 int64_t name_utc_ns, FileFormat format, int serial);
std::filesystem::path log_path(const std::filesystem::path& audio_path);

// recover_stream_dir() of recorder.hpp; returns the number of failures.
int recover_stream(const std::filesystem::path& data_dir, const std::string& stream);

}  // namespace framestamp::synth_detail
