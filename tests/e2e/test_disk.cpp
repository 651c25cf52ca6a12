// framestampd on a small, filling disk: a tmpfs mounted in a private mount namespace of this test
// process (root only; skipped otherwise).
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "daemon_harness.hpp"
#include "fsemu_model.hpp"

namespace {

namespace fsys = std::filesystem;

// Mounts a tmpfs of `mib` MiB on `dir`, visible to this process and its children only.
std::string mount_small_disk(const fsys::path& dir, int mib) {
    if (geteuid() != 0) {
        return "needs root to mount a tmpfs";
    }
    if (unshare(CLONE_NEWNS) != 0) {
        return std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
    }
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        return std::string("making / private: ") + std::strerror(errno);
    }
    const std::string opts = "size=" + std::to_string(mib) + "m";
    if (mount("fs_test_disk", dir.c_str(), "tmpfs", 0, opts.c_str()) != 0) {
        return std::string("mount tmpfs: ") + std::strerror(errno);
    }
    return {};
}

bool wait_for(e2e::DaemonRun& run, const std::string& text, double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
        if (run.stderr_text().find(text) != std::string::npos) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
}

// With no reserve, the disk runs full mid-chunk: framestampd keeps running, every file it closed
// stays readable and frame-exact, and nothing is left as .partial.
TEST(Disk, EnospcMidWriteNeverCorruptsWhatWasWritten) {
    e2e::DaemonRun run;
    const std::string why = mount_small_disk(run.data_dir(), 2);
    if (!why.empty()) {
        GTEST_SKIP() << why;
    }
    run.define_card("card_full", "signal counter");
    run.write_config(R"(
min_free_disk_mib: 0
streams:
  - name: full
    device: card_full
    chunk_seconds: 2
    file_format: wav
    flush_interval_s: 1
)");
    run.start();
    ASSERT_TRUE(wait_for(run, "No space left on device", 25)) << run.stderr_text();
    std::this_thread::sleep_for(std::chrono::seconds(3));
    EXPECT_TRUE(run.running());
    ASSERT_EQ(run.stop(SIGTERM), 0) << run.stderr_text();
    EXPECT_TRUE(e2e::files_with_suffix(run.data_dir(), ".partial").empty());
    const auto files = e2e::files_with_suffix(run.data_dir() / "full", ".wav");
    ASSERT_GE(files.size(), 3U);
    int complete = 0;
    for (const auto& f : files) {
        int ch = 0;
        int64_t frames = 0;
        const auto s = e2e::read_audio_s16(f, &ch, &frames);  // throws if unreadable
        if (frames == 0) {
            continue;
        }
        const uint32_t first = fsemu::counter_decode(s[0], s[1]);
        for (int64_t i = 1; i < frames; ++i) {
            ASSERT_EQ(fsemu::counter_decode(s[static_cast<std::size_t>(i * 2)],
                                            s[static_cast<std::size_t>(i * 2 + 1)]),
                      first + static_cast<uint32_t>(i))
                << f;
        }
        complete += frames > 90000 ? 1 : 0;
    }
    EXPECT_GE(complete, 2);
}

// With a reserve, recording pauses cleanly before the disk is full and resumes when space is
// freed; the gap is in the timing log.
TEST(Disk, PausesBelowTheReserveAndResumesWhenSpaceReturns) {
    e2e::DaemonRun run;
    const std::string why = mount_small_disk(run.data_dir(), 6);
    if (!why.empty()) {
        GTEST_SKIP() << why;
    }
    run.define_card("card_res", "signal sine");
    run.write_config(R"(
min_free_disk_mib: 2
streams:
  - name: res
    device: card_res
    rate_hz: 96000
    chunk_seconds: 2
    file_format: wav
    flush_interval_s: 1
)");
    run.start();
    ASSERT_TRUE(wait_for(run, "recording PAUSED", 30)) << run.stderr_text();
    // Free the space: delete every closed chunk so far.
    for (const auto& f : e2e::files_with_suffix(run.data_dir() / "res", ".wav")) {
        fsys::remove(f);
    }
    struct statvfs st {};
    statvfs(run.data_dir().c_str(), &st);
    ASSERT_TRUE(wait_for(run, "recording resumed", 15))
        << "free after deleting: " << st.f_bavail * st.f_frsize << "\n"
        << run.stderr_text();
    std::this_thread::sleep_for(std::chrono::seconds(3));
    ASSERT_EQ(run.stop(SIGTERM), 0) << run.stderr_text();
    EXPECT_EQ(run.stderr_text().find("No space left"), std::string::npos) << run.stderr_text();
    bool gap_found = false;
    for (const auto& log : e2e::files_with_suffix(run.data_dir() / "res", ".timing.csv")) {
        for (const auto& r : e2e::rows_of(e2e::read_timing_log(log), "write_gap")) {
            EXPECT_NE(r["detail"].find("reason=disk_full"), std::string::npos);
            EXPECT_GT(r.i("frames"), 96000);
            gap_found = true;
        }
    }
    EXPECT_TRUE(gap_found);
    EXPECT_FALSE(e2e::files_with_suffix(run.data_dir() / "res", ".wav").empty());
}

}  // namespace
