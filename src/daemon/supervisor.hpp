// The daemon's main thread: starts the streams, watches them, talks to systemd, handles signals.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "daemon/disk_monitor.hpp"
#include "daemon/notify.hpp"
#include "framestamp/clock_sync.hpp"
#include "framestamp/config.hpp"
#include "framestamp/recorder.hpp"

namespace framestamp {

class Supervisor {
  public:
    // load_options: how the configuration was loaded (re-used when SIGHUP reloads it).
    Supervisor(Config config, ConfigLoadOptions load_options);
    // Runs until SIGTERM/SIGINT (exit 0) or until no stream can record (69).
    int run();

    // The one-line status systemd shows (also logged at debug level).
    std::string status_line() const;

  private:
    void start_streams();
    bool all_started() const;
    bool capture_alive(int64_t now_ns, int64_t limit_ns) const;
    bool all_failed() const;
    StreamSetup setup_for(const Config& cfg, const StreamConfig& s) const;
    void reload();
    std::unique_ptr<StreamRecorder> make_stream(const Config& cfg, const StreamConfig& s) const;

    Config config_;
    ConfigLoadOptions load_options_;
    Notifier notifier_;
    std::unique_ptr<DiskMonitor> disk_;
    std::unique_ptr<SyncMonitor> sync_;
    std::vector<std::unique_ptr<StreamRecorder>> streams_;
};

}  // namespace framestamp
