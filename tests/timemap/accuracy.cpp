#include "accuracy.hpp"

#include <algorithm>
#include <cmath>

namespace fsacc {

using framestamp::SegmentModel;
using framestamp::SimCard;
using framestamp::SimParams;
using framestamp::SyncPoint;
using framestamp::TimePoint;

Errors evaluate(const Scenario& sc, uint64_t samples) {
    SimCard card(sc.sim);
    uint64_t end_frame = static_cast<uint64_t>(std::floor(card.frames_at(sc.duration_s)));
    framestamp::SegmentFitter fitter(sc.sim.rate_hz, sc.sim.start_frame, end_frame);
    Errors e;
    for (;;) {
        TimePoint p = card.next_point();
        if (p.frame >= end_frame) {
            break;
        }
        fitter.add_point(p);
        ++e.points;
        SyncPoint s;
        while (card.next_sync(s)) {
            fitter.add_sync(s);
        }
    }
    SegmentModel m = fitter.finish();
    e.stats = m.stats;
    double sum2 = 0, sum = 0;
    uint64_t covered = 0;
    double inner_sum2 = 0;
    uint64_t inner_n = 0;
    for (uint64_t i = 0; i < samples; ++i) {
        uint64_t f = sc.sim.start_frame + (end_frame - 1 - sc.sim.start_frame) * i / (samples - 1);
        framestamp::TimeEstimate te = m.frame_to_utc(f);
        double err_ns = static_cast<double>(te.utc_ns - card.true_utc_ns(static_cast<double>(f))) +
                        (te.utc_frac_ns - card.true_utc_frac_ns(static_cast<double>(f)));
        double at_s = static_cast<double>(f - sc.sim.start_frame) / sc.sim.rate_hz;
        if (at_s > edge_s && at_s < sc.duration_s - edge_s) {
            inner_sum2 += err_ns * err_ns;
            ++inner_n;
            e.inner_max_us = std::max(e.inner_max_us, std::abs(err_ns) * 1e-3);
        }
        sum += err_ns;
        sum2 += err_ns * err_ns;
        if (std::abs(err_ns) * 1e-3 > e.max_us) {
            e.max_us = std::abs(err_ns) * 1e-3;
            e.max_at_s = (static_cast<double>(f - sc.sim.start_frame)) / sc.sim.rate_hz;
        }
        if (std::abs(err_ns) <= static_cast<double>(te.uncertainty_ns())) {
            ++covered;
        }
    }
    e.samples = samples;
    e.inner_rms_us = inner_n ? std::sqrt(inner_sum2 / static_cast<double>(inner_n)) * 1e-3 : 0.0;
    e.rms_us = std::sqrt(sum2 / static_cast<double>(samples)) * 1e-3;
    e.mean_us = sum / static_cast<double>(samples) * 1e-3;
    e.covered = static_cast<double>(covered) / static_cast<double>(samples);
    return e;
}

std::vector<Scenario> sweep(uint64_t seed) {
    std::vector<Scenario> out;
    auto add = [&](std::string name, auto tweak, double dur, double rms, double mx,
                   double edge_mx = 60) {
        Scenario s;
        s.name = std::move(name);
        s.sim.seed = seed + out.size();
        tweak(s.sim);
        s.duration_s = dur;
        s.limit_rms_us = rms;
        s.limit_max_us = mx;
        s.limit_edge_max_us = edge_mx;
        out.push_back(s);
    };
    // The target: 1 ms granularity, 4 points/s, 10 minutes.
    add(
        "0 ppm, 1 ms gran, 4 pts/s",
        [](SimParams& p) {
            p.ppm = 0;
            p.points_per_s = 4;
        },
        600, 7, 30, 80);
    add(
        "50 ppm, 1 ms gran, 4 pts/s",
        [](SimParams& p) {
            p.ppm = 50;
            p.points_per_s = 4;
        },
        600, 7, 30, 80);
    add(
        "200 ppm, 1 ms gran, 4 pts/s",
        [](SimParams& p) {
            p.ppm = 200;
            p.points_per_s = 4;
        },
        600, 7, 30, 80);
    add(
        "-120 ppm, 1 ms gran, 8 pts/s",
        [](SimParams& p) {
            p.ppm = -120;
            p.points_per_s = 8;
        },
        600, 5, 20);
    add(
        "50 ppm, 1 ms gran, 50 pts/s",
        [](SimParams& p) {
            p.ppm = 50;
            p.points_per_s = 50;
        },
        600, 5, 20);
    add(
        "wander ±5 ppm/h, 4 pts/s, 1 h",
        [](SimParams& p) {
            p.ppm = 60;
            p.wander_ppm = 5;
            p.points_per_s = 4;
        },
        3600, 7, 30, 80);
    add(
        "wander ±5 ppm/h, 8 pts/s, 2 h",
        [](SimParams& p) {
            p.ppm = 60;
            p.wander_ppm = 5;
            p.points_per_s = 8;
            p.wander_phase = 1;
        },
        7200, 5, 20);
    add(
        "0.1 ms gran, 8 pts/s", [](SimParams& p) { p.granularity_s = 1e-4; }, 600, 5, 20);
    add(
        "1 ms gran + 2 ms latency on 20%",
        [](SimParams& p) {
            p.points_per_s = 8;
            p.latency_max_s = 2e-3;
            p.latency_fraction = 0.2;
        },
        600, 5, 20);
    add(
        "1 ms gran + 2 ms latency on all, 8 pts/s",
        [](SimParams& p) {
            p.points_per_s = 8;
            p.latency_max_s = 2e-3;
            p.latency_fraction = 1.0;
        },
        600, 120, 300, 400);
    add(
        "unsynced start, 2.5 s step at 120 s",
        [](SimParams& p) {
            p.points_per_s = 8;
            p.clock = {{0, -2.5e9, 30, false}, {120, 0, 0, true}};
        },
        600, 5, 20);
    add(
        "unsynced hour in the middle, 20 ppm free-run",
        [](SimParams& p) {
            p.points_per_s = 8;
            p.clock = {{0, 0, 0, true}, {1200, 0, 20, false}, {4800, 0, 0, true}};
        },
        6000, 5, 20);
    add(
        "unsynced hour, then slewed back at 500 ppm (synced)",
        [](SimParams& p) {
            p.points_per_s = 8;
            // 20 ppm free-run for an hour leaves the clock 72 ms off; the daemon resyncs and
            // slews it back over 144 s while saying it is synchronised.
            p.clock = {{0, 0, 0, true},
                       {1200, 0, 20, false},
                       {4800, 72e6, -500, true},
                       {4944, 0, 0, true}};
        },
        6000, 5, 20);
    return out;
}

}  // namespace fsacc
