// The audio of a synthetic archive: silence, clicks on the true UTC seconds, or a frame counter.
#pragma once

#include <cstdint>
#include <vector>

#include "framestamp/synth.hpp"

namespace framestamp::synth_detail {

// S16_LE interleaved frames of one SynthSignal. Stateless between calls, so any stretch can be
// asked for in any order.
class SignalSource {
  public:
    SignalSource(SynthSignal signal, uint32_t channels, const SimCard& truth);

    // Fills out[0 .. n * channels) with session frames [first, first + n), whose SimCard frame is
    // session frame + sim_offset (SimCard frames count from params().start_frame).
    void fill(int16_t* out, uint64_t first, uint64_t n, int64_t sim_offset) const;

    // SimCard frames of the clicks in SimCard frames [a, b), ascending: for each whole second S
    // of true UTC, the frame nearest S.
    std::vector<int64_t> clicks_between(int64_t a, int64_t b) const;

  private:
    SynthSignal signal_;
    uint32_t channels_;
    const SimCard& truth_;
};

}  // namespace framestamp::synth_detail
