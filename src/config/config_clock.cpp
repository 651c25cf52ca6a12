// The clock_sync block and the disk warning keys' check against the reserve.
#include <algorithm>
#include <string>

#include "config/config_parts.hpp"

namespace framestamp {

std::string_view chronyd_mode_name(ChronydMode mode) {
    return config_detail::kChronydModes[static_cast<std::size_t>(mode)];
}

namespace config_detail {

namespace {

// sockaddr_un::sun_path holds 108 bytes, the terminating NUL included.
constexpr std::size_t kMaxSocketPath = 107;
// chronyc binds its own socket at <dir>/chronyc.<pid>/<16 random characters>/sock, next to
// chronyd's (client.c, open_unix_socket): 9 + up to 7 pid digits (pid_max 4194304) + 1 + 16 + 5.
constexpr std::size_t kChronycSocketSuffix = 38;
constexpr std::size_t kMaxHostName = 253;

std::string hint_for_clock_sync(std::string_view key) {
    if (std::find(std::begin(kTopKeys), std::end(kTopKeys), key) != std::end(kTopKeys)) {
        return "'" + std::string(key) + "' is a top-level key, not part of 'clock_sync'";
    }
    return {};
}

bool host_char(char c) {
    // Host names, IPv4, and IPv6 addresses with an optional %scope.
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == ':' || c == '%';
}

// The problem with one entry of chronyd_socket, or an empty string.
std::string socket_entry_problem(std::string_view entry) {
    if (entry.empty()) {
        return "has an empty entry; separate socket paths and hosts with single commas";
    }
    const std::string shown = "'" + std::string(entry) + "'";
    if (entry.front() == '/') {
        if (entry.size() > kMaxSocketPath) {
            return "socket path " + shown + " is " + std::to_string(entry.size()) +
                   " bytes; a Unix socket path holds at most " + std::to_string(kMaxSocketPath);
        }
        const std::size_t dir_length = std::max<std::size_t>(1, entry.rfind('/'));
        if (dir_length + kChronycSocketSuffix > kMaxSocketPath) {
            return "the directory of " + shown +
                   " is too long: chronyc binds its own socket in it as "
                   "chronyc.<pid>/<16 characters>/sock, which must fit in " +
                   std::to_string(kMaxSocketPath) + " bytes; keep the directory to " +
                   std::to_string(kMaxSocketPath - kChronycSocketSuffix) + " characters";
        }
        return {};
    }
    if (entry.find('/') != std::string_view::npos) {
        return "socket path " + shown + " must be absolute (start with '/')";
    }
    if (entry.size() > kMaxHostName || !std::all_of(entry.begin(), entry.end(), host_char)) {
        return "expected an absolute Unix socket path or a host name or address, got " + shown;
    }
    return {};
}

}  // namespace

ClockSyncConfig parse_clock_sync(const MapReader& top, IssueList& issues) {
    ClockSyncConfig out;
    const YAML::Node* node = top.value("clock_sync");
    if (node == nullptr || node->IsNull()) {
        return out;
    }
    if (!node->IsMap()) {
        top.report("clock_sync", "expected a mapping (chronyd: ..., chronyc_path: ..., ...), got " +
                                     describe_node(*node));
        return out;
    }
    const MapReader r(*node, "clock_sync", issues, kClockSyncKeys, hint_for_clock_sync);
    if (const auto mode = r.choice("chronyd", kChronydModes); mode.value) {
        out.chronyd = static_cast<ChronydMode>(*mode.value);
    }
    if (const auto path = r.text("chronyc_path", false); path.value) {
        if (path.value->starts_with('/')) {
            out.chronyc_path = *path.value;
        } else {
            r.report("chronyc_path", "must be an absolute path, got '" + *path.value + "'");
        }
    }
    if (const auto socket = r.text("chronyd_socket", false); socket.value) {
        std::string problem;
        std::string_view rest = *socket.value;
        for (;;) {
            const std::size_t comma = rest.find(',');
            problem = socket_entry_problem(rest.substr(0, comma));
            if (!problem.empty() || comma == std::string_view::npos) {
                break;
            }
            rest.remove_prefix(comma + 1);
        }
        if (problem.empty()) {
            out.chronyd_socket = *socket.value;
        } else {
            r.report("chronyd_socket", std::move(problem));
        }
    }
    out.timeout_ms =
        static_cast<uint32_t>(r.integer("timeout_ms", 100, 10'000).get_or(out.timeout_ms));
    return out;
}

void check_disk_warnings(const MapReader& top, const Config& c, bool warn_free_given) {
    if (c.disk_warn_free_mib == 0 || c.disk_warn_free_mib >= c.min_free_disk_mib) {
        return;
    }
    const std::string reserve = std::to_string(c.min_free_disk_mib);
    if (warn_free_given) {
        top.report("disk_warn_free_mib",
                   std::to_string(c.disk_warn_free_mib) + " is below min_free_disk_mib (" +
                       reserve +
                       "): the warning must come before the reserve stops recording; use at "
                       "least " +
                       reserve + ", or 0 to turn the warning off");
    } else {
        top.report("min_free_disk_mib",
                   reserve + " is above disk_warn_free_mib's default of " +
                       std::to_string(c.disk_warn_free_mib) +
                       ", so the low-disk warning would come only after recording stopped; set "
                       "disk_warn_free_mib to at least " +
                       reserve + ", or to 0 to turn the warning off");
    }
}

}  // namespace config_detail

}  // namespace framestamp
