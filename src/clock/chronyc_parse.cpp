// Parsing `chronyc -c -n tracking`.
//
// The format, checked against chrony 4.3 (client.c, process_cmd_tracking and print_report; the
// chronyc(1) manual's "tracking" section), is one line of 14 comma-separated fields:
//
//   0 reference ID    8 hex digits (%08X)
//   1 name            IP address, or the reference ID as text for a reference clock or the local
//                     clock; empty when not printable. May itself contain a comma in theory, so
//                     the fields are counted from both ends.
//   2 stratum         decimal
//   3 ref time        seconds.nanoseconds since 1970, "0.000000000" when never updated
//   4 system time     seconds, 9 decimals, signed: chronyd's current correction (NTP time minus
//                     system time). The human format prints "<|x|> seconds slow of NTP time" for
//                     x > 0 and "fast" otherwise, so positive means the system clock is behind.
//   5 last offset     seconds, signed; the manual: positive = local time was ahead of the sources
//   6 RMS offset      seconds
//   7 frequency       ppm, 3 decimals, signed; the human format says "ppm fast" for positive
//   8 residual freq   ppm, signed
//   9 skew            ppm
//  10 root delay      seconds
//  11 root dispersion seconds
//  12 update interval seconds, 1 decimal
//  13 leap status     "Normal", "Insert second", "Delete second" or "Not synchronised"
//
// Seconds are parsed exactly into int64 ns (never through a double).
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "framestamp/clock_sync.hpp"

namespace framestamp {

namespace {

constexpr std::size_t kFields = 14;
constexpr std::size_t kFieldsAfterName = 12;

std::vector<std::string_view> split(std::string_view line) {
    std::vector<std::string_view> out;
    for (;;) {
        const std::size_t comma = line.find(',');
        out.push_back(line.substr(0, comma));
        if (comma == std::string_view::npos) {
            return out;
        }
        line.remove_prefix(comma + 1);
    }
}

bool all_digits(std::string_view s) {
    for (const char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
    }
    return !s.empty();
}

// "[+-]digits[.digits]" seconds to ns, rounded to the nearest ns (halves away from zero).
std::optional<int64_t> seconds_to_ns(std::string_view s) {
    constexpr int64_t kNsPerS = 1'000'000'000;
    constexpr int64_t kMaxSeconds = 9'000'000'000;  // int64 ns hold 9.2e9 s
    bool negative = false;
    if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
        negative = s.front() == '-';
        s.remove_prefix(1);
    }
    const std::size_t dot = s.find('.');
    const std::string_view whole = s.substr(0, dot);
    const std::string_view fraction =
        dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
    if (!all_digits(whole) || (dot != std::string_view::npos && !all_digits(fraction))) {
        return std::nullopt;
    }
    int64_t seconds = 0;
    const auto r = std::from_chars(whole.data(), whole.data() + whole.size(), seconds);
    if (r.ec != std::errc() || seconds > kMaxSeconds) {
        return std::nullopt;
    }
    int64_t ns = 0;
    int64_t scale = kNsPerS / 10;
    for (std::size_t i = 0; i < fraction.size() && scale > 0; ++i, scale /= 10) {
        ns += (fraction[i] - '0') * scale;
    }
    if (fraction.size() > 9 && fraction[9] >= '5') {
        ++ns;
    }
    const int64_t total = seconds * kNsPerS + ns;
    return negative ? -total : total;
}

std::optional<double> ppm(std::string_view s) {
    if (!s.empty() && s.front() == '+') {
        s.remove_prefix(1);
    }
    double v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::fixed);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size() || s.empty() || !std::isfinite(v)) {
        return std::nullopt;
    }
    return v;
}

std::optional<ChronyLeap> leap_from(std::string_view s) {
    for (const ChronyLeap l : {ChronyLeap::normal, ChronyLeap::insert_second,
                               ChronyLeap::delete_second, ChronyLeap::unsynchronised}) {
        if (s == chrony_leap_name(l)) {
            return l;
        }
    }
    return std::nullopt;
}

std::optional<ChronyTracking> fail(std::string* error, std::string reason) {
    if (error != nullptr) {
        *error = std::move(reason);
    }
    return std::nullopt;
}

}  // namespace

std::string_view chrony_leap_name(ChronyLeap leap) {
    switch (leap) {
        case ChronyLeap::normal:
            return "Normal";
        case ChronyLeap::insert_second:
            return "Insert second";
        case ChronyLeap::delete_second:
            return "Delete second";
        case ChronyLeap::unsynchronised:
            break;
    }
    return "Not synchronised";
}

int64_t ChronyTracking::max_error_ns() const {
    return std::llabs(system_offset_ns) + root_dispersion_ns + root_delay_ns / 2;
}

std::optional<ChronyTracking> parse_chronyc_tracking(std::string_view output, std::string* error) {
    if (output.ends_with('\n')) {
        output.remove_suffix(1);
    }
    if (output.empty()) {
        return fail(error, "no output");
    }
    if (output.find('\n') != std::string_view::npos) {
        return fail(error, "more than one line");
    }
    const std::vector<std::string_view> f = split(output);
    if (f.size() < kFields) {
        return fail(error,
                    std::to_string(f.size()) + " fields, expected " + std::to_string(kFields));
    }
    // The name (field 1) may hold commas: the other fields are taken from the ends.
    const std::size_t n = f.size() - kFieldsAfterName;  // index of the stratum
    ChronyTracking t;
    const std::string_view ref = f[0];
    uint32_t ref_id = 0;
    const auto rr = std::from_chars(ref.data(), ref.data() + ref.size(), ref_id, 16);
    if (ref.empty() || ref.size() > 8 || rr.ec != std::errc() ||
        rr.ptr != ref.data() + ref.size()) {
        return fail(error, "reference ID '" + std::string(ref) + "' is not 8 hex digits");
    }
    t.reference_id = ref_id;
    const char* const name_end = f[n - 1].data() + f[n - 1].size();
    t.reference_name.assign(f[1].data(), name_end);
    const std::string_view stratum = f[n];
    constexpr uint32_t kMaxStratum = 255;
    const auto sr = std::from_chars(stratum.data(), stratum.data() + stratum.size(), t.stratum);
    if (!all_digits(stratum) || sr.ec != std::errc() || t.stratum > kMaxStratum) {
        return fail(error, "stratum '" + std::string(stratum) + "' is not 0..255");
    }

    const char* const names[] = {"ref time",   "system time",     "last offset",    "RMS offset",
                                 "root delay", "root dispersion", "update interval"};
    const std::size_t at[] = {n + 1, n + 2, n + 3, n + 4, n + 8, n + 9, n + 10};
    int64_t* const dest[] = {&t.ref_time_ns,       &t.system_offset_ns, &t.last_offset_ns,
                             &t.rms_offset_ns,     &t.root_delay_ns,    &t.root_dispersion_ns,
                             &t.update_interval_ns};
    for (std::size_t i = 0; i < std::size(at); ++i) {
        const auto v = seconds_to_ns(f[at[i]]);
        if (!v) {
            return fail(error, std::string(names[i]) + " '" + std::string(f[at[i]]) +
                                   "' is not a number of seconds");
        }
        *dest[i] = *v;
    }
    const char* const ppm_names[] = {"frequency", "residual frequency", "skew"};
    double* const ppm_dest[] = {&t.frequency_ppm, &t.residual_frequency_ppm, &t.skew_ppm};
    for (std::size_t i = 0; i < 3; ++i) {
        const auto v = ppm(f[n + 5 + i]);
        if (!v) {
            return fail(error, std::string(ppm_names[i]) + " '" + std::string(f[n + 5 + i]) +
                                   "' is not a number of ppm");
        }
        *ppm_dest[i] = *v;
    }
    const auto leap = leap_from(f[n + 11]);
    if (!leap) {
        return fail(error, "unknown leap status '" + std::string(f[n + 11]) + "'");
    }
    t.leap = *leap;
    return t;
}

}  // namespace framestamp
