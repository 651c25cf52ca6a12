// The model's binary form for the archive's cache: a tagged header, then the vectors' bytes. The
// cache never leaves the machine that wrote it, but its layout is checked (sizes and a version) so
// a cache from another build is rejected, not misread.
#include <cstring>
#include <type_traits>

#include "framestamp/timemap.hpp"

namespace framestamp {

namespace {

// The last two characters are the fit's version: a cached model from an older fit is refitted.
constexpr char kMagic[8] = {'F', 'S', 'T', 'M', 'A', 'P', '0', '3'};

struct Header {
    char magic[8];
    uint32_t sizes[5];  // sizeof RawKnot, OffsetKnot, ModelTrace, SegmentStats, PpsKnot
    uint32_t rate_hz;
    uint64_t first_frame;
    uint64_t end_frame;
    uint64_t counts[4];
};

template <typename T>
void put(std::string& out, const std::vector<T>& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (v.empty()) {
        return;  // data() may be null
    }
    out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

template <typename T>
bool take(std::string_view& in, std::vector<T>& v, uint64_t n) {
    if (n > in.size() / sizeof(T)) {
        return false;
    }
    v.resize(n);
    if (n == 0) {
        return true;  // memcpy must not see the null data() of an empty vector
    }
    std::memcpy(v.data(), in.data(), n * sizeof(T));
    in.remove_prefix(n * sizeof(T));
    return true;
}

}  // namespace

std::string serialize_model(const SegmentModel& m) {
    static_assert(std::is_trivially_copyable_v<SegmentStats>);
    Header h{};
    std::memcpy(h.magic, kMagic, sizeof kMagic);
    h.sizes[0] = sizeof(RawKnot);
    h.sizes[1] = sizeof(OffsetKnot);
    h.sizes[2] = sizeof(ModelTrace);
    h.sizes[3] = sizeof(SegmentStats);
    h.sizes[4] = sizeof(PpsKnot);
    h.rate_hz = m.rate_hz;
    h.first_frame = m.first_frame;
    h.end_frame = m.end_frame;
    h.counts[0] = m.raw_knots.size();
    h.counts[1] = m.offset_knots.size();
    h.counts[2] = m.trace.size();
    h.counts[3] = m.pps_knots.size();
    std::string out(reinterpret_cast<const char*>(&h), sizeof h);
    out.append(reinterpret_cast<const char*>(&m.stats), sizeof m.stats);
    put(out, m.raw_knots);
    put(out, m.offset_knots);
    put(out, m.trace);
    put(out, m.pps_knots);
    return out;
}

bool deserialize_model(std::string_view in, SegmentModel& m) {
    Header h{};
    if (in.size() < sizeof h + sizeof(SegmentStats)) {
        return false;
    }
    std::memcpy(&h, in.data(), sizeof h);
    in.remove_prefix(sizeof h);
    if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0 || h.sizes[0] != sizeof(RawKnot) ||
        h.sizes[1] != sizeof(OffsetKnot) || h.sizes[2] != sizeof(ModelTrace) ||
        h.sizes[3] != sizeof(SegmentStats) || h.sizes[4] != sizeof(PpsKnot) || h.rate_hz == 0) {
        return false;
    }
    SegmentModel out;
    std::memcpy(&out.stats, in.data(), sizeof out.stats);
    in.remove_prefix(sizeof out.stats);
    out.rate_hz = h.rate_hz;
    out.first_frame = h.first_frame;
    out.end_frame = h.end_frame;
    if (!take(in, out.raw_knots, h.counts[0]) || !take(in, out.offset_knots, h.counts[1]) ||
        !take(in, out.trace, h.counts[2]) || !take(in, out.pps_knots, h.counts[3]) || !in.empty()) {
        return false;
    }
    for (std::size_t i = 1; i < out.raw_knots.size(); ++i) {
        if (out.raw_knots[i].frame <= out.raw_knots[i - 1].frame) {
            return false;
        }
    }
    m = std::move(out);
    return true;
}

}  // namespace framestamp
