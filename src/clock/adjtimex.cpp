// The kernel's clock discipline state through ntp_adjtime(), read only.
#include <sys/timex.h>

#include <cerrno>
#include <string>

#include "framestamp/clock_sync.hpp"

namespace framestamp {

AdjtimexResult adjtimex_read() {
    constexpr int64_t kNsPerUs = 1000;
    // timex.freq is ppm as 16.16 fixed point (adjtimex(2)).
    constexpr double kFreqScale = 65536.0;
    timex tx{};
    tx.modes = 0;  // read only: never changes the clock
    const int state = ntp_adjtime(&tx);
    AdjtimexResult result;
    if (state < 0) {
        result.error = errno;
        return result;
    }
    AdjtimexReading r;
    r.state = state;
    r.status = tx.status;
    r.offset_ns = (tx.status & STA_NANO) != 0 ? tx.offset : tx.offset * kNsPerUs;
    r.esterror_ns = tx.esterror * kNsPerUs;
    r.maxerror_ns = tx.maxerror * kNsPerUs;
    r.frequency_ppm = static_cast<double>(tx.freq) / kFreqScale;
    result.reading = r;
    return result;
}

std::string adjtimex_state_name(int state) {
    switch (state) {
        case TIME_OK:
            return "TIME_OK";
        case TIME_INS:
            return "TIME_INS";
        case TIME_DEL:
            return "TIME_DEL";
        case TIME_OOP:
            return "TIME_OOP";
        case TIME_WAIT:
            return "TIME_WAIT";
        case TIME_ERROR:
            return "TIME_ERROR";
        default:
            return "TIME_" + std::to_string(state);
    }
}

}  // namespace framestamp
