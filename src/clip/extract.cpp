// extract_clips: plans every stream first (so that errors come before any file is written), then
// writes each stream's clip, sample-exact or resampled onto the UTC grid.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <set>

#include "clip/audio_source.hpp"
#include "clip/plan.hpp"
#include "clip/resample.hpp"
#include "framestamp/audiofile.hpp"
#include "framestamp/clip.hpp"
#include "framestamp/timing_log.hpp"
#include "framestamp/utc.hpp"

namespace framestamp {

namespace {

namespace fsys = std::filesystem;
using clip::UtcStep;

constexpr int64_t kNsPerS = 1'000'000'000;
constexpr uint64_t kBlockFrames = 1 << 15;
// Source frames read before the first needed one, so the resampler's filter has settled.
constexpr uint64_t kResampleMarginFrames = 512;

// One step of a stream's output: recorded frames of a segment, or zeros.
struct FrameStep {
    bool zeros = false;
    std::size_t segment = 0;
    uint64_t first = 0;  // sample-exact: session frames [first, end); resampled: outputs
    uint64_t end = 0;
    uint64_t zero_frames = 0;
};

struct StreamPlan {
    std::string stream;
    fsys::path output;
    uint32_t rate_hz = 0;
    uint32_t channels = 0;
    SampleFormat source_format = SampleFormat::s16_le;
    SampleFormat output_format = SampleFormat::s16_le;
    std::vector<FrameStep> steps;
    ExtractResult result;
};

FileFormat output_file_format(const fsys::path& out) {
    std::string ext = out.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (ext == ".wav") {
        return FileFormat::wav;
    }
    if (ext == ".flac") {
        return FileFormat::flac;
    }
    if (ext == ".rf64") {
        return FileFormat::rf64;
    }
    throw ClipError(fmt::format("output {}: unknown extension \"{}\"; use .wav, .flac or .rf64",
                                out.string(), ext),
                    ClipError::Kind::usage);
}

// The fractional session frame at output sample n of a resampled clip starting at from_ns.
double frame_at_output(const SegmentModel& m, int64_t from_ns, uint64_t n, uint32_t rate_hz) {
    int64_t rel = 0;
    double frac = 0;
    clip::sample_time(n, rate_hz, rel, frac);
    const int64_t t = from_ns + rel;
    // Clamp into the model's span and continue at the nominal rate outside it (only the filter
    // margin reaches there).
    const int64_t lo = m.first_utc_ns();
    const int64_t hi = m.end_utc_ns() - 1;
    const int64_t tc = std::clamp(t, lo, hi);
    const std::optional<double> x = m.utc_to_frame(tc);
    if (!x) {
        throw ClipError(fmt::format("the drift model cannot place {} (segment {} \u2013 {})",
                                    utc_iso_ns(t), utc_iso_us(lo), utc_iso_us(hi)));
    }
    return *x + (static_cast<double>(t - tc) + frac) * rate_hz * 1e-9;
}

uint64_t ceil_frame(double x) {
    return x <= 0 ? 0 : static_cast<uint64_t>(std::ceil(x));
}

void check_holes(const Archive& archive, clip::SegmentAudio& audio, std::size_t segment,
                 uint64_t first, uint64_t end, const ExtractOptions& o, StreamPlan& plan) {
    const SegmentInfo& seg = archive.segments()[segment];
    for (const clip::Hole& h : audio.holes(first, end)) {
        const SegmentModel& m = archive.model(segment);
        const std::string where = fmt::format(
            "frames {}\u2013{} of session {} ({} \u2013 {})", h.first, h.end, seg.session,
            utc_iso_us(m.frame_to_utc(h.first).utc_ns), utc_iso_us(m.frame_to_utc(h.end).utc_ns));
        if (!o.fill_gaps) {
            throw ClipError(
                fmt::format("stream {}: {} are not in the audio files: {}; allow "
                            "filling gaps to get silence there",
                            plan.stream, where, h.why));
        }
        plan.result.notes.push_back(fmt::format("{} filled with silence: {}", where, h.why));
        if (!o.resample) {
            plan.result.zero_frames += h.end - h.first;
        }
    }
}

StreamPlan plan_stream(const Archive& archive, const std::string& stream, std::size_t count,
                       const ExtractOptions& o) {
    StreamPlan plan;
    plan.stream = stream;
    plan.output = clip_output_path(o.output, stream, count);
    const std::vector<UtcStep> utc = clip::plan_utc(archive, stream, o);
    const SegmentInfo* first_seg = nullptr;
    for (const UtcStep& s : utc) {
        if (!s.gap) {
            first_seg = &archive.segments()[s.segment];
            break;
        }
    }
    const ChunkInfo& chunk = archive.chunks()[first_seg->chunks.front()];
    plan.rate_hz = first_seg->rate_hz;
    plan.channels = chunk.channels;
    const std::optional<SampleFormat> sf = parse_sample_format(chunk.sample_format);
    if (!sf) {
        throw ClipError(fmt::format("stream {}: unknown sample format \"{}\" in {}", stream,
                                    chunk.sample_format, chunk.timing_path.string()));
    }
    plan.source_format = *sf;
    const FileFormat ff = output_file_format(o.output);
    plan.result.file_format = ff;
    if (o.resample) {
        // Interpolated values are no longer the card's integers: float where the file can hold
        // it, else the source's bit depth (rounded, clipped, no dither).
        plan.output_format = ff != FileFormat::flac  ? SampleFormat::float_le
                             : sample_bits(*sf) > 16 ? SampleFormat::s24_le
                                                     : SampleFormat::s16_le;
    } else {
        plan.output_format = *sf == SampleFormat::s24_3le ? SampleFormat::s24_le : *sf;
        if (ff == FileFormat::flac && sample_bits(*sf) > 24) {
            throw ClipError(fmt::format(
                "stream {} is recorded as {}, which FLAC cannot hold; extract to .wav or .rf64",
                stream, sample_format_name(*sf)));
        }
    }

    bool first_recorded = true;
    uint64_t zeros_before_first = 0;
    for (const UtcStep& s : utc) {
        if (s.gap) {
            const uint64_t n =
                o.resample ? clip::samples_before(s.b_ns - o.from_utc_ns, plan.rate_hz) -
                                 clip::samples_before(s.a_ns - o.from_utc_ns, plan.rate_hz)
                           : static_cast<uint64_t>(std::llround(
                                 static_cast<double>(s.b_ns - s.a_ns) * plan.rate_hz / 1e9));
            plan.steps.push_back({.zeros = true, .zero_frames = n});
            plan.result.zero_frames += n;
            if (first_recorded) {
                zeros_before_first += n;
            }
            plan.result.notes.push_back(fmt::format("{} \u2013 {}: {} zero frames ({})",
                                                    utc_iso_us(s.a_ns), utc_iso_us(s.b_ns), n,
                                                    s.why));
            continue;
        }
        const SegmentInfo& seg = archive.segments()[s.segment];
        const SegmentModel& m = archive.model(s.segment);
        if (seg.rate_hz != plan.rate_hz ||
            archive.chunks()[seg.chunks.front()].channels != plan.channels) {
            throw ClipError(fmt::format(
                "stream {}: the range spans sessions with different rates or channel counts "
                "({} Hz, {} ch from {}); extract them separately",
                stream, seg.rate_hz, archive.chunks()[seg.chunks.front()].channels,
                utc_iso_us(s.a_ns)));
        }
        clip::SegmentAudio audio(archive, s.segment);
        FrameStep step{.segment = s.segment};
        if (o.resample) {
            step.first = clip::samples_before(s.a_ns - o.from_utc_ns, plan.rate_hz);
            step.end = clip::samples_before(s.b_ns - o.from_utc_ns, plan.rate_hz);
            if (step.end <= step.first) {
                continue;
            }
            const double x0 = frame_at_output(m, o.from_utc_ns, step.first, plan.rate_hz);
            const double x1 = frame_at_output(m, o.from_utc_ns, step.end - 1, plan.rate_hz);
            const uint64_t f0 =
                std::max(seg.first_frame, static_cast<uint64_t>(std::max(0.0, std::floor(x0))));
            const uint64_t f1 = std::min(seg.end_frame, ceil_frame(x1) + 1);
            if (f1 > f0) {
                check_holes(archive, audio, s.segment, f0, f1, o, plan);
            }
            if (first_recorded) {
                plan.result.first_session_frame = static_cast<uint64_t>(std::floor(x0));
                plan.result.first_frame_frac = x0 - std::floor(x0);
                plan.result.first_sample_utc_ns = o.from_utc_ns;
                plan.result.uncertainty_ns =
                    m.frame_to_utc(plan.result.first_session_frame, plan.result.first_frame_frac)
                        .uncertainty_ns();
            }
        } else {
            const std::optional<double> xa = m.utc_to_frame(s.a_ns);
            const std::optional<double> xb = m.utc_to_frame(s.b_ns);
            step.first = s.a_ns <= m.first_utc_ns() || !xa ? m.first_frame : ceil_frame(*xa);
            step.end = s.b_ns >= m.end_utc_ns() || !xb ? m.end_frame : ceil_frame(*xb);
            step.first = std::clamp(step.first, seg.first_frame, seg.end_frame);
            step.end = std::clamp(step.end, step.first, seg.end_frame);
            if (step.end <= step.first) {
                continue;
            }
            check_holes(archive, audio, s.segment, step.first, step.end, o, plan);
            if (first_recorded) {
                const TimeEstimate at = m.frame_to_utc(step.first);
                plan.result.first_session_frame = step.first;
                plan.result.first_sample_utc_ns =
                    at.utc_ns - static_cast<int64_t>(std::llround(
                                    static_cast<double>(zeros_before_first) * 1e9 / plan.rate_hz));
                plan.result.uncertainty_ns = at.uncertainty_ns();
            }
        }
        if (first_recorded) {
            plan.result.session = seg.session;
            first_recorded = false;
        } else if (seg.session != plan.result.session) {
            plan.result.notes.push_back(fmt::format("from {} on the clip comes from session {}",
                                                    utc_iso_us(s.a_ns), seg.session));
        }
        plan.steps.push_back(step);
    }
    plan.result.stream = stream;
    plan.result.output = plan.output;
    plan.result.sample_format = plan.output_format;
    plan.result.rate_hz = plan.rate_hz;
    plan.result.channels = plan.channels;
    plan.result.resampled = o.resample;
    if (o.resample) {
        plan.result.first_sample_utc_ns = o.from_utc_ns;
    }
    return plan;
}

void check_write(const FileStatus& st) {
    if (!st) {
        throw ClipError(st.error().message, ClipError::Kind::output);
    }
}

void write_zeros(ChunkFile& out, uint64_t n, std::size_t frame_bytes) {
    const std::vector<unsigned char> zeros(kBlockFrames * frame_bytes, 0);
    while (n > 0) {
        const uint64_t k = std::min<uint64_t>(n, kBlockFrames);
        check_write(out.write(zeros.data(), k));
        n -= k;
    }
}

void write_exact(const Archive& archive, const StreamPlan& plan, const FrameStep& step,
                 ChunkFile& out) {
    clip::SegmentAudio audio(archive, step.segment);
    const SampleFormat f = plan.source_format;
    const clip::ReadKind kind = f == SampleFormat::s16_le     ? clip::ReadKind::i16
                                : f == SampleFormat::float_le ? clip::ReadKind::f32
                                                              : clip::ReadKind::i32;
    const bool shift24 = f == SampleFormat::s24_le || f == SampleFormat::s24_3le;
    std::vector<int32_t> buf(kBlockFrames * plan.channels);  // 4 bytes hold every kind
    for (uint64_t fr = step.first; fr < step.end;) {
        const uint64_t n = std::min<uint64_t>(kBlockFrames, step.end - fr);
        audio.read(fr, n, kind, buf.data());
        if (shift24) {
            // libsndfile returns 24-bit samples left-justified in 32 bits; S24_LE holds them in
            // the low 3 bytes.
            for (std::size_t i = 0; i < n * plan.channels; ++i) {
                buf[i] >>= 8;
            }
        }
        check_write(out.write(buf.data(), n));
        fr += n;
    }
}

void write_resampled(const Archive& archive, const ExtractOptions& o, const StreamPlan& plan,
                     const FrameStep& step, ChunkFile& out) {
    const SegmentInfo& seg = archive.segments()[step.segment];
    const SegmentModel& m = archive.model(step.segment);
    clip::SegmentAudio audio(archive, step.segment);
    const unsigned ch = plan.channels;
    const double x_first = frame_at_output(m, o.from_utc_ns, step.first, plan.rate_hz);
    // Frame `origin` of the session is position 0 of the reader (may lie before the segment).
    const int64_t origin =
        static_cast<int64_t>(std::floor(x_first)) - static_cast<int64_t>(kResampleMarginFrames);
    clip::FractionalReader reader(ch, [&](uint64_t first, std::size_t n, float* dst) {
        const int64_t a = origin + static_cast<int64_t>(first);
        const int64_t b = a + static_cast<int64_t>(n);
        std::fill(dst, dst + n * ch, 0.0f);
        const int64_t lo = std::max<int64_t>(a, static_cast<int64_t>(seg.first_frame));
        const int64_t hi = std::min<int64_t>(b, static_cast<int64_t>(seg.end_frame));
        if (hi > lo) {
            audio.read(static_cast<uint64_t>(lo), static_cast<uint64_t>(hi - lo),
                       clip::ReadKind::f32, dst + static_cast<std::size_t>(lo - a) * ch);
        }
    });
    // Positions are taken from the model at block edges (0.1 s) and interpolated linearly in
    // between: the model's curvature over 0.1 s is far below a nanosecond.
    const uint64_t block = std::max<uint32_t>(plan.rate_hz / 10, 1);
    std::vector<float> fbuf(block * ch);
    std::vector<int32_t> ibuf(block * ch);
    const bool as_float = plan.output_format == SampleFormat::float_le;
    const double full_scale = plan.output_format == SampleFormat::s24_le ? 8388608.0 : 32768.0;
    double xa = x_first;
    for (uint64_t n = step.first; n < step.end;) {
        const uint64_t len = std::min(block, step.end - n);
        const double xb = frame_at_output(m, o.from_utc_ns, n + len, plan.rate_hz);
        const double per = (xb - xa) / static_cast<double>(len);
        for (uint64_t k = 0; k < len; ++k) {
            const double pos = xa + per * static_cast<double>(k) - static_cast<double>(origin);
            reader.at(pos, fbuf.data() + k * ch);
        }
        if (as_float) {
            check_write(out.write(fbuf.data(), len));
        } else {
            for (std::size_t i = 0; i < len * ch; ++i) {
                const double v = std::round(static_cast<double>(fbuf[i]) * full_scale);
                ibuf[i] = static_cast<int32_t>(std::clamp(v, -full_scale, full_scale - 1));
            }
            if (plan.output_format == SampleFormat::s16_le) {
                std::vector<int16_t> s16(ibuf.begin(),
                                         ibuf.begin() + static_cast<std::ptrdiff_t>(len * ch));
                check_write(out.write(s16.data(), len));
            } else {
                check_write(out.write(ibuf.data(), len));
            }
        }
        n += len;
        xa = xb;
    }
}

// The recorder id the daemon wrote in the log_start row of the first chunk the clip reads from
// (site and hardware are only in the source audio's metadata, which is not read here).
std::string recorder_of(const Archive& archive, const StreamPlan& plan) {
    for (const FrameStep& s : plan.steps) {
        if (s.zeros || archive.segments()[s.segment].chunks.empty()) {
            continue;
        }
        const ChunkInfo& c = archive.chunk(archive.segments()[s.segment].chunks.front());
        std::ifstream in(c.timing_path);
        std::string line;
        for (int i = 0; i < 3 && std::getline(in, line); ++i) {
            if (line.rfind("log_start,", 0) == 0) {
                std::vector<std::string> fields = csv_split(line);
                if (auto v = detail_value(fields.back(), "recorder")) {
                    return std::string(*v);
                }
            }
        }
        break;
    }
    return {};
}

void write_plan(const Archive& archive, const ExtractOptions& o, StreamPlan& plan) {
    std::error_code ec;
    if (o.overwrite) {
        fsys::remove(plan.output, ec);
        fsys::remove(partial_path_for(plan.output), ec);
    }
    ChunkMetadata meta;
    meta.stream = plan.stream;
    meta.recorder_id = recorder_of(archive, plan);
    meta.session = plan.result.session;
    meta.first_session_frame = plan.result.first_session_frame;
    meta.first_sample_utc_ns = plan.result.first_sample_utc_ns;
    meta.rate_hz = plan.rate_hz;
    meta.channels = plan.channels;
    meta.format = plan.output_format;
    meta.software_version = FRAMESTAMP_VERSION;
    meta.notes = fmt::format(
        "extracted from {}: {} \u2013 {}{}", archive.root().string(), utc_iso_ns(o.from_utc_ns),
        utc_iso_ns(o.to_utc_ns),
        o.resample ? ", resampled onto the UTC grid at the nominal rate" : ", sample-exact");
    FileResult<ChunkFile> created =
        ChunkFile::create(plan.output, plan.result.file_format, o.flac_level, meta);
    if (!created) {
        throw ClipError(created.error().message, ClipError::Kind::output);
    }
    ChunkFile& out = created.value();
    const std::size_t frame_bytes = sample_bytes(plan.output_format) * plan.channels;
    try {
        for (const FrameStep& s : plan.steps) {
            if (s.zeros) {
                write_zeros(out, s.zero_frames, frame_bytes);
            } else if (o.resample) {
                write_resampled(archive, o, plan, s, out);
            } else {
                write_exact(archive, plan, s, out);
            }
        }
        check_write(out.close());
    } catch (...) {
        // Leave nothing half-written behind.
        (void)out.close();
        fsys::remove(plan.output, ec);
        fsys::remove(partial_path_for(plan.output), ec);
        throw;
    }
    plan.result.frames = out.frames_written();
}

}  // namespace

fsys::path clip_output_path(const fsys::path& output, const std::string& stream,
                            std::size_t stream_count) {
    if (stream_count <= 1) {
        return output;
    }
    fsys::path p = output;
    p.replace_filename(output.stem().string() + "_" + stream + output.extension().string());
    return p;
}

std::vector<ExtractResult> extract_clips(const Archive& archive, const ExtractOptions& o) {
    if (o.from_utc_ns >= o.to_utc_ns) {
        throw ClipError(fmt::format("empty range: from {} is not before to {}",
                                    utc_iso_ns(o.from_utc_ns), utc_iso_ns(o.to_utc_ns)),
                        ClipError::Kind::usage);
    }
    if (o.output.empty()) {
        throw ClipError("no output file given", ClipError::Kind::usage);
    }
    (void)output_file_format(o.output);
    const std::vector<std::string> all = archive.streams();
    std::vector<std::string> streams = o.streams.empty() ? all : o.streams;
    const std::set<std::string> unique(streams.begin(), streams.end());
    if (unique.size() != streams.size()) {
        throw ClipError("a stream is named twice", ClipError::Kind::usage);
    }
    for (const std::string& s : streams) {
        if (std::find(all.begin(), all.end(), s) == all.end()) {
            std::string have;
            for (const std::string& a : all) {
                have += (have.empty() ? "" : ", ") + a;
            }
            throw ClipError(fmt::format("no stream \"{}\" in {} (it has: {})", s,
                                        archive.root().string(), have));
        }
    }
    // Every plan and every output name is checked before anything is written.
    std::vector<StreamPlan> plans;
    for (const std::string& s : streams) {
        plans.push_back(plan_stream(archive, s, streams.size(), o));
        const fsys::path& out = plans.back().output;
        std::error_code ec;
        if (!o.overwrite && (fsys::exists(out, ec) || fsys::exists(partial_path_for(out), ec))) {
            throw ClipError(
                fmt::format("{} exists (--force replaces it)",
                            fsys::exists(out, ec) ? out.string() : partial_path_for(out).string()),
                ClipError::Kind::output);
        }
    }
    std::vector<ExtractResult> results;
    for (StreamPlan& p : plans) {
        write_plan(archive, o, p);
        results.push_back(std::move(p.result));
    }
    return results;
}

}  // namespace framestamp
