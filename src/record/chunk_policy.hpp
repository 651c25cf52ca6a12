// Where audio chunks are cut. Pure: it asks a LiveDriftEstimator for times and reads no clock.
//
// Chunks start at UTC multiples of chunk_seconds (600 s: :00, :10, :20 ...); a session's first
// chunk starts wherever the session does and is named after that instant, rounded down to the
// second. The frame that starts a chunk is the frame whose estimated UTC is nearest the boundary,
// and chunk N+1 starts at the frame after chunk N's last one, so no frame is lost or repeated.
//
// The writer thread calls next_boundary() each time it has frames in hand (below
// frames_available_end) and before it writes them. nullopt means "write them all to the current
// chunk"; a frame B means "write the frames below B, close the chunk, open the next one at B and
// ask again". Rules:
//   - A chunk whose first frame lies within half a frame of a boundary (either side) belongs to
//     it: its next boundary is one period later.
//   - Chained chunks head for the previous boundary + chunk_seconds, so boundaries never skip a
//     period nor repeat one in normal running, whatever the estimate does meanwhile.
//   - A decided boundary is fixed: asking again for the same chunk returns the same frame. A
//     decision is never earlier than a frame the caller has already been told to write
//     (nor than chunk_first_frame + 1: a chunk is never empty). If the estimate moved so that the
//     boundary slipped behind those frames, the cut is made at the first unwritten frame.
//   - Clock steps. The caller resets the estimator after a step (or the estimator detects it).
//     Forward: if the first unwritten frame's estimated UTC is already past the target by more
//     than min(chunk_seconds / 2, 1 s), the boundaries in between are skipped and the chunk in
//     progress runs to the next boundary after that frame. So a step of minutes gives one
//     longer or shorter chunk, never a burst of tiny ones. Steps smaller than that cut at the
//     first unwritten frame, named after the boundary just passed.
//     Backward: the target stays, so the chunk in progress grows by the step. Boundary UTCs (the
//     names of chained chunks) thus strictly increase within a session and never repeat.
#pragma once

#include <cstdint>
#include <optional>

#include "record/live_drift.hpp"

namespace framestamp {

class ChunkPolicy {
  public:
    // chunk_seconds must be > 0 (std::invalid_argument otherwise).
    explicit ChunkPolicy(std::uint32_t chunk_seconds);

    std::uint32_t chunk_seconds() const { return chunk_seconds_; }

    // Name time of a chunk that starts a session (or starts afresh after a gap): the estimated
    // UTC of its first frame rounded down to a whole second, in ns; a frame within half a frame
    // before a whole second counts as on it. nullopt while the estimator has no points.
    static std::optional<std::int64_t> session_name_ns(const LiveDriftEstimator& estimator,
                                                       std::uint64_t first_frame);

    // The first frame of the next chunk, once it is known and below frames_available_end, else
    // nullopt. chunk_first_frame is the current chunk's first frame: the previous answer when
    // the chunks are chained, anything else starts afresh (first chunk of a session).
    std::optional<std::uint64_t> next_boundary(const LiveDriftEstimator& estimator,
                                               std::uint64_t chunk_first_frame,
                                               std::uint64_t frames_available_end);

    // UTC of the boundary last returned by next_boundary(), in ns: the name time of the chunk
    // that starts at that frame. A multiple of chunk_seconds.
    std::int64_t boundary_utc_ns() const { return boundary_utc_ns_; }

    // Forgets the chunk in progress and the last boundary (new session).
    void reset();

  private:
    struct Chunk {
        std::uint64_t first_frame;
        // The caller has written (or will write) every frame below this into the chunk.
        std::uint64_t written_end;
        // UTC of the boundary that ends the chunk, in ns; unset until the estimator has points.
        std::optional<std::int64_t> target_ns;
    };

    // First boundary after realtime t_ns, where t_ns within half a frame before a boundary
    // counts as on it.
    std::int64_t boundary_after(std::int64_t t_ns, std::int64_t half_frame_ns) const;

    std::uint32_t chunk_seconds_;
    std::int64_t period_ns_;
    std::optional<Chunk> chunk_;
    bool decided_ = false;  // for chunk_
    std::uint64_t boundary_frame_ = 0;
    std::int64_t boundary_utc_ns_ = 0;
};

}  // namespace framestamp
