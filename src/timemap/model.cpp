// Evaluating a fitted segment: frame -> raw (piecewise linear through the envelope knots), then
// raw -> UTC (piecewise linear offset, with steps), and the inverse.
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "fit_internal.hpp"
#include "framestamp/timemap.hpp"

namespace framestamp {

namespace {

// Index i such that knots[i] and knots[i+1] bracket `frame` (clamped to the ends).
std::size_t raw_piece(const std::vector<RawKnot>& rk, uint64_t frame) {
    auto it = std::upper_bound(rk.begin(), rk.end(), frame,
                               [](uint64_t f, const RawKnot& k) { return f < k.frame; });
    std::size_t i = it == rk.begin() ? 0 : static_cast<std::size_t>(it - rk.begin()) - 1;
    return std::min(i, rk.size() - 2);
}

// Offset piece for raw (the right-hand limit at a step).
std::size_t offset_piece(const std::vector<OffsetKnot>& ok, int64_t raw) {
    auto it = std::upper_bound(ok.begin(), ok.end(), raw,
                               [](int64_t r, const OffsetKnot& k) { return r < k.raw_ns; });
    std::size_t i = it == ok.begin() ? 0 : static_cast<std::size_t>(it - ok.begin()) - 1;
    return std::min(i, ok.size() - 2);
}

// UTC - raw at raw, as ref_ns + the returned double (offsets are ~1.8e18 ns: a double alone
// would round them to 256 ns).
double offset_at(const std::vector<OffsetKnot>& ok, int64_t raw, int64_t ref_ns,
                 const OffsetKnot** near) {
    if (ok.empty()) {
        *near = nullptr;
        return static_cast<double>(-ref_ns);
    }
    auto rel = [&](const OffsetKnot& k) { return static_cast<double>(k.offset_ns - ref_ns); };
    if (ok.size() == 1) {
        *near = &ok[0];
        return rel(ok[0]);
    }
    std::size_t i = offset_piece(ok, raw);
    const OffsetKnot& a = ok[i];
    const OffsetKnot& b = ok[i + 1];
    *near = (raw - a.raw_ns) <= (b.raw_ns - raw) ? &a : &b;
    if (b.raw_ns == a.raw_ns) {
        return rel(b);
    }
    // Outside the knots the offset is held (the raw clock's drift against UTC is unknown there).
    if (raw <= a.raw_ns && i == 0) {
        return rel(a);
    }
    if (raw >= b.raw_ns) {
        return rel(b);
    }
    double w = static_cast<double>(raw - a.raw_ns) / static_cast<double>(b.raw_ns - a.raw_ns);
    return rel(a) + w * static_cast<double>(b.offset_ns - a.offset_ns);
}

int64_t offset_ref(const std::vector<OffsetKnot>& ok) {
    return ok.empty() ? 0 : ok.front().offset_ns;
}

// The PPS interval [pk[i], pk[i+1]] that serves frame + frac: the one holding it, if its knots
// are close enough to interpolate between (gap_after unset), or the first or last interval for a
// position within reach_frames before the first knot or after the last one.
std::optional<std::size_t> pps_piece(const std::vector<PpsKnot>& pk, uint64_t frame, double frac,
                                     double reach_frames) {
    if (pk.size() < 2) {
        return std::nullopt;
    }
    auto before = [](const PpsKnot& k, uint64_t f, double fr) {
        return k.frame < f || (k.frame == f && k.frac <= fr);
    };
    // First knot after the position.
    auto it = std::partition_point(pk.begin(), pk.end(),
                                   [&](const PpsKnot& k) { return before(k, frame, frac); });
    auto dist = [&](const PpsKnot& k) {
        const double whole = frame >= k.frame ? static_cast<double>(frame - k.frame)
                                              : static_cast<double>(k.frame - frame);
        return std::abs(whole + (frame >= k.frame ? frac - k.frac : k.frac - frac));
    };
    if (it == pk.begin()) {
        if (dist(pk.front()) > reach_frames || pk[0].gap_after != 0) {
            return std::nullopt;
        }
        return 0;
    }
    std::size_t i = static_cast<std::size_t>(it - pk.begin()) - 1;
    if (i + 1 == pk.size()) {
        if (dist(pk.back()) > reach_frames || pk[i - 1].gap_after != 0) {
            return std::nullopt;
        }
        --i;
    }
    if (pk[i].gap_after != 0) {
        return std::nullopt;
    }
    return i;
}

// Frames from knot a to frame + frac (may be fractional).
double pps_frames_from(const PpsKnot& a, uint64_t frame, double frac) {
    double whole = frame >= a.frame ? static_cast<double>(frame - a.frame)
                                    : -static_cast<double>(a.frame - frame);
    return whole + (frac - a.frac);
}

}  // namespace

double SegmentModel::frame_to_raw_ns_rel(uint64_t frame, double frac, int64_t raw_ref_ns) const {
    std::size_t i = raw_piece(raw_knots, frame);
    const RawKnot& a = raw_knots[i];
    const RawKnot& b = raw_knots[i + 1];
    double df = (static_cast<double>(frame) - static_cast<double>(a.frame)) + frac;
    if (frame >= a.frame) {
        df = static_cast<double>(frame - a.frame) + frac;
    } else {
        df = -static_cast<double>(a.frame - frame) + frac;
    }
    double slope =
        static_cast<double>(b.raw_ns - a.raw_ns) / static_cast<double>(b.frame - a.frame);
    return static_cast<double>(a.raw_ns - raw_ref_ns) + slope * df;
}

TimeEstimate SegmentModel::frame_to_utc(uint64_t frame, double frac) const {
    TimeEstimate te;
    if (empty()) {
        return te;
    }
    if (const auto piece =
            pps_piece(pps_knots, frame, frac, timemap_detail::kPpsReachS * rate_hz)) {
        // Between two PPS edges (or just beyond the first or last): UTC straight from GPS, the
        // system clock not involved.
        const PpsKnot& a = pps_knots[*piece];
        const PpsKnot& b = pps_knots[*piece + 1];
        const double span = pps_frames_from(a, b.frame, b.frac);
        const double seconds = static_cast<double>(b.utc_s - a.utc_s);
        const double w = pps_frames_from(a, frame, frac) / span;
        const double ns = w * seconds * 1e9;
        const double whole = std::floor(ns);
        te.utc_ns = a.utc_s * 1'000'000'000 + static_cast<int64_t>(whole);
        te.utc_frac_ns = ns - whole;
        // Beyond the interval the knots' errors are carried out along their line (up to 1 + 2
        // times theirs per interval length), and the rate may move over the whole reach.
        const double beyond = w < 0 ? -w : (w > 1 ? w - 1 : 0.0);
        te.fit_uncertainty_ns = static_cast<int64_t>(
            std::ceil(std::max(a.uncertainty_ns, b.uncertainty_ns) * (1 + 2 * beyond) +
                      timemap_detail::pps_gap_uncertainty_ns(seconds * (1 + 2 * beyond))));
        te.clock_uncertainty_ns = std::max(a.clock_uncertainty_ns, b.clock_uncertainty_ns);
        te.synced = te.clock_uncertainty_ns == 0;
        te.pps = true;
        return te;
    }
    std::size_t i = raw_piece(raw_knots, frame);
    const RawKnot& a = raw_knots[i];
    const RawKnot& b = raw_knots[i + 1];
    double raw_rel = frame_to_raw_ns_rel(frame, frac, a.raw_ns);
    int64_t raw_whole = a.raw_ns + static_cast<int64_t>(std::floor(raw_rel));
    double raw_frac = raw_rel - std::floor(raw_rel);
    const OffsetKnot* near = nullptr;
    int64_t ref = offset_ref(offset_knots);
    double off = offset_at(offset_knots, raw_whole, ref, &near);
    double off_floor = std::floor(off);
    te.utc_ns = raw_whole + ref + static_cast<int64_t>(off_floor);
    te.utc_frac_ns = raw_frac + (off - off_floor);
    if (te.utc_frac_ns >= 1.0) {
        te.utc_ns += 1;
        te.utc_frac_ns -= 1.0;
    }
    // Fit uncertainty: the larger of the two knots' (the line between them is no better than
    // either end), growing at 1 ppm beyond the knots' span.
    double u = std::max(a.uncertainty_ns, b.uncertainty_ns);
    const RawKnot& first = raw_knots.front();
    const RawKnot& last = raw_knots.back();
    if (frame < first.frame || frame > last.frame) {
        te.extrapolated = true;
        uint64_t beyond = frame < first.frame ? first.frame - frame : frame - last.frame;
        u = std::max<double>(first.uncertainty_ns, last.uncertainty_ns) +
            1e-6 * static_cast<double>(beyond) * 1e9 / rate_hz;
    }
    te.fit_uncertainty_ns = static_cast<int64_t>(std::ceil(u));
    if (near != nullptr) {
        te.clock_uncertainty_ns = near->clock_error_ns;
        te.synced = (near->flags & OffsetKnot::synced) != 0;
        te.bridged = (near->flags & OffsetKnot::bridged) != 0;
    }
    return te;
}

int64_t SegmentModel::first_utc_ns() const {
    return frame_to_utc(first_frame).utc_ns;
}

int64_t SegmentModel::end_utc_ns() const {
    return frame_to_utc(end_frame).utc_ns;
}

std::optional<double> SegmentModel::utc_to_frame(int64_t utc_ns) const {
    if (empty() || end_frame <= first_frame) {
        return std::nullopt;
    }
    if (pps_knots.size() >= 2) {
        // Where frame_to_utc takes UTC from the pulses, the inverse of its line (UTC only grows
        // along it): inside an interval, or within reach before the first or after the last.
        auto it = std::partition_point(pps_knots.begin(), pps_knots.end(), [&](const PpsKnot& k) {
            return k.utc_s * 1'000'000'000 <= utc_ns;
        });
        const auto reach_ns = static_cast<int64_t>(timemap_detail::kPpsReachS * 1e9);
        std::optional<std::size_t> i;
        if (it == pps_knots.begin()) {
            if (pps_knots.front().utc_s * 1'000'000'000 - utc_ns <= reach_ns &&
                pps_knots.front().gap_after == 0) {
                i = 0;
            }
        } else if (it == pps_knots.end()) {
            const std::size_t last = pps_knots.size() - 1;
            if (utc_ns - pps_knots[last].utc_s * 1'000'000'000 <= reach_ns &&
                pps_knots[last - 1].gap_after == 0) {
                i = last - 1;
            }
        } else if ((it - 1)->gap_after == 0) {
            i = static_cast<std::size_t>(it - pps_knots.begin()) - 1;
        }
        if (i) {
            const PpsKnot& a = pps_knots[*i];
            const PpsKnot& b = pps_knots[*i + 1];
            const double w = static_cast<double>(utc_ns - a.utc_s * 1'000'000'000) /
                             (static_cast<double>(b.utc_s - a.utc_s) * 1e9);
            const double frame =
                static_cast<double>(a.frame) + a.frac + w * pps_frames_from(a, b.frame, b.frac);
            // The pulses decide here: outside the segment is outside, whatever the pointer says.
            if (frame >= static_cast<double>(first_frame) &&
                frame < static_cast<double>(end_frame)) {
                return frame;
            }
            return std::nullopt;
        }
    }
    // The latest raw whose UTC is utc_ns: scan the offset pieces from the end (a backward step
    // repeats a stretch of UTC; the later occurrence wins).
    int64_t raw_first = raw_knots.front().raw_ns + static_cast<int64_t>(frame_to_raw_ns_rel(
                                                       first_frame, 0, raw_knots.front().raw_ns));
    int64_t raw_end = raw_knots.front().raw_ns + static_cast<int64_t>(frame_to_raw_ns_rel(
                                                     end_frame, 0, raw_knots.front().raw_ns));
    std::optional<double> raw_hit;  // relative to raw_first
    // UTC relative to raw_first + ref, so every double below stays small.
    int64_t ref = offset_ref(offset_knots);
    auto utc_of = [&](int64_t raw) {
        const OffsetKnot* near = nullptr;
        return static_cast<double>(raw - raw_first) + offset_at(offset_knots, raw, ref, &near);
    };
    double target = static_cast<double>(utc_ns - raw_first - ref);
    // Pieces: boundaries at every offset knot inside [raw_first, raw_end]. Runs: the pieces
    // between clock steps (two knots at one raw), along which UTC only grows.
    std::vector<int64_t> bounds;
    std::vector<std::size_t> run_starts{0};  // indices into bounds
    bounds.push_back(raw_first);
    for (std::size_t i = 0; i < offset_knots.size(); ++i) {
        const OffsetKnot& k = offset_knots[i];
        if (k.raw_ns > raw_first && k.raw_ns < raw_end) {
            if (bounds.back() != k.raw_ns) {
                bounds.push_back(k.raw_ns);
            }
            if (i > 0 && offset_knots[i - 1].raw_ns == k.raw_ns &&
                run_starts.back() != bounds.size() - 1) {
                run_starts.push_back(bounds.size() - 1);
            }
        }
    }
    bounds.push_back(raw_end);
    // UTC at either end of piece j: its left end is the limit from the right (offset_at picks
    // it at a tie), its right end the limit from the left.
    auto piece_u0 = [&](std::size_t j) { return utc_of(bounds[j]); };
    auto piece_u1 = [&](std::size_t j) {
        return bounds[j + 1] == raw_end ? utc_of(raw_end) : utc_of(bounds[j + 1] - 1) + 1.0;
    };
    // The latest run holding the target wins (a backward step repeats UTC); within a run, the
    // last piece starting at or before it, by bisection.
    for (std::size_t r = run_starts.size(); r-- > 0 && !raw_hit;) {
        std::size_t lo = run_starts[r];
        std::size_t hi = r + 1 < run_starts.size() ? run_starts[r + 1] : bounds.size() - 1;
        if (target < piece_u0(lo) || target >= piece_u1(hi - 1)) {
            continue;
        }
        while (hi - lo > 1) {  // invariant: piece_u0(lo) <= target, answer in [lo, hi)
            std::size_t mid = lo + (hi - lo) / 2;
            if (piece_u0(mid) <= target) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        double u0 = piece_u0(lo);
        double u1 = piece_u1(lo);
        if (target >= u0 && target < u1) {
            double w = (target - u0) / (u1 - u0);
            raw_hit = static_cast<double>(bounds[lo] - raw_first) +
                      w * static_cast<double>(bounds[lo + 1] - bounds[lo]);
        }
    }
    if (!raw_hit) {
        return std::nullopt;
    }
    // raw -> frame on the raw knots (increasing in both).
    double raw_abs_rel = *raw_hit;  // relative to raw_first
    int64_t raw_whole = raw_first + static_cast<int64_t>(std::floor(raw_abs_rel));
    double raw_frac = raw_abs_rel - std::floor(raw_abs_rel);
    auto it = std::upper_bound(raw_knots.begin(), raw_knots.end(), raw_whole,
                               [](int64_t r, const RawKnot& k) { return r < k.raw_ns; });
    std::size_t i =
        it == raw_knots.begin() ? 0 : static_cast<std::size_t>(it - raw_knots.begin()) - 1;
    i = std::min(i, raw_knots.size() - 2);
    const RawKnot& a = raw_knots[i];
    const RawKnot& b = raw_knots[i + 1];
    double frames_per_ns =
        static_cast<double>(b.frame - a.frame) / static_cast<double>(b.raw_ns - a.raw_ns);
    double frame = static_cast<double>(a.frame) +
                   (static_cast<double>(raw_whole - a.raw_ns) + raw_frac) * frames_per_ns;
    if (frame < static_cast<double>(first_frame) || frame >= static_cast<double>(end_frame)) {
        return std::nullopt;
    }
    return frame;
}

}  // namespace framestamp
