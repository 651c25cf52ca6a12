// Internals of the drift fit shared by its source files (not installed).
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "framestamp/timemap.hpp"

namespace framestamp::timemap_detail {

// A point in the frame -> raw fit's working coordinates: x in frames after the reference point,
// y = raw ns after the reference minus x at the nominal rate (so y holds only drift and lateness).
struct XY {
    double x = 0;
    double y = 0;
};

// The lower convex hull of points sorted by x, evaluated at x0 (which must lie within their span):
// the highest value at x0 of any line that no point lies below. Also returns the slope of that
// line (ns per frame) and the indices of its two supporting points.
struct HullValue {
    double value = 0;
    double slope = 0;
    std::size_t left = 0;
    std::size_t right = 0;
    std::size_t vertex = 0;  // position of `right` among the hull's vertices
    bool ok = false;
};
// The lower convex hull of points sorted by x, as indices into pts (monotone chain).
void build_lower_hull(const std::vector<XY>& pts, std::vector<std::size_t>& hull);
// The hull's edge over x0 (the first or last edge outside the points), its value there.
HullValue hull_value_at(const std::vector<XY>& pts, const std::vector<std::size_t>& hull,
                        double x0);
HullValue lower_hull_at(const std::vector<XY>& pts, double x0, std::vector<std::size_t>& scratch);

// How far a lower envelope of late points may sit above the truth, measured from the points
// themselves: the envelope of a random half of them rests on fewer prompt reads and sits higher,
// by an excess that scales with the full envelope's own bias (docs/timing-model.md,
// "Uncertainty"). The six halves are the pairs of four hashed quarters. Built once over a
// window, evaluated at several x.
struct EnvelopeSample {
    double value = 0;   // the full envelope at x
    double slope = 0;   // its edge's slope there
    double d2 = 0;      // mean excess of the half-subset envelopes over it
    std::size_t n = 0;  // points in the window
    bool ok = false;
};
class EnvelopeSet {
  public:
    // pts[first, last) sorted by x.
    void build(const std::vector<XY>& pts, std::size_t first, std::size_t last);
    EnvelopeSample at(double x) const;
    std::size_t size() const { return full_.size(); }
    double x_front() const { return full_.front().x; }
    double x_back() const { return full_.back().x; }

  private:
    std::vector<XY> full_;
    std::vector<std::size_t> full_hull_;
    std::vector<XY> sub_[10];  // four quarters, then the six halves they pair into
    std::vector<std::size_t> sub_hull_[10];
};

// PPS anchors into m.pps_knots, checked against m's pointer model (pps_fit.cpp).
void build_pps_knots(SegmentModel& m, const std::vector<PpsAnchor>& anchors, const FitOptions& o);
// What interpolating across gap_s seconds of missing pulses may add (model.cpp).
double pps_gap_uncertainty_ns(double gap_s);
// How far before the first PPS knot and after the last one the PPS line is carried.
inline constexpr double kPpsReachS = 5.0;

// Stage 2: UTC - raw over the segment, from every used point, with steps and sync state.
class OffsetTrack {
  public:
    OffsetTrack(const FitOptions& o) : opt_(o) {}
    void add(int64_t raw_ns, int64_t offset_ns);
    void add_sync(const SyncPoint& s) { sync_.push_back(s); }
    // Knots, with unsynchronised stretches bridged from synchronised ones; fills the stats'
    // clock_steps, unsynced_s, slewing_s and bridged_s.
    std::vector<OffsetKnot> finish(SegmentStats& stats);

  private:
    struct Bin {
        int64_t raw0 = 0;  // first raw in the bin; sums are relative to it and to off0
        int64_t off0 = 0;
        int64_t raw_last = 0;
        double n = 0, sd = 0, sdd = 0, so = 0, sdo = 0;
        bool step_after = false;  // a clock step follows this bin
    };
    void close_bin();

    FitOptions opt_;
    std::vector<Bin> bins_;
    Bin cur_;
    bool have_cur_ = false;
    int64_t last_offset_ns_ = 0;
    uint32_t steps_ = 0;
    std::vector<SyncPoint> sync_;
};

}  // namespace framestamp::timemap_detail
