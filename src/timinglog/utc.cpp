#include "framestamp/utc.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <iterator>

namespace framestamp {

UtcTime utc_from_ns(int64_t realtime_ns) {
    using namespace std::chrono;
    const sys_time<nanoseconds> t{nanoseconds{realtime_ns}};
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss hms{floor<nanoseconds>(t - day)};
    return UtcTime{static_cast<int>(ymd.year()),
                   static_cast<int>(static_cast<unsigned>(ymd.month())),
                   static_cast<int>(static_cast<unsigned>(ymd.day())),
                   static_cast<int>(hms.hours().count()),
                   static_cast<int>(hms.minutes().count()),
                   static_cast<int>(hms.seconds().count()),
                   hms.subseconds().count()};
}

std::string utc_compact(int64_t realtime_ns) {
    const UtcTime u = utc_from_ns(realtime_ns);
    return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", u.year, u.month, u.day, u.hour, u.minute,
                       u.second);
}

std::string utc_date(int64_t realtime_ns) {
    const UtcTime u = utc_from_ns(realtime_ns);
    return fmt::format("{:04}-{:02}-{:02}", u.year, u.month, u.day);
}

std::string utc_iso_us(int64_t realtime_ns) {
    const UtcTime u = utc_from_ns(realtime_ns);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", u.year, u.month, u.day, u.hour,
                       u.minute, u.second, u.nanosecond / 1000);
}

std::string utc_iso_ns(int64_t realtime_ns) {
    const UtcTime u = utc_from_ns(realtime_ns);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", u.year, u.month, u.day, u.hour,
                       u.minute, u.second, u.nanosecond);
}

std::string utc_session_id(int64_t realtime_ns) {
    const UtcTime u = utc_from_ns(realtime_ns);
    return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}.{:06}Z", u.year, u.month, u.day, u.hour,
                       u.minute, u.second, u.nanosecond / 1000);
}

std::string format_uncertainty(int64_t ns) {
    static constexpr struct {
        double scale;
        const char* unit;
    } kUnits[] = {{1.0, "ns"}, {1e3, "\u00b5s"}, {1e6, "ms"}, {1e9, "s"}};
    const double v = std::abs(static_cast<double>(ns));
    const char* sign = ns < 0 ? "-" : "";
    for (std::size_t i = 0; i < std::size(kUnits); ++i) {
        const double x = v / kUnits[i].scale;
        const bool last = i + 1 == std::size(kUnits);
        // Round first, so that 999.96 µs reads "1.00 ms" rather than "1000 µs".
        const int decimals = x < 9.995 ? 2 : (x < 99.95 ? 1 : 0);
        if (i == 0) {
            if (v < 999.5) {
                return fmt::format("{}{:.0f} ns", sign, v);
            }
            continue;
        }
        if (x < 999.5 || last) {
            return fmt::format("{}{:.{}f} {}", sign, x, last && x >= 999.5 ? 0 : decimals,
                               kUnits[i].unit);
        }
    }
    return {};
}

}  // namespace framestamp
