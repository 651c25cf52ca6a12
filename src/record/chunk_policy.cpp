// UTC-aligned, frame-exact chunk boundaries; the rules are in chunk_policy.hpp.
#include "record/chunk_policy.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace framestamp {

namespace {

constexpr std::int64_t kNsPerS = 1'000'000'000;

// Floor of a / b for b > 0, also for negative a (times before 1970 on an unset clock).
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    const std::int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

// Half a nominal frame, in ns (10417 at 48 kHz).
std::int64_t half_frame_ns(const LiveDriftEstimator& estimator) {
    return std::llround(0.5e9 / static_cast<double>(estimator.nominal_rate_hz()));
}

}  // namespace

ChunkPolicy::ChunkPolicy(std::uint32_t chunk_seconds)
    : chunk_seconds_(chunk_seconds),
      period_ns_(static_cast<std::int64_t>(chunk_seconds) * kNsPerS) {
    if (chunk_seconds == 0) {
        throw std::invalid_argument("ChunkPolicy: chunk_seconds must be > 0");
    }
}

void ChunkPolicy::reset() {
    chunk_.reset();
    decided_ = false;
    boundary_frame_ = 0;
    boundary_utc_ns_ = 0;
}

std::optional<std::int64_t> ChunkPolicy::session_name_ns(const LiveDriftEstimator& estimator,
                                                         std::uint64_t first_frame) {
    if (estimator.empty()) {
        return std::nullopt;
    }
    const std::int64_t t_ns = estimator.realtime_of(first_frame) + half_frame_ns(estimator);
    return floor_div(t_ns, kNsPerS) * kNsPerS;
}

std::int64_t ChunkPolicy::boundary_after(std::int64_t t_ns, std::int64_t half_frame_ns) const {
    return (floor_div(t_ns + half_frame_ns, period_ns_) + 1) * period_ns_;
}

std::optional<std::uint64_t> ChunkPolicy::next_boundary(const LiveDriftEstimator& estimator,
                                                        std::uint64_t chunk_first_frame,
                                                        std::uint64_t frames_available_end) {
    if (!chunk_ || chunk_->first_frame != chunk_first_frame) {
        Chunk chunk{chunk_first_frame, chunk_first_frame, std::nullopt};
        if (decided_ && chunk_first_frame == boundary_frame_) {
            chunk.target_ns = boundary_utc_ns_ + period_ns_;
        }
        chunk_ = chunk;
        decided_ = false;
    } else if (decided_) {
        return boundary_frame_;
    }
    Chunk& chunk = *chunk_;
    if (frames_available_end <= chunk.written_end || estimator.empty()) {
        chunk.written_end = std::max(chunk.written_end, frames_available_end);
        return std::nullopt;
    }
    const std::int64_t half_ns = half_frame_ns(estimator);
    if (!chunk.target_ns) {
        chunk.target_ns = boundary_after(estimator.realtime_of(chunk.first_frame), half_ns);
    }
    // A forward clock step (see the header): the boundary lies far behind frames already
    // written, so cutting now would misname the chunk by the step; head for the next one.
    const std::int64_t written_ns = estimator.realtime_of(chunk.written_end);
    const std::int64_t tolerance_ns = std::min(period_ns_ / 2, kNsPerS);
    if (written_ns - *chunk.target_ns > tolerance_ns) {
        chunk.target_ns = boundary_after(written_ns, half_ns);
    }
    const std::uint64_t frame =
        std::max({estimator.frame_at(*chunk.target_ns), chunk.written_end, chunk.first_frame + 1});
    if (frame < frames_available_end) {
        decided_ = true;
        boundary_frame_ = frame;
        boundary_utc_ns_ = *chunk.target_ns;
        return frame;
    }
    chunk.written_end = frames_available_end;
    return std::nullopt;
}

}  // namespace framestamp
