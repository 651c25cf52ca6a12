// framestampd as a Type=notify service: the messages it sends to NOTIFY_SOCKET, their order, and
// the watchdog going quiet while a capture thread is stuck.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <string>
#include <vector>

#include "daemon_harness.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Message {
    double t_s;  // since the daemon started
    std::string text;
};

// A datagram socket standing in for systemd's notify socket.
class NotifySocket {
  public:
    explicit NotifySocket(const std::string& path) : path_(path) {
        fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        path.copy(addr.sun_path, sizeof addr.sun_path - 1);
        if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            throw std::runtime_error("bind " + path);
        }
    }
    ~NotifySocket() {
        close(fd_);
        unlink(path_.c_str());
    }
    // Collects messages for `seconds`.
    void collect(double seconds, Clock::time_point t0, std::vector<Message>* out) {
        const auto end = Clock::now() + std::chrono::duration<double>(seconds);
        while (Clock::now() < end) {
            pollfd p{fd_, POLLIN, 0};
            if (poll(&p, 1, 50) == 1) {
                char buf[4096];
                const ssize_t n = recv(fd_, buf, sizeof buf, 0);
                if (n > 0) {
                    out->push_back({std::chrono::duration<double>(Clock::now() - t0).count(),
                                    std::string(buf, static_cast<std::size_t>(n))});
                }
            }
        }
    }

  private:
    std::string path_;
    int fd_ = -1;
};

std::vector<double> times_of(const std::vector<Message>& msgs, const std::string& what) {
    std::vector<double> t;
    for (const auto& m : msgs) {
        if (m.text.find(what) != std::string::npos) {
            t.push_back(m.t_s);
        }
    }
    return t;
}

TEST(Notify, ReadyStatusWatchdogAndStoppingInOrderAndWatchdogStopsWhenCaptureStalls) {
    e2e::DaemonRun run;
    // The capture thread blocks inside a read for 6 s from 3 s on.
    run.define_card("card_n", "signal sine\nstall_at_s 3\nstall_s 6");
    run.write_config(R"(
streams:
  - name: mic
    device: card_n
    chunk_seconds: 60
    file_format: wav
)");
    NotifySocket sock(run.dir().file("notify.sock"));
    setenv("NOTIFY_SOCKET", run.dir().file("notify.sock").c_str(), 1);
    setenv("WATCHDOG_USEC", "2000000", 1);
    const auto t0 = Clock::now();
    run.start();
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    std::vector<Message> msgs;
    sock.collect(12.0, t0, &msgs);
    kill(run.pid(), SIGTERM);
    sock.collect(1.5, t0, &msgs);
    ASSERT_EQ(run.wait(), 0) << run.stderr_text();

    ASSERT_FALSE(msgs.empty());
    // READY=1 first, with a status naming the stream as recording.
    EXPECT_EQ(msgs.front().text.rfind("READY=1", 0), 0U) << msgs.front().text;
    EXPECT_NE(msgs.front().text.find("STATUS=mic: recording"), std::string::npos)
        << msgs.front().text;
    EXPECT_LT(msgs.front().t_s, 2.0);
    EXPECT_EQ(times_of(msgs, "READY=1").size(), 1U);
    // STATUS refreshed every few seconds.
    EXPECT_GE(times_of(msgs, "STATUS=").size(), 3U);
    // STOPPING=1 last.
    EXPECT_EQ(msgs.back().text.rfind("STOPPING=1", 0), 0U) << msgs.back().text;

    // Watchdog pings every second (half of WATCHDOG_USEC) while capturing; none while the
    // capture thread is stuck (3 s .. 9 s, silent from about 4 s); back after it recovers.
    const auto pings = times_of(msgs, "WATCHDOG=1");
    int before = 0;
    int during = 0;
    int after = 0;
    for (double t : pings) {
        before += t < 3.0 ? 1 : 0;
        during += (t > 4.6 && t < 8.8) ? 1 : 0;
        after += t > 9.5 ? 1 : 0;
    }
    std::string ts;
    for (double t : pings) {
        ts += std::to_string(t).substr(0, 5) + " ";
    }
    EXPECT_GE(before, 2) << ts;
    EXPECT_EQ(during, 0) << ts;
    EXPECT_GE(after, 1) << ts;
    EXPECT_NE(run.stderr_text().find("withholding watchdog pings"), std::string::npos);
}

TEST(Notify, AStreamWaitingForItsDeviceIsReportedNotHidden) {
    e2e::DaemonRun run;
    const std::string present = run.dir().file("present");  // never created: unplugged
    run.define_card("card_gone", "present_file \"" + present + "\"");
    run.write_config(R"(
streams:
  - name: gone
    device: card_gone
)");
    NotifySocket sock(run.dir().file("notify.sock"));
    setenv("NOTIFY_SOCKET", run.dir().file("notify.sock").c_str(), 1);
    const auto t0 = Clock::now();
    run.start();
    unsetenv("NOTIFY_SOCKET");
    std::vector<Message> msgs;
    sock.collect(3.0, t0, &msgs);
    ASSERT_EQ(run.stop(SIGTERM), 0) << run.stderr_text();
    const auto ready = times_of(msgs, "READY=1");
    ASSERT_EQ(ready.size(), 1U);
    EXPECT_NE(msgs.front().text.find("gone: WAITING for device card_gone"), std::string::npos)
        << msgs.front().text;
}

}  // namespace
