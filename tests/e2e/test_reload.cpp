// SIGHUP: metadata and chunk length apply at the next chunk boundary without a gap; a device
// change restarts that stream alone; an invalid file is logged and the running one kept.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

#include "daemon_harness.hpp"

namespace {

using e2e::DaemonRun;
using e2e::LogRow;

std::string file_bytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string config(const std::string& notes, int chunk_a, const std::string& device_b) {
    return "site:\n  notes: \"" + notes + "\"\nstreams:\n" +
           "  - name: a\n    device: card_a\n    file_format: wav\n    flush_interval_s: 1\n" +
           "    chunk_seconds: " + std::to_string(chunk_a) + "\n" +
           "  - name: b\n    device: " + device_b + "\n    file_format: wav\n" +
           "    chunk_seconds: 3600\n";
}

TEST(Reload, SighupAppliesAtNextChunkRestartsChangedDeviceKeepsBadConfigOut) {
    DaemonRun run;
    run.define_card("card_a", "signal sine");
    run.define_card("card_b", "signal sine");
    run.define_card("card_b2", "signal sine");
    run.write_config(config("notes-before-reload", 4, "card_b"));
    run.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    run.write_config(config("notes-after-reload", 2, "card_b2"));
    kill(run.pid(), SIGHUP);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    run.write_config(config("x", 2, "card_b2") + "    rate_hz: fast\n");
    kill(run.pid(), SIGHUP);
    std::this_thread::sleep_for(std::chrono::milliseconds(7000));
    EXPECT_TRUE(run.running());
    ASSERT_EQ(run.stop(SIGTERM), 0) << run.stderr_text();
    const std::string err = run.stderr_text();
    EXPECT_NE(err.find("keeping the running configuration"), std::string::npos) << err;
    EXPECT_NE(err.find("rate_hz"), std::string::npos);

    // Stream a: one session, contiguous chunks; old notes before the reload's first boundary,
    // new notes and 2 s chunks after it.
    const auto audio = e2e::files_with_suffix(run.data_dir() / "a", ".wav");
    ASSERT_GE(audio.size(), 4U);
    std::string session;
    uint64_t next_first = 0;
    int before = 0;
    int after = 0;
    for (std::size_t i = 0; i < audio.size(); ++i) {
        std::filesystem::path log = audio[i];
        log.replace_extension(".timing.csv");
        const auto rows = e2e::read_timing_log(log);
        const std::string d = rows.front()["detail"];
        const std::string s = d.substr(d.find("session="), 32);
        if (i == 0) {
            session = s;
        }
        EXPECT_EQ(s, session) << "a reload must not restart stream a";
        const auto open = e2e::rows_of(rows, "chunk_open");
        const auto close = e2e::rows_of(rows, "chunk_close");
        ASSERT_EQ(open.size(), 1U);
        ASSERT_EQ(close.size(), 1U);
        if (i > 0) {
            EXPECT_EQ(static_cast<uint64_t>(open[0].i("session_frame")), next_first) << audio[i];
        }
        next_first = static_cast<uint64_t>(close[0].i("session_frame"));
        const std::string bytes = file_bytes(audio[i]);
        const bool old_notes = bytes.find("notes-before-reload") != std::string::npos;
        const bool new_notes = bytes.find("notes-after-reload") != std::string::npos;
        EXPECT_NE(old_notes, new_notes) << audio[i];
        if (old_notes) {
            EXPECT_EQ(after, 0) << "old metadata after new: " << audio[i];
            ++before;
        } else {
            ++after;
            if (i + 1 < audio.size()) {  // the last chunk was cut by SIGTERM
                EXPECT_NEAR(static_cast<double>(close[0].i("frames")), 96000.0, 100.0) << audio[i];
            }
        }
    }
    EXPECT_GE(before, 1);
    EXPECT_GE(after, 2);

    // Stream b: restarted on the new device.
    std::vector<std::string> devices;
    for (const auto& log : e2e::files_with_suffix(run.data_dir() / "b", ".timing.csv")) {
        for (const auto& r : e2e::rows_of(e2e::read_timing_log(log), "session_start")) {
            const std::string d = r["detail"];
            devices.push_back(d.substr(0, d.find(';')));
        }
    }
    ASSERT_EQ(devices.size(), 2U);
    EXPECT_EQ(devices[0], "device=card_b");
    EXPECT_EQ(devices[1], "device=card_b2");
}

}  // namespace
