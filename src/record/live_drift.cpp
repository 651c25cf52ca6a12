// Sliding-window drift fit; the maths is in live_drift.hpp.
#include "record/live_drift.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace framestamp {

namespace {

constexpr double kNsPerS = 1e9;

// Slope fit: after a least-squares pass over every point, kTrimPasses passes keep only points
// less late than kTrimFactor times the median lateness above the lower envelope (at least
// kMinTrimNs, so that exact points are all kept).
constexpr int kTrimPasses = 2;
constexpr double kTrimFactor = 3.0;
constexpr double kMinTrimNs = 1000.0;

// a - b, saturated instead of overflowing (only absurd inputs get near the limits).
std::int64_t sub_sat(std::int64_t a, std::int64_t b) {
    std::int64_t d = 0;
    if (__builtin_sub_overflow(a, b, &d)) {
        return b < 0 ? std::numeric_limits<std::int64_t>::max()
                     : std::numeric_limits<std::int64_t>::min();
    }
    return d;
}

std::int64_t add_sat(std::int64_t a, std::int64_t b) {
    std::int64_t s = 0;
    if (__builtin_add_overflow(a, b, &s)) {
        return b > 0 ? std::numeric_limits<std::int64_t>::max()
                     : std::numeric_limits<std::int64_t>::min();
    }
    return s;
}

// Nearest integer, clamped into int64 range (llround is undefined outside it).
std::int64_t round_sat(double v) {
    constexpr double kLimit = 9.2e18;
    return std::llround(std::clamp(v, -kLimit, kLimit));
}

// Signed distance from frame b to frame a, in frames (session frames stay far below 2^63).
double frame_diff(std::uint64_t a, std::uint64_t b) {
    return static_cast<double>(static_cast<std::int64_t>(a - b));
}

}  // namespace

LiveDriftEstimator::LiveDriftEstimator(std::uint32_t nominal_rate_hz, Options options)
    : nominal_rate_hz_(nominal_rate_hz), options_(options) {
    if (nominal_rate_hz == 0) {
        throw std::invalid_argument("LiveDriftEstimator: nominal rate must be > 0 Hz");
    }
    if (!(options_.window_s > 0.0) || options_.min_span_s < 0.0 ||
        !(options_.max_abs_ppm >= 0.0 && options_.max_abs_ppm < 1e6) ||
        options_.step_threshold_ns <= 0 || options_.step_confirm_s < 0.0 ||
        options_.refit_interval_s < 0.0 || options_.max_points < 2) {
        throw std::invalid_argument("LiveDriftEstimator: invalid options");
    }
    const double rate = nominal_rate_hz;
    nominal_ns_per_frame_ = kNsPerS / rate;
    ns_per_frame_ = nominal_ns_per_frame_;
    window_frames_ = static_cast<std::uint64_t>(std::llround(options_.window_s * rate));
    min_span_frames_ = static_cast<std::uint64_t>(std::llround(options_.min_span_s * rate));
    confirm_frames_ = static_cast<std::uint64_t>(std::llround(options_.step_confirm_s * rate));
    refit_frames_ = static_cast<std::uint64_t>(std::llround(options_.refit_interval_s * rate));
}

void LiveDriftEstimator::reset() {
    points_.clear();
    held_.clear();
    ready_ = false;
    anchor_frame_ = 0;
    anchor_ns_ = 0;
    offset_ns_ = 0.0;
    ns_per_frame_ = nominal_ns_per_frame_;
    fit_frame_ = 0;
    fit_span_ = 0;
}

void LiveDriftEstimator::add(std::uint64_t frame, std::int64_t realtime_ns) {
    const Point p{frame, realtime_ns};
    if (!points_.empty()) {
        const std::uint64_t last_frame =
            held_.empty() ? points_.back().frame : held_.back().point.frame;
        const std::int64_t residual_ns = sub_sat(realtime_ns, realtime_of(frame));
        if (frame < last_frame || residual_ns < -options_.step_threshold_ns) {
            ++auto_resets_;
            reset();
        } else if (residual_ns > options_.step_threshold_ns) {
            ++late_points_;
            if (held_.size() >= options_.max_points) {
                held_.erase(held_.begin());  // a stalled position never confirms a step
            }
            held_.push_back(Held{p, residual_ns});
            if (held_.size() >= 3 &&
                held_.back().point.frame - held_.front().point.frame >= confirm_frames_) {
                restart_after_step();
            }
            return;
        } else {
            held_.clear();  // the late run was outliers, not a step
        }
    }
    points_.push_back(p);
    trim();
    if (!ready_ || p.frame - fit_frame_ >= std::min(refit_frames_, fit_span_)) {
        refit();
    } else {
        // Between full refits the slope stands; the new point can only lower the line.
        const double x = frame_diff(p.frame, anchor_frame_);
        const double y_ns =
            static_cast<double>(sub_sat(p.realtime_ns, anchor_ns_)) - x * nominal_ns_per_frame_;
        offset_ns_ = std::min(offset_ns_, y_ns - (ns_per_frame_ - nominal_ns_per_frame_) * x);
    }
}

void LiveDriftEstimator::trim() {
    while (points_.size() > options_.max_points ||
           (points_.size() > 1 && points_.back().frame - points_.front().frame > window_frames_)) {
        points_.pop_front();
    }
}

void LiveDriftEstimator::restart_after_step() {
    // The held points share the step; an outlier among them is late (or early) by more than
    // the threshold against their median and is dropped.
    std::vector<std::int64_t> residuals;
    residuals.reserve(held_.size());
    for (const Held& h : held_) {
        residuals.push_back(h.residual_ns);
    }
    const auto mid = residuals.begin() + static_cast<std::ptrdiff_t>(residuals.size() / 2);
    std::nth_element(residuals.begin(), mid, residuals.end());
    const std::int64_t median_ns = *mid;
    std::vector<Held> held;
    held.swap(held_);
    ++auto_resets_;
    reset();
    for (const Held& h : held) {
        const std::int64_t d = sub_sat(h.residual_ns, median_ns);
        if (d <= options_.step_threshold_ns && d >= -options_.step_threshold_ns) {
            points_.push_back(h.point);
        }
    }
    refit();
}

void LiveDriftEstimator::refit() {
    trim();
    if (points_.empty()) {
        return;
    }
    const Point& ref = points_.front();
    xy_.clear();
    for (const Point& p : points_) {
        const double x = frame_diff(p.frame, ref.frame);
        const double y = static_cast<double>(sub_sat(p.realtime_ns, ref.realtime_ns)) -
                         x * nominal_ns_per_frame_;
        xy_.push_back(Xy{x, y});
    }
    ready_ = points_.size() >= options_.min_points &&
             points_.back().frame - ref.frame >= min_span_frames_;

    const double slope = ready_ ? fit_slope() : 0.0;
    double offset = std::numeric_limits<double>::infinity();
    for (const Xy& q : xy_) {
        offset = std::min(offset, q.y - slope * q.x);
    }
    anchor_frame_ = ref.frame;
    anchor_ns_ = ref.realtime_ns;
    offset_ns_ = offset;
    ns_per_frame_ = nominal_ns_per_frame_ + slope;
    fit_frame_ = points_.back().frame;
    fit_span_ = points_.back().frame - points_.front().frame;
}

double LiveDriftEstimator::fit_slope() {
    // Bounds on s: ns_per_frame = nominal / (1 + ppm * 1e-6), so they are not symmetric.
    const double m = options_.max_abs_ppm * 1e-6;
    const double s_fast = nominal_ns_per_frame_ / (1.0 + m) - nominal_ns_per_frame_;
    const double s_slow = nominal_ns_per_frame_ / (1.0 - m) - nominal_ns_per_frame_;

    double s = 0.0;
    for (int pass = 0; pass <= kTrimPasses; ++pass) {
        // Pass 0 keeps every point; later passes only those within the trim band of the lower
        // envelope of the previous pass's line.
        double cut = std::numeric_limits<double>::infinity();
        if (pass > 0) {
            residuals_.clear();
            double floor = std::numeric_limits<double>::infinity();
            for (const Xy& q : xy_) {
                residuals_.push_back(q.y - s * q.x);
                floor = std::min(floor, residuals_.back());
            }
            const auto mid =
                residuals_.begin() + static_cast<std::ptrdiff_t>(residuals_.size() / 2);
            std::nth_element(residuals_.begin(), mid, residuals_.end());
            cut = floor + std::max(kTrimFactor * (*mid - floor), kMinTrimNs);
        }
        double n = 0.0;
        double sx = 0.0;
        double sy = 0.0;
        for (const Xy& q : xy_) {
            if (q.y - s * q.x <= cut) {
                n += 1.0;
                sx += q.x;
                sy += q.y;
            }
        }
        if (n < 2.0) {
            break;
        }
        // Centred sums: the x are up to ~1e7 frames, so raw sums of squares would lose digits.
        const double xm = sx / n;
        const double ym = sy / n;
        double sxx = 0.0;
        double sxy = 0.0;
        for (const Xy& q : xy_) {
            if (q.y - s * q.x <= cut) {
                sxx += (q.x - xm) * (q.x - xm);
                sxy += (q.x - xm) * (q.y - ym);
            }
        }
        if (!(sxx > 0.0)) {
            break;
        }
        s = std::clamp(sxy / sxx, s_fast, s_slow);
    }
    return s;
}

std::int64_t LiveDriftEstimator::realtime_of(std::uint64_t frame) const {
    if (points_.empty()) {
        return 0;
    }
    const double dt_ns = offset_ns_ + frame_diff(frame, anchor_frame_) * ns_per_frame_;
    return add_sat(anchor_ns_, round_sat(dt_ns));
}

std::uint64_t LiveDriftEstimator::frame_at(std::int64_t realtime_ns) const {
    if (points_.empty()) {
        return 0;
    }
    const double dt_ns = static_cast<double>(sub_sat(realtime_ns, anchor_ns_)) - offset_ns_;
    const std::int64_t df = round_sat(dt_ns / ns_per_frame_);
    if (df < 0 && static_cast<std::uint64_t>(-df) > anchor_frame_) {
        return 0;
    }
    return anchor_frame_ + static_cast<std::uint64_t>(df);
}

double LiveDriftEstimator::ppm() const {
    return (nominal_ns_per_frame_ / ns_per_frame_ - 1.0) * 1e6;
}

}  // namespace framestamp
