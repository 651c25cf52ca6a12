// fit, when, locate and verify: the questions an analyst asks of an archive.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "cli.hpp"
#include "framestamp/archive_verify.hpp"
#include "framestamp/json.hpp"
#include "framestamp/utc.hpp"

namespace framestamp::cli {

namespace {

std::string utc_text(const TimeEstimate& te) {
    return utc_iso_ns(te.utc_ns);
}

std::string us(double ns) {
    return fmt::format("{:.1f}", ns * 1e-3);
}

std::string pm(int64_t ns) {
    return format_uncertainty(ns);
}

std::string clock_state(const TimeEstimate& te) {
    if (te.bridged) {
        return "bridged from synchronised time";
    }
    return te.synced ? "synchronised" : "NOT synchronised";
}

}  // namespace

int cmd_fit(const GlobalOptions& g, const std::filesystem::path& root, const std::string& stream,
            bool json) {
    Archive a = open_archive(root, g);
    if (!stream.empty()) {
        require_streams(a, {stream});
    }
    a.fit_all([&](std::size_t done, std::size_t total) {
        if (!json && total > 20 && (done % 20 == 0 || done == total)) {
            std::fprintf(stderr, "\rfitting %zu/%zu segments", done, total);
            if (done == total) {
                std::fprintf(stderr, "\n");
            }
        }
    });
    std::string out =
        json ? "{\"archive\":" + json_string(a.root().string()) + ",\"segments\":[" : "";
    if (!json) {
        out += fmt::format("{:<10} {:<24} {:>14} {:>9} {:>11} {:>20} {:>10} {:>10} {:>9}  {}\n",
                           "stream", "start (UTC)", "duration", "points", "mean ppm", "ppm range",
                           "late rms", "late max", "± µs", "clock");
    }
    bool first = true;
    for (std::size_t i = 0; i < a.segments().size(); ++i) {
        const SegmentInfo& s = a.segments()[i];
        if (!stream.empty() && s.stream != stream) {
            continue;
        }
        const SegmentModel& m = a.model(i);
        const SegmentStats& st = m.stats;
        double dur_s = static_cast<double>(s.end_frame - s.first_frame) / s.rate_hz;
        if (json) {
            out += fmt::format(
                "{}{{\"stream\":{},\"session\":{},\"starts_with\":{},\"first_frame\":{},"
                "\"end_frame\":{},\"rate_hz\":{},\"start_utc\":{},\"end_utc\":{},\"duration_s\":{:."
                "3f},"
                "\"points\":{},\"points_used\":{},\"mean_ppm\":{:.4f},\"min_ppm\":{:.4f},"
                "\"max_ppm\":{:.4f},\"lateness_rms_ns\":{:.0f},\"lateness_max_ns\":{:.0f},"
                "\"uncertainty_ns\":{},\"clock_steps\":{},\"unsynced_s\":{:.1f},"
                "\"slewing_s\":{:.1f},\"bridged_s\":{:.1f}}}",
                first ? "" : ",", json_string(s.stream), json_string(s.session),
                json_string(s.starts_with), s.first_frame, s.end_frame, s.rate_hz,
                m.empty() ? "null" : json_string(utc_iso_ns(m.first_utc_ns())),
                m.empty() ? "null" : json_string(utc_iso_ns(m.end_utc_ns())), dur_s, st.points,
                st.points_used, st.mean_ppm, st.min_ppm, st.max_ppm, st.lateness_rms_ns,
                st.lateness_max_ns, st.uncertainty_ns, st.clock_steps, st.unsynced_s, st.slewing_s,
                st.bridged_s);
        } else if (m.empty()) {
            out += fmt::format("{:<10} {:<24} {:>14} {:>9}  no model: too few timing points\n",
                               s.stream, "-", format_duration(dur_s), st.points);
        } else {
            std::string clock =
                st.unsynced_s <= 0 ? "synchronised"
                : st.bridged_s > 0
                    ? fmt::format("{} unsynced, {} bridged", format_duration(st.unsynced_s),
                                  format_duration(st.bridged_s))
                    : fmt::format("{} unsynced", format_duration(st.unsynced_s));
            if (st.slewing_s > 0) {
                clock += fmt::format(", {} slewing (bridged)", format_duration(st.slewing_s));
            }
            if (st.clock_steps > 0) {
                clock += fmt::format(", {} step(s)", st.clock_steps);
            }
            out += fmt::format(
                "{:<10} {:<24} {:>14} {:>9} {:>11.3f} {:>20} {:>10} {:>10} {:>9}  {}\n", s.stream,
                utc_iso_us(m.first_utc_ns()).substr(0, 23) + "Z", format_duration(dur_s), st.points,
                st.mean_ppm, fmt::format("{:.3f} .. {:.3f}", st.min_ppm, st.max_ppm),
                us(st.lateness_rms_ns), us(st.lateness_max_ns),
                us(static_cast<double>(st.uncertainty_ns)), clock);
        }
        first = false;
    }
    if (json) {
        out += "]}\n";
    } else if (first) {
        throw CliError(kExitNoInput, stream.empty()
                                         ? "the archive has no segments"
                                         : "no stream named " + stream + " in the archive");
    }
    std::fputs(out.c_str(), stdout);
    a.save_cache();
    return kExitOk;
}

int cmd_when(const GlobalOptions& g, const std::filesystem::path& file, uint64_t sample,
             bool json) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) {
        throw CliError(kExitNoInput, fmt::format("{}: no such file", file.string()));
    }
    // FILE lives in <stream>/<date>/ beside its timing log; the stream folder is the archive to
    // index (the whole session, which may span days). A chunk copied elsewhere with its log is
    // indexed in its own folder; without a log beside it, nothing is indexed at all (two levels
    // up from a stray file can be / or a home directory).
    std::filesystem::path abs = std::filesystem::absolute(file, ec).lexically_normal();
    std::string base = abs.filename().string();
    bool named_like_a_chunk = false;
    for (const char* suffix : {".partial", ".timing.csv", ".flac", ".wav", ".rf64"}) {
        if (base.size() > std::strlen(suffix) &&
            base.compare(base.size() - std::strlen(suffix), std::string::npos, suffix) == 0) {
            base.resize(base.size() - std::strlen(suffix));
            named_like_a_chunk = named_like_a_chunk || std::strcmp(suffix, ".partial") != 0;
        }
    }
    if (!named_like_a_chunk) {
        throw CliError(kExitNoInput,
                       fmt::format("{} is not part of a framestamp archive: give an audio chunk "
                                   "(.flac, .wav, .rf64) or its .timing.csv",
                                   file.string()));
    }
    if (!std::filesystem::exists(abs.parent_path() / (base + ".timing.csv"), ec) &&
        !std::filesystem::exists(abs.parent_path() / (base + ".timing.csv.partial"), ec)) {
        throw CliError(kExitNoInput,
                       fmt::format("{} is not part of a framestamp archive: there is no {} "
                                   "beside it",
                                   file.string(), base + ".timing.csv"));
    }
    const std::string date = abs.parent_path().filename().string();
    const bool in_date_dir = date.size() == 10 && date[4] == '-' && date[7] == '-' &&
                             std::all_of(date.begin(), date.end(), [](char ch) {
                                 return ch == '-' || (ch >= '0' && ch <= '9');
                             });
    std::filesystem::path stream_dir =
        in_date_dir ? abs.parent_path().parent_path() : abs.parent_path();
    Archive a = Archive::open(stream_dir, archive_options(g));
    std::optional<std::size_t> ci = a.find_chunk(abs);
    if (!ci) {
        throw CliError(kExitNoInput,
                       fmt::format("{} is not part of a framestamp archive: no timing "
                                   "log names it in {}",
                                   file.string(), stream_dir.string()));
    }
    const ChunkInfo& c = a.chunks()[*ci];
    if (sample >= c.frames) {
        throw CliError(kExitNoInput, fmt::format("sample {} is beyond the end of {} ({} frames)",
                                                 sample, file.string(), c.frames));
    }
    uint64_t frame = c.first_frame + sample;
    std::optional<std::size_t> si = a.segment_of(*ci, frame);
    if (!si || a.model(*si).empty()) {
        throw CliError(kExitNoInput,
                       fmt::format("no drift model covers sample {} of {} (too few timing points)",
                                   sample, file.string()));
    }
    TimeEstimate te = a.model(*si).frame_to_utc(frame);
    if (json) {
        std::printf(
            "{\"file\":%s,\"sample\":%llu,\"stream\":%s,\"session\":%s,\"session_frame\":%llu,"
            "\"utc\":%s,\"utc_ns\":%lld,\"utc_frac_ns\":%.3f,\"fit_uncertainty_ns\":%lld,"
            "\"clock_uncertainty_ns\":%lld,\"synced\":%s,\"bridged\":%s,\"extrapolated\":%s,"
            "\"pps\":%s}\n",
            json_string(file.string()).c_str(), static_cast<unsigned long long>(sample),
            json_string(c.stream).c_str(), json_string(c.session).c_str(),
            static_cast<unsigned long long>(frame), json_string(utc_text(te)).c_str(),
            static_cast<long long>(te.utc_ns), te.utc_frac_ns,
            static_cast<long long>(te.fit_uncertainty_ns),
            static_cast<long long>(te.clock_uncertainty_ns), te.synced ? "true" : "false",
            te.bridged ? "true" : "false", te.extrapolated ? "true" : "false",
            te.pps ? "true" : "false");
    } else {
        std::printf("%s ± %s\n", utc_text(te).c_str(), pm(te.uncertainty_ns()).c_str());
        if (te.pps) {
            std::printf("  from the PPS channel's pulses, ± %s (the system clock not involved)\n",
                        pm(te.fit_uncertainty_ns).c_str());
        } else {
            std::printf("  fit ± %s (card against the system clock)%s\n",
                        pm(te.fit_uncertainty_ns).c_str(),
                        te.extrapolated ? ", extrapolated beyond the timing points" : "");
            std::printf("  system clock %s, ± %s against UTC\n", clock_state(te).c_str(),
                        pm(te.clock_uncertainty_ns).c_str());
        }
        std::printf("  stream %s, session %s, session frame %llu\n", c.stream.c_str(),
                    c.session.c_str(), static_cast<unsigned long long>(frame));
    }
    a.save_cache();
    return kExitOk;
}

int cmd_locate(const GlobalOptions& g, const std::filesystem::path& root, const std::string& utc,
               const std::string& stream, bool json) {
    std::optional<int64_t> t = parse_utc(utc);
    if (!t) {
        throw CliError(kExitUsage, fmt::format("'{}' is not a UTC time; write it like "
                                               "2026-11-24T10:00:00.123456Z",
                                               utc));
    }
    Archive a = open_archive(root, g);
    if (!stream.empty()) {
        require_streams(a, {stream});
    }
    std::vector<Location> locs = locate(a, *t, stream);
    if (locs.empty()) {
        throw CliError(kExitNoInput,
                       fmt::format("nothing in {} was recording at {}{}", a.root().string(),
                                   utc_iso_ns(*t), stream.empty() ? "" : " in stream " + stream));
    }
    std::string out = json ? "[" : "";
    for (std::size_t i = 0; i < locs.size(); ++i) {
        const Location& l = locs[i];
        const ChunkInfo& c = a.chunk(l.chunk);
        if (json) {
            out += fmt::format(
                "{}{{\"stream\":{},\"file\":{},\"sample\":{},\"session\":{},\"session_frame\":{},"
                "\"frac\":{:.6f},\"sample_utc\":{},\"fit_uncertainty_ns\":{},"
                "\"clock_uncertainty_ns\":{},\"synced\":{}}}",
                i ? "," : "", json_string(c.stream), json_string(c.audio_path.string()), l.sample,
                json_string(c.session), l.session_frame, l.frac,
                json_string(utc_iso_ns(l.at.utc_ns)), l.at.fit_uncertainty_ns,
                l.at.clock_uncertainty_ns, l.at.synced ? "true" : "false");
        } else {
            out +=
                fmt::format("{}\t{}\tsample {}\t(session {} frame {}{:+.3f}; sample at {} ± {})\n",
                            c.stream, c.audio_path.string(), l.sample, c.session, l.session_frame,
                            l.frac, utc_iso_ns(l.at.utc_ns), pm(l.at.uncertainty_ns()));
        }
    }
    if (json) {
        out += "]\n";
    }
    std::fputs(out.c_str(), stdout);
    a.save_cache();
    return kExitOk;
}

int cmd_verify(const GlobalOptions& g, const std::filesystem::path& root, bool json) {
    // verify vouches for the archive: every log is stat'ed, so an old closed log edited in place
    // is re-read too (the other commands trust the folders' stamps).
    Archive a = open_archive(root, g, /*stat_every_log=*/true);
    VerifyReport r = verify_archive(a);
    std::string text = json ? verify_report_json(r) : verify_report_text(r);
    std::fputs(text.c_str(), stdout);
    a.save_cache();
    return r.ok() ? kExitOk : kExitProblems;
}

}  // namespace framestamp::cli
