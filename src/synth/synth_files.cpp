#include "synth/synth_files.hpp"

#include "framestamp/recorder.hpp"

namespace framestamp::synth_detail {

std::filesystem::path audio_path(const std::filesystem::path& data_dir, const std::string& stream,
                                 int64_t name_utc_ns, FileFormat format, int serial) {
    return chunk_audio_path(data_dir, stream, name_utc_ns, format, serial);
}

std::filesystem::path log_path(const std::filesystem::path& audio_path) {
    return timing_log_path_for(audio_path);
}

int recover_stream(const std::filesystem::path& data_dir, const std::string& stream) {
    return recover_stream_dir(data_dir, stream).failures;
}

}  // namespace framestamp::synth_detail
