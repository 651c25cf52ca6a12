#include "report/svg_plot.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "framestamp/report.hpp"
#include "framestamp/utc.hpp"

namespace framestamp::report {

namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kMin = 60 * kS;
constexpr int64_t kHour = 60 * kMin;
constexpr int64_t kDay = 24 * kHour;

// Floor division for negative times too.
int64_t floor_div(int64_t a, int64_t b) {
    const int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

std::string time_label(int64_t t_ns, int64_t step_ns, int64_t span_ns) {
    const UtcTime u = utc_from_ns(t_ns);
    if (step_ns >= kDay) {
        return fmt::format("{:04}-{:02}-{:02}", u.year, u.month, u.day);
    }
    if (step_ns >= kMin) {
        if (span_ns > kDay) {
            return fmt::format("{:02}-{:02} {:02}:{:02}", u.month, u.day, u.hour, u.minute);
        }
        return fmt::format("{:02}:{:02}", u.hour, u.minute);
    }
    if (step_ns >= kS) {
        return fmt::format("{:02}:{:02}:{:02}", u.hour, u.minute, u.second);
    }
    return fmt::format("{:02}:{:02}.{:03}", u.minute, u.second, u.nanosecond / kMs);
}

}  // namespace

std::string num(double v) {
    if (!std::isfinite(v)) {
        return "0";
    }
    std::string s = fmt::format("{:.2f}", v);
    // "12.50" -> "12.5", "3.00" -> "3": fewer bytes over thousands of points.
    while (!s.empty() && s.back() == '0') {
        s.pop_back();
    }
    if (!s.empty() && s.back() == '.') {
        s.pop_back();
    }
    return s == "-0" ? "0" : s;
}

TimeAxis::TimeAxis(int64_t t0_ns, int64_t t1_ns, const Frame& frame)
    : t0_ns_(t0_ns), t1_ns_(std::max(t1_ns, t0_ns + 1)), x0_px_(frame.left_px) {
    px_per_ns_ = frame.plot_width() / static_cast<double>(t1_ns_ - t0_ns_);
}

double TimeAxis::x(int64_t utc_ns) const {
    // Relative first: ns since 1970 do not fit a double exactly.
    return x0_px_ + static_cast<double>(utc_ns - t0_ns_) * px_per_ns_;
}

std::vector<TimeAxis::Tick> TimeAxis::ticks() const {
    static constexpr std::array<int64_t, 26> kSteps = {
        kMs,       2 * kMs,    5 * kMs,  10 * kMs,  20 * kMs,  50 * kMs, 100 * kMs,
        200 * kMs, 500 * kMs,  kS,       2 * kS,    5 * kS,    10 * kS,  30 * kS,
        kMin,      2 * kMin,   5 * kMin, 10 * kMin, 30 * kMin, kHour,    3 * kHour,
        6 * kHour, 12 * kHour, kDay,     7 * kDay,  30 * kDay};
    const int64_t span = t1_ns_ - t0_ns_;
    int64_t step = kSteps.back();
    for (const int64_t s : kSteps) {
        if (span / s <= 7) {
            step = s;
            break;
        }
    }
    std::vector<Tick> out;
    for (int64_t k = floor_div(t0_ns_, step) + 1; k * step <= t1_ns_ && out.size() < 64; ++k) {
        out.push_back({k * step, time_label(k * step, step, span)});
    }
    // A span shorter than a step (or unaligned) still gets its start labelled.
    if (out.empty()) {
        out.push_back({t0_ns_, time_label(t0_ns_, kMs, span)});
    }
    return out;
}

ValueTicks nice_ticks(double lo, double hi, int target) {
    if (!std::isfinite(lo) || !std::isfinite(hi)) {
        lo = 0;
        hi = 1;
    }
    if (hi < lo) {
        std::swap(lo, hi);
    }
    if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {
        const double pad = std::max(std::abs(hi) * 0.1, 1e-3);
        lo -= pad;
        hi += pad;
    }
    const double raw = (hi - lo) / std::max(1, target);
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    double step = 10 * mag;
    for (const double m : {1.0, 2.0, 5.0, 10.0}) {
        if (m * mag >= raw) {
            step = m * mag;
            break;
        }
    }
    ValueTicks t;
    t.step = step;
    t.lo = std::floor(lo / step) * step;
    t.hi = std::ceil(hi / step) * step;
    for (double v = t.lo; v <= t.hi + step * 0.5; v += step) {
        t.values.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
    }
    return t;
}

ValueTicks log_ns_ticks(double lo_ns, double hi_ns) {
    if (!std::isfinite(lo_ns) || lo_ns < 1) {
        lo_ns = 1;
    }
    if (!std::isfinite(hi_ns) || hi_ns < lo_ns) {
        hi_ns = lo_ns;
    }
    int a = static_cast<int>(std::floor(std::log10(lo_ns) + 1e-9));
    int b = static_cast<int>(std::ceil(std::log10(hi_ns) - 1e-9));
    b = std::max(b, a + 1);
    const int step = b - a > 6 ? 2 : 1;
    // Widen downwards (the small end matters less), and upwards only below 1 ns.
    a = b - (b - a + step - 1) / step * step;
    if (a < 0) {
        b -= a;
        a = 0;
    }
    ValueTicks t;
    t.lo = a;
    t.hi = b;
    t.step = step;
    static constexpr std::array<const char*, 4> kUnits = {"ns", "\u00b5s", "ms", "s"};
    static constexpr std::array<const char*, 3> kMantissa = {"1", "10", "100"};
    for (int k = a; k <= b; k += step) {
        t.values.push_back(k);
        const int unit = std::min(k / 3, 3);
        const int rest = k - 3 * unit;
        t.labels.push_back(rest < 3 ? fmt::format("{} {}", kMantissa[rest], kUnits[unit])
                                    : fmt::format("1e{} s", rest));
    }
    return t;
}

double ValueAxis::y(double v) const {
    const double span = ticks.hi - ticks.lo;
    const double f = span > 0 ? (v - ticks.lo) / span : 0.5;
    return frame->top_px + (1.0 - f) * frame->plot_height_px;
}

DecimatedPath::DecimatedPath(const TimeAxis& time, const ValueAxis& value, std::size_t max_points)
    : time_(time), value_(value) {
    const int64_t bins = static_cast<int64_t>(std::max<std::size_t>(max_points / 2, 1));
    bin_ns_ = std::max<int64_t>(1, (time.t1_ns() - time.t0_ns() + bins - 1) / bins);
}

void DecimatedPath::begin_piece() {
    flush_bin();
    end_piece();
    new_piece_ = true;
}

void DecimatedPath::end_piece() {
    // A sub-path of one point draws nothing; "h0" with round caps (see the CSS) makes it a dot.
    if (piece_points_ == 1) {
        d_ += " h0";
    }
    piece_points_ = 0;
}

void DecimatedPath::add(int64_t utc_ns, double v) {
    if (!std::isfinite(v)) {
        return;
    }
    const int64_t bin = floor_div(utc_ns - time_.t0_ns(), bin_ns_);
    if (in_bin_ && bin != bin_) {
        flush_bin();
    }
    if (!in_bin_) {
        in_bin_ = true;
        bin_ = bin;
        min_t_ = max_t_ = utc_ns;
        min_v_ = max_v_ = v;
        return;
    }
    if (v < min_v_) {
        min_v_ = v;
        min_t_ = utc_ns;
    }
    if (v > max_v_) {
        max_v_ = v;
        max_t_ = utc_ns;
    }
}

void DecimatedPath::flush_bin() {
    if (!in_bin_) {
        return;
    }
    in_bin_ = false;
    if (min_t_ == max_t_) {
        emit(min_t_, min_v_);
    } else if (min_t_ < max_t_) {
        emit(min_t_, min_v_);
        emit(max_t_, max_v_);
    } else {
        emit(max_t_, max_v_);
        emit(min_t_, min_v_);
    }
}

void DecimatedPath::emit(int64_t utc_ns, double v) {
    d_ += new_piece_ ? (d_.empty() ? "M" : " M") : " ";
    new_piece_ = false;
    d_ += num(time_.x(utc_ns));
    d_ += ',';
    d_ += num(value_.y(v));
    ++points_;
    ++piece_points_;
}

std::string DecimatedPath::finish() {
    flush_bin();
    end_piece();
    return std::move(d_);
}

std::string svg_open(const Frame& frame, std::string_view css_class, std::string_view title) {
    return fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"{}\" width=\"{}\" height=\"{}\" "
        "viewBox=\"0 0 {} {}\" role=\"img\"><title>{}</title>\n",
        css_class, num(frame.width_px), num(frame.height()), num(frame.width_px),
        num(frame.height()), html_escape(title));
}

std::string svg_time_axis(const Frame& frame, const TimeAxis& time) {
    const double y0 = frame.top_px + frame.plot_height_px;
    std::string out =
        fmt::format("<line class=\"axis\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>\n",
                    num(frame.left_px), num(y0), num(frame.left_px + frame.plot_width()), num(y0));
    for (const TimeAxis::Tick& t : time.ticks()) {
        const double x = time.x(t.utc_ns);
        out += fmt::format(
            "<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>"
            "<text class=\"tl\" x=\"{0}\" y=\"{3}\">{4}</text>\n",
            num(x), num(frame.top_px), num(y0 + 4), num(y0 + 16), html_escape(t.label));
    }
    out += fmt::format("<text class=\"unit\" x=\"{}\" y=\"{}\">UTC</text>\n",
                       num(frame.left_px + frame.plot_width()), num(y0 + 30));
    return out;
}

std::string svg_axes(const Frame& frame, const TimeAxis& time, const ValueAxis& value,
                     std::string_view unit) {
    std::string out = svg_time_axis(frame, time);
    const double x0 = frame.left_px;
    const double x1 = frame.left_px + frame.plot_width();
    out += fmt::format("<line class=\"axis\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n",
                       num(x0), num(frame.top_px), num(frame.top_px + frame.plot_height_px));
    // Labels with the precision the step needs (0.05 ppm, 200 us, ...).
    const int decimals =
        std::clamp(static_cast<int>(-std::floor(std::log10(value.ticks.step) + 1e-9)), 0, 6);
    const bool labelled = value.ticks.labels.size() == value.ticks.values.size();
    for (std::size_t i = 0; i < value.ticks.values.size(); ++i) {
        const double v = value.ticks.values[i];
        const double y = value.y(v);
        out += fmt::format(
            "<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/>"
            "<text class=\"vl\" x=\"{3}\" y=\"{4}\">{5}</text>\n",
            num(x0 - 4), num(y), num(x1), num(x0 - 6), num(y + 4),
            labelled ? html_escape(value.ticks.labels[i]) : fmt::format("{:.{}f}", v, decimals));
    }
    // Centred ("yu": text-anchor middle) so that it stays inside the plot's height.
    out += fmt::format("<text class=\"yu\" transform=\"translate(14,{}) rotate(-90)\">{}</text>\n",
                       num(frame.top_px + frame.plot_height_px / 2), html_escape(unit));
    return out;
}

}  // namespace framestamp::report
