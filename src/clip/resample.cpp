#include "clip/resample.hpp"

#include <soxr.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "framestamp/clip.hpp"

namespace framestamp::clip {

namespace {

constexpr std::size_t kFeedFrames = 4096;
// Oversampled frames kept behind the current position before the buffer is trimmed.
constexpr uint64_t kTrimFrames = 1 << 16;

soxr_t as_soxr(void* p) {
    return static_cast<soxr_t>(p);
}

}  // namespace

FractionalReader::FractionalReader(unsigned channels, Pull pull)
    : channels_(channels), pull_(std::move(pull)) {
    soxr_error_t err = nullptr;
    const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    const soxr_quality_spec_t q = soxr_quality_spec(SOXR_VHQ, 0);
    soxr_ = soxr_create(1.0, static_cast<double>(kOversample), channels, &err, &io, &q, nullptr);
    if (err != nullptr || soxr_ == nullptr) {
        throw ClipError(std::string("cannot create the resampler (libsoxr): ") +
                        (err != nullptr ? err : "unknown error"));
    }
    in_.resize(kFeedFrames * channels_);
    out_.resize((kFeedFrames * kOversample + 1024) * channels_);
}

FractionalReader::~FractionalReader() {
    soxr_delete(as_soxr(soxr_));
}

void FractionalReader::ensure(uint64_t last_index) {
    while (base_ + up_.size() / channels_ <= last_index) {
        pull_(fed_, kFeedFrames, in_.data());
        std::size_t offset = 0;
        while (offset < kFeedFrames) {
            std::size_t idone = 0;
            std::size_t odone = 0;
            const soxr_error_t err =
                soxr_process(as_soxr(soxr_), in_.data() + offset * channels_, kFeedFrames - offset,
                             &idone, out_.data(), out_.size() / channels_, &odone);
            if (err != nullptr) {
                throw ClipError(std::string("resampler (libsoxr) failed: ") + err);
            }
            up_.insert(up_.end(), out_.begin(),
                       out_.begin() + static_cast<std::ptrdiff_t>(odone * channels_));
            offset += idone;
        }
        fed_ += kFeedFrames;
    }
}

void FractionalReader::at(double pos, float* out) {
    const double u = pos * kOversample;
    const double fl = std::floor(u);
    const double mu = u - fl;
    const auto j = static_cast<uint64_t>(fl);
    if (j < 2 + base_) {
        throw std::logic_error("FractionalReader::at: position before the buffered signal");
    }
    ensure(j + 3);
    if (j - base_ > 2 * kTrimFrames) {
        const uint64_t drop = j - base_ - kTrimFrames;
        up_.erase(up_.begin(), up_.begin() + static_cast<std::ptrdiff_t>(drop * channels_));
        base_ += drop;
    }
    // Lagrange weights for the points at offsets -2..3 around mu.
    double w[6];
    for (int k = -2; k <= 3; ++k) {
        double num = 1;
        double den = 1;
        for (int m = -2; m <= 3; ++m) {
            if (m != k) {
                num *= mu - m;
                den *= k - m;
            }
        }
        w[k + 2] = num / den;
    }
    const float* p = up_.data() + (j - 2 - base_) * channels_;
    for (unsigned c = 0; c < channels_; ++c) {
        double acc = 0;
        for (int k = 0; k < 6; ++k) {
            acc += w[k] * static_cast<double>(p[static_cast<std::size_t>(k) * channels_ + c]);
        }
        out[c] = static_cast<float>(acc);
    }
}

}  // namespace framestamp::clip
