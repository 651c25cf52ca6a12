#include "framestamp/utc.hpp"

#include <fmt/format.h>

#include <chrono>

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

}  // namespace framestamp
