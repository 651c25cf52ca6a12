// Helpers for tests that drive the emulated sound card through the real libasound API.
#pragma once

#include <alsa/asoundlib.h>

#include <cstdint>
#include <string>
#include <vector>

namespace emutest {

// A fresh directory under $TMPDIR, removed with its contents on destruction.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};

// Defines `pcm.<name> { type fsemu <body> }` in a config file inside `dir` and points
// ALSA_CONFIG_PATH (in this process, and so in its children) at the system configuration, the
// emulated card's generated configuration and that file. Returns the ALSA_CONFIG_PATH value.
std::string define_pcm(const TempDir& dir, const std::string& name, const std::string& body);

// One row of the emulated card's truth log (docs/emulated-card.md); reads v1 and v2 logs.
struct TruthRow {
    std::string kind;
    uint64_t start_index = 0;
    uint64_t stream_frame = 0;
    int64_t card_frame = 0;
    int64_t realtime_ns = 0;
    int channel = -1;
    int64_t latency_ns = 0;  // "step" rows: the step's completion latency (v2 logs only)
};
std::vector<TruthRow> read_truth(const std::string& path);
std::vector<TruthRow> truth_of_kind(const std::vector<TruthRow>& rows, const std::string& kind);

// Stream position (frames since the start with index `start_index`) the truth says the card had
// reached at `realtime_ns`, interpolated between the neighbouring "point" rows.
double truth_position_at(const std::vector<TruthRow>& rows, uint64_t start_index,
                         int64_t realtime_ns);

struct CaptureParams {
    snd_pcm_format_t format = SND_PCM_FORMAT_S16_LE;
    unsigned rate = 48000;
    unsigned channels = 2;
    snd_pcm_uframes_t period = 480;
    snd_pcm_uframes_t buffer = 4800;
};

// Opens a capture PCM with exactly these parameters and timestamps in CLOCK_REALTIME
// (SND_PCM_TSTAMP_TYPE_GETTIMEOFDAY). Returns a negative errno on failure.
int open_capture(const std::string& name, const CaptureParams& p, snd_pcm_t** out);

int64_t realtime_now_ns();
int64_t to_ns(const snd_htimestamp_t& ts);

}  // namespace emutest
