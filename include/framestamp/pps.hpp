// Finding GPS PPS edges in a recorded audio channel (docs/timing-model.md, "PPS anchors").
// Pure computation on samples: the writer feeds it each block of the chosen channel and writes
// a `pps` row per edge; the fit turns the rows into anchors.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "framestamp/audio_format.hpp"

namespace framestamp {

struct PpsDetectorOptions {
    bool rising = true;      // the on-time edge rises (false: falls, an inverting input)
    double min_step = 0.05;  // smallest edge height, as a fraction of full scale
    // The edge must climb min_step within this many frames: an ADC's anti-alias filter spreads
    // a PPS edge over a few samples, while speech, wind or a click rise far slower or far less.
    unsigned rise_frames = 8;
    double holdoff_s = 0.5;  // after an edge, none for this long (the pulse's decay, its end)
};

struct PpsEdge {
    uint64_t frame = 0;  // session frame at or before the edge's half-height crossing
    double frac = 0;     // ...and where between it and the next one, [0, 1)
    double height = 0;   // the step, as a fraction of full scale (signed as the input)
};

class PpsDetector {
  public:
    PpsDetector(uint32_t rate_hz, const PpsDetectorOptions& o);

    // One block of interleaved frames whose first frame is session frame `first_frame`, in
    // `fmt` with `channels` channels; the detector reads `channel` (0-based). Edges found are
    // appended to `out`; an edge is reported once the frames after it have arrived (up to
    // rise_frames later), so possibly in a later call. Blocks must be contiguous: call reset()
    // at a discontinuity (a gap, a new session).
    void feed(const void* data, std::size_t frames, SampleFormat fmt, unsigned channels,
              unsigned channel, uint64_t first_frame, std::vector<PpsEdge>& out);
    // The same for samples already normalised to [-1, 1).
    void feed_normalised(const float* x, std::size_t n, uint64_t first_frame,
                         std::vector<PpsEdge>& out);
    void reset();

  private:
    void push(float v, uint64_t frame, std::vector<PpsEdge>& out);
    void analyse(std::vector<PpsEdge>& out);
    float at(uint64_t frame) const { return hist_[frame % kHist]; }

    static constexpr std::size_t kHist = 128;
    static constexpr unsigned kTaps = 8;    // interpolation reach either side, frames
    static constexpr unsigned kGuard = 4;   // frames between an edge and the levels either side
    static constexpr unsigned kLevel = 16;  // frames averaged for each level
    uint32_t rate_hz_;
    PpsDetectorOptions opt_;
    std::array<float, kHist> hist_{};
    uint64_t next_frame_ = 0;  // frame the next sample is
    uint64_t count_ = 0;       // samples since the last reset
    bool pending_ = false;     // an edge triggered at trigger_, waiting for its tail
    uint64_t trigger_ = 0;
    uint64_t holdoff_until_ = 0;
    std::vector<float> scratch_;
};

}  // namespace framestamp
