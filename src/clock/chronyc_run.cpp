// Running chronyc as a subprocess with a deadline. Only the monitor's thread calls this; the
// capture threads never do.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>
#include <utility>

#include "framestamp/clock_sync.hpp"

namespace framestamp {

namespace {

// Far more than `chronyc -c tracking` prints (about 150 bytes); the rest is drained and dropped.
constexpr std::size_t kMaxOutput = 16 * 1024;
constexpr int64_t kNsPerMs = 1'000'000;

int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string errno_text(int err) {
    return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")";
}

// A pipe whose read end (ours) is non-blocking; both ends close on exec, and posix_spawn's dup2
// gives the child a plain blocking copy of the write end.
struct Pipe {
    int read = -1;
    int write = -1;
    Pipe() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) == 0) {
            read = fds[0];
            write = fds[1];
            ::fcntl(read, F_SETFL, ::fcntl(read, F_GETFL) | O_NONBLOCK);
        }
    }
    ~Pipe() {
        close_read();
        close_write();
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    bool ok() const { return read >= 0; }
    void close_read() {
        if (read >= 0) {
            ::close(read);
            read = -1;
        }
    }
    void close_write() {
        if (write >= 0) {
            ::close(write);
            write = -1;
        }
    }
};

std::string first_line(std::string_view text) {
    while (!text.empty()) {
        const std::size_t nl = text.find('\n');
        const std::string_view line = text.substr(0, nl);
        if (!line.empty()) {
            constexpr std::size_t kMaxShown = 120;
            return std::string(line.substr(0, kMaxShown));
        }
        if (nl == std::string_view::npos) {
            break;
        }
        text.remove_prefix(nl + 1);
    }
    return {};
}

struct Spawned {
    pid_t pid = -1;
    int error = 0;  // posix_spawn's error
};

Spawned spawn_chronyc(const ChronycQuery& q, const Pipe& out, const Pipe& err) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out.write, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err.write, STDERR_FILENO);
    // The daemon's audio files and sockets are none of chronyc's business.
    posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
    // The daemon blocks SIGTERM/SIGINT/SIGHUP in every thread; the child gets a clean mask and
    // default dispositions, and its own process group so a timeout kills all it started.
    sigset_t none;
    sigset_t all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    std::string path = q.chronyc_path;
    std::string c = "-c";
    std::string n = "-n";
    std::string h = "-h";
    std::string host = q.host;
    std::string command = "tracking";
    char* const argv[] = {path.data(), c.data(),       n.data(), h.data(),
                          host.data(), command.data(), nullptr};
    // LC_ALL=C keeps the decimal point a '.'.
    std::string lc = "LC_ALL=C";
    std::string path_env = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    char* const envp[] = {lc.data(), path_env.data(), nullptr};
    Spawned s;
    s.error = posix_spawn(&s.pid, path.c_str(), &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return s;
}

// Reads both pipes until they close or the deadline passes. Returns false on the deadline.
bool read_until_closed(Pipe& out, Pipe& err, std::string& out_text, std::string& err_text,
                       int64_t deadline_ns) {
    std::array<char, 4096> buf{};
    for (;;) {
        std::array<pollfd, 2> fds{};
        nfds_t count = 0;
        Pipe* pipes[2] = {};
        std::string* texts[2] = {};
        for (auto [p, t] : {std::pair{&out, &out_text}, std::pair{&err, &err_text}}) {
            if (p->read >= 0) {
                fds[count] = pollfd{p->read, POLLIN, 0};
                pipes[count] = p;
                texts[count] = t;
                ++count;
            }
        }
        if (count == 0) {
            return true;
        }
        const int64_t left_ns = deadline_ns - now_ns();
        if (left_ns <= 0) {
            return false;
        }
        const int wait_ms =
            static_cast<int>(std::min<int64_t>((left_ns + kNsPerMs - 1) / kNsPerMs, 1000));
        const int ready = ::poll(fds.data(), count, wait_ms);
        if (ready < 0 && errno != EINTR) {
            return false;
        }
        for (nfds_t i = 0; ready > 0 && i < count; ++i) {
            if (fds[i].revents == 0) {
                continue;
            }
            const ssize_t got = ::read(pipes[i]->read, buf.data(), buf.size());
            if (got > 0) {
                const std::size_t room = kMaxOutput - std::min(kMaxOutput, texts[i]->size());
                texts[i]->append(buf.data(), std::min(room, static_cast<std::size_t>(got)));
            } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                pipes[i]->close_read();
            }
        }
    }
}

// Waits for pid until the deadline. Returns false on the deadline (the child still runs). Sets
// wait_error when the child cannot be waited for (SIGCHLD ignored: the kernel reaped it).
bool wait_until(pid_t pid, int& wait_status, int& wait_error, int64_t deadline_ns) {
    constexpr timespec kNap{0, 1'000'000};
    for (;;) {
        const pid_t r = ::waitpid(pid, &wait_status, WNOHANG);
        if (r == pid) {
            return true;
        }
        if (r < 0 && errno != EINTR) {
            wait_error = errno;
            return true;
        }
        if (now_ns() >= deadline_ns) {
            return false;
        }
        ::nanosleep(&kNap, nullptr);
    }
}

void kill_and_reap(pid_t pid, int& wait_status) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
    }
}

}  // namespace

ChronycResult chronyc_query(const ChronycQuery& q) {
    ChronycResult result;
    if (::access(q.chronyc_path.c_str(), X_OK) != 0) {
        const int e = errno;
        result.status =
            (e == ENOENT || e == ENOTDIR) ? ChronycStatus::missing : ChronycStatus::failed;
        result.error = "cannot run " + q.chronyc_path + ": " + errno_text(e);
        return result;
    }
    Pipe out;
    Pipe err;
    if (!out.ok() || !err.ok()) {
        result.error = "cannot create a pipe for chronyc: " + errno_text(errno);
        return result;
    }
    const int64_t deadline_ns = now_ns() + q.timeout_ns;
    const Spawned child = spawn_chronyc(q, out, err);
    out.close_write();
    err.close_write();
    if (child.error != 0) {
        result.status = child.error == ENOENT ? ChronycStatus::missing : ChronycStatus::failed;
        result.error = "cannot run " + q.chronyc_path + ": " + errno_text(child.error);
        return result;
    }
    std::string out_text;
    std::string err_text;
    int wait_status = 0;
    int wait_error = 0;
    const bool finished = read_until_closed(out, err, out_text, err_text, deadline_ns) &&
                          wait_until(child.pid, wait_status, wait_error, deadline_ns);
    if (!finished) {
        kill_and_reap(child.pid, wait_status);
        result.status = ChronycStatus::timeout;
        result.error = "chronyc did not finish within " + std::to_string(q.timeout_ns / kNsPerMs) +
                       " ms and was killed";
        return result;
    }
    if (wait_error != 0) {
        result.status = ChronycStatus::failed;
        result.error = "cannot wait for chronyc: " + errno_text(wait_error);
        return result;
    }
    if (WIFSIGNALED(wait_status)) {
        result.status = ChronycStatus::failed;
        result.error = "chronyc was killed by signal " + std::to_string(WTERMSIG(wait_status));
        return result;
    }
    if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
        result.status = ChronycStatus::unreachable;
        std::string message = first_line(err_text);
        if (message.empty()) {
            message = first_line(out_text);
        }
        result.error = message.empty() ? "chronyc exited with status " +
                                             std::to_string(WEXITSTATUS(wait_status))
                                       : message;
        return result;
    }
    std::string why;
    result.tracking = parse_chronyc_tracking(out_text, &why);
    if (!result.tracking) {
        result.status = ChronycStatus::bad_output;
        result.error = "unexpected chronyc output (" + why + "): '" + first_line(out_text) + "'";
        return result;
    }
    result.status = ChronycStatus::ok;
    return result;
}

}  // namespace framestamp
