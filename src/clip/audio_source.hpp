// Reading a segment's session frames from its chunk audio files (libsndfile), across chunk
// boundaries, with zeros where no file holds a frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framestamp/archive.hpp"

namespace framestamp::clip {

// How samples are read: 16-bit, left-justified 32-bit integers, or float in [-1, 1).
enum class ReadKind { i16, i32, f32 };

// Frames [first, end) of one session that one chunk's audio file holds.
struct Coverage {
    uint64_t first = 0;
    uint64_t end = 0;
    std::size_t chunk = 0;
};

// Frames [first, end) no file holds, and why.
struct Hole {
    uint64_t first = 0;
    uint64_t end = 0;
    std::string why;
};

class SegmentAudio {
  public:
    // Opens nothing yet; files are opened (once each) as reads reach them.
    SegmentAudio(const Archive& archive, std::size_t segment);
    ~SegmentAudio();
    SegmentAudio(const SegmentAudio&) = delete;
    SegmentAudio& operator=(const SegmentAudio&) = delete;

    // What the chunk files really hold of [first, end) (each file's frame count checked against
    // its log), and the holes in between. Throws ClipError if a file is unreadable as audio.
    std::vector<Hole> holes(uint64_t first, uint64_t end);

    // Reads n frames from session frame `first` (interleaved, channels() per frame) into `out`,
    // which must hold n * channels() values of the kind's type (int16_t, int32_t or float).
    // Frames no file holds (holes, outside the segment) read as zeros.
    void read(uint64_t first, uint64_t n, ReadKind kind, void* out);

    uint32_t channels() const { return channels_; }

  private:
    struct Open;
    const std::vector<Coverage>& coverage();
    Open& open(std::size_t chunk);

    const Archive& archive_;
    std::size_t segment_;
    uint32_t channels_ = 0;
    bool have_coverage_ = false;
    std::vector<Coverage> coverage_;
    std::vector<Hole> file_holes_;  // from missing or short files
    std::map<std::size_t, std::unique_ptr<Open>> open_;
};

}  // namespace framestamp::clip
