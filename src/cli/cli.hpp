// The `framestamp` command line: shared pieces of the subcommands (src/cli/*.cpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "framestamp/archive.hpp"
#include "framestamp/timemap.hpp"

namespace framestamp::cli {

// Exit codes (sysexits.h where one fits), documented in docs/cli.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitProblems = 1;  // verify found problems
inline constexpr int kExitUsage = 64;    // bad command line, impossible range
inline constexpr int kExitData = 65;     // a timing log or audio file is malformed
inline constexpr int kExitNoInput = 66;  // missing archive or file; UTC or sample not recorded
inline constexpr int kExitCantCreate = 73;

// An error the command reports as "framestamp: <message>" with its exit code.
class CliError : public std::runtime_error {
  public:
    CliError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
    int code() const { return code_; }

  private:
    int code_;
};

struct GlobalOptions {
    std::filesystem::path cache_dir;
    bool no_cache = false;
};

ArchiveOptions archive_options(const GlobalOptions& g);
// stat_every_log: see ArchiveOptions (verify sets it).
Archive open_archive(const std::filesystem::path& root, const GlobalOptions& g,
                     bool stat_every_log = false);
// Throws kExitNoInput naming the archive's streams when one of `names` is not among them.
void require_streams(const Archive& a, const std::vector<std::string>& names);

// "2026-11-24T10:00:00.123456789Z" (also "+00:00", a space for the T, no zone = UTC, up to nine
// fraction digits) or "@<ns since the epoch>". nullopt when malformed.
// Leading and trailing whitespace (a CR from a CRLF line included) is ignored.
std::optional<int64_t> parse_utc(std::string_view text);
// `when`'s SAMPLE: a whole number from 0, surrounding whitespace ignored; anything else (a
// negative number included) throws CliError(kExitUsage) naming what was given.
uint64_t parse_sample(std::string_view text);
std::string_view trim_space(std::string_view text);
std::string format_duration(double seconds);  // "2 d 03:04:05", "12.5 s"

int cmd_fit(const GlobalOptions& g, const std::filesystem::path& archive, const std::string& stream,
            bool json);
int cmd_when(const GlobalOptions& g, const std::filesystem::path& file, uint64_t sample, bool json);
int cmd_locate(const GlobalOptions& g, const std::filesystem::path& archive, const std::string& utc,
               const std::string& stream, bool json);
int cmd_verify(const GlobalOptions& g, const std::filesystem::path& archive, bool json);

}  // namespace framestamp::cli
