// The drift model: timing points of one continuous segment in, a frame <-> UTC map out.
// docs/timing-model.md gives the maths. Everything here is pure computation: no files, no clocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace framestamp {

// One `point` row of a timing log, as the fit sees it.
struct TimePoint {
    uint64_t frame = 0;       // session frame: hardware position (frames read + avail) at the stamp
    int64_t realtime_ns = 0;  // CLOCK_REALTIME stamp of that position
    int64_t raw_ns = 0;       // CLOCK_MONOTONIC_RAW, midpoint of the reading
    int64_t window_ns = 0;    // width of the raw reading; 0 when unknown
};

// One `sync` row: the state of the system clock's NTP discipline at raw_ns.
struct SyncPoint {
    int64_t raw_ns = 0;
    bool synced = false;
    int64_t esterror_ns = 0;  // the clock's estimated error against UTC
    int64_t maxerror_ns = 0;
};

// One `pps` row: the on-time edge of a GPS PPS pulse recorded on an audio channel
// (docs/timing-model.md, "PPS anchors").
struct PpsAnchor {
    uint64_t frame = 0;  // session frame at or before the edge
    double frac = 0;     // the edge lies at frame + frac, 0 <= frac < 1
    int64_t utc_s = 0;   // the whole UTC second it marks (from the system clock, to +-0.5 s)
};

struct FitOptions {
    // Spacing of the frame -> raw knots, in seconds of audio. Wander bends the curve by
    // well under 1 ns between knots at this spacing (docs/timing-model.md).
    double knot_spacing_s = 10.0;
    // Half-width of the short windows whose plain lower envelopes give the local curvature.
    double envelope_half_window_s = 30.0;
    // Half-width of the long window whose curvature-corrected lower envelope sets each knot:
    // longer windows hold more prompt reads, so the envelope sits closer to the truth.
    double long_window_half_s = 120.0;
    // Half-width of the stretch of short-window knots a parabola is fitted to for the curvature.
    double curvature_half_window_s = 300.0;
    // A change of realtime - raw between neighbouring points larger than this is a clock step.
    int64_t clock_step_threshold_ns = 200'000;
    // Drift assumed for the raw clock against UTC where the offset is bridged across an
    // unsynchronised stretch: the uncertainty grows by this much per second bridged.
    double bridge_drift_ppm = 1.0;
    // Points whose raw reading window is wider than this are not used (their stamp is vague).
    int64_t max_window_ns = 200'000;
    // A 10 s stretch whose UTC - raw slope departs from the segment's usual slope by more than
    // this is the system clock being slewed (chrony or ntpd correcting an offset, typically at
    // hundreds of ppm after an unsynchronised stretch): it is bridged like unsynchronised time,
    // whatever the sync rows say. The raw crystal itself wanders by a few ppm at most.
    double slew_threshold_ppm = 30.0;
    // PPS anchors: consecutive accepted pulses further apart than this are not interpolated
    // between (the pointer model serves the gap); an anchor further than pps_reject_ns from
    // where its neighbours and the pointer model put it is a false edge or a mislabelled second.
    double pps_max_gap_s = 10.0;
    int64_t pps_reject_ns = 200'000;
    // The PPS's own error against UTC (a GPS receiver's is tens of ns) plus the detection's
    // floor, added to every PPS-based uncertainty.
    int64_t pps_floor_ns = 200;
};

struct RawKnot {
    uint64_t frame = 0;
    int64_t raw_ns = 0;          // CLOCK_MONOTONIC_RAW at which `frame` was captured
    int32_t uncertainty_ns = 0;  // 1-sigma-like bound of the envelope estimate at this knot
};

// An accepted PPS edge: frame + frac was sampled at utc_s (exactly, within uncertainty_ns).
struct PpsKnot {
    uint64_t frame = 0;
    double frac = 0;
    int64_t utc_s = 0;
    // 0 when a synchronised clock vouched for which second the pulses mark; else how far the
    // system clock may be off (the pulses then say when seconds begin, the clock which).
    int64_t clock_uncertainty_ns = 0;
    int32_t uncertainty_ns = 0;
    uint32_t gap_after = 0;  // 1: too far from the next knot to interpolate to it
};

// UTC - raw on one side of the raw timeline. Knots with equal raw_ns mark a clock step: the first
// is the limit from the left, the second from the right.
struct OffsetKnot {
    int64_t raw_ns = 0;
    int64_t offset_ns = 0;       // UTC = raw + offset
    int64_t clock_error_ns = 0;  // how far the system clock may be from UTC here (sync rows)
    uint8_t flags = 0;           // OffsetKnot::synced | OffsetKnot::bridged
    static constexpr uint8_t synced = 1;   // the system clock was synchronised here
    static constexpr uint8_t bridged = 2;  // offset carried over from synchronised time via raw
};

// A sample of the model over time, for `fit` and `report`: one per knot interval.
struct ModelTrace {
    int64_t utc_ns = 0;
    double ppm = 0;              // card rate against UTC: +ppm means the card runs fast
    double lateness_rms_ns = 0;  // points above the envelope in this interval
    double lateness_max_ns = 0;
    uint32_t points = 0;
};

struct TimeEstimate {
    int64_t utc_ns = 0;
    double utc_frac_ns = 0;            // sub-nanosecond part, [0, 1)
    int64_t fit_uncertainty_ns = 0;    // card model against the system clock
    int64_t clock_uncertainty_ns = 0;  // system clock against UTC (from chrony / the kernel)
    bool synced = false;               // UTC from a synchronised (or bridged) system clock
    bool bridged = false;
    bool extrapolated = false;  // frame outside the span of the segment's points
    bool pps = false;           // between two PPS edges: UTC from GPS, not the system clock
    int64_t uncertainty_ns() const { return fit_uncertainty_ns + clock_uncertainty_ns; }
};

struct SegmentStats {
    uint64_t points = 0;
    uint64_t points_used = 0;  // after dropping wide-window points
    double mean_ppm = 0;
    double min_ppm = 0;
    double max_ppm = 0;
    double lateness_rms_ns = 0;  // all used points, above the envelope
    double lateness_max_ns = 0;
    int64_t uncertainty_ns = 0;  // largest knot uncertainty
    uint32_t clock_steps = 0;
    double unsynced_s = 0;      // seconds of the segment with the system clock not synchronised
    double bridged_s = 0;       // bridged from synchronised time: unsynchronised or slewing
    double slewing_s = 0;       // seconds the system clock was being slewed (said synced or not)
    uint32_t pps_used = 0;      // PPS anchors accepted as knots
    uint32_t pps_rejected = 0;  // ...and set aside (false edges, wrong seconds, unsynced labels)
    double pps_jitter_ns = 0;   // RMS scatter of the accepted edges about their neighbours' line
};

// Frame <-> UTC for frames [first_frame, end_frame) of one continuous segment.
class SegmentModel {
  public:
    uint32_t rate_hz = 0;
    uint64_t first_frame = 0;  // session frames
    uint64_t end_frame = 0;
    std::vector<RawKnot> raw_knots;        // ascending frame
    std::vector<OffsetKnot> offset_knots;  // ascending raw (ties at steps)
    std::vector<PpsKnot> pps_knots;        // ascending frame; where they bracket a frame, they
                                           // decide its UTC (the pointer model elsewhere)
    std::vector<ModelTrace> trace;
    SegmentStats stats;

    bool empty() const { return raw_knots.size() < 2; }
    // UTC of session frame `frame` + `frac` (0 <= frac < 1). Frames outside the knots are
    // extrapolated along the nearest knot interval (marked, with growing uncertainty).
    TimeEstimate frame_to_utc(uint64_t frame, double frac = 0.0) const;
    double frame_to_raw_ns_rel(uint64_t frame, double frac, int64_t raw_ref_ns) const;
    // The (fractional) session frame captured at utc_ns, or nullopt when utc_ns is outside
    // [utc of first_frame, utc of end_frame). At a clock step that repeats a stretch of UTC,
    // the later occurrence wins.
    std::optional<double> utc_to_frame(int64_t utc_ns) const;
    int64_t first_utc_ns() const;
    int64_t end_utc_ns() const;
};

// Streaming fit: feed points in frame order (and sync samples in time order), then finish().
// Memory is bounded by the envelope window, so a 120-day segment fits in a few tens of MB.
class SegmentFitter {
  public:
    SegmentFitter(uint32_t rate_hz, uint64_t first_frame, uint64_t end_frame,
                  const FitOptions& options = {});
    ~SegmentFitter();
    SegmentFitter(SegmentFitter&&) noexcept;
    SegmentFitter& operator=(SegmentFitter&&) noexcept;
    SegmentFitter(const SegmentFitter&) = delete;
    SegmentFitter& operator=(const SegmentFitter&) = delete;

    void add_point(const TimePoint& p);
    void add_sync(const SyncPoint& s);
    void add_pps(const PpsAnchor& a);  // in frame order
    // An end frame learnt only after the points (the last chunk's close row).
    void set_end_frame(uint64_t end_frame);
    SegmentModel finish();

    class Impl;

  private:
    Impl* impl_;
};

// The pure function: all points of one segment in, model out.
SegmentModel fit_segment(uint32_t rate_hz, uint64_t first_frame, uint64_t end_frame,
                         const std::vector<TimePoint>& points, const std::vector<SyncPoint>& sync,
                         const FitOptions& options = {}, const std::vector<PpsAnchor>& pps = {});

// Compact binary form for the archive's cache. deserialize returns false on anything malformed.
std::string serialize_model(const SegmentModel& m);
bool deserialize_model(std::string_view bytes, SegmentModel& m);

}  // namespace framestamp
