
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "daemon/list_devices.hpp"
#include "daemon/supervisor.hpp"
#include "framestamp/config.hpp"
#include "framestamp/daemon.hpp"
#include "framestamp/log.hpp"

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
                 "      --list-devices       list ALSA cards and capture PCMs with the rates,\n"
                 "                           channels and formats they accept, and exit\n"
                 "      --version            print the version and exit\n"
                 "  -h, --help               print this help and exit\n"
                 "\n"
                 "Exit codes: 0 success, 1 runtime failure, 64 bad command line,\n"
                 "69 no stream could record, 78 configuration error.\n"
                 "Signals: SIGTERM/SIGINT close every chunk cleanly and exit 0; SIGHUP\n"
                 "reloads the configuration (metadata and chunking from the next chunk on;\n"
                 "device or format changes restart that stream alone; an invalid file is\n"
                 "logged and the running configuration kept).\n",
                 kDefaultConfig);
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
        if (a == "--list-devices") {
            return list_devices(stdout) == 0 ? kExitOk : kExitFailure;
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
    log_setup(cfg->log_level);
    Supervisor supervisor(*cfg, options);
    return supervisor.run();
}

}  // namespace framestamp
