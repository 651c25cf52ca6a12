// Checking an archive: every chunk's audio against its timing log, continuity, and every gap and
// discontinuity the logs record, with its UTC and length. docs/archive-index.md lists the checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "framestamp/archive.hpp"

namespace framestamp {

// error: data missing or inconsistent (a file missing, unreadable, or not what its log says; frames
// unaccounted for). warning: a loss or doubt the logs record and account for (overrun, device
// loss, write gap, unsynchronised clock, crash recovery, left-over .partial). info: facts
// (sessions, shutdowns, clock steps the model follows).
enum class Severity { info, warning, error };
std::string_view severity_name(Severity s);

struct VerifyItem {
    Severity severity = Severity::info;
    std::string
        code;  // stable, for scripts: "audio_missing", "frame_count_mismatch", "overrun", ...
    std::string stream;
    std::filesystem::path file;         // the file concerned (audio or timing log); may be empty
    uint64_t line = 0;                  // line in `file` when it is a timing log, else 0
    std::optional<int64_t> utc_ns;      // when it starts (ns since 1970)
    std::optional<int64_t> end_utc_ns;  // when it ends, for periods
    bool utc_from_model = false;        // utc_ns from the drift model, else from CLOCK_REALTIME
    std::optional<int64_t> frames;      // length in frames, where it has one
    std::optional<double> seconds;      // length in seconds (frames / nominal rate, or UTC span)
    std::string message;                // one line for a person
};

struct VerifyReport {
    std::filesystem::path root;
    std::size_t streams = 0;
    std::size_t sessions = 0;
    std::size_t chunks = 0;
    std::size_t segments = 0;
    uint64_t frames = 0;            // in the chunks' audio, per the logs
    double recorded_s = 0;          // frames / nominal rate, summed over chunks
    std::size_t audio_checked = 0;  // audio files opened and compared with their logs
    std::vector<VerifyItem> items;  // per stream in time order; archive-wide items last

    std::size_t count(Severity s) const;
    // No errors. Warnings (accounted gaps, unsynchronised stretches) do not fail verification.
    bool ok() const { return count(Severity::error) == 0; }
};

struct VerifyOptions {
    bool check_audio = true;  // open every audio file (libsndfile) and compare it with its log
    // UTC of events from the drift model: only models already fitted or cached (false), or fit
    // every segment first (true; reads every log in full).
    bool fit_models = false;
};

VerifyReport verify_archive(const Archive& archive, const VerifyOptions& options = {});

// A report for a person: a summary, then one line per item (errors, warnings, notes).
std::string verify_report_text(const VerifyReport& report, bool include_info = true);
// The same as a JSON object (UTF-8, hand-written and escaped): {"root", "ok", "summary", "items"}.
std::string verify_report_json(const VerifyReport& report);

}  // namespace framestamp
