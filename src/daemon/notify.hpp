// sd_notify for Type=notify: READY, STATUS, WATCHDOG, STOPPING. Without NOTIFY_SOCKET (not under
// systemd) every call is a no-op.
#pragma once

#include <cstdint>
#include <string>

namespace framestamp {

class Notifier {
  public:
    Notifier();
    // Watchdog interval systemd expects pings within, in ns; 0 when the watchdog is off.
    int64_t watchdog_ns() const { return watchdog_ns_; }
    void ready(const std::string& status);
    void status(const std::string& status);
    void watchdog();
    void stopping(const std::string& status);

  private:
    int64_t watchdog_ns_ = 0;
};

}  // namespace framestamp
