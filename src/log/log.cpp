#include "framestamp/log.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace framestamp {

namespace {

thread_local std::string t_stream;
thread_local std::vector<std::pair<std::string, std::string>> t_fields;

int syslog_priority(spdlog::level::level_enum l) {
    switch (l) {
        case spdlog::level::trace:
        case spdlog::level::debug:
            return LOG_DEBUG;
        case spdlog::level::info:
            return LOG_INFO;
        case spdlog::level::warn:
            return LOG_WARNING;
        case spdlog::level::err:
            return LOG_ERR;
        case spdlog::level::critical:
            return LOG_CRIT;
        default:
            return LOG_INFO;
    }
}

// Writes each message to the journal with its priority and the thread's fields. The sink runs on
// the logging thread, so the thread-local context is the caller's.
class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        std::vector<std::string> fields;
        fields.reserve(4 + t_fields.size());
        fields.push_back("MESSAGE=" + std::string(msg.payload.data(), msg.payload.size()));
        fields.push_back("PRIORITY=" + std::to_string(syslog_priority(msg.level)));
        fields.emplace_back("SYSLOG_IDENTIFIER=framestampd");
        if (!t_stream.empty()) {
            fields.push_back("STREAM=" + t_stream);
        }
        for (const auto& [k, v] : t_fields) {
            fields.push_back(k + "=" + v);
        }
        std::vector<iovec> iov(fields.size());
        for (std::size_t i = 0; i < fields.size(); ++i) {
            iov[i].iov_base = fields[i].data();
            iov[i].iov_len = fields[i].size();
        }
        if (sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) < 0) {
            // The journal is gone (shutdown): stderr is the journal's stream too, or nothing.
            std::fprintf(stderr, "<%d>%.*s\n", syslog_priority(msg.level),
                         static_cast<int>(msg.payload.size()), msg.payload.data());
        }
    }
    void flush_() override {}
};

}  // namespace

bool log_stderr_is_journal() {
    const char* js = std::getenv("JOURNAL_STREAM");
    if (js == nullptr) {
        return false;
    }
    unsigned long long dev = 0;
    unsigned long long ino = 0;
    if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) {
        return false;
    }
    struct stat st {};
    if (fstat(2, &st) != 0) {
        return false;
    }
    return st.st_dev == dev && st.st_ino == ino;
}

void log_setup(std::string_view level) {
    std::shared_ptr<spdlog::logger> logger;
    if (log_stderr_is_journal()) {
        logger = std::make_shared<spdlog::logger>("framestampd", std::make_shared<JournalSink>());
        logger->set_pattern("%v");
    } else {
        logger = spdlog::stderr_color_mt("framestampd");
        logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    }
    spdlog::set_default_logger(logger);
    const std::string name = level == "warning" ? "warn" : std::string(level);
    spdlog::set_level(spdlog::level::from_str(name));
}

void log_set_thread_stream(std::string stream) {
    t_stream = std::move(stream);
}
const std::string& log_thread_stream() {
    return t_stream;
}

LogFields::LogFields(std::initializer_list<std::pair<std::string_view, std::string>> fields)
    : count_(fields.size()) {
    for (const auto& [k, v] : fields) {
        t_fields.emplace_back(std::string(k), v);
    }
}

LogFields::~LogFields() {
    t_fields.resize(t_fields.size() - count_);
}

const std::vector<std::pair<std::string, std::string>>& log_thread_fields() {
    return t_fields;
}

bool LogRateLimiter::allow(std::string_view key, int64_t now_ns, uint64_t* suppressed) {
    Window& w = windows_[std::string(key)];
    if (now_ns - w.start_ns >= interval_ns_) {
        w.start_ns = now_ns;
        w.count = 0;
    }
    if (w.count < burst_) {
        ++w.count;
        if (suppressed != nullptr) {
            *suppressed = w.suppressed;
        }
        w.suppressed = 0;
        return true;
    }
    ++w.suppressed;
    return false;
}

}  // namespace framestamp
