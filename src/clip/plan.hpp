// Planning an extract: which segments of a stream cover [from, to), and the gaps between them,
// with the messages that name what is missing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "framestamp/archive.hpp"
#include "framestamp/clip.hpp"

namespace framestamp::clip {

// A stretch [a, b) of UTC: recorded in `segment`, or a gap (why says what is there).
struct UtcStep {
    bool gap = false;
    std::size_t segment = 0;
    int64_t a_ns = 0;
    int64_t b_ns = 0;
    std::string why;
};

// The steps covering [from, to) for `stream`, in order. Throws ClipError when nothing of the
// range is recorded, or when a gap lies in it and fill_gaps is off.
std::vector<UtcStep> plan_utc(const Archive& archive, const std::string& stream,
                              const ExtractOptions& options);

// "2026-11-24T06:10:00.000000Z – 2026-11-24T07:00:00.000000Z, ..." for the stream's segments.
std::string covered_ranges(const Archive& archive, const std::string& stream);

// ceil(d_ns * rate / 1e9) without overflow, for d_ns >= 0: how many samples of a grid starting at
// 0 with period 1/rate lie before d_ns.
uint64_t samples_before(int64_t d_ns, uint32_t rate_hz);

// n / rate in ns: whole ns and the fraction of a ns [0, 1).
void sample_time(uint64_t n, uint32_t rate_hz, int64_t& ns, double& frac_ns);

}  // namespace framestamp::clip
