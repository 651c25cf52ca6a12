// Stage 1 of the drift fit: session frame -> CLOCK_MONOTONIC_RAW by the lower envelope of the
// timing points (docs/timing-model.md), streamed so that memory stays bounded by one window.
#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>

#include "fit_internal.hpp"

namespace framestamp {

using timemap_detail::EnvelopeSample;
using timemap_detail::EnvelopeSet;
using timemap_detail::HullValue;
using timemap_detail::OffsetTrack;
using timemap_detail::XY;

namespace timemap_detail {

void build_lower_hull(const std::vector<XY>& pts, std::vector<std::size_t>& hull) {
    hull.clear();
    // Monotone chain, lower part: keep turning left (counter-clockwise).
    for (std::size_t i = 0; i < pts.size(); ++i) {
        if (!hull.empty() && pts[hull.back()].x == pts[i].x) {
            if (pts[i].y >= pts[hull.back()].y) {
                continue;
            }
            hull.pop_back();
        }
        while (hull.size() >= 2) {
            const XY& a = pts[hull[hull.size() - 2]];
            const XY& b = pts[hull.back()];
            const XY& c = pts[i];
            double cross = (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
            if (cross > 0) {
                break;
            }
            hull.pop_back();
        }
        hull.push_back(i);
    }
}

HullValue hull_value_at(const std::vector<XY>& pts, const std::vector<std::size_t>& hull,
                        double x0) {
    HullValue out;
    if (hull.size() < 2) {
        return out;
    }
    auto it = std::lower_bound(hull.begin(), hull.end(), x0,
                               [&](std::size_t idx, double x) { return pts[idx].x < x; });
    std::size_t r =
        it == hull.end() ? hull.size() - 1 : static_cast<std::size_t>(it - hull.begin());
    if (r == 0) {
        r = 1;
    }
    const XY& a = pts[hull[r - 1]];
    const XY& b = pts[hull[r]];
    out.slope = (b.y - a.y) / (b.x - a.x);
    out.value = a.y + out.slope * (x0 - a.x);
    out.left = hull[r - 1];
    out.right = hull[r];
    out.vertex = r;
    out.ok = true;
    return out;
}

HullValue lower_hull_at(const std::vector<XY>& pts, double x0, std::vector<std::size_t>& hull) {
    build_lower_hull(pts, hull);
    return hull_value_at(pts, hull, x0);
}

namespace {

// Which quarter a point belongs to: a hash of its position, so that the quarters are
// independent random thinnings whatever the pattern of the reads.
unsigned quarter_of(double x) {
    auto z = static_cast<uint64_t>(static_cast<int64_t>(x)) * 0x9e3779b97f4a7c15ULL;
    z ^= z >> 29;
    z *= 0xbf58476d1ce4e5b9ULL;
    z ^= z >> 32;
    return static_cast<unsigned>(z & 3U);
}

constexpr unsigned kPairs[6][2] = {{0, 1}, {2, 3}, {0, 2}, {1, 3}, {0, 3}, {1, 2}};

}  // namespace

void EnvelopeSet::build(const std::vector<XY>& pts, std::size_t first, std::size_t last) {
    full_.assign(pts.begin() + static_cast<std::ptrdiff_t>(first),
                 pts.begin() + static_cast<std::ptrdiff_t>(last));
    build_lower_hull(full_, full_hull_);
    for (auto& v : sub_) {
        v.clear();
    }
    for (const XY& q : full_) {
        sub_[quarter_of(q.x)].push_back(q);
    }
    for (unsigned k = 0; k < 6; ++k) {
        const auto& a = sub_[kPairs[k][0]];
        const auto& b = sub_[kPairs[k][1]];
        auto& out = sub_[4 + k];
        out.resize(a.size() + b.size());
        std::merge(a.begin(), a.end(), b.begin(), b.end(), out.begin(),
                   [](const XY& l, const XY& r) { return l.x < r.x; });
    }
    for (unsigned k = 0; k < 10; ++k) {
        build_lower_hull(sub_[k], sub_hull_[k]);
    }
}

EnvelopeSample EnvelopeSet::at(double x) const {
    EnvelopeSample out;
    out.n = full_.size();
    HullValue hv = hull_value_at(full_, full_hull_, x);
    if (!hv.ok) {
        return out;
    }
    out.value = hv.value;
    out.slope = hv.slope;
    out.ok = true;
    double sum2 = 0;
    unsigned n2 = 0;
    for (unsigned k = 4; k < 10; ++k) {
        HullValue sv = hull_value_at(sub_[k], sub_hull_[k], x);
        // A thinning's envelope can only sit higher; one beyond its own points is not used.
        if (!sv.ok || x < sub_[k].front().x || x > sub_[k].back().x) {
            continue;
        }
        sum2 += std::max(0.0, sv.value - hv.value);
        ++n2;
    }
    if (n2 < 3) {
        out.ok = false;
        return out;
    }
    out.d2 = sum2 / n2;
    return out;
}

}  // namespace timemap_detail

class SegmentFitter::Impl {
  public:
    Impl(uint32_t rate_hz, uint64_t first_frame, uint64_t end_frame, const FitOptions& o)
        : opt_(o), offsets_(o) {
        model_.rate_hz = rate_hz;
        model_.first_frame = first_frame;
        model_.end_frame = end_frame;
        ns_per_frame_ = 1e9 / rate_hz;
        s_frames_ = std::max(1.0, o.knot_spacing_s * rate_hz);
        h1_ = std::max(1.0, o.envelope_half_window_s * rate_hz);
        h2_ = std::max(h1_, o.long_window_half_s * rate_hz);
        hc_ = std::max(h1_, o.curvature_half_window_s * rate_hz);
        hcs_ = std::max(h1_, 3 * o.envelope_half_window_s * rate_hz);
    }

    void add_point(const TimePoint& p) {
        ++model_.stats.points;
        if (opt_.max_window_ns > 0 && p.window_ns > opt_.max_window_ns) {
            return;
        }
        if (have_ref_ && p.frame < last_frame_) {
            return;  // positions never go back within a segment; such a row is not trusted
        }
        if (!have_ref_) {
            have_ref_ = true;
            f_ref_ = p.frame;
            raw_ref_ = p.raw_ns;
            next_coarse_x_ = h1_ / 2;
            next_knot_x_ = h1_ / 2;
        }
        last_frame_ = p.frame;
        ++model_.stats.points_used;
        double x = static_cast<double>(p.frame - f_ref_);
        double y = static_cast<double>(p.raw_ns - raw_ref_) - x * ns_per_frame_;
        window_.push_back({x, y});
        offsets_.add(p.raw_ns, p.realtime_ns - p.raw_ns);
        // A coarse knot is settled once the points reach H1 past it; a group of fine knots once
        // the points reach H2 past it and the coarse knots reach Hc past it.
        while (x >= next_coarse_x_ + h1_) {
            emit_coarse(next_coarse_x_);
            next_coarse_x_ += s_frames_;
        }
        while (x >= group_ready_at(next_knot_x_)) {
            emit_group(next_knot_x_, false);
            next_knot_x_ += kGroup * s_frames_;
        }
    }

    void finish_knots() {
        if (window_.empty()) {
            return;
        }
        double x_last = window_.back().x;
        // Under two envelope windows the long path would leave one knot, or two a second or so
        // apart (a 31 s recording came out at the nominal rate, 500 µs off at its ends), and
        // the long windows would hold every point anyway.
        if (x_last < 2 * h1_) {
            short_segment_knots(x_last);
            return;
        }
        double last_knot = x_last - h1_ / 2;
        while (next_coarse_x_ <= last_knot) {
            emit_coarse(next_coarse_x_);
            next_coarse_x_ += s_frames_;
        }
        while (next_knot_x_ <= last_knot) {
            emit_group(next_knot_x_, true, last_knot);
            next_knot_x_ += kGroup * s_frames_;
        }
        if (knot_xs_.empty() || last_knot > knot_xs_.back() + s_frames_ / 4) {
            emit_fine(last_knot, last_knot - h2_, last_knot + h2_, curvature_at(last_knot),
                      last_knot, true);
        }
    }

    SegmentModel finish() {
        finish_knots();
        build_raw_knots();
        model_.offset_knots = offsets_.finish(model_.stats);
        finish_stats();
        timemap_detail::build_pps_knots(model_, pps_, opt_);
        return std::move(model_);
    }

    void add_pps(const PpsAnchor& a) { pps_.push_back(a); }

    void add_sync(const SyncPoint& s) { offsets_.add_sync(s); }
    void set_end_frame(uint64_t e) { model_.end_frame = e; }

  private:
    static constexpr int kGroup = 3;  // fine knots per envelope window
    // settle_knots() (docs/timing-model.md, "Uncertainty"). The lower envelope of N late reads
    // sits above the truth by a bias that shrinks with N; the envelopes of random halves of the
    // same reads sit higher than it by an excess d2 that measures that bias. Over the sweep of
    // cards (tests/timemap), bias/d2 ran from 1.5 (lateness spread evenly from zero, as a
    // fine pointer read at random instants) to 4.5 (lateness bunched away from zero, as a
    // pointer read after a scheduling delay); 2 is taken off, and 9 d2 is the uncertainty: 7
    // left 96 % coverage in the worst scenario over twelve seeds, 9 left 99 %.
    static constexpr std::size_t kSmoothKnots = 5;  // d2 averaged over ±50 s of knots
    static constexpr double kBiasPerExcess = 2.0;
    static constexpr double kUncertaintyPerExcess = 9.0;
    // Long and short windows disagreeing by more than this many times their combined bias
    // corrections: wander bends the long one, and the short one is used.
    static constexpr double kSwitch = 1.5;
    static constexpr double kWanderShare = 0.25;  // of the disagreement, added when switching
    static constexpr double kAgreeShare = 0.5;    // ...and when not
    static constexpr double kFloorNs = 1000.0;    // the stamp's resolution, the raw window
    static constexpr double kNoSubsetsNs = 1e6;   // too few points to measure the bias at all
    // The end knots are carried along a chord up to H1/2 past the last settled knot, resting
    // on reads from one side only: their uncertainty is this many times that knot's.
    static constexpr double kEndGrowth = 3.0;

    // What emit_fine learnt about one knot, for settle_knots().
    struct KnotEstimate {
        double vl = 0;                    // long-window envelope value (curvature restored)
        double d2l = 0, d4l = 0;          // its half/quarter-subset excesses
        double vs = 0, d2s = 0, d4s = 0;  // the same from the short window
        double spread = 0;
        bool long_ok = false, short_ok = false;
    };

    // A short segment: two knots a half-span apart, on one line from every point.
    void short_segment_knots(double x_last) {
        knot_xs_.clear();
        knot_ys_.clear();
        knot_spread_.clear();
        knot_est_.clear();
        if (x_last > 0) {
            // The one line under every point that is highest at the span's middle: the hull
            // edge there rests on the least-late reads inside the span, where a hull value
            // near either end would rest on the first or last read alone.
            gather(0, x_last, 0, 0);
            HullValue hv = timemap_detail::lower_hull_at(pts_, x_last / 2, scratch_);
            if (hv.ok) {
                double spread = 0;
                if (pts_.size() >= 6) {
                    std::vector<XY> rest;
                    for (std::size_t i = 0; i < pts_.size(); ++i) {
                        if (i != hv.left && i != hv.right) {
                            rest.push_back(pts_[i]);
                        }
                    }
                    HullValue hv2 = timemap_detail::lower_hull_at(rest, x_last / 2, scratch_);
                    spread = hv2.ok ? hv2.value - hv.value : 0.0;
                }
                // The bias and uncertainty as for long segments (settle_knots()), from the
                // envelopes of halves of these points; one correction for both knots, so that
                // the slope stays that of the line.
                short_env_.build(pts_, 0, pts_.size());
                double d2 = 0;
                int n_ok = 0;
                for (double xs : {x_last / 4, x_last / 2, 3 * x_last / 4}) {
                    const EnvelopeSample es = short_env_.at(xs);
                    if (es.ok) {
                        d2 += es.d2;
                        ++n_ok;
                    }
                }
                d2 = n_ok > 0 ? d2 / n_ok : 0.0;
                for (double xk : {x_last / 4, 3 * x_last / 4}) {
                    double y = hv.value + hv.slope * (xk - x_last / 2) - kBiasPerExcess * d2;
                    double u = n_ok > 0 ? std::max(spread, kUncertaintyPerExcess * d2)
                                        : std::max(spread, kNoSubsetsNs);
                    knot_xs_.push_back(xk);
                    knot_ys_.push_back(y);
                    knot_spread_.push_back(std::max(u, kFloorNs));
                }
                // Every point's lateness above the line, for the stats (one trace interval).
                double sum2 = 0, mx = 0;
                for (const XY& q : pts_) {
                    double late = q.y - (hv.value + hv.slope * (q.x - x_last / 2));
                    sum2 += late * late;
                    mx = std::max(mx, late);
                }
                const auto n = static_cast<uint32_t>(pts_.size());
                trace_n_.assign(1, n);
                trace_rms_.assign(1, n ? std::sqrt(sum2 / n) : 0.0);
                trace_max_.assign(1, mx);
                late_sum2_ = sum2;
                late_n_ = n;
                model_.stats.lateness_max_ns = mx;
            }
        } else {
            // One position only: its least late reading, at the nominal rate.
            double y = window_.front().y;
            for (const XY& q : window_) {
                y = std::min(y, q.y);
            }
            knot_xs_.push_back(0);
            knot_ys_.push_back(y);
            knot_spread_.push_back(1e6);
        }
    }

    // Copies the points with lo <= x <= hi into pts_, detrended by c * (x - xc)^2.
    void gather(double lo, double hi, double c, double xc) {
        auto first = std::lower_bound(window_.begin(), window_.end(), lo,
                                      [](const XY& q, double v) { return q.x < v; });
        pts_.clear();
        for (auto it = first; it != window_.end() && it->x <= hi; ++it) {
            double d = it->x - xc;
            pts_.push_back({it->x, it->y - c * d * d});
        }
    }

    // Points needed before the fine knots from x0 are settled: the long window past them, and
    // the coarse knots their curvature comes from (two-sided, so at the start later ones).
    double group_ready_at(double x0) const {
        double xc = x0 + s_frames_ * (kGroup - 1) / 2.0;
        double xq = std::max(xc, h1_ / 2 + hc_);
        return std::max(xc + s_frames_ + h2_, xq + hc_ + h1_);
    }

    // Pass 1: the plain local envelope every knot spacing, for the curvature of pass 2.
    void emit_coarse(double xk) {
        gather(xk - h1_, xk + h1_, 0, 0);
        if (pts_.size() < 2 || xk < pts_.front().x || xk > pts_.back().x) {
            return;
        }
        HullValue hv = timemap_detail::lower_hull_at(pts_, xk, scratch_);
        if (hv.ok) {
            coarse_x_.push_back(xk);
            coarse_y_.push_back(hv.value);
        }
    }

    // Curvature (ns per frame^2) of the coarse envelope around x: a least-squares parabola
    // through the coarse knots within Hc.
    double curvature_at(double x) const { return curvature_at(x, hc_); }
    double curvature_at(double x, double half) const {
        double n = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, t0 = 0, t1 = 0, t2 = 0;
        auto lo = std::lower_bound(coarse_x_.begin(), coarse_x_.end(), x - half);
        for (auto it = lo; it != coarse_x_.end() && *it <= x + half; ++it) {
            double u = (*it - x) / s_frames_;  // knot spacings: keeps the sums well scaled
            double v = coarse_y_[static_cast<std::size_t>(it - coarse_x_.begin())];
            double u2 = u * u;
            n += 1;
            s1 += u;
            s2 += u2;
            s3 += u2 * u;
            s4 += u2 * u2;
            t0 += v;
            t1 += u * v;
            t2 += u2 * v;
        }
        if (n < 7) {
            return 0.0;
        }
        // Normal equations of v = a + b u + c u^2, solved for c by Cramer's rule.
        double det = n * (s2 * s4 - s3 * s3) - s1 * (s1 * s4 - s3 * s2) + s2 * (s1 * s3 - s2 * s2);
        if (std::abs(det) < 1e-12) {
            return 0.0;
        }
        double det_c =
            n * (s2 * t2 - s3 * t1) - s1 * (s1 * t2 - s3 * t0) + s2 * (s1 * t1 - s2 * t0);
        return det_c / det / (s_frames_ * s_frames_);
    }

    // Pass 2: the knots x0, x0 + S, ... (kGroup of them, up to `limit` at the end) from one long
    // window centred on the group, detrended by the local curvature.
    void emit_group(double x0, bool at_end, double limit = 0) {
        double xc = x0 + s_frames_ * (kGroup - 1) / 2.0;
        // Near the ends the parabola would rest on one side only and its curvature would be
        // noisy; curvature changes slowly, so take it from the nearest two-sided stretch.
        double xq = xc;
        if (!coarse_x_.empty()) {
            double lo = coarse_x_.front() + hc_;
            double hi = at_end ? coarse_x_.back() - hc_ : xc;
            xq = lo <= hi ? std::clamp(xc, lo, hi) : (coarse_x_.front() + coarse_x_.back()) / 2;
        }
        double c = curvature_at(xq);
        for (int j = 0; j < kGroup; ++j) {
            double xk = x0 + j * s_frames_;
            if (at_end && xk > limit) {
                break;
            }
            emit_fine(xk, xc - h2_, xc + h2_, c, xc, j == 0);
        }
        // Points no later group can reach.
        double keep_from = x0 + kGroup * s_frames_ - std::max(h2_, h1_) - s_frames_;
        while (!window_.empty() && window_.front().x < keep_from) {
            window_.pop_front();
        }
    }

    void emit_fine(double xk, double lo, double hi, double c, double xc, bool regather) {
        if (regather || pts_cached_lo_ != lo || pts_cached_c_ != c) {
            gather(lo, hi, c, xc);
            pts_cached_lo_ = lo;
            pts_cached_c_ = c;
            fine_pts_ = pts_;
            timemap_detail::build_lower_hull(fine_pts_, fine_hull_);  // shared by the group
            long_env_.build(fine_pts_, 0, fine_pts_.size());
        }
        const std::vector<XY>& pts = fine_pts_;
        if (pts.size() < 2 || xk < pts.front().x || xk > pts.back().x) {
            return;
        }
        HullValue hv = timemap_detail::hull_value_at(pts, fine_hull_, xk);
        if (!hv.ok) {
            return;
        }
        if (!knot_xs_.empty() && xk <= knot_xs_.back()) {
            return;
        }
        // How much the value rests on its two supporting points: the hull without them. That
        // hull still passes through the vertices either side of the two (removing points only
        // raises a lower hull, and those vertices are still points), so only the points between
        // those vertices can shape it at xk.
        double spread = 0;
        if (pts.size() >= 6) {
            const std::size_t from = hv.vertex >= 2 ? fine_hull_[hv.vertex - 2] : 0;
            const std::size_t to =
                hv.vertex + 1 < fine_hull_.size() ? fine_hull_[hv.vertex + 1] : pts.size() - 1;
            pts_.clear();
            for (std::size_t i = from; i <= to; ++i) {
                if (i != hv.left && i != hv.right) {
                    pts_.push_back(pts[i]);
                }
            }
            HullValue hv2 = timemap_detail::lower_hull_at(pts_, xk, scratch_);
            if (hv2.ok) {
                spread = hv2.value - hv.value;
            }
        }
        // The same knot from a short window around it, detrended by a curvature from a shorter
        // stretch: less bent by fast wander, noisier. settle_knots() weighs the two.
        KnotEstimate ke;
        ke.spread = spread;
        const EnvelopeSample el = long_env_.at(xk);
        ke.long_ok = el.ok;
        ke.d2l = el.d2;
        double xs = xk;
        if (!coarse_x_.empty()) {
            double lo_s = coarse_x_.front() + hcs_;
            double hi_s = coarse_x_.back() - hcs_;
            xs = lo_s <= hi_s ? std::clamp(xk, lo_s, hi_s) : xk;
        }
        const double cs = curvature_at(xs, hcs_);
        gather(xk - h1_, xk + h1_, cs, xk);
        if (pts_.size() >= 8 && pts_.front().x < xk && pts_.back().x > xk) {
            short_env_.build(pts_, 0, pts_.size());
            const EnvelopeSample es = short_env_.at(xk);
            if (es.ok) {
                ke.short_ok = true;
                ke.vs = es.value;
                ke.d2s = es.d2;
            }
        }
        double d = xk - xc;
        double value = hv.value + c * d * d;
        ke.vl = value;
        knot_xs_.push_back(xk);
        knot_ys_.push_back(value);
        knot_spread_.push_back(spread);
        knot_est_.push_back(ke);
        // Lateness of the points between the previous knot and this one, for the trace.
        if (knot_xs_.size() >= 2) {
            double x0 = knot_xs_[knot_xs_.size() - 2];
            double y0 = knot_ys_[knot_ys_.size() - 2];
            double slope = (value - y0) / (xk - x0);
            double sum2 = 0, mx = 0;
            uint32_t n = 0;
            auto first = std::lower_bound(window_.begin(), window_.end(), x0,
                                          [](const XY& q, double v) { return q.x < v; });
            for (auto it = first; it != window_.end() && it->x < xk; ++it) {
                double late = it->y - (y0 + slope * (it->x - x0));
                sum2 += late * late;
                mx = std::max(mx, late);
                ++n;
            }
            trace_n_.push_back(n);
            trace_rms_.push_back(n ? std::sqrt(sum2 / n) : 0.0);
            trace_max_.push_back(mx);
            late_sum2_ += sum2;
            late_n_ += n;
            model_.stats.lateness_max_ns = std::max(model_.stats.lateness_max_ns, mx);
        }
    }

    // Each knot's value and uncertainty from its long- and short-window envelopes: the bias
    // each envelope's half-subset excess implies is taken off, and what is not known about it,
    // with any disagreement between the two windows, is the uncertainty.
    void settle_knots() {
        const std::size_t n = knot_est_.size();
        if (n == 0 || n != knot_xs_.size()) {
            return;
        }
        // The subset excess of one knot is noisy; its neighbours share most of its reads.
        auto smooth = [&](std::size_t i, bool lng) {
            double sum = 0;
            std::size_t cnt = 0;
            std::size_t lo = i >= kSmoothKnots ? i - kSmoothKnots : 0;
            std::size_t hi = std::min(n - 1, i + kSmoothKnots);
            for (std::size_t j = lo; j <= hi; ++j) {
                const KnotEstimate& e = knot_est_[j];
                if (lng ? e.long_ok : e.short_ok) {
                    sum += lng ? e.d2l : e.d2s;
                    ++cnt;
                }
            }
            const KnotEstimate& e = knot_est_[i];
            double own = lng ? e.d2l : e.d2s;
            return cnt ? sum / static_cast<double>(cnt) : own;
        };
        for (std::size_t i = 0; i < n; ++i) {
            const KnotEstimate& e = knot_est_[i];
            double value = knot_ys_[i];
            double u = e.spread;
            if (e.long_ok) {
                const double bl = kBiasPerExcess * smooth(i, true);
                const double vl = e.vl - bl;
                value = vl;
                u = std::max(u, kUncertaintyPerExcess * smooth(i, true));
                if (e.short_ok) {
                    const double bs = kBiasPerExcess * smooth(i, false);
                    const double vs = e.vs - bs;
                    const double diff = vl - vs;
                    // The two agree within what their biases leave unknown: the long one,
                    // resting on four times the reads, stands. They disagree: the long window
                    // is bent by wander its curvature does not follow; the short one stands,
                    // and a share of the disagreement is what wander may leave in it too.
                    const double noise = kSwitch * std::hypot(bl, bs);
                    if (std::abs(diff) > noise) {
                        value = vs;
                        u = std::max(e.spread, kUncertaintyPerExcess * smooth(i, false)) +
                            kWanderShare * std::abs(diff);
                    } else {
                        u += kAgreeShare * std::abs(diff);
                    }
                }
            }
            knot_ys_[i] = value;
            knot_spread_[i] = std::max(u, kFloorNs);
        }
    }

    // The envelope cannot be trusted right at the ends of the points (few reads on one side), so
    // the ends get knots carried along the chord of the last minute of knots.
    void add_end_knots() {
        std::size_t n = knot_xs_.size();
        if (n < 2 || window_.empty()) {
            return;
        }
        std::size_t reach = std::min<std::size_t>(
            n - 1, static_cast<std::size_t>(std::ceil(60.0 / opt_.knot_spacing_s)));
        double x_last = window_.back().x;
        if (knot_xs_.back() < x_last) {
            std::size_t j = n - 1 - reach;
            double slope = (knot_ys_[n - 1] - knot_ys_[j]) / (knot_xs_[n - 1] - knot_xs_[j]);
            knot_xs_.push_back(x_last);
            knot_ys_.push_back(knot_ys_[n - 1] + slope * (x_last - knot_xs_[n - 1]));
            knot_spread_.push_back(kEndGrowth * knot_spread_[n - 1]);
        }
        if (knot_xs_.front() > 0) {
            double slope = (knot_ys_[reach] - knot_ys_[0]) / (knot_xs_[reach] - knot_xs_[0]);
            auto prepend = [](std::vector<double>& v, double value) {
                std::vector<double> out;
                out.reserve(v.size() + 1);
                out.push_back(value);
                out.insert(out.end(), v.begin(), v.end());
                v.swap(out);
            };
            double y0 = knot_ys_[0] - slope * knot_xs_[0];
            double spread0 = kEndGrowth * knot_spread_[0];
            prepend(knot_xs_, 0.0);
            prepend(knot_ys_, y0);
            prepend(knot_spread_, spread0);
        }
    }

    void build_raw_knots() {
        settle_knots();
        add_end_knots();
        auto& rk = model_.raw_knots;
        rk.clear();
        for (std::size_t i = 0; i < knot_xs_.size(); ++i) {
            // Knots sit on whole frames; move the value along the local slope to get there.
            double x = knot_xs_[i];
            double xr = std::round(x);
            double slope = 0;
            if (knot_xs_.size() >= 2) {
                std::size_t j = i + 1 < knot_xs_.size() ? i + 1 : i - 1;
                slope = (knot_ys_[j] - knot_ys_[i]) / (knot_xs_[j] - knot_xs_[i]);
            }
            double y = knot_ys_[i] + slope * (xr - x);
            RawKnot k;
            k.frame = f_ref_ + static_cast<uint64_t>(xr);
            k.raw_ns = raw_ref_ + static_cast<int64_t>(std::llround(y + xr * ns_per_frame_));
            k.uncertainty_ns = static_cast<int32_t>(std::min(1e9, std::ceil(knot_spread_[i])));
            if (!rk.empty() && k.frame <= rk.back().frame) {
                continue;
            }
            rk.push_back(k);
        }
        if (rk.size() == 1) {
            // One knot: carry on at the nominal rate.
            RawKnot k = rk[0];
            k.frame += model_.rate_hz;
            k.raw_ns += 1'000'000'000;
            rk.push_back(k);
        }
    }

    void finish_stats() {
        auto& st = model_.stats;
        st.lateness_rms_ns = late_n_ ? std::sqrt(late_sum2_ / static_cast<double>(late_n_)) : 0.0;
        for (const RawKnot& k : model_.raw_knots) {
            st.uncertainty_ns = std::max<int64_t>(st.uncertainty_ns, k.uncertainty_ns);
        }
        const auto& rk = model_.raw_knots;
        if (rk.size() < 2) {
            return;
        }
        auto ppm_between = [&](std::size_t a, std::size_t b) {
            TimeEstimate ta = model_.frame_to_utc(rk[a].frame);
            TimeEstimate tb = model_.frame_to_utc(rk[b].frame);
            double dutc =
                static_cast<double>(tb.utc_ns - ta.utc_ns) + (tb.utc_frac_ns - ta.utc_frac_ns);
            double dframes = static_cast<double>(rk[b].frame - rk[a].frame);
            return (dframes / model_.rate_hz * 1e9 / dutc - 1.0) * 1e6;
        };
        st.mean_ppm = ppm_between(0, rk.size() - 1);
        // The range over a minute or more, so knot noise does not pass for wander.
        std::size_t span = std::max<std::size_t>(
            1, static_cast<std::size_t>(std::ceil(60.0 / opt_.knot_spacing_s)));
        st.min_ppm = st.max_ppm = st.mean_ppm;
        model_.trace.clear();
        for (std::size_t i = 0; i + 1 < rk.size(); ++i) {
            std::size_t a = i >= span / 2 ? i - span / 2 : 0;
            std::size_t b = std::min(rk.size() - 1, a + span);
            double ppm = ppm_between(a, b);
            if (b - a >= std::min(span, rk.size() - 1)) {
                st.min_ppm = std::min(st.min_ppm, ppm);
                st.max_ppm = std::max(st.max_ppm, ppm);
            }
            ModelTrace t;
            t.utc_ns = model_.frame_to_utc(rk[i].frame).utc_ns;
            t.ppm = ppm;
            if (i < trace_n_.size()) {
                t.points = trace_n_[i];
                t.lateness_rms_ns = trace_rms_[i];
                t.lateness_max_ns = trace_max_[i];
            }
            model_.trace.push_back(t);
        }
    }

    FitOptions opt_;
    SegmentModel model_;
    OffsetTrack offsets_;
    double ns_per_frame_ = 0;
    double s_frames_ = 0;
    bool have_ref_ = false;
    uint64_t f_ref_ = 0;
    int64_t raw_ref_ = 0;
    uint64_t last_frame_ = 0;
    double next_knot_x_ = 0;
    double next_coarse_x_ = 0;
    double h1_ = 0, h2_ = 0, hc_ = 0, hcs_ = 0;
    std::deque<XY> window_;
    std::vector<XY> pts_, fine_pts_;
    double pts_cached_lo_ = -1, pts_cached_c_ = 0;
    std::vector<double> coarse_x_, coarse_y_;
    std::vector<std::size_t> scratch_;
    std::vector<std::size_t> fine_hull_;  // lower hull of fine_pts_
    std::vector<double> knot_xs_, knot_ys_, knot_spread_;
    std::vector<PpsAnchor> pps_;
    std::vector<KnotEstimate> knot_est_;  // beside knot_xs_ from emit_fine (empty otherwise)
    timemap_detail::EnvelopeSet long_env_, short_env_;
    std::vector<uint32_t> trace_n_;
    std::vector<double> trace_rms_, trace_max_;
    double late_sum2_ = 0;
    uint64_t late_n_ = 0;
};

SegmentFitter::SegmentFitter(uint32_t rate_hz, uint64_t first_frame, uint64_t end_frame,
                             const FitOptions& options)
    : impl_(new Impl(rate_hz, first_frame, end_frame, options)) {}
SegmentFitter::~SegmentFitter() {
    delete impl_;
}
SegmentFitter::SegmentFitter(SegmentFitter&& o) noexcept : impl_(o.impl_) {
    o.impl_ = nullptr;
}
SegmentFitter& SegmentFitter::operator=(SegmentFitter&& o) noexcept {
    if (this != &o) {
        delete impl_;
        impl_ = o.impl_;
        o.impl_ = nullptr;
    }
    return *this;
}
void SegmentFitter::add_point(const TimePoint& p) {
    impl_->add_point(p);
}
void SegmentFitter::add_sync(const SyncPoint& s) {
    impl_->add_sync(s);
}
void SegmentFitter::add_pps(const PpsAnchor& a) {
    impl_->add_pps(a);
}
void SegmentFitter::set_end_frame(uint64_t end_frame) {
    impl_->set_end_frame(end_frame);
}
SegmentModel SegmentFitter::finish() {
    return impl_->finish();
}

SegmentModel fit_segment(uint32_t rate_hz, uint64_t first_frame, uint64_t end_frame,
                         const std::vector<TimePoint>& points, const std::vector<SyncPoint>& sync,
                         const FitOptions& options, const std::vector<PpsAnchor>& pps) {
    SegmentFitter fitter(rate_hz, first_frame, end_frame, options);
    for (const PpsAnchor& a : pps) {
        fitter.add_pps(a);
    }
    for (const SyncPoint& s : sync) {
        fitter.add_sync(s);
    }
    for (const TimePoint& p : points) {
        fitter.add_point(p);
    }
    return fitter.finish();
}

}  // namespace framestamp
