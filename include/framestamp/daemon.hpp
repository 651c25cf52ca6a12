// framestampd's entry point, kept in the library so tests can drive it; main() only calls it.
#pragma once

namespace framestamp {

// Exit codes (sysexits.h where one fits), documented in docs/operations.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;       // runtime failure
inline constexpr int kExitUsage = 64;        // bad command line (EX_USAGE)
inline constexpr int kExitUnavailable = 69;  // no stream could record (EX_UNAVAILABLE)
inline constexpr int kExitConfig = 78;       // configuration error (EX_CONFIG)

int daemon_main(int argc, char** argv);

}  // namespace framestamp
