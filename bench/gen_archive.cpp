// Writes a long synthetic archive (timing logs only, plus the audio of the two chunks around one
// chunk boundary near the end) for the archive benchmark (bench/run_archive_bench), and prints
// how fast it was written and the instants the benchmark asks about, as key=value lines.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>

#include "framestamp/synth.hpp"
#include "framestamp/utc.hpp"

namespace {

using framestamp::SimClockPiece;
using framestamp::SynthEvent;
using framestamp::SynthSpec;

constexpr double kDayS = 86400.0;
constexpr int64_t kNsPerS = 1'000'000'000;

uint64_t tree_bytes(const std::filesystem::path& dir) {
    uint64_t bytes = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
        if (e.is_regular_file()) {
            bytes += e.file_size();
        }
    }
    return bytes;
}

// The system clock of a box without an RTC: unsynchronised and 2.5 s off at boot until chrony
// steps it at 20 min (sooner in short archives); then synchronised, except for a few stretches with
// the network down, where it free-runs 8 ppm fast and, back in sync, is slewed back at 500 ppm (no
// step).
std::vector<SimClockPiece> field_clock(double duration_s) {
    std::vector<SimClockPiece> c;
    c.push_back({.start_s = 0, .error_ns = 2.5e9, .slope_ppm = 0, .synced = false});
    c.push_back({.start_s = std::min(1200.0, 0.05 * duration_s),
                 .error_ns = 0,
                 .slope_ppm = 0,
                 .synced = true});
    for (const double at : {0.21, 0.48, 0.83}) {
        const double start = at * duration_s;
        const double length = std::min(6 * 3600.0, 0.02 * duration_s);
        const double error_ns = 8.0 * 1e3 * length;
        const double slew_s = error_ns / (500.0 * 1e3);
        c.push_back({.start_s = start, .error_ns = 0, .slope_ppm = 8, .synced = false});
        c.push_back(
            {.start_s = start + length, .error_ns = error_ns, .slope_ppm = -500, .synced = true});
        c.push_back({.start_s = start + length + slew_s, .error_ns = 0, .slope_ppm = 0});
    }
    // SimCard takes the last piece that has started: keep them in time order.
    std::sort(c.begin(), c.end(),
              [](const SimClockPiece& a, const SimClockPiece& b) { return a.start_s < b.start_s; });
    return c;
}

}  // namespace

int main(int argc, char** argv) {
    std::filesystem::path out;
    double days = 120;
    double points_per_s = 8;
    double chunk_min = 10;
    uint64_t seed = 1;
    uint32_t rate_hz = 48000;
    std::string stream = "bench";
    bool audio = true;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string_view a = argv[i];
            const auto value = [&]() -> std::string {
                if (i + 1 >= argc) {
                    throw std::invalid_argument(std::string(a) + " needs a value");
                }
                return argv[++i];
            };
            if (a == "--days") {
                days = std::stod(value());
            } else if (a == "--points-per-s") {
                points_per_s = std::stod(value());
            } else if (a == "--chunk-min") {
                chunk_min = std::stod(value());
            } else if (a == "--seed") {
                seed = std::stoull(value());
            } else if (a == "--rate") {
                rate_hz = static_cast<uint32_t>(std::stoul(value()));
            } else if (a == "--stream") {
                stream = value();
            } else if (a == "--no-audio") {
                audio = false;
            } else if (!a.empty() && a[0] != '-' && out.empty()) {
                out = a;
            } else {
                throw std::invalid_argument("unknown argument " + std::string(a));
            }
        }
        if (out.empty() || !(days > 0) || !(points_per_s > 0) || !(chunk_min >= 1)) {
            throw std::invalid_argument("OUTPUT is required; days, points/s > 0; chunk >= 1 min");
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr,
                     "gen_archive: %s\nusage: gen_archive OUTPUT [--days 120] [--points-per-s 8] "
                     "[--chunk-min 10] [--seed 1] [--rate 48000] [--stream bench] [--no-audio]\n",
                     e.what());
        return 2;
    }

    SynthSpec spec;
    spec.data_dir = out;
    spec.stream = stream;
    spec.duration_s = days * kDayS;
    spec.chunk_s = std::round(chunk_min) * 60.0;
    spec.file_format = framestamp::FileFormat::flac;
    spec.channels = 2;
    spec.signal = framestamp::SynthSignal::clicks;
    spec.sim.rate_hz = rate_hz;
    spec.sim.points_per_s = points_per_s;
    spec.sim.seed = seed;
    spec.sim.ppm = 37.0;
    spec.sim.wander_ppm = 1.5;  // the daily temperature swing
    spec.sim.wander_period_s = kDayS;
    spec.sim.latency_max_s = 0.004;
    spec.sim.latency_fraction = 0.3;
    spec.sim.window_s = 5e-6;
    spec.sim.sync_interval_s = 5.0;
    spec.sim.clock = field_clock(spec.duration_s);
    const double d = spec.duration_s;
    spec.events = {
        {.kind = SynthEvent::Kind::overrun, .at_s = 0.13 * d + 0.37, .frames = 1024},
        {.kind = SynthEvent::Kind::overrun, .at_s = 0.41 * d + 0.11, .frames = 9000},
        {.kind = SynthEvent::Kind::device_lost, .at_s = 0.55 * d + 0.5, .frames = 30 * rate_hz},
        {.kind = SynthEvent::Kind::write_gap, .at_s = 0.66 * d + 0.2, .frames = 60 * rate_hz},
        {.kind = SynthEvent::Kind::overrun, .at_s = 0.77 * d + 0.73, .frames = 2048},
    };

    // Audio around the chunk boundary an hour before the end: the chunk ending there and the
    // one starting there. Boundaries are UTC multiples of the chunk length.
    const int64_t period_ns = static_cast<int64_t>(spec.chunk_s) * kNsPerS;
    const int64_t near_end_ns = spec.sim.start_utc_ns + static_cast<int64_t>(d - 3600.0) * kNsPerS;
    const int64_t boundary_ns = near_end_ns / period_ns * period_ns;
    const double boundary_s = static_cast<double>(boundary_ns - spec.sim.start_utc_ns) * 1e-9;
    spec.write_audio = audio && boundary_s > 0;
    spec.audio_from_s = boundary_s - 1.0;
    spec.audio_to_s = boundary_s + 1.0;

    framestamp::SynthResult r;
    const auto t0 = std::chrono::steady_clock::now();
    try {
        r = framestamp::write_synthetic_archive(spec);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gen_archive: %s\n", e.what());
        return 1;
    }
    const double wall_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const uint64_t bytes = tree_bytes(out / stream);
    fmt::print("days={}\npoints_per_s={}\nchunk_s={}\nseed={}\n", days, points_per_s, spec.chunk_s,
               seed);
    fmt::print("timing_logs={}\naudio_files={}\nsessions={}\npoints={}\nrows={}\nbytes={}\n",
               r.timing_logs.size(), r.audio_files.size(), r.sessions.size(), r.points, r.rows,
               bytes);
    fmt::print("generate_s={:.2f}\nrows_per_s={:.0f}\nmb_per_s={:.1f}\n", wall_s,
               static_cast<double>(r.rows) / wall_s, static_cast<double>(bytes) / 1e6 / wall_s);
    // The instants the benchmark asks about (in true UTC; the clock is synchronised there).
    fmt::print("boundary_utc={}\n", framestamp::utc_iso_us(boundary_ns));
    fmt::print("extract_from={}\nextract_to={}\n",
               framestamp::utc_iso_us(boundary_ns - 5 * kNsPerS),
               framestamp::utc_iso_us(boundary_ns + 5 * kNsPerS));
    const int64_t locate_ns =
        spec.sim.start_utc_ns + static_cast<int64_t>(0.6 * d) * kNsPerS + 123'456'000;
    fmt::print("locate_utc={}\n", framestamp::utc_iso_us(locate_ns));
    return 0;
}
