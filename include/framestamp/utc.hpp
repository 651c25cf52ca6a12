// UTC formatting of CLOCK_REALTIME nanoseconds, for file names, metadata and logs.
#pragma once

#include <cstdint>
#include <string>

namespace framestamp {

// Broken-down UTC of ns since 1970 (floor), with the ns within the second.
struct UtcTime {
    int year, month, day, hour, minute, second;
    int64_t nanosecond;
};
UtcTime utc_from_ns(int64_t realtime_ns);

std::string utc_compact(int64_t realtime_ns);     // "20261124T061000Z" (seconds, floored)
std::string utc_date(int64_t realtime_ns);        // "2026-11-24"
std::string utc_iso_us(int64_t realtime_ns);      // "2026-11-24T06:10:00.000123Z"
std::string utc_iso_ns(int64_t realtime_ns);      // "2026-11-24T06:10:00.000123456Z"
std::string utc_session_id(int64_t realtime_ns);  // "20261124T061000.123456Z"

// An uncertainty (or any non-negative duration) in ns, µs, ms or s, whichever keeps the number
// below 1000, with three significant digits: "850 ns", "14.2 µs", "101 µs", "1.25 ms", "16.0 s".
// Every command and the report print uncertainties through this one function.
std::string format_uncertainty(int64_t ns);

}  // namespace framestamp
