#include "fsemu_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

namespace fsemu {

namespace {

constexpr double kNsPerS = 1e9;

int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) {
        --q;
    }
    return q;
}

int32_t full_scale(double x) {
    // Clamp to the 32-bit range; +1.0 maps to INT32_MAX.
    const double v = std::round(x * 2147483647.0);
    if (v >= 2147483647.0) {
        return INT32_MAX;
    }
    if (v <= -2147483648.0) {
        return INT32_MIN;
    }
    return static_cast<int32_t>(v);
}

}  // namespace

CardClock::CardClock(const ClockParams& params)
    : params_(params),
      omega_(params.wander_period_s > 0 ? 2.0 * std::numbers::pi / params.wander_period_s : 0.0) {}

double CardClock::rate_at(double t_s) const {
    double ppm = params_.offset_ppm;
    if (omega_ != 0.0) {
        ppm += params_.wander_ppm * std::sin(omega_ * t_s + params_.wander_phase_rad);
    }
    return params_.rate_hz * (1.0 + ppm * 1e-6);
}

double CardClock::frames_at(int64_t t_ns) const {
    // Integral of rate_at from 0 to t. Split t into whole seconds and the rest so that the
    // product with the rate keeps sub-frame precision for runs of months.
    const int64_t whole_s = floor_div(t_ns, 1'000'000'000);
    const double frac_s = static_cast<double>(t_ns - whole_s * 1'000'000'000) / kNsPerS;
    const double t_s = static_cast<double>(whole_s) + frac_s;
    const double scale = 1.0 + params_.offset_ppm * 1e-6;
    double frames =
        params_.rate_hz * scale * static_cast<double>(whole_s) + params_.rate_hz * scale * frac_s;
    if (omega_ != 0.0 && params_.wander_ppm != 0.0) {
        const double phi = params_.wander_phase_rad;
        frames += params_.rate_hz * params_.wander_ppm * 1e-6 *
                  (std::cos(phi) - std::cos(omega_ * t_s + phi)) / omega_;
    }
    return frames;
}

int64_t CardClock::time_of(double frame) const {
    // Newton's method from the no-wander estimate; wander is a few ppm, so two or three steps
    // reach sub-ns.
    const double scale = 1.0 + params_.offset_ppm * 1e-6;
    double t_s = frame / (params_.rate_hz * scale);
    for (int i = 0; i < 4; ++i) {
        const auto t_ns = static_cast<int64_t>(std::llround(t_s * kNsPerS));
        const double err = frames_at(t_ns) - frame;
        t_s -= err / rate_at(t_s);
    }
    return static_cast<int64_t>(std::llround(t_s * kNsPerS));
}

std::optional<Signal> parse_signal(const std::string& name) {
    if (name == "silence") {
        return Signal::silence;
    }
    if (name == "sine") {
        return Signal::sine;
    }
    if (name == "clicks") {
        return Signal::clicks;
    }
    if (name == "counter") {
        return Signal::counter;
    }
    return std::nullopt;
}

const char* signal_name(Signal s) {
    switch (s) {
        case Signal::silence:
            return "silence";
        case Signal::sine:
            return "sine";
        case Signal::clicks:
            return "clicks";
        case Signal::counter:
            return "counter";
    }
    return "?";
}

int64_t click_frame(const CardClock& clock, int64_t origin_realtime_ns, int64_t second,
                    int64_t delay_ns) {
    const int64_t t_ns = second * 1'000'000'000 + delay_ns - origin_realtime_ns;
    // Frame k is sampled at time_of(k); the nearest frame to t is round(frames_at(t)) to within
    // the (negligible) curvature of the clock over one frame.
    return static_cast<int64_t>(std::llround(clock.frames_at(t_ns)));
}

int32_t counter_value(uint64_t frame, unsigned channel) {
    const unsigned shift = 16U * (channel % 4U);
    const auto bits = static_cast<uint16_t>((frame >> shift) & 0xFFFFU);
    const auto s16 = static_cast<int16_t>(bits);
    return static_cast<int32_t>(static_cast<uint32_t>(static_cast<int32_t>(s16)) << 16U);
}

uint32_t counter_decode(int16_t ch0, int16_t ch1) {
    return static_cast<uint32_t>(static_cast<uint16_t>(ch0)) |
           (static_cast<uint32_t>(static_cast<uint16_t>(ch1)) << 16U);
}

std::size_t format_bytes(Format f) {
    switch (f) {
        case Format::s16_le:
            return 2;
        case Format::s24_3le:
            return 3;
        case Format::s24_le:
        case Format::s32_le:
        case Format::float_le:
            return 4;
    }
    return 0;
}

void pack_sample(Format f, int32_t value, unsigned char* dst) {
    const auto u = static_cast<uint32_t>(value);
    switch (f) {
        case Format::s16_le: {
            const uint32_t v = u >> 16U;
            dst[0] = static_cast<unsigned char>(v);
            dst[1] = static_cast<unsigned char>(v >> 8U);
            break;
        }
        case Format::s24_le: {
            // 24 significant bits in the low three bytes of four, sign-extended.
            const auto v = static_cast<uint32_t>(value >> 8);
            for (unsigned i = 0; i < 4; ++i) {
                dst[i] = static_cast<unsigned char>(v >> (8U * i));
            }
            break;
        }
        case Format::s24_3le: {
            const uint32_t v = u >> 8U;
            for (unsigned i = 0; i < 3; ++i) {
                dst[i] = static_cast<unsigned char>(v >> (8U * i));
            }
            break;
        }
        case Format::s32_le:
            for (unsigned i = 0; i < 4; ++i) {
                dst[i] = static_cast<unsigned char>(u >> (8U * i));
            }
            break;
        case Format::float_le: {
            const float x = static_cast<float>(static_cast<double>(value) / 2147483648.0);
            uint32_t bits = 0;
            std::memcpy(&bits, &x, sizeof bits);
            for (unsigned i = 0; i < 4; ++i) {
                dst[i] = static_cast<unsigned char>(bits >> (8U * i));
            }
            break;
        }
    }
}

int32_t unpack_sample(Format f, const unsigned char* src) {
    uint32_t u = 0;
    const std::size_t n = format_bytes(f);
    for (std::size_t i = 0; i < n; ++i) {
        u |= static_cast<uint32_t>(src[i]) << (8U * i);
    }
    switch (f) {
        case Format::s16_le:
            return static_cast<int32_t>(u << 16U);
        case Format::s24_le:
        case Format::s24_3le:
            return static_cast<int32_t>(u << 8U);
        case Format::s32_le:
            return static_cast<int32_t>(u);
        case Format::float_le: {
            float x = 0;
            std::memcpy(&x, &u, sizeof x);
            // The inverse of pack_sample's scaling by 2^31, clamped at the positive end.
            const double v = std::round(static_cast<double>(x) * 2147483648.0);
            return v >= 2147483647.0 ? INT32_MAX : static_cast<int32_t>(std::max(v, -2147483648.0));
        }
    }
    return 0;
}

std::optional<PointerMode> parse_pointer_mode(const std::string& name) {
    if (name == "frames") {
        return PointerMode::frames;
    }
    if (name == "usb") {
        return PointerMode::usb;
    }
    if (name == "period") {
        return PointerMode::period;
    }
    return std::nullopt;
}

const char* pointer_mode_name(PointerMode m) {
    switch (m) {
        case PointerMode::frames:
            return "frames";
        case PointerMode::usb:
            return "usb";
        case PointerMode::period:
            return "period";
    }
    return "?";
}

namespace {

uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27U)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31U);
}

// Uniform in (0, 1] from the seed, the step index and a salt naming the draw.
double unit_draw(uint64_t seed, int64_t index, uint64_t salt) {
    const uint64_t h = splitmix64(splitmix64(seed ^ (salt * 0xd6e8feb86659fd93ULL)) ^
                                  static_cast<uint64_t>(index));
    return (static_cast<double>(h >> 11U) + 1.0) * 0x1.0p-53;
}

}  // namespace

int64_t completion_latency_ns(const PointerParams& p, int64_t index) {
    double ns = 0;
    if (p.completion_mean_ns > 0) {
        const auto mean = static_cast<double>(p.completion_mean_ns);
        ns = std::min(-mean * std::log(unit_draw(p.seed, index, 1)),
                      mean * static_cast<double>(kLatencyCapMeans));
    }
    if (p.tail_prob > 0 && p.tail_ns > 0 && unit_draw(p.seed, index, 2) <= p.tail_prob) {
        ns += unit_draw(p.seed, index, 3) * static_cast<double>(p.tail_ns);
    }
    return static_cast<int64_t>(ns);
}

CardPointer::CardPointer(const CardClock& clock, PointerParams params)
    : clock_(clock), params_(params) {
    params_.granularity_frames = std::max<int64_t>(1, params_.granularity_frames);
    params_.urb_packets = std::max<int64_t>(1, params_.urb_packets);
    params_.packet_ns = std::max<int64_t>(1000, params_.packet_ns);
}

bool CardPointer::has_latency() const {
    return params_.completion_mean_ns > 0 || (params_.tail_prob > 0 && params_.tail_ns > 0);
}

int64_t CardPointer::nominal_step_ns() const {
    const double rate = clock_.params().rate_hz;
    switch (params_.mode) {
        case PointerMode::frames:
            return static_cast<int64_t>(static_cast<double>(params_.granularity_frames) / rate *
                                        kNsPerS);
        case PointerMode::usb:
            return params_.urb_packets * params_.packet_ns;
        case PointerMode::period:
            return static_cast<int64_t>(
                static_cast<double>(std::max<int64_t>(1, params_.period_frames)) / rate * kNsPerS);
    }
    return 1'000'000;
}

int64_t CardPointer::step_frame(int64_t index) const {
    switch (params_.mode) {
        case PointerMode::frames:
            return index * params_.granularity_frames;
        case PointerMode::usb: {
            // The frames the crystal has completed by the end of the URB. The small bias keeps
            // exact rates exact (44.1 frames a packet: 441 after 10, not 440.99999).
            const int64_t t = index * params_.urb_packets * params_.packet_ns;
            return static_cast<int64_t>(std::floor(clock_.frames_at(t) + 1e-6));
        }
        case PointerMode::period:
            return anchor_frame_ + index * std::max<int64_t>(1, params_.period_frames);
    }
    return 0;
}

PointerStep CardPointer::step(int64_t index) const {
    PointerStep s;
    s.index = index;
    s.frame = step_frame(index);
    if (params_.mode == PointerMode::usb) {
        s.true_ns = index * params_.urb_packets * params_.packet_ns;
    } else {
        s.true_ns = clock_.time_of(static_cast<double>(s.frame));
    }
    // Period steps are numbered from each start; their latency is keyed by the card frame so
    // that every start draws fresh latencies.
    s.latency_ns =
        completion_latency_ns(params_, params_.mode == PointerMode::period ? s.frame : index);
    return s;
}

int64_t CardPointer::true_index_at(int64_t t_ns) const {
    const int64_t j = estimated_index_at(t_ns);
    if (params_.mode == PointerMode::usb ||
        (params_.mode == PointerMode::frames && !has_latency())) {
        return j;  // frames without latency: the historical floor(F(t) / g), exactly
    }
    // Agree with step(): its instants are rounded to the ns.
    if (step(j + 1).true_ns <= t_ns) {
        return j + 1;
    }
    if (step(j).true_ns > t_ns) {
        return j - 1;
    }
    return j;
}

int64_t CardPointer::estimated_index_at(int64_t t_ns) const {
    switch (params_.mode) {
        case PointerMode::frames:
            return static_cast<int64_t>(std::floor(
                clock_.frames_at(t_ns) / static_cast<double>(params_.granularity_frames)));
        case PointerMode::usb:
            return floor_div(t_ns, params_.urb_packets * params_.packet_ns);
        case PointerMode::period: {
            const double in = clock_.frames_at(t_ns) - static_cast<double>(anchor_frame_);
            return static_cast<int64_t>(
                std::floor(in / static_cast<double>(std::max<int64_t>(1, params_.period_frames))));
        }
    }
    return 0;
}

int64_t CardPointer::start(int64_t t_ns) {
    if (params_.mode != PointerMode::period) {
        return visible_at(t_ns);
    }
    const auto reached = static_cast<int64_t>(std::floor(clock_.frames_at(t_ns)));
    anchor_frame_ = std::max(reached, position_);
    cursor_ = 0;
    position_ = anchor_frame_;
    last_t_ns_ = std::max(last_t_ns_, t_ns);
    return position_;
}

int64_t CardPointer::visible_at(int64_t t_ns, std::vector<PointerStep>* passed) {
    if (t_ns <= last_t_ns_) {
        return position_;
    }
    last_t_ns_ = t_ns;
    const int64_t jt = true_index_at(t_ns);
    if (cursor_ == INT64_MIN) {
        // First look: everything older than the longest latency is visible.
        int64_t back = 0;
        if (has_latency()) {
            const int64_t cap = params_.completion_mean_ns * kLatencyCapMeans + params_.tail_ns;
            back = cap / std::max<int64_t>(1, nominal_step_ns() * 9 / 10) + 2;
        }
        cursor_ = jt - back;
        position_ = std::max(position_, step_frame(cursor_));
    }
    if (!has_latency()) {
        if (jt > cursor_) {
            if (passed != nullptr) {
                for (int64_t j = cursor_ + 1; j <= jt; ++j) {
                    passed->push_back(step(j));
                }
            }
            cursor_ = jt;
            position_ = std::max(position_, step_frame(jt));
        }
        return position_;
    }
    const int64_t cap = params_.completion_mean_ns * kLatencyCapMeans + params_.tail_ns;
    const int64_t window = cap / std::max<int64_t>(1, nominal_step_ns() * 9 / 10) + 2;
    // Steps more than the longest latency old are visible whatever their draw.
    if (passed == nullptr) {
        cursor_ = std::max(cursor_, jt - window);
    }
    while (cursor_ < jt - window) {
        ++cursor_;
        passed->push_back(step(cursor_));
    }
    position_ = std::max(position_, step_frame(cursor_));
    while (cursor_ < jt) {
        const PointerStep s = step(cursor_ + 1);
        if (s.true_ns + s.latency_ns > t_ns) {
            break;  // in order: later steps wait for this one
        }
        cursor_ = s.index;
        position_ = std::max(position_, s.frame);
        if (passed != nullptr) {
            passed->push_back(s);
        }
    }
    return position_;
}

int64_t CardPointer::next_visible_ns() const {
    if (cursor_ == INT64_MIN) {
        return 0;
    }
    const PointerStep s = step(cursor_ + 1);
    return std::max(s.true_ns + s.latency_ns, last_t_ns_);
}

namespace {

// Si(x), the integral of sin(t)/t from 0 to x: tabulated to 60 (Simpson), asymptotic beyond.
double sine_integral(double x) {
    constexpr double kStep = 0.002;
    constexpr double kEnd = 60.0;
    static const std::vector<double> table = [] {
        std::vector<double> t(static_cast<std::size_t>(kEnd / kStep) + 2);
        auto f = [](double u) { return u == 0 ? 1.0 : std::sin(u) / u; };
        for (std::size_t i = 1; i < t.size(); ++i) {
            const double a = static_cast<double>(i - 1) * kStep;
            t[i] = t[i - 1] + kStep / 6 * (f(a) + 4 * f(a + kStep / 2) + f(a + kStep));
        }
        return t;
    }();
    const double ax = std::abs(x);
    double v = 0;
    if (ax < kEnd) {
        const double pos = ax / kStep;
        const auto i = static_cast<std::size_t>(pos);
        v = table[i] + (table[i + 1] - table[i]) * (pos - static_cast<double>(i));
    } else {
        v = std::numbers::pi / 2 - std::cos(ax) / ax - std::sin(ax) / (ax * ax);
    }
    return x < 0 ? -v : v;
}

// A unit step through an ideal low-pass at 0.45 of the rate, dt_frames after the step.
double band_limited_step(double dt_frames) {
    return 0.5 + sine_integral(2 * std::numbers::pi * 0.45 * dt_frames) / std::numbers::pi;
}

}  // namespace

double pps_value(const SignalParams& p, int64_t rt_ns, double rate_hz, uint64_t frame) {
    const int64_t sec = floor_div(rt_ns, 1'000'000'000);
    const double tau_frames = p.pps_decay_ms * 1e-3 * rate_hz;
    const double width_frames = p.pps_width_ms * 1e-3 * rate_hz;
    double v = 0;
    for (int64_t s = sec - 1; s <= sec + 1; ++s) {
        if (p.pps_missing > 0 && unit_draw(p.pps_seed, s, 0x505053) <= p.pps_missing) {
            continue;
        }
        const double dt = static_cast<double>(rt_ns - s * 1'000'000'000) * rate_hz * 1e-9;
        for (const double d : {dt, dt - width_frames}) {
            const double sign = d == dt ? 1.0 : -1.0;
            v += sign * band_limited_step(d) * std::exp(-std::max(0.0, d) / tau_frames);
        }
    }
    v *= p.pps_amplitude;
    if (p.pps_noise > 0) {
        // Box-Muller from the frame index: the same frame always has the same noise.
        const double u1 = unit_draw(p.pps_seed, static_cast<int64_t>(frame), 0x4e4f49);
        const double u2 = unit_draw(p.pps_seed, static_cast<int64_t>(frame), 0x534532);
        v += p.pps_noise * std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
    }
    return v;
}

SignalGenerator::SignalGenerator(const CardClock& clock, int64_t origin_realtime_ns,
                                 SignalParams params, unsigned channels)
    : clock_(clock),
      origin_realtime_ns_(origin_realtime_ns),
      params_(std::move(params)),
      next_click_(channels, INT64_MIN),
      last_frame_(channels, INT64_MIN),
      click_value_(full_scale(params_.amplitude)),
      sine_amplitude_(full_scale(params_.amplitude)) {}

int64_t SignalGenerator::delay_of(unsigned channel) const {
    return channel < params_.click_delay_ns.size() ? params_.click_delay_ns[channel] : 0;
}

int64_t SignalGenerator::first_click_at_or_after(int64_t frame, unsigned channel) const {
    const int64_t delay = delay_of(channel);
    const int64_t rt = origin_realtime_ns_ + clock_.time_of(static_cast<double>(frame));
    // Start one second early: rounding to the nearest frame can put a second's click on either
    // side of the frame whose time is nearest to it.
    int64_t second = floor_div(rt - delay, 1'000'000'000) - 1;
    int64_t f = click_frame(clock_, origin_realtime_ns_, second, delay);
    while (f < frame) {
        ++second;
        f = click_frame(clock_, origin_realtime_ns_, second, delay);
    }
    return f;
}

std::vector<int64_t> SignalGenerator::clicks_in(int64_t first, int64_t last,
                                                unsigned channel) const {
    std::vector<int64_t> out;
    if (params_.signal != Signal::clicks || last <= first ||
        static_cast<int>(channel) == params_.pps_channel) {
        return out;
    }
    int64_t f = first_click_at_or_after(first, channel);
    while (f < last) {
        out.push_back(f);
        // The next second's click is about one nominal second of frames later.
        f = first_click_at_or_after(f + 1, channel);
    }
    return out;
}

int32_t SignalGenerator::value(uint64_t frame, unsigned channel) {
    if (static_cast<int>(channel) == params_.pps_channel) {
        const int64_t rt = origin_realtime_ns_ + clock_.time_of(static_cast<double>(frame));
        return full_scale(pps_value(params_, rt, clock_.params().rate_hz, frame));
    }
    switch (params_.signal) {
        case Signal::silence:
            return 0;
        case Signal::counter:
            return counter_value(frame, channel);
        case Signal::sine: {
            // Phase from the frame index in whole cycles of the nominal rate, to keep precision.
            const auto rate = static_cast<uint64_t>(std::llround(clock_.params().rate_hz));
            const double in_second = static_cast<double>(frame % rate) / static_cast<double>(rate);
            const double cycles = in_second * params_.sine_hz;
            return static_cast<int32_t>(static_cast<double>(sine_amplitude_) *
                                        std::sin(2.0 * std::numbers::pi * cycles));
        }
        case Signal::clicks: {
            if (channel >= next_click_.size()) {
                return 0;
            }
            const auto f = static_cast<int64_t>(frame);
            int64_t& next = next_click_[channel];
            const int64_t len = params_.click_frames;
            if (next == INT64_MIN || f >= next + len || f < last_frame_[channel]) {
                next = first_click_at_or_after(f - len + 1, channel);
            }
            last_frame_[channel] = f;
            return (f >= next && f < next + len) ? click_value_ : 0;
        }
    }
    return 0;
}

}  // namespace fsemu
