// framestamp: the analysis command line over what framestampd recorded (docs/cli.md).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include "cli.hpp"
#include "cmd_io.hpp"

#ifndef FRAMESTAMP_VERSION
#define FRAMESTAMP_VERSION "unknown"
#endif

using namespace framestamp::cli;

namespace {

// The first word on the command line that is neither an option nor an option's value, when it
// names no subcommand (CLI11 itself only says "A subcommand is required"); nullptr otherwise.
const char* unknown_command(CLI::App& app, int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--cache-dir") {
            ++i;  // its value
            continue;
        }
        if (arg.empty() || arg.front() == '-') {
            continue;
        }
        for (const CLI::App* sub : app.get_subcommands({})) {
            if (sub->check_name(std::string(arg))) {
                return nullptr;
            }
        }
        return argv[i];
    }
    return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "framestamp: map the samples framestampd recorded to UTC and back, verify an "
        "archive, cut time-aligned clips, report drift and health.\n"
        "ARCHIVE is a data directory, one stream's folder, or one date folder."};
    app.require_subcommand(1);
    app.fallthrough();  // --cache-dir and --no-cache also after the subcommand
    app.set_version_flag("--version", std::string("framestamp ") + FRAMESTAMP_VERSION);
    GlobalOptions g;
    app.add_option("--cache-dir", g.cache_dir,
                   "where the archive index is cached (default $XDG_CACHE_HOME/framestamp)");
    app.add_flag("--no-cache", g.no_cache, "neither read nor write the index cache");

    std::string archive = ".", stream, utc;
    std::filesystem::path file;
    std::string sample;
    bool json = false;

    CLI::App* fit = app.add_subcommand("fit", "fit the drift of every segment and summarise it");
    fit->add_option("ARCHIVE", archive, "the archive")->required();
    fit->add_option("--stream", stream, "only this stream");
    fit->add_flag("--json", json, "print JSON");

    CLI::App* when = app.add_subcommand("when", "the UTC of one sample of an audio file");
    when->add_option("FILE", file, "an audio chunk (or its timing log)")->required();
    when->add_option("SAMPLE", sample, "sample (frame) index in the file, from 0")->required();
    when->add_flag("--json", json, "print JSON");

    CLI::App* loc =
        app.add_subcommand("locate", "which file and sample was recording at a UTC instant");
    loc->add_option("UTC", utc, "e.g. 2026-11-24T10:00:00.123456Z")->required();
    loc->add_option("--archive", archive, "the archive (default: the current directory)");
    loc->add_option("--stream", stream, "only this stream");
    loc->add_flag("--json", json, "print JSON");

    CLI::App* ver = app.add_subcommand(
        "verify", "check continuity, files and logs; exit 1 when something is missing or wrong");
    ver->add_option("ARCHIVE", archive, "the archive")->required();
    ver->add_flag("--json", json, "print JSON");

    ExtractArgs ex;
    CLI::App* ext =
        app.add_subcommand("extract", "cut a sample-exact clip between two UTC instants");
    ext->add_option("--from", ex.from, "start (UTC), included")->required();
    ext->add_option("--to", ex.to, "end (UTC), excluded")->required();
    ext->add_option("--stream", ex.streams, "stream(s) to cut (default: all); repeat for several");
    ext->add_option("-o,--output", ex.output,
                    "output .wav/.flac/.rf64; with several streams <stem>_<stream><ext>")
        ->required();
    ext->add_option("--archive", ex.archive, "the archive (default: the current directory)");
    ext->add_flag("--resample", ex.resample,
                  "resample onto an exact UTC grid at the nominal rate (drift removed)");
    ext->add_flag("--fill-gaps", ex.fill_gaps, "fill gaps in the recording with silence");
    ext->add_flag("--force", ex.overwrite, "replace existing output files");
    ext->add_flag("--json", ex.json, "print what was written as JSON");

    std::string out_html, from, to;
    std::vector<std::string> streams;
    bool force = false;
    CLI::App* rep =
        app.add_subcommand("report", "an HTML report of drift, residuals, gaps and sync");
    rep->add_option("ARCHIVE", archive, "the archive")->required();
    rep->add_option("-o,--output", out_html, "the HTML file to write")->required();
    rep->add_option("--stream", streams, "only these streams");
    rep->add_option("--from", from, "only from this UTC");
    rep->add_option("--to", to, "only until this UTC");
    rep->add_flag("--force", force, "replace an existing file");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() != 0) {
            if (const char* word = unknown_command(app, argc, argv)) {
                std::string names;
                for (const CLI::App* sub : app.get_subcommands({})) {
                    names += (names.empty() ? "" : ", ") + sub->get_name();
                }
                std::fprintf(stderr,
                             "framestamp: unknown command \"%s\"; the commands are: %s "
                             "(framestamp --help)\n",
                             word, names.c_str());
                return kExitUsage;
            }
        }
        int rc = app.exit(e);
        return rc == 0 ? 0 : kExitUsage;
    }
    if (ex.archive.empty()) {
        ex.archive = ".";
    }
    try {
        if (fit->parsed()) {
            return cmd_fit(g, archive, stream, json);
        }
        if (when->parsed()) {
            return cmd_when(g, file, parse_sample(sample), json);
        }
        if (loc->parsed()) {
            return cmd_locate(g, archive, utc, stream, json);
        }
        if (ver->parsed()) {
            return cmd_verify(g, archive, json);
        }
        if (ext->parsed()) {
            return cmd_extract(g, ex);
        }
        if (rep->parsed()) {
            return cmd_report(g, archive, out_html, streams, from, to, force);
        }
    } catch (const CliError& e) {
        std::fprintf(stderr, "framestamp: %s\n", e.what());
        return e.code();
    } catch (const framestamp::ArchiveError& e) {
        std::fprintf(stderr, "framestamp: %s\n", e.what());
        return kExitData;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "framestamp: %s\n", e.what());
        return kExitData;
    }
    return kExitUsage;
}
