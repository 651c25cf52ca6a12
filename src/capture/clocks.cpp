#include <sys/timex.h>

#include <cstring>
#include <ctime>

#include "framestamp/capture.hpp"

namespace framestamp {

namespace {

int64_t read_clock(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

class AdjtimexProbe final : public SyncProbe {
  public:
    std::optional<SyncSample> sample() override {
        timex tx{};
        tx.modes = 0;  // read only
        const int state = ntp_adjtime(&tx);
        if (state < 0) {
            return std::nullopt;
        }
        SyncSample s;
        s.status = tx.status;
        // offset is in ns when STA_NANO is set, otherwise us; esterror/maxerror are always us.
        s.offset_ns = (tx.status & STA_NANO) != 0 ? tx.offset : tx.offset * 1000;
        s.esterror_ns = tx.esterror * 1000;
        s.maxerror_ns = tx.maxerror * 1000;
        s.synchronised = (tx.status & STA_UNSYNC) == 0 && state != TIME_ERROR;
        return s;
    }
};

}  // namespace

int64_t monotonic_ns() {
    return read_clock(CLOCK_MONOTONIC);
}
int64_t monotonic_raw_ns() {
    return read_clock(CLOCK_MONOTONIC_RAW);
}
int64_t realtime_ns() {
    return read_clock(CLOCK_REALTIME);
}

std::unique_ptr<SyncProbe> make_adjtimex_probe() {
    return std::make_unique<AdjtimexProbe>();
}

void record_set_detail(CaptureRecord& r, std::string_view detail) {
    const std::size_t n = std::min(detail.size(), sizeof r.detail - 1);
    if (n > 0) {  // an empty string_view may hold a null pointer, which memcpy must not get
        std::memcpy(r.detail, detail.data(), n);
    }
    r.detail[n] = '\0';
}

}  // namespace framestamp
