#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "framestamp/config.hpp"
#include "framestamp/daemon.hpp"
#include "framestamp/recorder.hpp"

#ifndef FRAMESTAMP_VERSION
#define FRAMESTAMP_VERSION "unknown"
#endif

namespace framestamp {

namespace {

constexpr const char* kDefaultConfig = "/etc/framestamp/framestamp.yaml";

void print_help(std::FILE* out) {
    std::fprintf(out,
                 "Usage: framestampd [--config FILE]\n"
                 "       framestampd --check-config FILE\n"
                 "\n"
                 "Records audio from ALSA devices into gap-free, frame-exact chunks with a timing\n"
                 "log that pairs hardware frame positions with CLOCK_REALTIME.\n"
                 "\n"
                 "Options:\n"
                 "  -c, --config FILE        configuration file (default %s)\n"
                 "      --check-config FILE  validate FILE, print the effective configuration\n"
                 "                           with defaults filled in, and exit\n"
                 "      --data-dir DIR       record into DIR instead of the file's data_dir\n"
                 "      --version            print the version and exit\n"
                 "  -h, --help               print this help and exit\n"
                 "\n"
                 "Exit codes: 0 success, 1 runtime failure, 64 bad command line,\n"
                 "69 no stream could record, 78 configuration error.\n"
                 "Signals: SIGTERM/SIGINT close every chunk cleanly and exit 0.\n",
                 kDefaultConfig);
}

StreamSetup setup_for(const Config& cfg, const StreamConfig& s) {
    StreamSetup st;
    st.name = s.name;
    st.data_dir = cfg.data_dir;
    st.capture.params.device = s.device;
    st.capture.params.rate_hz = s.rate_hz;
    st.capture.params.channels = s.channels;
    st.capture.params.format = s.format;
    st.capture.params.period_frames = s.period_frames;
    st.capture.params.buffer_frames = s.buffer_frames;
    st.capture.timing_points_per_s = cfg.timing_points_per_s;
    st.capture.overrun_fill_silence = s.overrun_fill_silence;
    st.capture.clock_step_threshold_ns = cfg.clock_step_threshold_ns;
    st.capture.sync_interval_ns = static_cast<int64_t>(cfg.sync_sample_interval_s) * 1'000'000'000;
    st.ring_seconds = s.ring_seconds;
    st.chunk_seconds = s.chunk_seconds;
    st.file_format = s.file_format;
    st.flac_level = s.flac_level;
    st.flush_interval_ns = static_cast<int64_t>(s.flush_interval_s) * 1'000'000'000;
    ChunkMetadata& m = st.metadata;
    m.recorder_id = cfg.site.recorder_id;
    m.site = cfg.site.site;
    m.notes = cfg.site.notes;
    m.latitude_deg = cfg.site.latitude_deg;
    m.longitude_deg = cfg.site.longitude_deg;
    m.elevation_m = cfg.site.elevation_m;
    m.make = s.hardware.make;
    m.model = s.hardware.model;
    m.serial = s.hardware.serial;
    m.software_version = std::string("framestamp ") + FRAMESTAMP_VERSION;
    return st;
}

// Loads the configuration, printing every issue on failure.
std::optional<Config> load_config(const std::string& path, const ConfigLoadOptions& options) {
    try {
        return config_load_file(path, options);
    } catch (const ConfigError& e) {
        std::fprintf(stderr, "framestampd: configuration error:\n%s\n", e.what());
        return std::nullopt;
    }
}

void setup_logging(const Config& cfg) {
    auto logger = spdlog::stderr_color_mt("framestampd");
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(cfg.log_level == "warning" ? "warn" : cfg.log_level));
}

int run(const Config& cfg) {
    setup_logging(cfg);
    // Signals are taken synchronously by this thread alone: block them before any thread starts
    // so the capture and writer threads inherit the mask.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    spdlog::info("framestampd {} starting: {} stream(s), data in {}", FRAMESTAMP_VERSION,
                 cfg.streams.size(), cfg.data_dir);
    for (const auto& s : cfg.streams) {
        const StreamRecoveryReport r = recover_stream_dir(cfg.data_dir, s.name);
        if (r.audio_recovered + r.audio_quarantined + r.logs_closed + r.failures > 0) {
            spdlog::warn(
                "{}: crash recovery: {} chunk(s) recovered, {} quarantined, {} timing "
                "log(s) closed, {} failure(s)",
                s.name, r.audio_recovered, r.audio_quarantined, r.logs_closed, r.failures);
        }
    }

    std::vector<std::unique_ptr<StreamRecorder>> streams;
    for (const auto& s : cfg.streams) {
        streams.push_back(std::make_unique<StreamRecorder>(setup_for(cfg, s), make_alsa_source(),
                                                           make_adjtimex_probe()));
    }
    for (auto& s : streams) {
        s->start();
    }

    int exit_code = kExitOk;
    for (;;) {
        timespec timeout{1, 0};
        const int sig = sigtimedwait(&sigs, nullptr, &timeout);
        if (sig == SIGTERM || sig == SIGINT) {
            spdlog::info("{}: closing every chunk and stopping", strsignal(sig));
            break;
        }
        if (sig == SIGHUP) {
            spdlog::warn("SIGHUP: reloading the configuration is not supported yet; ignored");
            continue;
        }
        bool all_failed = true;
        for (const auto& s : streams) {
            all_failed = all_failed && s->capture_stats().failed.load();
        }
        if (all_failed) {
            spdlog::error("no stream can record; exiting");
            exit_code = kExitUnavailable;
            break;
        }
    }
    for (auto& s : streams) {
        s->stop();
    }
    spdlog::info("framestampd stopped");
    return exit_code;
}

}  // namespace

int daemon_main(int argc, char** argv) {
    std::string config_path = kDefaultConfig;
    std::optional<std::string> check_path;
    ConfigLoadOptions options;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&](const char* opt) -> std::optional<std::string> {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "framestampd: %s needs a value\n", opt);
                return std::nullopt;
            }
            return std::string(argv[++i]);
        };
        if (a == "-h" || a == "--help") {
            print_help(stdout);
            return kExitOk;
        }
        if (a == "--version") {
            std::printf("framestampd %s\n", FRAMESTAMP_VERSION);
            return kExitOk;
        }
        if (a == "-c" || a == "--config") {
            auto v = value("--config");
            if (!v) {
                return kExitUsage;
            }
            config_path = *v;
        } else if (a.rfind("--config=", 0) == 0) {
            config_path = a.substr(9);
        } else if (a == "--check-config") {
            check_path = value("--check-config");
            if (!check_path) {
                return kExitUsage;
            }
        } else if (a == "--data-dir") {
            options.data_dir_override = value("--data-dir");
            if (!options.data_dir_override) {
                return kExitUsage;
            }
        } else if (a.rfind("--check-config=", 0) == 0) {
            check_path = a.substr(15);
        } else {
            std::fprintf(stderr, "framestampd: unknown option '%s' (try --help)\n", a.c_str());
            return kExitUsage;
        }
    }
    if (check_path) {
        const auto cfg = load_config(*check_path, options);
        if (!cfg) {
            return kExitConfig;
        }
        std::cout << config_dump(*cfg);
        return kExitOk;
    }
    const auto cfg = load_config(config_path, options);
    if (!cfg) {
        return kExitConfig;
    }
    return run(*cfg);
}

}  // namespace framestamp
