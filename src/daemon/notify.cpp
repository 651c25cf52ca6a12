#include "daemon/notify.hpp"

#include <systemd/sd-daemon.h>

namespace framestamp {

Notifier::Notifier() {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0) {
        watchdog_ns_ = static_cast<int64_t>(usec) * 1000;
    }
}

void Notifier::ready(const std::string& status) {
    sd_notifyf(0, "READY=1\nSTATUS=%s", status.c_str());
}

void Notifier::status(const std::string& status) {
    sd_notifyf(0, "STATUS=%s", status.c_str());
}

void Notifier::watchdog() {
    sd_notify(0, "WATCHDOG=1");
}

void Notifier::stopping(const std::string& status) {
    sd_notifyf(0, "STOPPING=1\nSTATUS=%s", status.c_str());
}

}  // namespace framestamp
