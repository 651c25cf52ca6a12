// A fast simulated sound card and system clock, for testing and benchmarking the drift fit with a
// known truth and no real time: a drifting, wandering crystal; a hardware position that advances
// in steps and is read late; CLOCK_MONOTONIC_RAW running at its own rate; CLOCK_REALTIME that may
// be off (unsynchronised) and stepped.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "framestamp/timemap.hpp"

namespace framestamp {

// A stretch of the system clock's behaviour, from true time start_s until the next piece.
// realtime = true UTC + error_ns + slope_ppm * 1e3 * (t - start_s) (in ns).
struct SimClockPiece {
    double start_s = 0;
    double error_ns = 0;
    double slope_ppm = 0;
    bool synced = true;
};

// How the simulated hardware position moves.
enum class SimPointer {
    frames,  // in steps of granularity_s of audio, at the card's own clock (PCI, BATCH periods)
    usb,     // at host USB times, every urb_s of true time: the frames captured by then (44/45
             // frames per 1 ms at 44.1 kHz), as snd-usb-audio moves hw_ptr per completed URB
};

struct SimParams {
    uint32_t rate_hz = 48000;
    double ppm = 50.0;        // card's mean rate error: +ppm = more frames per true second
    double wander_ppm = 0.0;  // amplitude of a sinusoidal wander of the rate
    double wander_period_s = 3600.0;
    double wander_phase = 0.0;     // radians
    double granularity_s = 0.001;  // the position moves in steps of this much audio
    SimPointer pointer = SimPointer::frames;
    double urb_s = 0.001;  // SimPointer::usb: time between position steps
    // Completion latency: each step becomes visible this long after it happened (exponential with
    // this mean), or with completion_tail_prob uniform in [0, completion_tail_s) (an interrupt
    // held up by another); steps become visible in order.
    double completion_mean_s = 0.0;
    double completion_tail_prob = 0.0;
    double completion_tail_s = 0.003;
    // Scheduling delay between the pointer read and the timestamp: the position read is the one
    // visible latency ago, uniform in [0, latency_max_s), on...
    double latency_max_s = 0.0;
    double latency_fraction = 1.0;  // ...this fraction of the points (the rest get none)
    double points_per_s = 8.0;
    double read_jitter_s = 0.002;  // reads at k/points_per_s + uniform [0, jitter)
    double raw_ppm = 3.0;          // CLOCK_MONOTONIC_RAW's rate error against true time
    double window_s = 2e-6;        // width of the raw reading; the stamp is uniform within it
    int64_t start_utc_ns = 1'795'000'000'000'000'000;  // true UTC of frame 0
    int64_t start_raw_ns = 5'000'000'000;
    uint64_t start_frame = 0;  // session frame at true time 0
    // The system clock; empty means always synchronised with no error.
    std::vector<SimClockPiece> clock;
    double sync_interval_s = 60.0;  // one SyncPoint every this many seconds
    // A GPS PPS on an audio channel: an edge at every true whole second, found by the detector
    // with this much timing noise (RMS), some pulses missing and some false edges; each labelled
    // with the second the system clock says (realtime_ns_at rounded), as the daemon does.
    bool pps = false;
    double pps_jitter_s = 100e-9;
    double pps_miss_prob = 0.0;
    double pps_false_per_s = 0.0;  // false edges (noise, glitches) at random instants
    uint64_t seed = 1;
};

class SimCard {
  public:
    explicit SimCard(const SimParams& p);

    // The next timing point, in time order (never returns false: the card runs for ever).
    TimePoint next_point();
    // The sync sample due before the next point, if any (call after next_point()).
    bool next_sync(SyncPoint& s);
    // The PPS anchors due before the last point, if SimParams::pps (call after next_point()).
    bool next_pps(PpsAnchor& a);

    // Truth. Times in seconds since true time 0 (frame start_frame).
    double frames_at(double t_s) const;           // frames captured by true time t (fractional)
    double time_of_frame(double frame) const;     // inverse of frames_at, for session frames
    int64_t true_utc_ns(double frame) const;      // true UTC of a session frame
    double true_utc_frac_ns(double frame) const;  // ... its sub-ns part
    double card_ppm_at(double t_s) const;         // instantaneous rate error
    int64_t realtime_ns_at(double t_s) const;     // what CLOCK_REALTIME says at true time t
    int64_t raw_ns_at(double t_s) const;
    bool synced_at(double t_s) const;
    const SimParams& params() const { return p_; }

  private:
    const SimClockPiece* piece_at(double t_s) const;
    // Position (frames after start_frame) visible to a pointer read at true time t.
    double visible_position(double t_s) const;
    double step_time(int64_t k) const;      // true time of position step k
    double step_position(int64_t k) const;  // position after step k
    double completion_of(int64_t k) const;  // completion latency of step k (deterministic)

    SimParams p_;
    std::mt19937_64 rng_;
    uint64_t k_ = 0;  // index of the next read
    double next_sync_s_ = 0;
    double next_pps_s_ = 1.0;
    std::mt19937_64 pps_rng_;
    double last_point_s_ = 0;
    double last_pos_ = 0;
};

}  // namespace framestamp
