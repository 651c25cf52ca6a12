#include "accuracy.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

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
        framestamp::PpsAnchor a;
        while (card.next_pps(a)) {
            if (a.frame < end_frame) {
                fitter.add_pps(a);
            }
        }
    }
    SegmentModel m = fitter.finish();
    e.stats = m.stats;
    if (std::getenv("FS_ACC_DEBUG") != nullptr) {
        for (const auto& k : m.raw_knots) {
            framestamp::TimeEstimate te = m.frame_to_utc(k.frame);
            double err =
                static_cast<double>(te.utc_ns - card.true_utc_ns(static_cast<double>(k.frame)));
            std::fprintf(stderr, "raw knot at %.0f s: error %.1f us, stated %.1f us\n",
                         static_cast<double>(k.frame - sc.sim.start_frame) / sc.sim.rate_hz,
                         err * 1e-3, static_cast<double>(k.uncertainty_ns) * 1e-3);
        }
    }
    double sum2 = 0, sum = 0;
    uint64_t covered = 0;
    double u_sum = 0;
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
        u_sum += static_cast<double>(te.uncertainty_ns());
        if (std::abs(err_ns) <= static_cast<double>(te.uncertainty_ns())) {
            ++covered;
        }
    }
    e.samples = samples;
    e.inner_rms_us = inner_n ? std::sqrt(inner_sum2 / static_cast<double>(inner_n)) * 1e-3 : 0.0;
    e.rms_us = std::sqrt(sum2 / static_cast<double>(samples)) * 1e-3;
    e.mean_us = sum / static_cast<double>(samples) * 1e-3;
    e.covered = static_cast<double>(covered) / static_cast<double>(samples);
    e.mean_uncertainty_us = u_sum / static_cast<double>(samples) * 1e-3;
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
        600, 10, 30, 80);
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
        3600, 7, 40, 80);
    add(
        "wander ±5 ppm/h, 8 pts/s, 2 h",
        [](SimParams& p) {
            p.ppm = 60;
            p.wander_ppm = 5;
            p.points_per_s = 8;
            p.wander_phase = 1;
        },
        7200, 5, 35, 60);
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
    // Realistic cards (docs/emulated-card.md): the position moves when an URB or period
    // completes, completions are mostly tens of µs late with a rare multi-ms tail, the pointer
    // read and its stamp are apart by a scheduling delay, and the daemon reads at random
    // instants (uniform within each 1/points_per_s slot).
    auto realistic = [](SimParams& p, double pts) {
        p.points_per_s = pts;
        p.read_jitter_s = 1.0 / pts;
        p.pointer = framestamp::SimPointer::usb;
        p.urb_s = 0.001;
        p.completion_mean_s = 30e-6;
        p.completion_tail_prob = 0.002;
        p.completion_tail_s = 0.003;
        p.latency_max_s = 50e-6;
        p.latency_fraction = 0.3;
    };
    add(
        "USB 48 kHz, 1 ms URBs, 16 pts/s",
        [&](SimParams& p) {
            realistic(p, 16);
            p.ppm = 37.5;
        },
        600, 15, 45, 60);
    add(
        "USB 44.1 kHz (44/45-frame packets), 16 pts/s",
        [&](SimParams& p) {
            realistic(p, 16);
            p.rate_hz = 44100;
            p.ppm = 86;
        },
        600, 18, 45, 60);
    add(
        "USB 192 kHz high speed, 8×125 µs URBs, 16 pts/s",
        [&](SimParams& p) {
            realistic(p, 16);
            p.rate_hz = 192000;
            p.ppm = -113;
        },
        600, 10, 35, 55);
    add(
        "USB 96 kHz, 2 ms URBs, loaded (2 ms delays on 30%)",
        [&](SimParams& p) {
            realistic(p, 16);
            p.rate_hz = 96000;
            p.urb_s = 0.002;
            p.latency_max_s = 2e-3;
            p.ppm = 20;
        },
        600, 15, 55, 120);
    add(
        "USB 48 kHz, wander ±10 ppm over 600 s, 16 pts/s",
        [&](SimParams& p) {
            realistic(p, 16);
            p.ppm = -60;
            p.wander_ppm = 10;
            p.wander_period_s = 600;
            p.wander_phase = 2;
        },
        1200, 20, 70, 70);
    add(
        "USB 48 kHz, 100 pts/s, 175 s",
        [&](SimParams& p) {
            realistic(p, 100);
            p.ppm = 25;
        },
        175, 12, 25, 30);
    add(
        "period steps (1024 frames at 48 kHz), 16 pts/s",
        [&](SimParams& p) {
            realistic(p, 16);
            p.pointer = framestamp::SimPointer::frames;
            p.granularity_s = 1024.0 / 48000;
            p.ppm = 25;
        },
        600, 50, 170, 320);
    add(
        "10 ms steps at 44.1 kHz, ±10 ppm over 600 s, 8 pts/s",
        [&](SimParams& p) {
            realistic(p, 8);
            p.rate_hz = 44100;
            p.pointer = framestamp::SimPointer::frames;
            p.granularity_s = 0.01;
            p.ppm = 86;
            p.wander_ppm = 10;
            p.wander_period_s = 600;
        },
        900, 130, 650, 650);
    add(
        "USB 48 kHz, unsynced start, 2.5 s step at 120 s",
        [&](SimParams& p) {
            realistic(p, 16);
            p.clock = {{0, -2.5e9, 30, false}, {120, 0, 0, true}};
        },
        600, 18, 45, 60);
    // A GPS PPS recorded on a channel (docs/timing-model.md, "PPS anchors"): 100 ns of
    // detection noise, 2 % of the pulses missing, a false edge in 1 % of the seconds.
    auto pps = [](SimParams& p) {
        p.pps = true;
        p.pps_jitter_s = 100e-9;
        p.pps_miss_prob = 0.02;
        p.pps_false_per_s = 0.01;
    };
    add(
        "PPS channel, USB 48 kHz, 16 pts/s",
        [&](SimParams& p) {
            realistic(p, 16);
            pps(p);
            p.ppm = 37.5;
        },
        600, 1, 5, 5);
    add(
        "PPS channel, period steps, 20 % of pulses lost",
        [&](SimParams& p) {
            realistic(p, 16);
            pps(p);
            p.pointer = framestamp::SimPointer::frames;
            p.granularity_s = 1024.0 / 48000;
            p.pps_miss_prob = 0.2;
            p.ppm = 25;
        },
        600, 1, 5, 5);
    add(
        "PPS channel, unsynced start, 2.5 s step at 120 s",
        [&](SimParams& p) {
            realistic(p, 16);
            pps(p);
            p.clock = {{0, -2.5e9, 30, false}, {120, 0, 0, true}};
        },
        600, 1, 5, 5);
    // Short segments (a restart, a chunk cut by an overrun): one line from every point.
    add(
        "USB 48 kHz, 45 s segment, 16 pts/s",
        [&](SimParams& p) {
            realistic(p, 16);
            p.ppm = 37.5;
        },
        45, 5, 20, 60);
    add(
        "period steps, 40 s segment, 16 pts/s",
        [&](SimParams& p) {
            realistic(p, 16);
            p.pointer = framestamp::SimPointer::frames;
            p.granularity_s = 1024.0 / 48000;
            p.ppm = 25;
        },
        40, 30, 100, 850);
    return out;
}

}  // namespace fsacc
