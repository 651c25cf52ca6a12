#include "synth/synth_feed.hpp"

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace framestamp::synth_detail {

namespace {

// Frames of signal generated per StreamWriter::write_audio call.
constexpr uint64_t kBlockFrames = 16384;
// Audio given within this many seconds of a chunk that keeps its audio is generated, not silence:
// the frames of a block were captured within a period before the instants it was given between.
constexpr double kSignalMarginS = 1.0;
// Timing-log rows per write when no crash is simulated (see writer_setup()).
constexpr double kRowsPerWrite = 32768.0;

LiveDriftOptions drift_options() {
    LiveDriftOptions o;
    // The daemon refits 4 times a second, an O(window) fit; 120 days of that would take most
    // of an hour. Between refits the estimator still lowers its line onto each point, so the
    // estimate (used only for chunk cuts and the times of chunk rows) moves by microseconds,
    // not by whole frames at a boundary.
    o.refit_interval_s = 60.0;
    return o;
}

// Keeps the first error-level message the writer logs; drops everything else.
class FirstErrorSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
  public:
    explicit FirstErrorSink(std::shared_ptr<std::string> error) : error_(std::move(error)) {}

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        if (msg.level >= spdlog::level::err && error_->empty()) {
            error_->assign(msg.payload.data(), msg.payload.size());
        }
    }
    void flush_() override {}

  private:
    std::shared_ptr<std::string> error_;
};

StreamSetup writer_setup(const SynthSpec& spec, const std::atomic<bool>* disk_paused) {
    StreamSetup s;
    s.name = spec.stream;
    s.data_dir = spec.data_dir;
    CaptureParams& p = s.capture.params;
    p.device = spec.device;
    p.rate_hz = spec.sim.rate_hz;
    p.channels = spec.channels;
    p.format = SampleFormat::s16_le;
    p.period_frames = spec.period_frames;
    p.buffer_frames = spec.buffer_frames;
    s.capture.clock_step_threshold_ns = spec.clock_step_threshold_ns;
    s.chunk_seconds = static_cast<uint32_t>(std::llround(spec.chunk_s));
    s.file_format = spec.file_format;
    s.flac_level = spec.flac_level;
    // A flush decides only what a crash leaves behind. With no crash to simulate, the logs go
    // to disk in pieces of some 32 k rows instead, a write() every 10 s of audio being the
    // larger part of the generator's system time.
    double flush_s = spec.flush_interval_s;
    const bool crashes = std::any_of(spec.events.begin(), spec.events.end(), [](const auto& e) {
        return e.kind == SynthEvent::Kind::crash || e.kind == SynthEvent::Kind::crash_recover;
    });
    if (!crashes) {
        flush_s = std::max(flush_s, kRowsPerWrite / spec.sim.points_per_s);
    }
    s.flush_interval_ns = std::llround(flush_s * 1e9);
    s.metadata.recorder_id = spec.recorder_id;
    s.metadata.site = "synthetic";
    s.metadata.notes = "synthetic archive written by framestamp's synth module";
    s.metadata.software_version = FRAMESTAMP_VERSION;  // the writers add "framestamp "
    s.first_chunk_wait_s = spec.first_chunk_wait_s;
    s.disk_paused = disk_paused;
    return s;
}

}  // namespace

void WriterFeed::Clock::set(double t_s) {
    t_s_ = t_s;
    // CLOCK_MONOTONIC is taken as the raw clock: both run from boot at nearly the true rate.
    raw_ns_ = truth_.raw_ns_at(t_s);
}

WriterFeed::WriterFeed(const SynthSpec& spec, const SimCard& truth, SynthResult& result)
    : spec_(spec),
      truth_(truth),
      result_(result),
      signal_(spec.signal, spec.channels, truth),
      setup_(writer_setup(spec, &disk_paused_)),
      clock_(truth),
      error_(std::make_shared<std::string>()) {
    logger_ = std::make_shared<spdlog::logger>("synth", std::make_shared<FirstErrorSink>(error_));
    // Info and debug messages (one per chunk) are not even formatted.
    logger_->set_level(spdlog::level::err);
    clock_.set(0.0);
    make_writer();
}

WriterFeed::~WriterFeed() {
    if (writer_) {
        writer_->abandon();
    }
}

WriterEnv WriterFeed::env() {
    WriterEnv e;
    e.clock = &clock_;
    // The rows reach the file at each flush, so a simulated crash loses what the daemon would;
    // an fdatasync every 10 s of audio would make 120 days take hours.
    e.sync_log_flushes = false;
    e.drift = drift_options();
    e.chunk_has_audio = [this](const std::filesystem::path& audio_path, const ChunkMetadata& meta) {
        return chunk_has_audio(audio_path, meta);
    };
    e.logger = logger_;
    return e;
}

void WriterFeed::make_writer() {
    writer_.emplace(setup_, stats_, env());
    session_ = 0;
}

bool WriterFeed::chunk_has_audio(const std::filesystem::path& audio_path,
                                 const ChunkMetadata& meta) {
    const double t_first_s = truth_.time_of_frame(static_cast<double>(meta.first_session_frame) +
                                                  static_cast<double>(sim_offset_));
    chunk_audio_ = spec_.write_audio && t_first_s > spec_.audio_from_s - spec_.chunk_s &&
                   t_first_s < spec_.audio_to_s;
    if (chunk_audio_) {
        result_.audio_files.push_back(audio_path);
    }
    result_.timing_logs.push_back(timing_log_path_for(audio_path));
    return chunk_audio_;
}

bool WriterFeed::signal_needed() const {
    if (!spec_.write_audio) {
        return false;
    }
    if (chunk_audio_) {
        return true;  // the open chunk keeps it (or a new session's first chunk may)
    }
    // A chunk that keeps its audio may open within these frames, or (a session's first chunk)
    // up to first_chunk_wait_s after them.
    const double from_s = spec_.audio_from_s - spec_.chunk_s - kSignalMarginS;
    const double to_s = spec_.audio_to_s + spec_.first_chunk_wait_s + kSignalMarginS;
    return fed_s_ - kSignalMarginS < to_s && clock_.t_s() + kSignalMarginS > from_s;
}

void WriterFeed::set_time(double t_s) {
    clock_.set(t_s);
}

void WriterFeed::begin_session() {
    ++session_;
    fed_s_ = clock_.t_s();
}

void WriterFeed::audio_to(uint64_t end) {
    uint64_t first = writer_->session_frames();
    if (end <= first) {
        return;
    }
    if (!signal_needed()) {
        writer_->write_audio(nullptr, end - first);
    } else {
        while (first < end) {
            const uint64_t k = std::min(kBlockFrames, end - first);
            buffer_.resize(k * spec_.channels);
            signal_.fill(buffer_.data(), first, k, sim_offset_);
            writer_->write_audio(buffer_.data(), k);
            first += k;
        }
    }
    fed_s_ = clock_.t_s();
    after();
}

void WriterFeed::record(CaptureRecord r) {
    r.session = session_;
    writer_->apply(r);
    after();
}

void WriterFeed::set_disk_paused(bool paused) {
    disk_paused_.store(paused, std::memory_order_relaxed);
}

void WriterFeed::finish() {
    writer_->finish("shutdown");
    after();
}

std::vector<std::filesystem::path> WriterFeed::crash() {
    std::vector<std::filesystem::path> left = writer_->abandon();
    for (const std::filesystem::path& p : left) {
        const bool log = p.filename().string().find(".timing.csv") != std::string::npos;
        (log ? result_.timing_logs : result_.audio_files).back() = p;
    }
    rows_of_dead_writers_ += writer_->rows_written();
    disk_paused_.store(false, std::memory_order_relaxed);
    make_writer();
    return left;
}

void WriterFeed::account() {
    result_.rows = rows_of_dead_writers_ + writer_->rows_written();
    result_.frames = stats_.frames_written.load(std::memory_order_relaxed);
}

void WriterFeed::after() {
    writer_->flush_if_due();
    if (!error_->empty()) {
        throw std::runtime_error("synthetic archive: " + *error_);
    }
}

}  // namespace framestamp::synth_detail
