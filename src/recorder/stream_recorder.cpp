#include <pthread.h>

#include "framestamp/log.hpp"
#include "framestamp/recorder.hpp"
#include "framestamp/utc.hpp"
#include "recorder/ring_sink.hpp"
#include "recorder/stream_writer.hpp"

namespace framestamp {

namespace {

void name_thread(std::thread& t, const std::string& prefix, const std::string& stream) {
    // Linux thread names are at most 15 characters: enough to tell streams apart in top -H.
    const std::string name = (prefix + stream).substr(0, 15);
    pthread_setname_np(t.native_handle(), name.c_str());
}

}  // namespace

StreamRecorder::StreamRecorder(StreamSetup setup, std::unique_ptr<CaptureSource> source,
                               std::unique_ptr<SyncProbe> sync)
    : setup_(std::move(setup)), source_(std::move(source)), sync_(std::move(sync)) {
    const auto& p = setup_.capture.params;
    const std::size_t frame_bytes = sample_bytes(p.format) * p.channels;
    const std::size_t audio_bytes =
        static_cast<std::size_t>(p.rate_hz) * frame_bytes * setup_.ring_seconds;
    // Enough records for the ring's depth of points and events many times over: when the audio
    // ring is full the records must still have room to say so.
    const std::size_t records =
        std::max<std::size_t>(4096, static_cast<std::size_t>(setup_.ring_seconds) *
                                        (setup_.capture.timing_points_per_s + 64) * 4);
    sink_ = std::make_unique<RingSinkImpl>(audio_bytes, records, frame_bytes);
}

StreamRecorder::~StreamRecorder() {
    stop();
}

void StreamRecorder::start() {
    capture_thread_ = std::thread([this] {
        log_set_thread_stream(setup_.name);
        CaptureLoop loop(*source_, *sink_, sync_.get(), setup_.capture, capture_stats_);
        loop.run(stop_capture_);
        capture_done_.store(true, std::memory_order_release);
    });
    writer_thread_ = std::thread([this] {
        log_set_thread_stream(setup_.name);
        StreamWriter writer(setup_, *sink_, writer_stats_, &pending_);
        writer.run(capture_done_);
    });
    name_thread(capture_thread_, "cap-", setup_.name);
    name_thread(writer_thread_, "wr-", setup_.name);
}

void StreamRecorder::stop() {
    stop_capture_.store(true, std::memory_order_relaxed);
    if (capture_thread_.joinable()) {
        capture_thread_.join();
    }
    capture_done_.store(true, std::memory_order_release);
    if (writer_thread_.joinable()) {
        writer_thread_.join();
    }
}

void StreamRecorder::update_at_next_chunk(StreamSetup setup) {
    const std::lock_guard<std::mutex> lock(pending_.mutex);
    pending_.setup = std::move(setup);
    pending_.waiting.store(true, std::memory_order_release);
}

double StreamRecorder::ring_fill_s() const {
    const auto& p = setup_.capture.params;
    const double bytes_per_s =
        static_cast<double>(p.rate_hz) * static_cast<double>(sample_bytes(p.format) * p.channels);
    return static_cast<double>(sink_->audio().readable()) / bytes_per_s;
}

std::filesystem::path chunk_audio_path(const std::filesystem::path& data_dir,
                                       const std::string& stream, int64_t name_utc_ns,
                                       FileFormat format, int serial) {
    std::string file = stream + "_" + utc_compact(name_utc_ns);
    if (serial > 0) {
        file += "_" + std::to_string(serial);
    }
    file += ".";
    file += file_extension(format);
    return data_dir / stream / utc_date(name_utc_ns) / file;
}

std::filesystem::path timing_log_path_for(const std::filesystem::path& audio_path) {
    std::filesystem::path p = audio_path;
    p.replace_extension(".timing.csv");
    return p;
}

}  // namespace framestamp
