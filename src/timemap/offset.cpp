// Stage 2 of the drift fit: UTC - CLOCK_MONOTONIC_RAW along the segment. Between NTP steps the
// offset is smooth (the raw clock's drift and chrony's slews), so it is kept as a line per bin;
// unsynchronised stretches are replaced by the offset carried over, along raw, from synchronised
// time (docs/timing-model.md, "Bridging").
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "fit_internal.hpp"

namespace framestamp::timemap_detail {

namespace {
constexpr int64_t kBinNs = 10'000'000'000;  // an offset knot every 10 s of raw time

struct Line {
    double at0 = 0;    // offset (ns) at the bin's raw0
    double slope = 0;  // ns per ns
};
}  // namespace

void OffsetTrack::add(int64_t raw_ns, int64_t offset_ns) {
    if (have_cur_) {
        int64_t jump = offset_ns - last_offset_ns_;
        if (std::llabs(jump) > opt_.clock_step_threshold_ns) {
            cur_.step_after = true;
            ++steps_;
            close_bin();
        } else if (raw_ns - cur_.raw0 >= kBinNs) {
            close_bin();
        }
    }
    if (!have_cur_) {
        cur_ = Bin{};
        cur_.raw0 = raw_ns;
        cur_.off0 = offset_ns;
        have_cur_ = true;
    }
    double d = static_cast<double>(raw_ns - cur_.raw0);
    double o = static_cast<double>(offset_ns - cur_.off0);
    cur_.n += 1;
    cur_.sd += d;
    cur_.sdd += d * d;
    cur_.so += o;
    cur_.sdo += d * o;
    cur_.raw_last = raw_ns;
    last_offset_ns_ = offset_ns;
}

void OffsetTrack::close_bin() {
    if (have_cur_) {
        bins_.push_back(cur_);
        have_cur_ = false;
    }
}

std::vector<OffsetKnot> OffsetTrack::finish(SegmentStats& stats) {
    close_bin();
    std::vector<OffsetKnot> knots;
    stats.clock_steps = steps_;
    if (bins_.empty()) {
        return knots;
    }
    std::sort(sync_.begin(), sync_.end(),
              [](const SyncPoint& a, const SyncPoint& b) { return a.raw_ns < b.raw_ns; });
    auto sync_at = [&](int64_t raw) -> const SyncPoint* {
        auto it = std::upper_bound(sync_.begin(), sync_.end(), raw,
                                   [](int64_t r, const SyncPoint& s) { return r < s.raw_ns; });
        if (it == sync_.begin()) {
            return sync_.empty() ? nullptr : &sync_.front();
        }
        return &*(it - 1);
    };
    auto fit = [](const Bin& b) {
        Line l;
        double den = b.n * b.sdd - b.sd * b.sd;
        if (b.n >= 3 && den > 0 && b.raw_last - b.raw0 > 1'000'000'000) {
            l.slope = (b.n * b.sdo - b.sd * b.so) / den;
        }
        l.at0 = (b.so - l.slope * b.sd) / b.n + static_cast<double>(b.off0);
        return l;
    };
    // Slews: bins whose slope departs from the segment's usual one (the median over bins of at
    // least 5 s) by more than the threshold. Only the raw crystal's own drift (steady, a few ppm
    // of wander) moves UTC - raw while the system clock is right; a fast slope means the clock
    // was being corrected, i.e. it was wrong by what was still left to correct.
    std::vector<char> slewing(bins_.size(), 0);
    {
        // Unsynchronised bins are bridged anyway, whatever their slope; only bins the sync
        // rows call synchronised (or that have none) can be slewing.
        std::vector<double> ppm(bins_.size(), 0.0);
        std::vector<char> candidate(bins_.size(), 0);
        std::vector<double> usual;
        for (std::size_t i = 0; i < bins_.size(); ++i) {
            const Bin& b = bins_[i];
            const SyncPoint* s = sync_at(b.raw0 + (b.raw_last - b.raw0) / 2);
            candidate[i] = s == nullptr || s->synced;
            if (candidate[i] && b.n >= 3 && b.raw_last - b.raw0 >= 5'000'000'000) {
                ppm[i] = fit(b).slope * 1e6;
                usual.push_back(ppm[i]);
            }
        }
        if (usual.size() >= 3) {
            std::nth_element(usual.begin(), usual.begin() + usual.size() / 2, usual.end());
            const double median = usual[usual.size() / 2];
            for (std::size_t i = 0; i < bins_.size(); ++i) {
                const Bin& b = bins_[i];
                slewing[i] = candidate[i] && b.n >= 3 && b.raw_last - b.raw0 >= 5'000'000'000 &&
                             std::fabs(ppm[i] - median) > opt_.slew_threshold_ppm;
            }
        }
        // A slew rarely starts or ends on a bin edge: the bins either side of one hold part of
        // it (too little to pass the threshold, enough to bend their line), so they go too.
        std::vector<char> core = slewing;
        for (std::size_t i = 0; i < bins_.size(); ++i) {
            if (core[i]) {
                if (i > 0 && !bins_[i - 1].step_after) {
                    slewing[i - 1] = candidate[i - 1];
                }
                if (i + 1 < bins_.size() && !bins_[i].step_after) {
                    slewing[i + 1] = candidate[i + 1];
                }
            }
        }
    }
    // One knot at each bin's middle; at a step, the limits from both sides at its midpoint.
    std::vector<char> knot_slewing;
    std::vector<std::size_t> knot_bin;
    for (std::size_t i = 0; i < bins_.size(); ++i) {
        const Bin& b = bins_[i];
        Line l = fit(b);
        bool first_of_run = i == 0 || bins_[i - 1].step_after;
        auto knot_at = [&](int64_t raw) {
            OffsetKnot k;
            k.raw_ns = raw;
            k.offset_ns = static_cast<int64_t>(
                std::llround(l.at0 + l.slope * static_cast<double>(raw - b.raw0)));
            return k;
        };
        if (first_of_run) {
            int64_t start = b.raw0;
            if (i > 0) {
                start = bins_[i - 1].raw_last + (b.raw0 - bins_[i - 1].raw_last) / 2;
            }
            knots.push_back(knot_at(start));
        }
        int64_t mid = b.raw0 + (b.raw_last - b.raw0) / 2;
        if (knots.empty() || mid > knots.back().raw_ns) {
            knots.push_back(knot_at(mid));
        }
        if (b.step_after && i + 1 < bins_.size()) {
            knots.push_back(knot_at(b.raw_last + (bins_[i + 1].raw0 - b.raw_last) / 2));
        } else if (i + 1 == bins_.size() && b.raw_last > knots.back().raw_ns) {
            knots.push_back(knot_at(b.raw_last));
        }
        knot_slewing.resize(knots.size(), slewing[i]);
        knot_bin.resize(knots.size(), i);
    }
    // Sync state per knot.
    bool any_synced = false;
    for (std::size_t i = 0; i < knots.size(); ++i) {
        OffsetKnot& k = knots[i];
        // The sync state of the knot's own points: a knot placed between two bins (a step's
        // limit from the left) must not take the state of a sync row that came after its
        // points, e.g. the "synchronised" that ends an unsynchronised stretch with the step.
        const Bin& own = bins_[knot_bin[i]];
        const SyncPoint* s = sync_at(std::clamp(k.raw_ns, own.raw0, own.raw_last));
        if (knot_slewing[i]) {
            k.clock_error_ns = s ? s->esterror_ns : 0;  // not synced: bridged below
        } else if (s == nullptr || s->synced) {
            // No sync rows at all: nothing says the clock was wrong, nothing says it was right.
            k.flags = s ? OffsetKnot::synced : 0;
            k.clock_error_ns = s ? s->esterror_ns : 0;
        } else {
            k.clock_error_ns = s->esterror_ns;
        }
        any_synced = any_synced || (k.flags & OffsetKnot::synced);
    }
    auto seconds = [](int64_t ns) { return static_cast<double>(ns) * 1e-9; };
    for (std::size_t i = 0; i + 1 < knots.size(); ++i) {
        const double span = seconds(knots[i + 1].raw_ns - knots[i].raw_ns);
        if (knot_slewing[i]) {
            stats.slewing_s += span;
        } else if (!(knots[i].flags & OffsetKnot::synced) && !sync_.empty()) {
            stats.unsynced_s += span;
        }
    }
    if (!any_synced) {
        return knots;
    }
    // Bridging: the raw clock runs on smoothly through an unsynchronised stretch (and the step
    // that usually ends it), so UTC - raw there is carried along the synchronised offset's line.
    std::vector<std::size_t> synced_idx;
    for (std::size_t i = 0; i < knots.size(); ++i) {
        if (knots[i].flags & OffsetKnot::synced) {
            synced_idx.push_back(i);
        }
    }
    // A line through the synchronised knots within 10 minutes of knot `anchor` on one side.
    auto local_line = [&](std::size_t anchor, int dir) {
        int64_t r0 = knots[anchor].raw_ns;
        double n = 0, sd = 0, sdd = 0, so = 0, sdo = 0;
        double o0 = static_cast<double>(knots[anchor].offset_ns);
        for (std::size_t j : synced_idx) {
            int64_t dr = knots[j].raw_ns - r0;
            if ((dir > 0 && dr < 0) || (dir < 0 && dr > 0) || std::llabs(dr) > 600'000'000'000) {
                continue;
            }
            double d = static_cast<double>(dr);
            double o = static_cast<double>(knots[j].offset_ns) - o0;
            n += 1;
            sd += d;
            sdd += d * d;
            so += o;
            sdo += d * o;
        }
        Line l;
        double den = n * sdd - sd * sd;
        l.slope = (n >= 2 && den > 0) ? (n * sdo - sd * so) / den : 0.0;
        l.at0 = o0;
        return l;
    };
    std::vector<OffsetKnot> out;
    out.reserve(knots.size());
    for (std::size_t i = 0; i < knots.size(); ++i) {
        OffsetKnot k = knots[i];
        if (k.flags & OffsetKnot::synced) {
            out.push_back(k);
            continue;
        }
        auto after = std::lower_bound(synced_idx.begin(), synced_idx.end(), i);
        bool has_after = after != synced_idx.end();
        bool has_before = after != synced_idx.begin();
        std::size_t a = has_before ? *(after - 1) : 0;
        std::size_t b = has_after ? *after : 0;
        double off = 0;
        int64_t dist = 0;
        int64_t base_err = 0;
        if (has_before && has_after) {
            double w = static_cast<double>(k.raw_ns - knots[a].raw_ns) /
                       static_cast<double>(knots[b].raw_ns - knots[a].raw_ns);
            off = static_cast<double>(knots[a].offset_ns) +
                  w * static_cast<double>(knots[b].offset_ns - knots[a].offset_ns);
            dist = std::min(k.raw_ns - knots[a].raw_ns, knots[b].raw_ns - k.raw_ns);
            base_err = std::max(knots[a].clock_error_ns, knots[b].clock_error_ns);
        } else {
            std::size_t anchor = has_after ? b : a;
            Line l = local_line(anchor, has_after ? +1 : -1);
            off = l.at0 + l.slope * static_cast<double>(k.raw_ns - knots[anchor].raw_ns);
            dist = std::llabs(k.raw_ns - knots[anchor].raw_ns);
            base_err = knots[anchor].clock_error_ns;
        }
        k.offset_ns = static_cast<int64_t>(std::llround(off));
        k.flags = OffsetKnot::synced | OffsetKnot::bridged;
        k.clock_error_ns = base_err + static_cast<int64_t>(opt_.bridge_drift_ppm * 1e-6 *
                                                           static_cast<double>(dist));
        // Two knots at one raw time (a step) collapse into one once bridged.
        if (!out.empty() && out.back().raw_ns == k.raw_ns &&
            (out.back().flags & OffsetKnot::bridged)) {
            continue;
        }
        out.push_back(k);
    }
    for (std::size_t i = 0; i + 1 < out.size(); ++i) {
        if (out[i].flags & OffsetKnot::bridged) {
            stats.bridged_s += seconds(out[i + 1].raw_ns - out[i].raw_ns);
        }
    }
    return out;
}

}  // namespace framestamp::timemap_detail
