// The simulated card and clocks of timemap_sim.hpp.
#include <algorithm>
#include <cmath>

#include "framestamp/timemap_sim.hpp"

namespace framestamp {

namespace {
constexpr double kTwoPi = 6.283185307179586;
}

SimCard::SimCard(const SimParams& p) : p_(p), rng_(p.seed), pps_rng_(p.seed ^ 0x5050535050ULL) {}

double SimCard::frames_at(double t_s) const {
    // Rate error r(t) = ppm + A sin(w t + phi) (ppm); frames = rate * integral of (1 + r 1e-6).
    double w = kTwoPi / p_.wander_period_s;
    double wander =
        p_.wander_ppm == 0.0
            ? 0.0
            : p_.wander_ppm / w * (std::cos(p_.wander_phase) - std::cos(w * t_s + p_.wander_phase));
    double elapsed = t_s + 1e-6 * (p_.ppm * t_s + wander);
    return static_cast<double>(p_.start_frame) + p_.rate_hz * elapsed;
}

double SimCard::card_ppm_at(double t_s) const {
    double w = kTwoPi / p_.wander_period_s;
    return p_.ppm + p_.wander_ppm * std::sin(w * t_s + p_.wander_phase);
}

double SimCard::time_of_frame(double frame) const {
    double t = (frame - static_cast<double>(p_.start_frame)) / p_.rate_hz / (1.0 + 1e-6 * p_.ppm);
    for (int i = 0; i < 6; ++i) {
        double err = frames_at(t) - frame;
        t -= err / (p_.rate_hz * (1.0 + 1e-6 * card_ppm_at(t)));
    }
    return t;
}

int64_t SimCard::true_utc_ns(double frame) const {
    double t_ns = time_of_frame(frame) * 1e9;
    return p_.start_utc_ns + static_cast<int64_t>(std::floor(t_ns));
}

double SimCard::true_utc_frac_ns(double frame) const {
    double t_ns = time_of_frame(frame) * 1e9;
    return t_ns - std::floor(t_ns);
}

const SimClockPiece* SimCard::piece_at(double t_s) const {
    const SimClockPiece* found = nullptr;
    for (const auto& piece : p_.clock) {
        if (piece.start_s <= t_s) {
            found = &piece;
        }
    }
    return found;
}

int64_t SimCard::realtime_ns_at(double t_s) const {
    double err_ns = 0;
    if (const SimClockPiece* piece = piece_at(t_s)) {
        err_ns = piece->error_ns + piece->slope_ppm * 1e3 * (t_s - piece->start_s);
    }
    return p_.start_utc_ns + static_cast<int64_t>(std::llround(t_s * 1e9 + err_ns));
}

int64_t SimCard::raw_ns_at(double t_s) const {
    return p_.start_raw_ns +
           static_cast<int64_t>(std::llround(t_s * 1e9 * (1.0 + 1e-6 * p_.raw_ppm)));
}

bool SimCard::synced_at(double t_s) const {
    const SimClockPiece* piece = piece_at(t_s);
    return piece == nullptr || piece->synced;
}

double SimCard::step_time(int64_t k) const {
    if (p_.pointer == SimPointer::usb) {
        return static_cast<double>(k) * p_.urb_s;
    }
    double granule = std::max(1.0, std::round(p_.granularity_s * p_.rate_hz));
    return time_of_frame(static_cast<double>(p_.start_frame) + static_cast<double>(k) * granule);
}

double SimCard::step_position(int64_t k) const {
    if (p_.pointer == SimPointer::usb) {
        return std::floor(frames_at(step_time(k)) - static_cast<double>(p_.start_frame));
    }
    double granule = std::max(1.0, std::round(p_.granularity_s * p_.rate_hz));
    return static_cast<double>(k) * granule;
}

double SimCard::completion_of(int64_t k) const {
    if (p_.completion_mean_s <= 0 && p_.completion_tail_prob <= 0) {
        return 0.0;
    }
    // splitmix64 of (seed, k): the same step always has the same latency.
    uint64_t z = p_.seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(k) * 0xbf58476d1ce4e5b9ULL;
    auto next = [&z] {
        z += 0x9e3779b97f4a7c15ULL;
        uint64_t x = z;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        x ^= x >> 31;
        return static_cast<double>(x >> 11) * 0x1.0p-53;
    };
    double u1 = next();
    double u2 = next();
    if (u1 < p_.completion_tail_prob) {
        return u2 * p_.completion_tail_s;
    }
    return std::min(-p_.completion_mean_s * std::log1p(-u2), 20 * p_.completion_mean_s);
}

double SimCard::visible_position(double t) const {
    // The latest step that has happened by t, then back to the latest one whose completion (and
    // every earlier one's) is in by t.
    int64_t k0 = 0;
    double step_dt = 0;
    if (p_.pointer == SimPointer::usb) {
        k0 = static_cast<int64_t>(std::floor(t / p_.urb_s));
        step_dt = p_.urb_s;
    } else {
        double granule = std::max(1.0, std::round(p_.granularity_s * p_.rate_hz));
        k0 = static_cast<int64_t>(
            std::floor((frames_at(t) - static_cast<double>(p_.start_frame)) / granule));
        step_dt = granule / p_.rate_hz;
    }
    if (k0 < 0) {
        return 0.0;
    }
    double max_c = std::max(20 * p_.completion_mean_s,
                            p_.completion_tail_prob > 0 ? p_.completion_tail_s : 0.0);
    if (max_c <= 0) {
        return step_position(k0);
    }
    int64_t back = static_cast<int64_t>(std::ceil(max_c / step_dt)) + 1;
    int64_t k = std::max<int64_t>(0, k0 - back);
    int64_t visible = k - 1;
    for (; k <= k0; ++k) {
        if (step_time(k) + completion_of(k) > t) {
            break;
        }
        visible = k;
    }
    return visible < 0 ? 0.0 : step_position(visible);
}

TimePoint SimCard::next_point() {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    double t = static_cast<double>(k_) / p_.points_per_s + p_.read_jitter_s * unit(rng_);
    ++k_;
    double latency = 0;
    if (p_.latency_max_s > 0 && unit(rng_) < p_.latency_fraction) {
        latency = p_.latency_max_s * unit(rng_);
    }
    // The hardware position moves in steps and what is read reflects the position `latency`
    // ago: it is never ahead of the truth.
    double pos = std::max(last_pos_, visible_position(std::max(0.0, t - latency)));
    last_pos_ = pos;
    TimePoint tp;
    tp.frame = p_.start_frame + static_cast<uint64_t>(std::max(0.0, pos));
    tp.realtime_ns = realtime_ns_at(t);
    // The stamp was taken somewhere inside the raw reading window; the log holds its midpoint.
    double window_ns = p_.window_s * 1e9;
    double stamp_pos = unit(rng_);
    tp.raw_ns = raw_ns_at(t) + static_cast<int64_t>(std::llround((0.5 - stamp_pos) * window_ns));
    tp.window_ns = static_cast<int64_t>(std::llround(window_ns));
    last_point_s_ = t;
    return tp;
}

bool SimCard::next_sync(SyncPoint& s) {
    if (next_sync_s_ > last_point_s_) {
        return false;
    }
    double t = next_sync_s_;
    next_sync_s_ += p_.sync_interval_s;
    s.raw_ns = raw_ns_at(t);
    s.synced = synced_at(t);
    s.esterror_ns = s.synced ? 20'000 : 16'000'000'000;
    s.maxerror_ns = s.synced ? 500'000 : 16'000'000'000;
    return true;
}

bool SimCard::next_pps(PpsAnchor& a) {
    if (!p_.pps) {
        return false;
    }
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::normal_distribution<double> noise(0.0, 1.0);
    while (next_pps_s_ <= last_point_s_) {
        // Between this second and the next, a false edge with probability pps_false_per_s.
        const double t_true = next_pps_s_;
        next_pps_s_ += 1.0;
        double t = t_true;
        bool real = true;
        if (unit(pps_rng_) < p_.pps_false_per_s) {
            t = t_true + 0.05 + 0.9 * unit(pps_rng_);
            real = false;
        } else if (unit(pps_rng_) < p_.pps_miss_prob) {
            continue;
        }
        double pos = frames_at(t) - static_cast<double>(p_.start_frame);
        if (real) {
            pos += noise(pps_rng_) * p_.pps_jitter_s * p_.rate_hz;
        }
        if (pos < 0) {
            continue;
        }
        const double whole = std::floor(pos);
        a.frame = p_.start_frame + static_cast<uint64_t>(whole);
        a.frac = pos - whole;
        // The label: the system clock's second at the edge, as the daemon takes it.
        a.utc_s = static_cast<int64_t>(std::llround(static_cast<double>(realtime_ns_at(t)) * 1e-9));
        return true;
    }
    return false;
}

}  // namespace framestamp
