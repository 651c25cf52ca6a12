// Runs the real framestampd against emulated cards and reads back what it wrote.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "emu_testkit.hpp"

namespace e2e {

namespace fsys = std::filesystem;

// A daemon run in a temporary directory: config file, data dir and emulated-card definitions.
class DaemonRun {
  public:
    DaemonRun();
    ~DaemonRun();
    DaemonRun(const DaemonRun&) = delete;
    DaemonRun& operator=(const DaemonRun&) = delete;

    // Adds `pcm.<name> { type fsemu <body> }` to this run's ALSA configuration.
    void define_card(const std::string& name, const std::string& body);
    std::string truth_path(const std::string& card) const { return dir_.file(card + ".truth.csv"); }
    // Writes the YAML config (data_dir is given on the command line).
    void write_config(const std::string& yaml);

    void start();
    // Sends `sig` and waits for the exit; returns the exit status (or 128+signal).
    int stop(int sig = 15);
    int wait();
    bool running();
    pid_t pid() const { return pid_; }

    const fsys::path& data_dir() const { return data_; }
    const emutest::TempDir& dir() const { return dir_; }
    std::string stderr_text() const;

  private:
    emutest::TempDir dir_;
    fsys::path data_;
    std::string cards_;
    pid_t pid_ = -1;
    int exit_code_ = -1;  // of the last run, once reaped
};

// Files under a directory with a suffix, sorted by path (= by time within a stream).
std::vector<fsys::path> files_with_suffix(const fsys::path& dir, const std::string& suffix);

// One row of a timing log, by column name.
struct LogRow {
    std::map<std::string, std::string> f;
    const std::string& operator[](const std::string& k) const { return f.at(k); }
    int64_t i(const std::string& k) const { return std::stoll(f.at(k)); }
};
std::vector<LogRow> read_timing_log(const fsys::path& path);
std::vector<LogRow> rows_of(const std::vector<LogRow>& rows, const std::string& kind);

// All samples of an audio file as 16-bit values (libsndfile), interleaved; frames via out param.
std::vector<int16_t> read_audio_s16(const fsys::path& path, int* channels, int64_t* frames);

}  // namespace e2e
