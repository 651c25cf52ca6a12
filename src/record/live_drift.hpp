// Live estimate of the CLOCK_REALTIME of any session frame, from the timing points the capture
// thread records while it runs. Pure: points in, estimate out; it reads no clock.
//
// Data model. A timing point (f, t) pairs a hardware frame position f with a realtime t. The
// position is read before the timestamp is taken (scheduling latency, USB pointers that move in
// 1 ms steps), so t is never early, only late:  t = T(f) + e,  e >= 0, with T the true curve.
// A least-squares line therefore sits late by the mean of e (about 1.5 ms for 0-3 ms of
// lateness), but its slope is unbiased as long as the lateness does not trend.
//
// Method: a line over a sliding window (window_s of nominal frames, 120 s default), its slope by
// trimmed least squares and its offset by the lower envelope.
//   Coordinates are taken relative to the window's oldest point (f0, t0), and the nominal rate is
//   removed, so the numbers stay small enough for doubles to keep sub-nanosecond resolution:
//       x_i = f_i - f0                                   [frames]
//       y_i = (t_i - t0) - x_i * 1e9 / nominal_rate_hz   [ns late (+) or early (-) of nominal]
//   The line is y(x) = c + s*x.
//   Slope s: least squares over all points, then twice more over the points whose residual
//   r_i = y_i - s*x_i lies within 3 * median(r - min r) of min r (the lower envelope), so a
//   point late by several ms, too little to be held back as an outlier, does not tilt the line.
//   Sums are centred on the kept points' means: s = sum dx*dy / sum dx^2. Least squares uses
//   every point; an envelope (convex hull) slope rests on two and, for lateness whose density
//   vanishes at zero such as the sum of pointer granularity and scheduling delay, is several
//   times noisier. The slope is clamped so that |ppm| <= max_abs_ppm.
//   Offset c = min_i (y_i - s*x_i): the line is lowered until it touches the least late point,
//   removing the lateness bias. Late points never lower it.
//   Before ready() (span < min_span_s or fewer than min_points points) s = 0: the nominal rate,
//   anchored at the lowest point.
//   Estimate:  realtime_of(f) = t0 + round(c + (f - f0) * (1e9/nominal_rate_hz + s)),
//              ppm = (nominal ns per frame / fitted ns per frame - 1) * 1e6  (positive: card fast).
//   Precision: the slope's standard error is sigma_e * sqrt(12 / n) / T for n points over T s
//   of lateness with standard deviation sigma_e (0.65 ms for 0-1 ms pointer granularity plus
//   0-2 ms delay). With 60 s of points: 1.5 ppm rms at 10 points a second, 0.5 ppm at 100; with
//   the 120 s window full: 0.55 and 0.17 ppm. No estimator does much better on such data (the
//   lateness density vanishes at both ends, so the envelope holds little extra information).
//   The time of recent frames is far better than the slope suggests: tens to a few hundred
//   microseconds once the points span several seconds.
//   Cost: O(n) per fit, at most one fit per refit_interval_s; O(1) per add() in between.
//
// Discontinuities. Callers reset() when they know the realtime clock stepped or the frame count
// restarted. add() also detects them, with r = t - realtime_of(f) for each new point:
//   - f below the last point's frame, or r < -step_threshold_ns (a point cannot be early; the
//     clock stepped back): restart from this point.
//   - r > step_threshold_ns: the point is held back as a late outlier. If such points continue
//     for step_confirm_s (at least 3 of them, no normal point between), the clock stepped
//     forward: restart from the held points that agree with their median (so an outlier that
//     arrived just before the step does not pollute the new window).
// Each automatic restart counts in auto_resets().
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace framestamp {

struct LiveDriftOptions {
    // Length of the fit window, in seconds of nominal frames. The slope's error falls as
    // window^-1.5 (see Precision above); a shorter window follows wander and realtime-clock
    // slews faster. Wander of a few ppm per hour bends a 120 s line by microseconds.
    double window_s = 120.0;
    // The fit replaces the nominal-rate fallback once the points span this much and number at
    // least min_points.
    double min_span_s = 1.0;
    std::size_t min_points = 4;
    // Bound on the fitted rate error, in ppm either side of nominal (below 1e6).
    double max_abs_ppm = 2000.0;
    // A point this far from the estimate (early, or late for step_confirm_s) is a clock step; a
    // single point this late is an outlier and is not used. In ns.
    std::int64_t step_threshold_ns = 10'000'000;
    double step_confirm_s = 1.0;
    // The O(n) fit runs when the newest point is this far (in s of nominal frames) past the
    // last fit, or sooner while the window is young: whenever the points' span has doubled
    // since the last fit (a line fitted to 1 s of points must not stand for a minute). Points in
    // between only lower the line onto themselves, in O(1).
    double refit_interval_s = 0.25;
    // Cap on points kept (oldest dropped first), bounding memory and the cost of a fit.
    std::size_t max_points = 16384;
};

class LiveDriftEstimator {
  public:
    using Options = LiveDriftOptions;

    // nominal_rate_hz must be > 0 (std::invalid_argument otherwise).
    explicit LiveDriftEstimator(std::uint32_t nominal_rate_hz, Options options = {});

    // Adds a timing point: hardware position `frame` (session frames) observed at `realtime_ns`
    // (CLOCK_REALTIME, ns). Points come in non-decreasing frame order.
    void add(std::uint64_t frame, std::int64_t realtime_ns);

    // Forgets every point (after a clock step or a restart of the frame count).
    void reset();

    // True when the estimate comes from a fitted rate rather than the nominal one.
    bool ready() const { return ready_; }
    // No points since construction or the last reset; the queries below then return 0.
    bool empty() const { return points_.empty(); }

    // Estimated CLOCK_REALTIME of a frame, in ns. Extrapolates the window's line outside it.
    std::int64_t realtime_of(std::uint64_t frame) const;
    // The frame whose estimated realtime is nearest realtime_ns (0 if that would be negative).
    std::uint64_t frame_at(std::int64_t realtime_ns) const;
    // Rate error of the card against nominal, in ppm; positive means the card runs fast.
    double ppm() const;
    // Estimated duration of one frame, in ns of CLOCK_REALTIME.
    double ns_per_frame() const { return ns_per_frame_; }

    std::uint32_t nominal_rate_hz() const { return nominal_rate_hz_; }
    // Points in the fit window (held-back late points not included).
    std::size_t points() const { return points_.size(); }
    // Restarts add() decided on its own (steps, frame count going back); reset() not included.
    std::uint64_t auto_resets() const { return auto_resets_; }
    // Points held back as late outliers (including those that later confirmed a step).
    std::uint64_t late_points() const { return late_points_; }

  private:
    struct Point {
        std::uint64_t frame;
        std::int64_t realtime_ns;
    };
    struct Held {
        Point point;
        std::int64_t residual_ns;
    };
    struct Xy {
        double x;
        double y;
    };

    void restart_after_step();
    void trim();
    void refit();
    double fit_slope();

    std::uint32_t nominal_rate_hz_;
    Options options_;
    double nominal_ns_per_frame_;
    std::uint64_t window_frames_;
    std::uint64_t min_span_frames_;
    std::uint64_t confirm_frames_;
    std::uint64_t refit_frames_;

    std::deque<Point> points_;
    std::vector<Held> held_;  // consecutive late points, oldest first
    std::vector<Xy> xy_;      // scratch for refit(), kept to avoid reallocating
    std::vector<double> residuals_;

    // The model: realtime_of(f) = anchor_ns_ + round(offset_ns_ + (f - anchor_frame_) * ns/frame).
    bool ready_ = false;
    std::uint64_t anchor_frame_ = 0;
    std::int64_t anchor_ns_ = 0;
    double offset_ns_ = 0.0;
    double ns_per_frame_;
    std::uint64_t fit_frame_ = 0;  // newest point at the last full fit
    std::uint64_t fit_span_ = 0;   // frames between the oldest and newest point at that fit

    std::uint64_t auto_resets_ = 0;
    std::uint64_t late_points_ = 0;
};

}  // namespace framestamp
