// Loading: file and YAML errors, the top-level keys, the site block and data_dir.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "config/config_parts.hpp"
#include "framestamp/config.hpp"

namespace framestamp {

namespace cd = config_detail;

std::string ConfigIssue::to_string() const {
    std::string out = file;
    if (line > 0) {
        out += ":" + std::to_string(line);
    }
    out += ": ";
    if (!key.empty()) {
        out += key + ": ";
    }
    return out + message;
}

namespace {

std::string join_issues(const std::vector<ConfigIssue>& issues) {
    std::string out;
    for (const auto& issue : issues) {
        if (!out.empty()) {
            out += '\n';
        }
        out += issue.to_string();
    }
    return out;
}

std::string errno_text(int err) {
    return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")";
}

bool contains(std::span<const std::string_view> keys, std::string_view key) {
    return std::find(keys.begin(), keys.end(), key) != keys.end();
}

std::string hint_for_site(std::string_view key) {
    if (contains(cd::kTopKeys, key)) {
        return "'" + std::string(key) + "' is a top-level key, not part of 'site'";
    }
    if (contains(cd::kHardwareKeys, key)) {
        return "'" + std::string(key) + "' belongs in a stream's 'hardware' block";
    }
    return {};
}

SiteInfo parse_site(const cd::MapReader& top, cd::IssueList& issues) {
    SiteInfo site;
    const YAML::Node* node = top.value("site");
    if (node == nullptr || node->IsNull()) {
        return site;
    }
    if (!node->IsMap()) {
        top.report("site", "expected a mapping (recorder_id: ..., site: ..., ...), got " +
                               cd::describe_node(*node));
        return site;
    }
    const cd::MapReader r(*node, "site", issues, cd::kSiteKeys, hint_for_site);
    site.recorder_id = r.text("recorder_id", false).get_or("");
    site.site = r.text("site", false).get_or("");
    site.latitude_deg = r.real("latitude", -90, 90).value;
    site.longitude_deg = r.real("longitude", -180, 180).value;
    site.elevation_m = r.real("elevation_m", -500, 9000).value;
    site.notes = r.text("notes", false).get_or("");
    return site;
}

// The production check, also applied to an override: the daemon must be able to create its
// stream folders there. access() answers for this process's real user, so --check-config run as
// another user than the daemon's answers for that user.
void check_data_dir(const cd::MapReader& top, const std::string& dir, bool overridden) {
    const std::string source = overridden ? " (data_dir given by the override)" : "";
    if (!dir.starts_with('/')) {
        top.report("data_dir", "must be an absolute path, got '" + dir + "'" + source);
        return;
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
        const int err = errno;
        top.report("data_dir", err == ENOENT
                                   ? "directory '" + dir + "' does not exist" + source
                                   : "cannot examine '" + dir + "': " + errno_text(err) + source);
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        top.report("data_dir", "'" + dir + "' is not a directory" + source);
        return;
    }
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
        const int err = errno;
        top.report("data_dir", "directory '" + dir + "' is not writable by uid " +
                                   std::to_string(::getuid()) + ": " + errno_text(err) + source);
    }
}

Config parse_root(const YAML::Node& root, cd::IssueList& issues, const ConfigLoadOptions& options) {
    Config config;
    const cd::MapReader top(root, "", issues, cd::kTopKeys, cd::hint_for_top_level);

    const auto data_dir = top.text("data_dir", true);
    if (data_dir.value) {
        config.data_dir = options.data_dir_override.value_or(*data_dir.value);
        check_data_dir(top, config.data_dir, options.data_dir_override.has_value());
    }
    config.timing_points_per_s = static_cast<uint32_t>(
        top.integer("timing_points_per_s", 4, 1000).get_or(config.timing_points_per_s));
    config.timing_dither_us = static_cast<uint32_t>(
        top.integer("timing_dither_us", 0, 20'000).get_or(config.timing_dither_us));
    config.timing_max_window_us = static_cast<uint32_t>(
        top.integer("timing_max_window_us", 10, 100'000).get_or(config.timing_max_window_us));
    config.sync_sample_interval_s = static_cast<uint32_t>(
        top.integer("sync_sample_interval_s", 1, 3600).get_or(config.sync_sample_interval_s));
    constexpr int64_t kNsPerUs = 1000;
    config.clock_step_threshold_ns =
        kNsPerUs * top.integer("clock_step_threshold_us", 1, 10'000'000)
                       .get_or(config.clock_step_threshold_ns / kNsPerUs);
    config.clock_sync = cd::parse_clock_sync(top, issues);
    constexpr int64_t kMaxMib = 1 << 20;
    const auto min_free = top.integer("min_free_disk_mib", 0, kMaxMib);
    config.min_free_disk_mib =
        static_cast<uint64_t>(min_free.get_or(static_cast<int64_t>(config.min_free_disk_mib)));
    const auto warn_free = top.integer("disk_warn_free_mib", 0, kMaxMib);
    config.disk_warn_free_mib =
        static_cast<uint64_t>(warn_free.get_or(static_cast<int64_t>(config.disk_warn_free_mib)));
    config.disk_warn_days =
        static_cast<uint32_t>(top.integer("disk_warn_days", 0, 365).get_or(config.disk_warn_days));
    if (!min_free.bad && !warn_free.bad) {
        cd::check_disk_warnings(top, config, warn_free.value.has_value());
    }
    if (const auto level = top.choice("log_level", cd::kLogLevels); level.value) {
        config.log_level = cd::kLogLevels[*level.value];
    }
    config.site = parse_site(top, issues);

    const YAML::Node* streams = top.value("streams");
    if (streams == nullptr) {
        top.report("streams", "missing required key; list at least one stream");
    } else if (!streams->IsSequence()) {
        top.report("streams", "expected a list of streams (\"- name: ...\" entries), got " +
                                  cd::describe_node(*streams));
    } else if (streams->size() == 0) {
        top.report("streams", "no streams; list at least one");
    } else {
        if (streams->size() > cd::kMaxStreams) {
            top.report("streams", "too many streams: " + std::to_string(streams->size()) +
                                      " (at most " + std::to_string(cd::kMaxStreams) + ")");
        }
        cd::parse_streams(*streams, issues, config.streams);
    }
    return config;
}

}  // namespace

std::string cd::hint_for_top_level(std::string_view key) {
    if (contains(kStreamKeys, key)) {
        return "'" + std::string(key) +
               "' is a per-stream key: put it in each entry under 'streams'";
    }
    if (contains(kSiteKeys, key)) {
        return "'" + std::string(key) + "' belongs in the 'site' block";
    }
    if (contains(kHardwareKeys, key)) {
        return "'" + std::string(key) + "' belongs in a stream's 'hardware' block";
    }
    if (contains(kClockSyncKeys, key)) {
        return "'" + std::string(key) + "' belongs in the 'clock_sync' block";
    }
    return {};
}

ConfigError::ConfigError(std::vector<ConfigIssue> issues)
    : std::runtime_error(join_issues(issues)), issues_(std::move(issues)) {}

Config config_load_string(std::string_view yaml, const std::string& source_name,
                          const ConfigLoadOptions& options) {
    cd::IssueList issues(source_name);
    std::vector<YAML::Node> docs;
    try {
        docs = YAML::LoadAll(std::string(yaml));
    } catch (const YAML::Exception& e) {
        const int line = e.mark.is_null() ? 0 : e.mark.line + 1;
        std::string where =
            e.mark.is_null() ? "" : " at column " + std::to_string(e.mark.column + 1);
        issues.add(line, "", "YAML syntax error" + where + ": " + e.msg);
        throw ConfigError(issues.sorted());
    }

    YAML::Node root = docs.empty() ? YAML::Node(YAML::NodeType::Map) : docs.front();
    if (root.IsNull()) {
        root = YAML::Node(YAML::NodeType::Map);
    }
    if (docs.size() > 1) {
        issues.add(std::max(1, cd::node_line(docs[1])), "",
                   "a second YAML document ('---') is not allowed; put everything in one");
    }
    if (!root.IsMap()) {
        issues.add(std::max(1, cd::node_line(root)), "",
                   "expected the file to be a mapping of keys (data_dir: ..., streams: ...), got " +
                       cd::describe_node(root));
        throw ConfigError(issues.sorted());
    }
    Config config = parse_root(root, issues, options);
    config.source_file = source_name;
    if (!issues.empty()) {
        throw ConfigError(issues.sorted());
    }
    return config;
}

Config config_load_file(const std::string& path, const ConfigLoadOptions& options) {
    // Far larger than any real configuration; refuses a recording given by mistake.
    constexpr off_t kMaxConfigBytes = 1 << 20;
    const auto fail = [&path](std::string message) {
        throw ConfigError({ConfigIssue{path, 0, "", std::move(message)}});
    };
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail("cannot open configuration file: " + errno_text(errno));
    }
    std::string text;
    int read_errno = 0;
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        read_errno = errno;
    } else if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        fail("is a directory, not a configuration file");
    } else if (st.st_size > kMaxConfigBytes) {
        ::close(fd);
        fail("is " + std::to_string(st.st_size) + " bytes, too large for a configuration file");
    }
    char buf[4096];
    while (read_errno == 0 && static_cast<off_t>(text.size()) <= kMaxConfigBytes) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            read_errno = errno;
        } else if (n == 0) {
            break;
        } else {
            text.append(buf, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    if (read_errno != 0) {
        fail("cannot read configuration file: " + errno_text(read_errno));
    }
    if (static_cast<off_t>(text.size()) > kMaxConfigBytes) {
        fail("too large for a configuration file");
    }
    return config_load_string(text, path, options);
}

}  // namespace framestamp
