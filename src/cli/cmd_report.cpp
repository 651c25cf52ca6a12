// `framestamp report`: one self-contained HTML file of drift, residuals, gaps and sync state.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cli.hpp"
#include "cmd_io.hpp"
#include "framestamp/report.hpp"

namespace framestamp::cli {

int cmd_report(const GlobalOptions& g, const std::filesystem::path& root,
               const std::filesystem::path& output, const std::vector<std::string>& streams,
               const std::string& from, const std::string& to, bool overwrite) {
    ReportOptions o;
    o.streams = streams;
    o.title = "framestamp report: " + root.filename().string();
    if (!from.empty()) {
        o.from_utc_ns = parse_utc(from);
        if (!o.from_utc_ns) {
            throw CliError(kExitUsage, "--from '" + from + "' is not a UTC time");
        }
    }
    if (!to.empty()) {
        o.to_utc_ns = parse_utc(to);
        if (!o.to_utc_ns) {
            throw CliError(kExitUsage, "--to '" + to + "' is not a UTC time");
        }
    }
    if (o.from_utc_ns && o.to_utc_ns && *o.from_utc_ns >= *o.to_utc_ns) {
        throw CliError(kExitUsage, "--from must be before --to");
    }
    Archive a = open_archive(root, g);
    require_streams(a, streams);
    a.fit_all();
    std::string html = render_report(a, o);
    write_file_atomically(output, html, overwrite);
    std::fprintf(stderr, "wrote %s (%zu kB)\n", output.c_str(), html.size() / 1024);
    a.save_cache();
    return kExitOk;
}

void write_file_atomically(const std::filesystem::path& path, const std::string& bytes,
                           bool overwrite) {
    std::error_code ec;
    if (!overwrite && std::filesystem::exists(path, ec)) {
        throw CliError(kExitCantCreate, path.string() + " exists; use --force to replace it");
    }
    std::string tmp = path.string() + ".partial";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        throw CliError(kExitCantCreate, fmt::format("{}: {}", tmp, std::strerror(errno)));
    }
    std::size_t off = 0;
    while (off < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            throw CliError(kExitCantCreate, fmt::format("{}: {}", tmp, std::strerror(err)));
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw CliError(kExitCantCreate, fmt::format("{}: {}", path.string(), std::strerror(err)));
    }
}

}  // namespace framestamp::cli
