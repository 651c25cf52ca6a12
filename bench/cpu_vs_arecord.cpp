// CPU time (user + sys) of framestampd against arecord recording the same emulated card for the
// same wall time. Prints figures; asserts nothing.
//
//   bench_cpu_vs_arecord [SECONDS]     (default 20; run from the build directory's parent)
//
// Cases: 2 ch 48 kHz S16_LE to WAV (framestampd vs arecord), and 8 ch 96 kHz S24_3LE to FLAC
// (framestampd vs arecord | flac). Both sides load the same emulated-card plugin, whose own cost
// is part of both figures.
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace fsys = std::filesystem;

struct Usage {
    double cpu_s = 0;
    double wall_s = 0;
    int status = 0;
};

double seconds(const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
}

// Runs argv; if stop_after_s > 0, sends SIGTERM after that long. wait4() reports the child's
// CPU time including the descendants it waited for (a shell pipeline's members).
Usage run(std::vector<std::string> args, double stop_after_s) {
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    const auto t0 = std::chrono::steady_clock::now();
    pid_t pid = 0;
    if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
        std::perror("posix_spawn");
        std::exit(1);
    }
    if (stop_after_s > 0) {
        std::this_thread::sleep_for(std::chrono::duration<double>(stop_after_s));
        kill(pid, SIGTERM);
    }
    int status = 0;
    rusage ru{};
    wait4(pid, &status, 0, &ru);
    Usage u;
    u.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    u.cpu_s = seconds(ru.ru_utime) + seconds(ru.ru_stime);
    u.status = status;
    return u;
}

void report(const char* name, const Usage& ours, const Usage& theirs, const char* theirs_name) {
    std::printf(
        "%-34s framestampd %6.3f s CPU (%5.2f%% of %4.1f s) | %-14s %6.3f s CPU (%5.2f%%) "
        "| ratio %.2f\n",
        name, ours.cpu_s, 100.0 * ours.cpu_s / ours.wall_s, ours.wall_s, theirs_name, theirs.cpu_s,
        100.0 * theirs.cpu_s / theirs.wall_s, ours.cpu_s / theirs.cpu_s);
}

}  // namespace

int main(int argc, char** argv) {
    const double secs = argc > 1 ? std::atof(argv[1]) : 20.0;
    const fsys::path build = fsys::canonical("/proc/self/exe").parent_path().parent_path();
    const fsys::path tmp = fsys::temp_directory_path() / ("fs_bench_" + std::to_string(getpid()));
    fsys::create_directories(tmp / "data");
    const std::string alsa = "/usr/share/alsa/alsa.conf:" + (build / "emu/fsemu.conf").string() +
                             ":" + (tmp / "cards.conf").string();
    std::ofstream(tmp / "cards.conf")
        << "pcm.bench_card {\n type fsemu\n offset_ppm 37.5\n signal sine\n}\n";
    setenv("ALSA_CONFIG_PATH", alsa.c_str(), 1);
    const std::string daemon = (build / "framestampd").string();
    const std::string secs_str = std::to_string(static_cast<int>(secs));

    auto config = [&](const char* rate, const char* ch, const char* fmt, const char* file) {
        const fsys::path p = tmp / "bench.yaml";
        std::ofstream(p) << "data_dir: /nonexistent\nlog_level: warning\nstreams:\n"
                         << "  - name: b\n    device: bench_card\n    rate_hz: " << rate
                         << "\n    channels: " << ch << "\n    format: " << fmt
                         << "\n    file_format: " << file << "\n    chunk_seconds: 600\n";
        return p.string();
    };

    std::printf("CPU time over %.0f s of recording from the emulated card (user + sys)\n", secs);

    const Usage d1 = run({daemon, "--config", config("48000", "2", "S16_LE", "wav"), "--data-dir",
                          (tmp / "data").string()},
                         secs);
    const Usage a1 =
        run({"/usr/bin/arecord", "-q", "-D", "bench_card", "-f", "S16_LE", "-r", "48000", "-c", "2",
             "-d", secs_str, "-t", "wav", (tmp / "a1.wav").string()},
            0);
    report("2 ch 48 kHz S16_LE -> WAV", d1, a1, "arecord");

    const Usage d2 = run({daemon, "--config", config("96000", "8", "S24_3LE", "flac"), "--data-dir",
                          (tmp / "data").string()},
                         secs);
    const std::string pipeline =
        "/usr/bin/arecord -q -D bench_card -f S24_3LE -r 96000 -c 8 -d " + secs_str +
        " -t raw | /usr/bin/flac -s -5 -f --force-raw-format --endian=little "
        "--sign=signed --channels=8 --bps=24 --sample-rate=96000 -o " +
        (tmp / "a2.flac").string() + " -";
    const Usage a2 = run({"/bin/sh", "-c", pipeline}, 0);
    report("8 ch 96 kHz S24_3LE -> FLAC (lvl 5)", d2, a2, "arecord | flac");

    fsys::remove_all(tmp);
    return 0;
}
