#include "daemon_harness.hpp"

#include "framestamp/timing_log.hpp"
#include "test_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sndfile.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace e2e {

DaemonRun::DaemonRun() : data_(fsys::path(dir_.path()) / "data") {
    fsys::create_directories(data_);
}

DaemonRun::~DaemonRun() {
    if (pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
}

void DaemonRun::define_card(const std::string& name, const std::string& body) {
    cards_ += "pcm." + name + " {\n    type fsemu\n" + body + "\n}\n";
    const std::string conf = dir_.file("cards.conf");
    std::ofstream(conf) << cards_;
    const std::string path =
        std::string("/usr/share/alsa/alsa.conf:") + FSEMU_ALSA_CONF + ":" + conf;
    setenv("ALSA_CONFIG_PATH", path.c_str(), 1);
}

void DaemonRun::write_config(const std::string& yaml) {
    std::ofstream(dir_.file("framestamp.yaml")) << "data_dir: /nonexistent\n" << yaml;
}

void DaemonRun::start() {
    std::vector<std::string> args = {FRAMESTAMPD, "--config", dir_.file("framestamp.yaml"),
                                     "--data-dir", data_.string()};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    const std::string err = dir_.file("stderr.txt");
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ) != 0) {
        pid_ = -1;
        throw std::runtime_error("cannot start framestampd");
    }
    posix_spawn_file_actions_destroy(&fa);
}

namespace {

int decode_status(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

int DaemonRun::wait() {
    if (pid_ > 0) {
        int status = 0;
        waitpid(pid_, &status, 0);
        pid_ = -1;
        exit_code_ = decode_status(status);
    }
    return exit_code_;
}

int DaemonRun::stop(int sig) {
    if (pid_ > 0) {
        kill(pid_, sig);
    }
    return wait();
}

bool DaemonRun::running() {
    if (pid_ <= 0) {
        return false;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
        // Reaped here: keep the status for wait().
        pid_ = -1;
        exit_code_ = decode_status(status);
        return false;
    }
    return true;
}

std::string DaemonRun::stderr_text() const {
    std::ifstream in(dir_.file("stderr.txt"));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<fsys::path> files_with_suffix(const fsys::path& dir, const std::string& suffix) {
    return fstest::files_with_suffix(dir, suffix);
}

std::vector<LogRow> read_timing_log(const fsys::path& path) {
    std::ifstream in(path);
    std::string line;
    std::vector<LogRow> rows;
    if (!std::getline(in, line)) {
        return rows;
    }
    const auto header = framestamp::csv_split(line);
    while (std::getline(in, line)) {
        const auto fields = framestamp::csv_split(line);
        if (fields.size() != header.size()) {
            throw std::runtime_error("bad row in " + path.string() + ": " + line);
        }
        LogRow r;
        for (std::size_t i = 0; i < header.size(); ++i) {
            r.f[header[i]] = fields[i];
        }
        rows.push_back(std::move(r));
    }
    return rows;
}

std::vector<LogRow> rows_of(const std::vector<LogRow>& rows, const std::string& kind) {
    std::vector<LogRow> out;
    for (const auto& r : rows) {
        if (r["kind"] == kind) {
            out.push_back(r);
        }
    }
    return out;
}

std::vector<int16_t> read_audio_s16(const fsys::path& path, int* channels, int64_t* frames) {
    SF_INFO info{};
    SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
    if (f == nullptr) {
        throw std::runtime_error("cannot read " + path.string() + ": " + sf_strerror(nullptr));
    }
    std::vector<int16_t> data(static_cast<std::size_t>(info.frames * info.channels));
    const sf_count_t got = sf_readf_short(f, data.data(), info.frames);
    sf_close(f);
    data.resize(static_cast<std::size_t>(got * info.channels));
    *channels = info.channels;
    *frames = got;
    return data;
}

}  // namespace e2e
