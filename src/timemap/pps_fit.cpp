// PPS anchors: GPS pulses recorded in the audio, checked against the pointer model and turned
// into knots that map frames to UTC directly (docs/timing-model.md, "PPS anchors").
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "fit_internal.hpp"

namespace framestamp::timemap_detail {

namespace {

constexpr double kNsPerS = 1e9;
// The pointer model (fit + clock) must be surer than this somewhere for the pulses' seconds to
// be known; beyond, they carry the system clock's uncertainty.
constexpr double kRelabelLimitNs = 0.25e9;
constexpr std::size_t kMedianHalf = 15;      // anchors either side for the local median
constexpr std::size_t kMinTriples = 5;       // second differences needed to trust the jitter
constexpr double kJitterSigmas = 5.0;        // the uncertainty is this many jitter RMS...
constexpr double kUnknownJitterNs = 10'000;  // ...or this, when too few pulses to measure it
constexpr double kGapNsPerS2 = 2.0;          // wander's bend across a gap of missing pulses

double position(const PpsAnchor& a) {
    return static_cast<double>(a.frame) + a.frac;
}

}  // namespace

void build_pps_knots(SegmentModel& m, const std::vector<PpsAnchor>& anchors, const FitOptions& o) {
    m.pps_knots.clear();
    if (anchors.empty() || m.empty()) {
        return;
    }
    // 1. Where the pointer model puts each edge, against the nearest whole second.
    struct Cand {
        PpsAnchor a;
        double utc_ns;    // pointer model's UTC of the edge, relative to the second below
        double resid_ns;  // ...minus the nearest whole second: in [-0.5 s, 0.5 s)
        double model_u_ns;
    };
    std::vector<Cand> cand;
    uint32_t rejected = 0;
    for (const PpsAnchor& a : anchors) {
        if (a.frame < m.first_frame || a.frame >= m.end_frame || !(a.frac >= 0 && a.frac < 1)) {
            ++rejected;
            continue;
        }
        const TimeEstimate te = m.frame_to_utc(a.frame, a.frac);
        const int64_t sec = te.utc_ns >= 0 ? te.utc_ns / 1'000'000'000
                                           : -((-te.utc_ns + 999'999'999) / 1'000'000'000);
        const double within = static_cast<double>(te.utc_ns - sec * 1'000'000'000) + te.utc_frac_ns;
        PpsAnchor b = a;
        b.utc_s = within >= 0.5 * kNsPerS ? sec + 1 : sec;
        cand.push_back({b, within, within >= 0.5 * kNsPerS ? within - kNsPerS : within,
                        static_cast<double>(te.uncertainty_ns())});
    }
    // 2. The pointer model's error moves slowly; a true edge sits with its neighbours, a false
    //    one (noise, the pulse's trailing edge, a glitch) far from them.
    auto wrap = [](double d) { return d - std::round(d / kNsPerS) * kNsPerS; };
    std::vector<Cand> ok;
    std::vector<double> window;
    for (std::size_t i = 0; i < cand.size(); ++i) {
        const std::size_t lo = i >= kMedianHalf ? i - kMedianHalf : 0;
        const std::size_t hi = std::min(cand.size(), i + kMedianHalf + 1);
        window.clear();
        for (std::size_t j = lo; j < hi; ++j) {
            window.push_back(wrap(cand[j].resid_ns - cand[i].resid_ns));
        }
        const auto mid = window.begin() + static_cast<std::ptrdiff_t>(window.size() / 2);
        std::nth_element(window.begin(), mid, window.end());
        if (std::abs(*mid) > static_cast<double>(o.pps_reject_ns)) {
            ++rejected;
            continue;
        }
        ok.push_back(cand[i]);
    }
    // 3. Which second each edge marks. Its label (the system clock's second when it was seen)
    //    and the pointer model can both be wrong by whole seconds where the clock was; counting
    //    seconds between edges cannot. So one edge, where the model is surest, gives its second
    //    and the rest are counted from it at the rate the pulses themselves show.
    if (ok.size() < 2) {
        m.stats.pps_rejected = rejected + static_cast<uint32_t>(ok.size());
        return;
    }
    std::size_t ref = 0;
    for (std::size_t i = 1; i < ok.size(); ++i) {
        if (ok[i].model_u_ns < ok[ref].model_u_ns) {
            ref = i;
        }
    }
    // Never within a quarter second of UTC (no synchronised clock): the pulses still say when
    // seconds begin, but which second is only as good as the system clock.
    const int64_t label_uncertainty =
        ok[ref].model_u_ns >= kRelabelLimitNs ? static_cast<int64_t>(ok[ref].model_u_ns) : 0;
    const double nominal = m.rate_hz * (1.0 + 1e-6 * m.stats.mean_ppm);
    auto count_from = [&](std::size_t from, std::size_t to, double& fps) {
        const double frames = position(ok[to].a) - position(ok[from].a);
        const double secs = std::round(frames / fps);
        if (std::abs(secs) >= 1) {
            fps = frames / secs;
        }
        ok[to].a.utc_s = ok[from].a.utc_s + static_cast<int64_t>(secs);
    };
    double fps = nominal;
    for (std::size_t i = ref + 1; i < ok.size(); ++i) {
        count_from(i - 1, i, fps);
    }
    fps = nominal;
    for (std::size_t i = ref; i-- > 0;) {
        count_from(i + 1, i, fps);
    }
    // Two edges counted into one second (a glitch a few ms from a pulse): keep neither.
    std::vector<PpsAnchor> good;
    for (std::size_t i = 0; i < ok.size(); ++i) {
        const bool dup_prev = i > 0 && ok[i - 1].a.utc_s == ok[i].a.utc_s;
        const bool dup_next = i + 1 < ok.size() && ok[i + 1].a.utc_s == ok[i].a.utc_s;
        if (dup_prev || dup_next) {
            ++rejected;
            continue;
        }
        good.push_back(ok[i].a);
    }
    m.stats.pps_rejected = rejected;
    m.stats.pps_used = static_cast<uint32_t>(good.size());
    if (good.size() < 2) {
        return;
    }
    // 4. The edges' own scatter: the second difference of three pulses a second apart is the
    //    detection noise (the card's rate barely changes in two seconds).
    double sum2 = 0;
    std::size_t n2 = 0;
    for (std::size_t i = 1; i + 1 < good.size(); ++i) {
        if (good[i].utc_s - good[i - 1].utc_s == 1 && good[i + 1].utc_s - good[i].utc_s == 1) {
            const double d = position(good[i + 1]) - 2 * position(good[i]) + position(good[i - 1]);
            sum2 += d * d;
            ++n2;
        }
    }
    const double ns_per_frame = kNsPerS / m.rate_hz;
    double jitter_ns = 0;
    double u = kUnknownJitterNs;
    if (n2 >= kMinTriples) {
        // Var(second difference) = 6 var(edge).
        jitter_ns = std::sqrt(sum2 / static_cast<double>(n2) / 6.0) * ns_per_frame;
        u = kJitterSigmas * jitter_ns;
    }
    m.stats.pps_jitter_ns = jitter_ns;
    u += static_cast<double>(o.pps_floor_ns);
    for (std::size_t i = 0; i < good.size(); ++i) {
        PpsKnot k;
        k.frame = good[i].frame;
        k.frac = good[i].frac;
        k.utc_s = good[i].utc_s;
        k.clock_uncertainty_ns = label_uncertainty;
        k.uncertainty_ns = static_cast<int32_t>(std::min(1e9, std::ceil(u)));
        k.gap_after = i + 1 < good.size() && static_cast<double>(good[i + 1].utc_s -
                                                                 good[i].utc_s) > o.pps_max_gap_s
                          ? 1
                          : 0;
        m.pps_knots.push_back(k);
    }
    // The card's mean rate, from GPS seconds rather than the system clock.
    const PpsKnot& f = m.pps_knots.front();
    const PpsKnot& l = m.pps_knots.back();
    if (l.utc_s - f.utc_s >= 10) {
        const double frames = static_cast<double>(l.frame - f.frame) + (l.frac - f.frac);
        m.stats.mean_ppm =
            (frames / (static_cast<double>(m.rate_hz) * static_cast<double>(l.utc_s - f.utc_s)) -
             1.0) *
            1e6;
    }
}

double pps_gap_uncertainty_ns(double gap_s) {
    return gap_s > 1.5 ? kGapNsPerS2 * gap_s * gap_s : 0.0;
}

}  // namespace framestamp::timemap_detail
