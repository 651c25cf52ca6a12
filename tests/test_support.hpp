// Small helpers any test program may use: the seed, a whole file as bytes, files by suffix.
// Header-only, so unit, emulated-card and end-to-end test programs can all include it.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fstest {

// FS_TEST_SEED from the environment, else the test program's own fixed seed.
inline uint64_t test_seed(uint64_t fallback) {
    const char* s = std::getenv("FS_TEST_SEED");
    return s != nullptr ? std::strtoull(s, nullptr, 10) : fallback;
}

// The file's bytes; empty when it cannot be read.
inline std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Regular files under `dir` (recursively) whose names end in `suffix`, sorted; none when `dir`
// does not exist.
inline std::vector<std::filesystem::path> files_with_suffix(const std::filesystem::path& dir,
                                                            const std::string& suffix) {
    std::vector<std::filesystem::path> out;
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec)) {
        return out;
    }
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
        const std::string n = e.path().filename().string();
        if (e.is_regular_file() && n.size() >= suffix.size() &&
            n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
            out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

// An empty folder for the running test, <tmp>/<prefix>_<pid>_<test name>: tests running in
// parallel (ctest -j) never share one.
inline std::filesystem::path fresh_test_dir(const std::string& prefix) {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() /
        (prefix + "_" + std::to_string(::getpid()) + "_" +
         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

}  // namespace fstest
