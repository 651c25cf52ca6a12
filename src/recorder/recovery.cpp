// Start-up recovery of chunks a crash (power cut, kill -9) left as .partial.
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include "framestamp/recorder.hpp"
#include "framestamp/timing_log.hpp"

namespace framestamp {

namespace {

namespace fsys = std::filesystem;

bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// First session frame of a chunk from its timing log's chunk_open row.
std::optional<uint64_t> chunk_open_frame(const std::string& text) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("chunk_open,", 0) == 0) {
            const std::size_t a = line.find(',');
            const std::size_t b = line.find(',', a + 1);
            try {
                return std::stoull(line.substr(a + 1, b - a - 1));
            } catch (const std::exception&) {
                return std::nullopt;
            }
        }
    }
    return std::nullopt;
}

bool has_row(const std::string& text, std::string_view kind) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.size() > kind.size() && line.compare(0, kind.size(), kind) == 0 &&
            line[kind.size()] == ',') {
            return true;
        }
    }
    return false;
}

std::string detail_field(const std::string& detail, const std::string& key) {
    const std::string k = key + "=";
    std::size_t at = 0;
    while (at < detail.size()) {
        const std::size_t end = std::min(detail.find(';', at), detail.size());
        if (detail.compare(at, k.size(), k) == 0) {
            return detail.substr(at + k.size(), end - at - k.size());
        }
        at = end + 1;
    }
    return {};
}

// The log_start row of the latest closed log of `session` beside `log` (same folder) whose name
// sorts before it: its detail and realtime - monotonic_raw. Empty detail when there is none.
std::pair<std::string, int64_t> previous_log_start(const fsys::path& log,
                                                   const std::string& session) {
    std::vector<fsys::path> logs;
    std::error_code ec;
    for (fsys::directory_iterator it(log.parent_path(), ec), end; it != end && !ec;
         it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (ends_with(name, ".timing.csv") && it->path().filename() < log.filename()) {
            logs.push_back(it->path());
        }
    }
    std::sort(logs.rbegin(), logs.rend());
    for (const fsys::path& p : logs) {
        std::ifstream in(p);
        std::string line;
        if (!std::getline(in, line) || !std::getline(in, line)) {
            continue;
        }
        const std::vector<std::string> f = csv_split(line);
        if (f.size() < 13 || f[0] != "log_start" || detail_field(f[12], "session") != session) {
            continue;
        }
        try {
            return {f[12], std::stoll(f[3]) - std::stoll(f[4])};
        } catch (const std::exception&) {
            continue;
        }
    }
    return {};
}

// The first rows of a log that lost them in a crash (a log written by a framestamp older than
// the one that syncs them before any audio): log_start and chunk_open, from the audio file's own
// metadata and the previous log of its session. Empty when the audio does not say enough.
std::string rebuilt_head(const fsys::path& final_log, const std::string& stream,
                         const RecoveryReport& audio) {
    if (audio.session.empty() || !audio.first_session_frame || !audio.first_sample_utc_ns ||
        audio.rate_hz == 0 || audio.channels == 0) {
        return {};
    }
    const uint64_t first = *audio.first_session_frame;
    const int64_t utc = *audio.first_sample_utc_ns;
    const std::string audio_name = audio.path.filename().string();
    auto [detail, rt_minus_raw] = previous_log_start(final_log, audio.session);
    if (detail.empty()) {
        rt_minus_raw = realtime_ns() - monotonic_raw_ns();
        detail = fmt::format(
            "format=framestamp-timing-log;version={};stream={};session={};rate_hz={};channels={};"
            "sample_format={};device=unknown;recorder={}",
            kTimingLogVersion, stream, audio.session, audio.rate_hz, audio.channels,
            audio.sample_format, audio.recorder);
    } else {
        detail = detail.substr(0, detail.find(";audio_file="));
    }
    detail += ";audio_file=" + audio_name + ";rebuilt_by=crash_recovery";
    std::string out;
    timing_row_format(out,
                      {.kind = "log_start",
                       .session_frame = first,
                       .realtime_ns = utc,
                       .monotonic_raw_ns = utc - rt_minus_raw,
                       .detail = detail},
                      first);
    const std::string file = "file=" + audio_name;
    timing_row_format(out,
                      {.kind = "chunk_open",
                       .session_frame = first,
                       .realtime_ns = utc,
                       .monotonic_raw_ns = utc - rt_minus_raw,
                       .detail = file},
                      first);
    return out;
}

// Closes a timing log left as .partial: cuts a torn last line, rebuilds lost first rows from
// `audio` when it can, appends crash_recovery and chunk_close rows, syncs and renames it.
// Returns false (and logs) on failure.
bool close_partial_log(const fsys::path& partial, std::optional<uint64_t> first_frame,
                       std::optional<uint64_t> frames, const std::string& what,
                       const std::string& stream = {}, const RecoveryReport* audio = nullptr) {
    std::string text;
    {
        std::ifstream in(partial, std::ios::binary);
        std::ostringstream ss;
        ss << in.rdbuf();
        text = ss.str();
    }
    std::size_t torn = 0;
    const std::size_t last_nl = text.rfind('\n');
    if (last_nl != std::string::npos && last_nl + 1 < text.size()) {
        torn = text.size() - last_nl - 1;
        text.resize(last_nl + 1);
    }
    if (text.empty()) {
        text = std::string(kTimingLogHeader) + "\n";
    }
    {
        // A recovery interrupted after it renamed its rewritten copy: the closed log begins with
        // everything this .partial holds, and the .partial only has to go.
        fsys::path done = partial;
        done.replace_extension();
        std::error_code ec;
        if (fsys::exists(done, ec)) {
            std::ifstream in(done, std::ios::binary);
            std::string head(text.size(), '\0');
            in.read(head.data(), static_cast<std::streamsize>(head.size()));
            if (in && head == text) {
                fsys::remove(partial, ec);
                fsync_parent_dir(done);
                return !ec;
            }
        }
    }
    std::string detail = what;
    if (audio != nullptr && !has_row(text, "log_start")) {
        fsys::path final_log = partial;
        final_log.replace_extension();
        const std::string head = rebuilt_head(final_log, stream, *audio);
        if (!head.empty()) {
            // The header line stays first; the rebuilt rows go before any that survived.
            const std::size_t nl = text.find('\n');
            text.insert(nl + 1, head);
            detail += ";log_head=rebuilt";
        }
    }
    if (!first_frame) {
        first_frame = chunk_open_frame(text);
    }
    const uint64_t first = first_frame.value_or(0);
    const uint64_t end = first + frames.value_or(0);
    const int64_t now = realtime_ns();
    const int64_t raw = monotonic_raw_ns();
    if (torn > 0) {
        detail += fmt::format(";torn_log_bytes_dropped={}", torn);
    }
    timing_row_format(
        text,
        {.kind = "crash_recovery",
         .session_frame = end,
         .realtime_ns = now,
         .monotonic_raw_ns = raw,
         .frames = frames ? std::optional<int64_t>(static_cast<int64_t>(*frames)) : std::nullopt,
         .detail = detail},
        first);
    timing_row_format(
        text,
        {.kind = "chunk_close",
         .session_frame = end,
         .realtime_ns = now,
         .monotonic_raw_ns = raw,
         .frames = frames ? std::optional<int64_t>(static_cast<int64_t>(*frames)) : std::nullopt,
         .detail = "closed_by=crash_recovery"},
        first);
    fsys::path final_path = partial;
    final_path.replace_extension();  // drop ".partial"
    const fsys::path tmp = fsys::path(partial.string() + ".tmp");
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        spdlog::error("recovery: cannot create {}: {}", tmp.string(), std::strerror(errno));
        return false;
    }
    const int err = write_all(fd, text.data(), text.size());
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (err != 0 || !synced) {
        spdlog::error("recovery: cannot write {}: {}", tmp.string(),
                      std::strerror(err != 0 ? err : errno));
        fsys::remove(tmp);
        return false;
    }
    std::error_code ec;
    if (fsys::exists(final_path, ec)) {
        spdlog::error("recovery: {} exists; leaving {} as it is", final_path.string(),
                      partial.string());
        fsys::remove(tmp);
        return false;
    }
    // The rewritten copy replaces the .partial under its final name; the .partial goes last.
    fsys::rename(tmp, final_path, ec);
    if (ec) {
        spdlog::error("recovery: cannot rename {}: {}", tmp.string(), ec.message());
        return false;
    }
    fsys::remove(partial, ec);
    fsync_parent_dir(final_path);
    return true;
}

void finish_empty_chunk(const fsys::path& mark) {
    std::error_code ec;
    fsys::path audio = mark;
    audio.replace_extension();  // drop ".empty"
    fsys::remove(audio, ec);
    fsys::remove(mark, ec);
    fsync_parent_dir(mark);
}

// Removes a chunk whose audio file holds no frame. Its log is renamed to "<audio>.empty" first:
// that mark names the audio and survives an interruption, after which the next start-up
// finishes the removal (finish_empty_chunk), so neither a log naming missing audio nor an empty
// audio file is ever left.
void remove_empty_chunk(const fsys::path& audio, const fsys::path& log_partial) {
    std::error_code ec;
    const fsys::path mark(audio.string() + ".empty");
    if (fsys::exists(log_partial, ec)) {
        fsys::rename(log_partial, mark, ec);
    } else {
        std::ofstream{mark};
    }
    fsync_parent_dir(mark);
    finish_empty_chunk(mark);
}

}  // namespace

StreamRecoveryReport recover_stream_dir(const fsys::path& data_dir, const std::string& stream) {
    StreamRecoveryReport report;
    const fsys::path dir = data_dir / stream;
    std::error_code ec;
    if (!fsys::is_directory(dir, ec)) {
        return report;
    }
    std::vector<fsys::path> audio;
    std::vector<fsys::path> logs;
    std::vector<fsys::path> marks;
    for (fsys::recursive_directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (ends_with(name, ".timing.csv.partial")) {
            logs.push_back(it->path());
        } else if (ends_with(name, ".flac.empty") || ends_with(name, ".wav.empty")) {
            marks.push_back(it->path());
        } else if (ends_with(name, ".flac.partial") || ends_with(name, ".wav.partial")) {
            audio.push_back(it->path());
        }
    }
    for (const fsys::path& mark : marks) {
        // A removal of an empty chunk that was interrupted: finish it.
        finish_empty_chunk(mark);
        ++report.empty_removed;
        spdlog::warn("recovery: finished removing the empty chunk {}", mark.string());
    }
    for (const fsys::path& partial : audio) {
        fsys::path final_audio = partial;
        final_audio.replace_extension();
        const fsys::path log_partial =
            fsys::path(timing_log_path_for(final_audio).string() + ".partial");
        FileResult<RecoveryReport> r = recover_partial(partial);
        if (!r) {
            ++report.failures;
            spdlog::error("recovery: {}: {}", partial.string(), r.error().message);
            continue;
        }
        const RecoveryReport& rep = r.value();
        const bool quarantined = rep.method == RecoveryMethod::quarantined;
        if (!quarantined && rep.frames_recovered == 0) {
            // The crash came before the chunk's first audio reached its file: there is nothing
            // to keep but a header (a FLAC file without a frame, which libsndfile refuses), and
            // the log times no frame. Both go.
            remove_empty_chunk(rep.path, log_partial);
            std::erase(logs, log_partial);
            ++report.empty_removed;
            spdlog::warn(
                "recovery: {} held no audio frame after a crash; removed it and its "
                "timing log",
                partial.string());
            continue;
        }
        quarantined ? ++report.audio_quarantined : ++report.audio_recovered;
        spdlog::warn("recovered {} after a crash: {} ({} frames)", partial.string(), rep.detail,
                     rep.frames_recovered);
        if (fsys::exists(log_partial, ec)) {
            const std::string what =
                fmt::format("audio={};method={};frames_recovered={};bytes_dropped={}",
                            rep.path.filename().string(), recovery_method_name(rep.method),
                            rep.frames_recovered, rep.bytes_dropped);
            if (close_partial_log(
                    log_partial, rep.first_session_frame,
                    quarantined ? std::nullopt : std::optional<uint64_t>(rep.frames_recovered),
                    what, stream, quarantined ? nullptr : &rep)) {
                ++report.logs_closed;
            } else {
                ++report.failures;
            }
            std::erase(logs, log_partial);
        }
    }
    // Logs whose audio was already closed (a crash between the two renames), or had none.
    for (const fsys::path& log_partial : logs) {
        if (close_partial_log(log_partial, std::nullopt, std::nullopt, "audio=none_partial")) {
            ++report.logs_closed;
            spdlog::warn("recovery: closed timing log {}", log_partial.string());
        } else {
            ++report.failures;
        }
    }
    return report;
}

}  // namespace framestamp
