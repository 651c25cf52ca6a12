// `framestamp extract`: a sample-exact (or UTC-grid resampled) clip between two UTC instants.
#include <fmt/format.h>

#include <cstdio>

#include "cli.hpp"
#include "cmd_io.hpp"
#include "framestamp/clip.hpp"
#include "framestamp/json.hpp"
#include "framestamp/utc.hpp"

namespace framestamp::cli {

int cmd_extract(const GlobalOptions& g, const ExtractArgs& args) {
    std::optional<int64_t> from = parse_utc(args.from);
    std::optional<int64_t> to = parse_utc(args.to);
    if (!from) {
        throw CliError(kExitUsage, "--from '" + args.from + "' is not a UTC time");
    }
    if (!to) {
        throw CliError(kExitUsage, "--to '" + args.to + "' is not a UTC time");
    }
    if (*from >= *to) {
        throw CliError(kExitUsage, fmt::format("--from {} is not before --to {}", utc_iso_ns(*from),
                                               utc_iso_ns(*to)));
    }
    Archive a = open_archive(args.archive, g);
    ExtractOptions o;
    o.from_utc_ns = *from;
    o.to_utc_ns = *to;
    o.streams = args.streams;
    o.output = args.output;
    o.resample = args.resample;
    o.fill_gaps = args.fill_gaps;
    o.overwrite = args.overwrite;
    std::vector<ExtractResult> results;
    try {
        results = extract_clips(a, o);
    } catch (const ClipError& e) {
        switch (e.kind()) {
            case ClipError::Kind::usage:
                throw CliError(kExitUsage, e.what());
            case ClipError::Kind::output:
                throw CliError(kExitCantCreate, e.what());
            case ClipError::Kind::not_recorded:
                break;
        }
        throw CliError(kExitNoInput, e.what());  // the archive cannot give what was asked
    }
    std::string out = args.json ? "[" : "";
    for (std::size_t i = 0; i < results.size(); ++i) {
        const ExtractResult& r = results[i];
        std::string notes;
        for (const std::string& n : r.notes) {
            notes += (notes.empty() ? "" : ",") + json_string(n);
        }
        if (args.json) {
            out += fmt::format(
                "{}{{\"stream\":{},\"output\":{},\"frames\":{},\"zero_frames\":{},"
                "\"rate_hz\":{},\"channels\":{},\"session\":{},\"first_session_frame\":{},"
                "\"first_sample_utc\":{},\"first_sample_utc_ns\":{},\"uncertainty_ns\":{},"
                "\"resampled\":{},\"notes\":[{}]}}",
                i ? "," : "", json_string(r.stream), json_string(r.output.string()), r.frames,
                r.zero_frames, r.rate_hz, r.channels, json_string(r.session), r.first_session_frame,
                json_string(utc_iso_ns(r.first_sample_utc_ns)), r.first_sample_utc_ns,
                r.uncertainty_ns, r.resampled ? "true" : "false", notes);
        } else {
            out += fmt::format(
                "{}: {} frames ({:.3f} s at {} Hz, {} ch){} from {} ± {}{}\n", r.output.string(),
                r.frames, static_cast<double>(r.frames) / r.rate_hz, r.rate_hz, r.channels,
                r.resampled ? ", resampled onto the UTC grid" : "",
                utc_iso_ns(r.first_sample_utc_ns), format_uncertainty(r.uncertainty_ns),
                r.zero_frames ? fmt::format(", {} frames of gap filled with silence", r.zero_frames)
                              : std::string());
            for (const std::string& n : r.notes) {
                out += "  " + n + "\n";
            }
        }
    }
    if (args.json) {
        out += "]\n";
    }
    std::fputs(out.c_str(), stdout);
    a.save_cache();
    return kExitOk;
}

}  // namespace framestamp::cli
