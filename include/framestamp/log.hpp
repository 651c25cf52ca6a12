// Logging: spdlog everywhere, to the systemd journal with structured fields when stderr is
// connected to it (JOURNAL_STREAM), else to stderr. Fields: SYSLOG_IDENTIFIER=framestampd,
// PRIORITY from the level, STREAM= for messages from a stream's threads, and any scoped
// LogFields (e.g. CHUNK=, FRAMES_LOST=) so `journalctl -u framestampd STREAM=front` filters.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace framestamp {

// Sets up the default logger. level: spdlog level name ("info", "warning" accepted too).
void log_setup(std::string_view level);

// True when stderr is the journal's stream (systemd sets JOURNAL_STREAM to its device:inode).
bool log_stderr_is_journal();

// The stream this thread works for; added as STREAM= to its messages. Empty: none.
void log_set_thread_stream(std::string stream);
const std::string& log_thread_stream();

// Extra journal fields for messages logged while this object lives (this thread only). Names must
// be upper case, as journald requires.
class LogFields {
  public:
    LogFields(std::initializer_list<std::pair<std::string_view, std::string>> fields);
    ~LogFields();
    LogFields(const LogFields&) = delete;
    LogFields& operator=(const LogFields&) = delete;

  private:
    std::size_t count_;
};
const std::vector<std::pair<std::string, std::string>>& log_thread_fields();

// Lets a repeated message through at most `burst` times per `interval_ns` per key; counts the
// rest, so the next message let through can say how many were suppressed. One per thread.
class LogRateLimiter {
  public:
    explicit LogRateLimiter(int64_t interval_ns = 60'000'000'000, uint32_t burst = 5)
        : interval_ns_(interval_ns), burst_(burst) {}
    // True if a message with this key may be logged now; *suppressed (if given) is then set to
    // the number suppressed since the last one let through.
    bool allow(std::string_view key, int64_t now_ns, uint64_t* suppressed = nullptr);

  private:
    struct Window {
        int64_t start_ns = 0;
        uint32_t count = 0;
        uint64_t suppressed = 0;
    };
    int64_t interval_ns_;
    uint32_t burst_;
    std::unordered_map<std::string, Window> windows_;
};

}  // namespace framestamp
