// Band-limited evaluation of a sequence of frames at arbitrary fractional positions, for the
// resampled extract. libsoxr upsamples the frames by kOversample at a constant rate (linear
// phase; soxr trims its own filter delay, so oversampled point j is exactly frame j / kOversample,
// which test_clip checks), then a 6-point Lagrange polynomial interpolates between the
// oversampled points. Positions come straight from the drift model, so the start phase is exact
// and the drift is followed sample by sample with no delay to track.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace framestamp::clip {

inline constexpr unsigned kOversample = 8;

class FractionalReader {
  public:
    // `pull(first, n, out)` fills n interleaved float frames starting at frame `first` (counted
    // from the reader's origin, 0 upwards, in order).
    using Pull = std::function<void(uint64_t first, std::size_t n, float* out)>;
    FractionalReader(unsigned channels, Pull pull);
    ~FractionalReader();
    FractionalReader(const FractionalReader&) = delete;
    FractionalReader& operator=(const FractionalReader&) = delete;

    // The signal at `pos` frames after the origin (pos >= 1, non-decreasing between calls),
    // one float per channel into `out`.
    void at(double pos, float* out);

  private:
    void ensure(uint64_t last_index);

    unsigned channels_;
    Pull pull_;
    void* soxr_ = nullptr;   // soxr_t, kept out of the header
    std::vector<float> up_;  // oversampled frames [base_, base_ + up_.size() / channels_)
    uint64_t base_ = 0;
    uint64_t fed_ = 0;  // source frames handed to soxr
    std::vector<float> in_;
    std::vector<float> out_;
};

}  // namespace framestamp::clip
