#include "emu_testkit.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace emutest {

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/fstest.XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
        throw std::runtime_error("mkdtemp failed for " + tmpl);
    }
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::string define_pcm(const TempDir& dir, const std::string& name, const std::string& body) {
    const std::string conf = dir.file(name + ".conf");
    std::ofstream(conf) << "pcm." << name << " {\n    type fsemu\n" << body << "\n}\n";
    const std::string path =
        std::string("/usr/share/alsa/alsa.conf:") + FSEMU_ALSA_CONF + ":" + conf;
    setenv("ALSA_CONFIG_PATH", path.c_str(), 1);
    snd_config_update_free_global();  // the next open reads the new path
    return path;
}

std::vector<TruthRow> read_truth(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        throw std::runtime_error("cannot read truth log " + path);
    }
    std::vector<TruthRow> rows;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#' || line.rfind("kind,", 0) == 0) {
            continue;
        }
        std::istringstream ss(line);
        TruthRow r;
        std::string field;
        std::getline(ss, r.kind, ',');
        std::getline(ss, field, ',');
        r.start_index = std::stoull(field);
        std::getline(ss, field, ',');
        r.stream_frame = std::stoull(field);
        std::getline(ss, field, ',');
        r.card_frame = std::stoll(field);
        std::getline(ss, field, ',');
        r.realtime_ns = std::stoll(field);
        std::getline(ss, field, ',');
        r.channel = std::stoi(field);
        if (std::getline(ss, field, ',') && !field.empty()) {
            r.latency_ns = std::stoll(field);  // v2: a seventh column
        }
        rows.push_back(r);
    }
    return rows;
}

std::vector<TruthRow> truth_of_kind(const std::vector<TruthRow>& rows, const std::string& kind) {
    std::vector<TruthRow> out;
    std::copy_if(rows.begin(), rows.end(), std::back_inserter(out),
                 [&](const TruthRow& r) { return r.kind == kind; });
    return out;
}

double truth_position_at(const std::vector<TruthRow>& rows, uint64_t start_index,
                         int64_t realtime_ns) {
    const TruthRow* before = nullptr;
    const TruthRow* after = nullptr;
    for (const auto& r : rows) {
        if (r.start_index != start_index || (r.kind != "point" && r.kind != "start")) {
            continue;
        }
        if (r.realtime_ns <= realtime_ns) {
            before = &r;
        } else {
            after = &r;
            break;
        }
    }
    if (before == nullptr || after == nullptr) {
        throw std::runtime_error("realtime outside the truth log");
    }
    const double span = static_cast<double>(after->realtime_ns - before->realtime_ns);
    const double frac = static_cast<double>(realtime_ns - before->realtime_ns) / span;
    return static_cast<double>(before->stream_frame) +
           frac * static_cast<double>(after->stream_frame - before->stream_frame);
}

int open_capture(const std::string& name, const CaptureParams& p, snd_pcm_t** out) {
    snd_pcm_t* pcm = nullptr;
    int err = snd_pcm_open(&pcm, name.c_str(), SND_PCM_STREAM_CAPTURE, 0);
    if (err < 0) {
        return err;
    }
    snd_pcm_hw_params_t* hw = nullptr;
    snd_pcm_hw_params_alloca(&hw);
    snd_pcm_uframes_t period = p.period;
    snd_pcm_uframes_t buffer = p.buffer;
    if ((err = snd_pcm_hw_params_any(pcm, hw)) < 0 ||
        (err = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)) < 0 ||
        (err = snd_pcm_hw_params_set_format(pcm, hw, p.format)) < 0 ||
        (err = snd_pcm_hw_params_set_channels(pcm, hw, p.channels)) < 0 ||
        (err = snd_pcm_hw_params_set_rate(pcm, hw, p.rate, 0)) < 0 ||
        (err = snd_pcm_hw_params_set_period_size_near(pcm, hw, &period, nullptr)) < 0 ||
        (err = snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &buffer)) < 0 ||
        (err = snd_pcm_hw_params(pcm, hw)) < 0) {
        snd_pcm_close(pcm);
        return err;
    }
    snd_pcm_sw_params_t* sw = nullptr;
    snd_pcm_sw_params_alloca(&sw);
    if ((err = snd_pcm_sw_params_current(pcm, sw)) < 0 ||
        (err = snd_pcm_sw_params_set_tstamp_mode(pcm, sw, SND_PCM_TSTAMP_ENABLE)) < 0 ||
        (err = snd_pcm_sw_params_set_tstamp_type(pcm, sw, SND_PCM_TSTAMP_TYPE_GETTIMEOFDAY)) < 0 ||
        (err = snd_pcm_sw_params_set_avail_min(pcm, sw, period)) < 0 ||
        (err = snd_pcm_sw_params(pcm, sw)) < 0) {
        snd_pcm_close(pcm);
        return err;
    }
    *out = pcm;
    return 0;
}

int64_t realtime_now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int64_t to_ns(const snd_htimestamp_t& ts) {
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace emutest
