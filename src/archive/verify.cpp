// verify_archive: audio against logs, continuity, and every recorded gap with its UTC and length.
#include <fmt/format.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>

#include "framestamp/archive_verify.hpp"
#include "framestamp/utc.hpp"

namespace framestamp {

namespace {

namespace fsys = std::filesystem;

constexpr double kNsPerS = 1e9;

struct AudioFacts {
    bool ok = false;
    std::string error;
    uint64_t frames = 0;
    uint32_t rate_hz = 0;
    uint32_t channels = 0;
};

AudioFacts read_audio_facts(const fsys::path& p) {
    AudioFacts f;
    SF_INFO info{};
    SNDFILE* sf = sf_open(p.c_str(), SFM_READ, &info);
    if (sf == nullptr) {
        f.error = sf_strerror(nullptr);
        return f;
    }
    f.ok = true;
    f.frames = static_cast<uint64_t>(std::max<sf_count_t>(info.frames, 0));
    f.rate_hz = static_cast<uint32_t>(info.samplerate);
    f.channels = static_cast<uint32_t>(info.channels);
    sf_close(sf);
    return f;
}

std::string seconds_text(double s) {
    if (std::fabs(s) < 1.0) {
        return fmt::format("{:.3f} ms", s * 1e3);
    }
    return fmt::format("{:.3f} s", s);
}

class Verifier {
  public:
    Verifier(const Archive& a, const VerifyOptions& o) : a_(a), o_(o) {
        for (std::size_t i = 0; i < a.segments().size(); ++i) {
            const SegmentInfo& s = a.segments()[i];
            by_session_[{s.stream, s.session}].push_back(i);
        }
        for (std::size_t i = 0; i < a.chunks().size(); ++i) {
            by_log_.emplace(a.chunks()[i].timing_path.string(), i);
        }
    }

    VerifyReport run() {
        VerifyReport r;
        r.root = a_.root();
        r.streams = a_.streams().size();
        r.segments = a_.segments().size();
        r.chunks = a_.chunks().size();
        r.sessions = by_session_.size();
        if (o_.fit_models) {
            a_.fit_all();
        }
        const std::vector<ChunkInfo>& chunks = a_.chunks();
        for (std::size_t i = 0; i < chunks.size(); ++i) {
            r.frames += chunks[i].frames;
            r.recorded_s += static_cast<double>(chunks[i].frames) / chunks[i].rate_hz;
            check_chunk(i);
        }
        check_events();
        check_session_gaps();
        for (const SkippedLog& s : a_.skipped_logs()) {
            add({.severity = Severity::warning,
                 .code = "log_skipped",
                 .file = s.path,
                 .message = fmt::format("timing log not indexed: {}; its audio (if any) has no "
                                        "timing",
                                        s.reason)});
        }
        for (const fsys::path& p : a_.unlogged_audio()) {
            const bool corrupt = p.extension() == ".corrupt";
            add({.severity = Severity::error,
                 .code = corrupt ? "audio_quarantined" : "audio_without_log",
                 .file = p,
                 .message = corrupt ? "audio file quarantined by crash recovery (unreadable), "
                                      "and no timing log names it"
                                    : "audio file without a timing log: its samples cannot be "
                                      "placed in time"});
        }
        // Per stream in time order; archive-wide items (no stream) last.
        std::stable_sort(items_.begin(), items_.end(),
                         [](const VerifyItem& x, const VerifyItem& y) {
                             if (x.stream.empty() != y.stream.empty()) {
                                 return y.stream.empty();
                             }
                             if (x.stream != y.stream) {
                                 return x.stream < y.stream;
                             }
                             return x.utc_ns.value_or(INT64_MAX) < y.utc_ns.value_or(INT64_MAX);
                         });
        r.audio_checked = audio_checked_;
        r.items = std::move(items_);
        return r;
    }

  private:
    void add(VerifyItem item) { items_.push_back(std::move(item)); }

    // UTC of a session frame: the drift model of the segment around it when available, else the
    // realtime stamp the log gives.
    std::pair<int64_t, bool> utc_of(const std::string& stream, const std::string& session,
                                    uint64_t frame, int64_t realtime_ns) const {
        const auto it = by_session_.find({stream, session});
        if (it == by_session_.end()) {
            return {realtime_ns, false};
        }
        for (const std::size_t i : it->second) {
            const SegmentInfo& s = a_.segments()[i];
            if (frame < s.first_frame || frame > s.end_frame) {
                continue;
            }
            if (!o_.fit_models && !a_.has_model(i)) {
                break;
            }
            const SegmentModel& m = a_.model(i);
            if (m.empty()) {
                break;
            }
            return {m.frame_to_utc(frame).utc_ns, true};
        }
        return {realtime_ns, false};
    }

    void check_chunk(std::size_t i) {
        const ChunkInfo& c = a_.chunks()[i];
        const auto [utc, from_model] =
            utc_of(c.stream, c.session, c.first_frame, c.first_realtime_ns);
        VerifyItem base{.stream = c.stream, .utc_ns = utc, .utc_from_model = from_model};
        auto item = [&](Severity sev, std::string code, const fsys::path& file, std::string msg) {
            VerifyItem it = base;
            it.severity = sev;
            it.code = std::move(code);
            it.file = file;
            it.message = std::move(msg);
            return it;
        };
        if (c.partial) {
            const bool audio_partial = c.audio_path.extension() == ".partial";
            add(item(
                Severity::warning, "partial_file", audio_partial ? c.audio_path : c.timing_path,
                "chunk still .partial: the daemon is recording it now, or it crashed; "
                "run framestampd (its start-up recovers .partial files) if it is not running"));
        }
        if (c.torn_tail) {
            add(item(Severity::warning, "torn_log", c.timing_path,
                     "the timing log's last line was torn (a power cut); the rows before it are "
                     "used"));
        }
        std::error_code ec;
        const bool exists = fsys::exists(c.audio_path, ec);
        if (!exists) {
            const bool quarantined = c.recovered && audio_quarantined(i);
            VerifyItem it = item(Severity::error,
                                 quarantined ? "audio_quarantined" : "audio_missing", c.audio_path,
                                 quarantined ? "audio was unreadable after a crash and was renamed "
                                               "to .corrupt by the recovery"
                                             : fmt::format("audio file missing (the timing log "
                                                           "says {} frames)",
                                                           c.frames));
            it.frames = static_cast<int64_t>(c.frames);
            it.seconds = static_cast<double>(c.frames) / c.rate_hz;
            add(std::move(it));
        } else if (o_.check_audio && !c.partial) {
            check_audio(c, item);
        }
        if (i > 0) {
            check_continuity(a_.chunks()[i - 1], c, item);
        }
    }

    template <typename MakeItem>
    void check_audio(const ChunkInfo& c, MakeItem& item) {
        const AudioFacts f = read_audio_facts(c.audio_path);
        ++audio_checked_;
        if (!f.ok) {
            add(item(Severity::error, "audio_unreadable", c.audio_path,
                     fmt::format("audio file cannot be read: {}", f.error)));
            return;
        }
        if (f.rate_hz != c.rate_hz) {
            add(item(Severity::error, "rate_mismatch", c.audio_path,
                     fmt::format("audio file is {} Hz, the timing log says {} Hz", f.rate_hz,
                                 c.rate_hz)));
        }
        if (f.channels != c.channels) {
            add(item(Severity::error, "channels_mismatch", c.audio_path,
                     fmt::format("audio file has {} channels, the timing log says {}", f.channels,
                                 c.channels)));
        }
        if (f.frames == c.frames) {
            return;
        }
        const int64_t diff = static_cast<int64_t>(f.frames) - static_cast<int64_t>(c.frames);
        VerifyItem it =
            c.frames_exact
                ? item(Severity::error, "frame_count_mismatch", c.audio_path,
                       fmt::format("audio file holds {} frames, the timing log says {} ({:+} "
                                   "frames)",
                                   f.frames, c.frames, diff))
                : item(Severity::warning, "frames_unknown", c.audio_path,
                       fmt::format("the timing log has no frame count (closed by crash recovery "
                                   "without one); the audio file holds {} frames",
                                   f.frames));
        it.frames = diff;
        it.seconds = static_cast<double>(diff) / c.rate_hz;
        add(std::move(it));
    }

    bool audio_quarantined(std::size_t chunk) const {
        const ChunkInfo& c = a_.chunks()[chunk];
        for (const ArchiveEvent& e : a_.events()) {
            if (e.kind == EventKind::crash_recovery && e.file == c.timing_path) {
                return detail_value(e.detail, "method") == std::string_view("quarantined");
            }
        }
        return false;
    }

    template <typename MakeItem>
    void check_continuity(const ChunkInfo& prev, const ChunkInfo& c, MakeItem& item) {
        if (prev.stream != c.stream || prev.session != c.session) {
            return;
        }
        const uint64_t expected = prev.first_frame + prev.frames;
        if (c.first_frame == expected) {
            return;
        }
        for (const ArchiveEvent& e : a_.events()) {
            if (e.kind == EventKind::write_gap && e.file == c.timing_path &&
                e.session_frame == expected && e.frames &&
                static_cast<uint64_t>(*e.frames) == c.first_frame - expected) {
                return;  // accounted; the write_gap event is reported on its own
            }
        }
        const int64_t diff = static_cast<int64_t>(c.first_frame) - static_cast<int64_t>(expected);
        VerifyItem it = item(
            prev.frames_exact ? Severity::error : Severity::warning,
            prev.frames_exact ? "not_contiguous" : "continuity_unknown", c.timing_path,
            fmt::format("chunk starts at session frame {} but the previous chunk ({}) ends at "
                        "{}: {} {} frames{}",
                        c.first_frame, prev.audio_path.filename().string(), expected,
                        diff > 0 ? "missing" : "overlapping", std::llabs(diff),
                        prev.frames_exact ? ", not accounted for by any write_gap"
                                          : " (the previous chunk's length is only estimated)"));
        it.frames = diff;
        it.seconds = static_cast<double>(diff) / c.rate_hz;
        add(std::move(it));
    }

    uint32_t rate_of(const ArchiveEvent& e) const {
        const auto it = by_log_.find(e.file.string());
        return it == by_log_.end() ? 0 : a_.chunks()[it->second].rate_hz;
    }

    void check_events() {
        const std::vector<ArchiveEvent>& events = a_.events();
        for (std::size_t i = 0; i < events.size(); ++i) {
            const ArchiveEvent& e = events[i];
            const auto [utc, from_model] =
                utc_of(e.stream, e.session, e.session_frame, e.realtime_ns);
            const uint32_t rate = rate_of(e);
            VerifyItem it{.severity = Severity::warning,
                          .code = std::string(event_kind_name(e.kind)),
                          .stream = e.stream,
                          .file = e.file,
                          .line = e.line,
                          .utc_ns = utc,
                          .utc_from_model = from_model};
            if (e.frames && rate > 0) {
                it.frames = *e.frames;
                it.seconds = static_cast<double>(*e.frames) / rate;
            }
            const std::string len =
                it.seconds ? fmt::format("{} frames ({})", *it.frames, seconds_text(*it.seconds))
                           : std::string("an unknown number of frames");
            switch (e.kind) {
                case EventKind::session_start:
                    it.severity = Severity::info;
                    it.message = fmt::format("session {} started ({})", e.session, e.detail);
                    break;
                case EventKind::overrun:
                    it.message = fmt::format(
                        "{} lost (estimated from the timestamps), {}; a new drift "
                        "segment starts after it",
                        len,
                        detail_value(e.detail, "filled") == std::string_view("none")
                            ? "not filled"
                            : "filled with silence");
                    break;
                case EventKind::ring_overflow:
                    it.message = fmt::format(
                        "the writer fell behind: {} lost (exact), filled with silence", len);
                    break;
                case EventKind::device_lost:
                    device_lost(i, it);
                    break;
                case EventKind::device_back:
                    it.severity = Severity::info;
                    it.message = fmt::format("device back ({})", e.detail);
                    break;
                case EventKind::clock_step: {
                    it.severity = Severity::info;
                    const auto step = detail_value(e.detail, "step_ns");
                    it.message = fmt::format(
                        "system clock stepped by {} ns; the drift model "
                        "follows the step",
                        step ? *step : "?");
                    break;
                }
                case EventKind::write_error:
                    it.message = fmt::format(
                        "writing the audio failed ({}); the chunk was closed "
                        "and the frames lost are in the next write_gap",
                        e.detail);
                    break;
                case EventKind::disk_pause:
                    it.message =
                        "free disk space below the reserve: recording paused (the next "
                        "write_gap gives the frames lost)";
                    break;
                case EventKind::write_gap:
                    it.message = fmt::format("{} not written ({})", len, e.detail);
                    break;
                case EventKind::shutdown:
                    it.severity = Severity::info;
                    it.message = fmt::format("daemon stopped ({})", e.detail);
                    break;
                case EventKind::crash_recovery: {
                    const bool lost =
                        detail_value(e.detail, "method") == std::string_view("quarantined");
                    it.severity = lost ? Severity::error : Severity::warning;
                    it.code = lost ? "audio_quarantined" : "crash_recovery";
                    it.message = fmt::format("chunk recovered after a crash: {}", e.detail);
                    it.frames.reset();
                    it.seconds.reset();
                    break;
                }
                case EventKind::unsynced:
                    unsynced(i, it);
                    break;
                case EventKind::resynced:
                    continue;  // reported with the unsynced period it ends
            }
            add(std::move(it));
        }
    }

    void device_lost(std::size_t i, VerifyItem& it) {
        const ArchiveEvent& e = a_.events()[i];
        it.message = fmt::format("device lost ({}); the session ended", e.detail);
        // Back when the stream's next session starts.
        for (const ChunkInfo& c : a_.chunks()) {
            if (c.stream == e.stream && c.session != e.session &&
                c.first_realtime_ns > e.realtime_ns) {
                it.end_utc_ns = c.first_realtime_ns;
                it.seconds = static_cast<double>(c.first_realtime_ns - e.realtime_ns) / kNsPerS;
                it.frames = std::llround(*it.seconds * c.rate_hz);
                it.message += fmt::format("; recording resumed after {} (~{} frames)",
                                          seconds_text(*it.seconds), *it.frames);
                return;
            }
        }
        it.message += "; the recording did not resume";
    }

    void unsynced(std::size_t i, VerifyItem& it) {
        const std::vector<ArchiveEvent>& events = a_.events();
        const ArchiveEvent& e = events[i];
        it.frames.reset();
        for (std::size_t k = i + 1; k < events.size() && events[k].stream == e.stream; ++k) {
            if (events[k].kind == EventKind::resynced) {
                const auto end = utc_of(events[k].stream, events[k].session,
                                        events[k].session_frame, events[k].realtime_ns);
                it.end_utc_ns = end.first;
                it.seconds = static_cast<double>(end.first - *it.utc_ns) / kNsPerS;
                it.message = fmt::format(
                    "system clock not synchronised to UTC for {} (until {}); times there are "
                    "bridged from synchronised time or carry the clock's error",
                    seconds_text(*it.seconds), utc_iso_us(end.first));
                return;
            }
        }
        int64_t last = e.realtime_ns;
        for (const ChunkInfo& c : a_.chunks()) {
            if (c.stream == e.stream) {
                last = std::max(last, c.last_realtime_ns);
            }
        }
        it.end_utc_ns = last;
        it.seconds = static_cast<double>(last - e.realtime_ns) / kNsPerS;
        it.message = fmt::format(
            "system clock not synchronised to UTC from here to the end of the "
            "recording ({})",
            seconds_text(*it.seconds));
    }

    void check_session_gaps() {
        const std::vector<ChunkInfo>& chunks = a_.chunks();
        for (std::size_t i = 1; i < chunks.size(); ++i) {
            const ChunkInfo& p = chunks[i - 1];
            const ChunkInfo& c = chunks[i];
            if (p.stream != c.stream || p.session == c.session) {
                continue;
            }
            const int64_t end =
                p.first_realtime_ns +
                static_cast<int64_t>(static_cast<double>(p.frames) * kNsPerS / p.rate_hz);
            const double s = static_cast<double>(c.first_realtime_ns - end) / kNsPerS;
            add({.severity = Severity::info,
                 .code = "between_sessions",
                 .stream = c.stream,
                 .file = c.timing_path,
                 .utc_ns = end,
                 .end_utc_ns = c.first_realtime_ns,
                 .frames = std::llround(s * c.rate_hz),
                 .seconds = s,
                 .message = fmt::format("no recording for {} between sessions {} and {}",
                                        seconds_text(s), p.session, c.session)});
        }
    }

    const Archive& a_;
    const VerifyOptions& o_;
    std::map<std::pair<std::string, std::string>, std::vector<std::size_t>> by_session_;
    std::unordered_map<std::string, std::size_t> by_log_;
    std::vector<VerifyItem> items_;
    std::size_t audio_checked_ = 0;
};

}  // namespace

std::string_view severity_name(Severity s) {
    switch (s) {
        case Severity::info:
            return "info";
        case Severity::warning:
            return "warning";
        case Severity::error:
            return "error";
    }
    return "?";
}

std::size_t VerifyReport::count(Severity s) const {
    return static_cast<std::size_t>(std::count_if(
        items.begin(), items.end(), [s](const VerifyItem& i) { return i.severity == s; }));
}

VerifyReport verify_archive(const Archive& archive, const VerifyOptions& options) {
    return Verifier(archive, options).run();
}

}  // namespace framestamp
