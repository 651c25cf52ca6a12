#include "clip/audio_source.hpp"

#include <fmt/format.h>
#include <sndfile.h>

#include <algorithm>
#include <cstring>

#include "framestamp/clip.hpp"

namespace framestamp::clip {

struct SegmentAudio::Open {
    SNDFILE* file = nullptr;
    SF_INFO info{};
    uint64_t position = 0;  // frame index within the file where the next read starts
    Open() = default;
    Open(const Open&) = delete;
    Open& operator=(const Open&) = delete;
    ~Open() {
        if (file != nullptr) {
            sf_close(file);
        }
    }
};

SegmentAudio::SegmentAudio(const Archive& archive, std::size_t segment)
    : archive_(archive), segment_(segment) {
    const SegmentInfo& seg = archive.segments().at(segment);
    if (!seg.chunks.empty()) {
        channels_ = archive.chunks()[seg.chunks.front()].channels;
    }
}

SegmentAudio::~SegmentAudio() = default;

SegmentAudio::Open& SegmentAudio::open(std::size_t chunk) {
    auto it = open_.find(chunk);
    if (it != open_.end()) {
        return *it->second;
    }
    const ChunkInfo& c = archive_.chunks()[chunk];
    auto o = std::make_unique<Open>();
    o->file = sf_open(c.audio_path.c_str(), SFM_READ, &o->info);
    if (o->file == nullptr) {
        throw ClipError(fmt::format("cannot read audio file {}: {}", c.audio_path.string(),
                                    sf_strerror(nullptr)));
    }
    if (static_cast<uint32_t>(o->info.channels) != c.channels) {
        throw ClipError(fmt::format("audio file {} has {} channels; its timing log says {}",
                                    c.audio_path.string(), o->info.channels, c.channels));
    }
    Open& ref = *o;
    open_.emplace(chunk, std::move(o));
    return ref;
}

const std::vector<Coverage>& SegmentAudio::coverage() {
    if (have_coverage_) {
        return coverage_;
    }
    have_coverage_ = true;
    const SegmentInfo& seg = archive_.segments().at(segment_);
    for (const std::size_t k : seg.chunks) {
        const ChunkInfo& c = archive_.chunks()[k];
        std::error_code ec;
        if (!std::filesystem::exists(c.audio_path, ec)) {
            file_holes_.push_back({c.first_frame, c.first_frame + c.frames,
                                   fmt::format("audio file {} is missing", c.audio_path.string())});
            continue;
        }
        const uint64_t in_file =
            static_cast<uint64_t>(std::max<sf_count_t>(0, open(k).info.frames));
        uint64_t held = c.frames;
        if (in_file < c.frames) {
            file_holes_.push_back(
                {c.first_frame + in_file, c.first_frame + c.frames,
                 fmt::format("audio file {} holds {} frames; its timing log says {}",
                             c.audio_path.string(), in_file, c.frames)});
            held = in_file;
        }
        if (held > 0) {
            coverage_.push_back({c.first_frame, c.first_frame + held, k});
        }
    }
    std::sort(coverage_.begin(), coverage_.end(),
              [](const Coverage& a, const Coverage& b) { return a.first < b.first; });
    return coverage_;
}

std::vector<Hole> SegmentAudio::holes(uint64_t first, uint64_t end) {
    std::vector<Hole> out;
    uint64_t t = first;
    auto add_hole = [&](uint64_t a, uint64_t b) {
        // Name it by a missing or short file there, else as frames no log accounts for.
        for (const Hole& h : file_holes_) {
            if (h.first < b && h.end > a) {
                out.push_back({a, b, h.why});
                return;
            }
        }
        out.push_back({a, b, "no chunk holds these frames (write gap or missing chunk)"});
    };
    for (const Coverage& c : coverage()) {
        if (c.end <= t) {
            continue;
        }
        if (c.first >= end) {
            break;
        }
        if (c.first > t) {
            add_hole(t, c.first);
        }
        t = std::max(t, c.end);
        if (t >= end) {
            break;
        }
    }
    if (t < end) {
        add_hole(t, end);
    }
    return out;
}

namespace {

std::size_t value_bytes(ReadKind k) {
    return k == ReadKind::i16 ? 2 : 4;
}

}  // namespace

void SegmentAudio::read(uint64_t first, uint64_t n, ReadKind kind, void* out) {
    const std::size_t frame_bytes = value_bytes(kind) * channels_;
    auto* bytes = static_cast<unsigned char*>(out);
    std::memset(bytes, 0, n * frame_bytes);
    const uint64_t end = first + n;
    for (const Coverage& c : coverage()) {
        if (c.end <= first || c.first >= end) {
            continue;
        }
        const uint64_t a = std::max(first, c.first);
        const uint64_t b = std::min(end, c.end);
        Open& o = open(c.chunk);
        const uint64_t in_file = a - archive_.chunks()[c.chunk].first_frame;
        if (o.position != in_file) {
            if (sf_seek(o.file, static_cast<sf_count_t>(in_file), SEEK_SET) < 0) {
                throw ClipError(fmt::format("cannot seek to frame {} in {}: {}", in_file,
                                            archive_.chunks()[c.chunk].audio_path.string(),
                                            sf_strerror(o.file)));
            }
        }
        unsigned char* dst = bytes + (a - first) * frame_bytes;
        const auto want = static_cast<sf_count_t>(b - a);
        sf_count_t got = 0;
        switch (kind) {
            case ReadKind::i16:
                got = sf_readf_short(o.file, reinterpret_cast<short*>(dst), want);
                break;
            case ReadKind::i32:
                got = sf_readf_int(o.file, reinterpret_cast<int*>(dst), want);
                break;
            case ReadKind::f32:
                got = sf_readf_float(o.file, reinterpret_cast<float*>(dst), want);
                break;
        }
        if (got != want) {
            throw ClipError(fmt::format("short read in {}: {} of {} frames from frame {}",
                                        archive_.chunks()[c.chunk].audio_path.string(), got, want,
                                        in_file));
        }
        o.position = in_file + static_cast<uint64_t>(got);
    }
}

}  // namespace framestamp::clip
