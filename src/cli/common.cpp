// Helpers shared by the subcommands: archive opening, UTC parsing, JSON strings.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <ctime>

#include "cli.hpp"
#include "framestamp/json.hpp"

namespace framestamp::cli {

ArchiveOptions archive_options(const GlobalOptions& g) {
    ArchiveOptions o;
    o.cache_dir = g.cache_dir;
    o.use_cache = !g.no_cache;
    return o;
}

Archive open_archive(const std::filesystem::path& root, const GlobalOptions& g,
                     bool stat_every_log) {
    std::error_code ec;
    if (!std::filesystem::exists(root, ec)) {
        throw CliError(kExitNoInput, fmt::format("{}: no such file or directory", root.string()));
    }
    ArchiveOptions o = archive_options(g);
    o.stat_every_log = stat_every_log;
    return Archive::open(root, o);
}

namespace {

bool take_int(std::string_view& s, std::size_t digits, int& out) {
    if (s.size() < digits) {
        return false;
    }
    auto [p, ec] = std::from_chars(s.data(), s.data() + digits, out);
    if (ec != std::errc() || p != s.data() + digits) {
        return false;
    }
    s.remove_prefix(digits);
    return true;
}

bool take_char(std::string_view& s, char c) {
    if (s.empty() || s.front() != c) {
        return false;
    }
    s.remove_prefix(1);
    return true;
}

}  // namespace

std::string_view trim_space(std::string_view s) {
    auto space = [](char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
    };
    while (!s.empty() && space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

uint64_t parse_sample(std::string_view text) {
    const std::string_view s = trim_space(text);
    if (!s.empty() && s.front() == '-') {
        throw CliError(kExitUsage,
                       fmt::format("SAMPLE must be a sample index from 0, not \"{}\"", s));
    }
    uint64_t v = 0;
    const char* begin = s.data();
    if (!s.empty() && s.front() == '+') {
        ++begin;
    }
    auto [p, ec] = std::from_chars(begin, s.data() + s.size(), v);
    if (s.empty() || ec == std::errc::invalid_argument || p != s.data() + s.size()) {
        throw CliError(kExitUsage,
                       fmt::format("SAMPLE must be a whole number (a sample index from 0), not "
                                   "\"{}\"",
                                   s));
    }
    if (ec == std::errc::result_out_of_range) {
        throw CliError(kExitUsage, fmt::format("SAMPLE {} is too large", s));
    }
    return v;
}

std::optional<int64_t> parse_utc(std::string_view s) {
    s = trim_space(s);  // a CRLF-terminated line from a script or a spreadsheet
    if (!s.empty() && s.front() == '@') {
        int64_t ns = 0;
        auto [p, ec] = std::from_chars(s.data() + 1, s.data() + s.size(), ns);
        if (ec != std::errc() || p != s.data() + s.size()) {
            return std::nullopt;
        }
        return ns;
    }
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    if (!take_int(s, 4, y) || !take_char(s, '-') || !take_int(s, 2, mo) || !take_char(s, '-') ||
        !take_int(s, 2, d)) {
        return std::nullopt;
    }
    if (!take_char(s, 'T') && !take_char(s, ' ') && !take_char(s, 't')) {
        return std::nullopt;
    }
    if (!take_int(s, 2, h) || !take_char(s, ':') || !take_int(s, 2, mi) || !take_char(s, ':') ||
        !take_int(s, 2, sec)) {
        return std::nullopt;
    }
    int64_t frac_ns = 0;
    if (take_char(s, '.') || take_char(s, ',')) {
        int digits = 0;
        while (!s.empty() && s.front() >= '0' && s.front() <= '9') {
            if (digits < 9) {
                frac_ns = frac_ns * 10 + (s.front() - '0');
            } else if (digits == 9) {
                return std::nullopt;  // more precision than a nanosecond is not meaningful here
            }
            ++digits;
            s.remove_prefix(1);
        }
        if (digits == 0) {
            return std::nullopt;
        }
        for (int i = digits; i < 9; ++i) {
            frac_ns *= 10;
        }
    }
    if (!(s.empty() || s == "Z" || s == "z" || s == "+00:00" || s == "+0000")) {
        return std::nullopt;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
        return std::nullopt;
    }
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (tm.tm_mday != d) {
        return std::nullopt;  // 31 April and the like
    }
    return static_cast<int64_t>(t) * 1'000'000'000 + frac_ns;
}

std::string format_duration(double seconds) {
    if (seconds < 60) {
        return fmt::format("{:.1f} s", seconds);
    }
    auto total = static_cast<int64_t>(seconds);
    int64_t days = total / 86400;
    std::string hms =
        fmt::format("{:02}:{:02}:{:02}", total % 86400 / 3600, total % 3600 / 60, total % 60);
    return days > 0 ? fmt::format("{} d {}", days, hms) : hms;
}

void require_streams(const Archive& a, const std::vector<std::string>& names) {
    const std::vector<std::string> have = a.streams();
    for (const std::string& name : names) {
        if (std::find(have.begin(), have.end(), name) == have.end()) {
            throw CliError(kExitNoInput, fmt::format("no stream \"{}\" in {} (it has: {})", name,
                                                     a.root().string(), fmt::join(have, ", ")));
        }
    }
}

}  // namespace framestamp::cli
