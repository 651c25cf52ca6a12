// Subcommands that write files.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cli.hpp"

namespace framestamp::cli {

// Writes <path>.partial, fsyncs and renames it; refuses to replace `path` unless overwrite.
void write_file_atomically(const std::filesystem::path& path, const std::string& bytes,
                           bool overwrite);

int cmd_report(const GlobalOptions& g, const std::filesystem::path& root,
               const std::filesystem::path& output, const std::vector<std::string>& streams,
               const std::string& from, const std::string& to, bool overwrite);

struct ExtractArgs {
    std::filesystem::path archive;
    std::string from;
    std::string to;
    std::vector<std::string> streams;
    std::filesystem::path output;
    bool resample = false;
    bool fill_gaps = false;
    bool overwrite = false;
    bool json = false;
};
int cmd_extract(const GlobalOptions& g, const ExtractArgs& args);

}  // namespace framestamp::cli
