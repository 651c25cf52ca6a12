// The clock-sync monitor against a real chronyd that the test starts itself:
//   chronyd -x -d -u root -f <dir>/chrony.conf     (as root; otherwise -U -u <user>)
// with `local stratum 1`, no NTP port, and its command socket in a private 0700 directory. -x
// means chronyd never touches the system clock, so this is safe on any machine, beside a system
// chronyd too. Real time (a few seconds); labelled system;chrony.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "framestamp/clock_sync.hpp"

namespace {

using namespace framestamp;
namespace fs = std::filesystem;
using ::testing::HasSubstr;

class RealChronyd : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(fs::exists(FS_CHRONYD))
            << FS_CHRONYD << " is missing: install chrony (scripts/install-deps)";
        ASSERT_TRUE(fs::exists(FS_CHRONYC))
            << FS_CHRONYC << " is missing: install chrony (scripts/install-deps)";
        // chronyd refuses to start without root ("Fatal error : Not superuser") unless given -U;
        // with -x, no NTP port and a socket in a directory of our own it needs no privilege,
        // so a non-root run passes -U and its own user name to -u (chronyd checks that the
        // socket's directory belongs to that user and its group).
        if (::geteuid() != 0) {
            const passwd* pw = ::getpwuid(::geteuid());
            ASSERT_NE(pw, nullptr) << "uid " << ::geteuid() << " has no user name for chronyd -u";
            user_ = pw->pw_name;
        }
        std::string pattern = (fs::temp_directory_path() / "fs_chronyd_XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);  // mode 0700, owned by us
        dir_ = pattern;
        socket_ = dir_ + "/chronyd.sock";
        std::ofstream(dir_ + "/chrony.conf") << "local stratum 1\n"
                                             << "port 0\n"
                                             << "cmdport 0\n"
                                             << "bindcmdaddress " << socket_ << "\n"
                                             << "driftfile " << dir_ << "/drift\n"
                                             << "pidfile " << dir_ << "/chronyd.pid\n";
    }

    void TearDown() override {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (!dir_.empty()) {
            fs::remove_all(dir_);
        }
    }

    std::string chronyd_log() const {
        std::ifstream in(dir_ + "/chronyd.log");
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }

    // Starts chronyd and waits (up to 10 s) for its command socket.
    void start_chronyd() {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        const std::string log = dir_ + "/chronyd.log";
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(),
                                         O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
        std::string exe = FS_CHRONYD;
        std::string x = "-x";
        std::string d = "-d";
        std::string u = "-u";
        std::string user = user_;
        std::string f = "-f";
        std::string conf = dir_ + "/chrony.conf";
        std::string no_root_check = "-U";
        std::vector<char*> argv = {exe.data(),  x.data(), d.data(),   u.data(),
                                   user.data(), f.data(), conf.data()};
        if (user_ != "root") {
            argv.push_back(no_root_check.data());
        }
        argv.push_back(nullptr);
        const int rc = posix_spawn(&pid_, exe.c_str(), &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        ASSERT_EQ(rc, 0) << "cannot run " << FS_CHRONYD << ": " << std::strerror(rc);
        for (int i = 0; i < 1000; ++i) {
            if (fs::exists(socket_)) {
                return;
            }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                FAIL() << "chronyd exited (status " << status << ") before opening " << socket_
                       << "; its log:\n"
                       << chronyd_log();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        FAIL() << "chronyd did not create " << socket_ << " within 10 s; its log:\n"
               << chronyd_log();
    }

    // SIGTERM, as systemd stops it; returns its wait status.
    int stop_chronyd() {
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return status;
    }

    SyncMonitorOptions options() const {
        SyncMonitorOptions o;
        o.chronyd = ChronydMode::yes;
        o.chronyc_path = FS_CHRONYC;
        o.chronyd_socket = socket_;
        o.timeout_ns = 3'000'000'000;
        o.interval_ns = 100'000'000;
        return o;
    }

    std::string dir_;
    std::string socket_;
    std::string user_ = "root";
    pid_t pid_ = -1;
};

TEST_F(RealChronyd, MonitorSeesItAnswerThenGoAway) {
    ASSERT_NO_FATAL_FAILURE(start_chronyd());
    SyncMonitor monitor(options());
    monitor.poll_now();
    SyncSnapshot s = monitor.snapshot();
    ASSERT_EQ(s.chronyd, ChronydState::reachable) << s.chronyd_error << "\n" << chronyd_log();
    ASSERT_TRUE(s.chrony);
    EXPECT_EQ(s.chrony->stratum, 1u);
    EXPECT_TRUE(s.chrony->local_reference());  // reference ID 7F7F0101: `local`
    EXPECT_EQ(s.chrony->leap, ChronyLeap::normal);
    // -x: chronyd corrects nothing, so its parsed offset is (about) zero.
    EXPECT_LT(std::llabs(s.chrony->system_offset_ns), 1'000'000);
    EXPECT_GT(s.chrony->ref_time_ns, 0);
    // Its own free-running clock is not a time source.
    EXPECT_FALSE(s.synchronised);
    EXPECT_EQ(s.summary, "clock UNSYNCHRONISED (chronyd: local reference only, stratum 1)");
    const auto sample = monitor.make_probe()->sample();
    ASSERT_TRUE(sample);
    EXPECT_STREQ(sample->source, "chronyd");

    const int status = stop_chronyd();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << chronyd_log();
    monitor.poll_now();
    s = monitor.snapshot();
    EXPECT_EQ(s.chronyd, ChronydState::unreachable);
    EXPECT_FALSE(s.chrony);
    EXPECT_FALSE(s.chronyd_error.empty());
    EXPECT_THAT(s.summary, HasSubstr("chronyd not reachable"));
    EXPECT_STREQ(monitor.make_probe()->sample()->source, "adjtimex");
}

TEST_F(RealChronyd, BackgroundThreadFollowsIt) {
    SyncMonitor monitor(options());
    auto probe = monitor.make_probe();
    monitor.start();
    auto wait_for = [&](ChronydState want) {
        for (int i = 0; i < 1000; ++i) {
            if (monitor.snapshot().chronyd == want) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    };
    EXPECT_TRUE(wait_for(ChronydState::unreachable)) << monitor.summary();
    ASSERT_NO_FATAL_FAILURE(start_chronyd());
    ASSERT_TRUE(wait_for(ChronydState::reachable)) << monitor.summary() << "\n" << chronyd_log();
    EXPECT_STREQ(probe->sample()->source, "chronyd");
    stop_chronyd();
    ASSERT_TRUE(wait_for(ChronydState::unreachable)) << monitor.summary();
    EXPECT_STREQ(probe->sample()->source, "adjtimex");
    monitor.stop();
}

}  // namespace
