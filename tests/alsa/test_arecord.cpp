// arecord, an unmodified ALSA program, records from the emulated card in real time.
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <vector>

#include "emu_testkit.hpp"

extern char** environ;

namespace {

int64_t mono_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int run(std::vector<std::string> args) {
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
        return -1;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Size in bytes of the WAV file's data chunk.
uint64_t wav_data_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<unsigned char> b((std::istreambuf_iterator<char>(in)), {});
    std::size_t pos = 12;
    while (pos + 8 <= b.size()) {
        const uint32_t size = b[pos + 4] | (b[pos + 5] << 8) | (b[pos + 6] << 16) |
                              (static_cast<uint32_t>(b[pos + 7]) << 24);
        if (std::memcmp(&b[pos], "data", 4) == 0) {
            return std::min<uint64_t>(size, b.size() - pos - 8);
        }
        pos += 8 + size + (size & 1U);
    }
    return 0;
}

TEST(Arecord, TenSecondsInTenSecondsOfWallTime) {
    emutest::TempDir dir;
    const std::string truth = dir.file("truth.csv");
    const std::string wav = dir.file("out.wav");
    emutest::define_pcm(dir, "emu_rec",
                        "offset_ppm 500\ngranularity_frames 48\nsignal sine\n"
                        "truth_log \"" +
                            truth + "\"");
    const int64_t t0 = mono_ns();
    ASSERT_EQ(run({FSEMU_ARECORD, "-q", "-D", "emu_rec", "-f", "S16_LE", "-r", "48000", "-c", "2",
                   "-d", "10", "-t", "wav", wav}),
              0);
    const double wall_s = static_cast<double>(mono_ns() - t0) * 1e-9;
    std::printf("arecord -d 10 took %.3f s of wall time\n", wall_s);
    EXPECT_NEAR(wall_s, 10.0, 0.3);
    EXPECT_EQ(wav_data_bytes(wav), 480000U * 4);

    // The card's own count over the run: rate * elapsed * (1 + ppm), within one pointer step.
    const auto rows = emutest::read_truth(truth);
    const auto start = emutest::truth_of_kind(rows, "start");
    const auto stop = emutest::truth_of_kind(rows, "stop");
    ASSERT_EQ(start.size(), 1U);
    ASSERT_EQ(stop.size(), 1U);
    const double elapsed_s = static_cast<double>(stop[0].realtime_ns - start[0].realtime_ns) * 1e-9;
    EXPECT_GT(elapsed_s, 9.99);
    const double expected = 48000.0 * elapsed_s * (1 + 500e-6);
    EXPECT_NEAR(static_cast<double>(stop[0].stream_frame), expected, 48.0 + 1.0);
    EXPECT_GE(stop[0].stream_frame, 480000U);
}

}  // namespace
