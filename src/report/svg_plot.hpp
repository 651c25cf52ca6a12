// Hand-written SVG for the report: a UTC time axis, "nice" value ticks, min/max decimation of long
// series into a path, and the frame (axes, grid, labels) of one plot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace framestamp::report {

// Pixel layout shared by every plot of a stream, so their time axes line up.
struct Frame {
    double width_px = 1000;
    double left_px = 72;  // room for the value labels
    double right_px = 16;
    double top_px = 10;
    double plot_height_px = 160;
    double bottom_px = 34;  // room for the UTC labels
    double plot_width() const { return width_px - left_px - right_px; }
    double height() const { return top_px + plot_height_px + bottom_px; }
};

// Maps UTC (ns since 1970) to x pixels over [t0, t1).
class TimeAxis {
  public:
    TimeAxis(int64_t t0_ns, int64_t t1_ns, const Frame& frame);
    double x(int64_t utc_ns) const;
    int64_t t0_ns() const { return t0_ns_; }
    int64_t t1_ns() const { return t1_ns_; }
    // Tick instants (multiples of a round step since the epoch, so whole UTC days, hours, ...)
    // and their labels.
    struct Tick {
        int64_t utc_ns;
        std::string label;
    };
    std::vector<Tick> ticks() const;

  private:
    int64_t t0_ns_;
    int64_t t1_ns_;
    double x0_px_;
    double px_per_ns_;
};

// Round value ticks covering [lo, hi] (about `target` of them); lo/hi are widened to the outer
// ticks.
struct ValueTicks {
    double lo = 0;
    double hi = 1;
    double step = 1;
    std::vector<double> values;
    std::vector<std::string> labels;  // one per value; empty: the values, as numbers
};
ValueTicks nice_ticks(double lo, double hi, int target = 5);
// Decade ticks for a log axis of nanoseconds: values are log10(ns), labels "10 ns", "1 µs", ...
// "10 s"; [lo_ns, hi_ns] widened to whole decades (every second one past six decades, widening
// the small end).
ValueTicks log_ns_ticks(double lo_ns, double hi_ns);

// Maps values to y pixels inside the frame.
struct ValueAxis {
    ValueTicks ticks;
    const Frame* frame = nullptr;
    double y(double v) const;
};

// Builds an SVG path ("M x y L x y ...") from series given piece by piece (a new piece starts a
// new sub-path: segments are not joined across gaps). Long pieces are decimated into bins of UTC:
// each bin contributes its minimum and maximum, in time order.
class DecimatedPath {
  public:
    DecimatedPath(const TimeAxis& time, const ValueAxis& value, std::size_t max_points);
    void begin_piece();
    void add(int64_t utc_ns, double v);
    // The path's `d` attribute; empty when nothing was added.
    std::string finish();
    std::size_t points() const { return points_; }

  private:
    void flush_bin();
    void end_piece();
    void emit(int64_t utc_ns, double v);

    const TimeAxis& time_;
    const ValueAxis& value_;
    int64_t bin_ns_ = 1;
    bool in_bin_ = false;
    int64_t bin_ = 0;
    int64_t min_t_ = 0;
    int64_t max_t_ = 0;
    double min_v_ = 0;
    double max_v_ = 0;
    bool new_piece_ = true;
    std::size_t points_ = 0;
    std::size_t piece_points_ = 0;
    std::string d_;
};

// The opening tag of an inline SVG of the frame's size, with an accessible title.
std::string svg_open(const Frame& frame, std::string_view css_class, std::string_view title);
// Axes, grid lines and labels of a plot with a value axis (`unit` is written beside it, rotated
// and centred on the plot's height: keep it shorter than the plot is high, about 6 px a letter).
std::string svg_axes(const Frame& frame, const TimeAxis& time, const ValueAxis& value,
                     std::string_view unit);
// Only the time axis (for lanes without values: events, sync state).
std::string svg_time_axis(const Frame& frame, const TimeAxis& time);

// Shortest form of a number for SVG coordinates (two decimals at most).
std::string num(double v);

}  // namespace framestamp::report
