// Prints the accuracy sweep as the Markdown table of docs/accuracy.md.
#include <cstdio>
#include <cstdlib>

#include "accuracy.hpp"

int main(int argc, char** argv) {
    uint64_t seed = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1;
    std::printf(
        "| scenario | minutes | points | RMS µs | max µs | RMS µs (inner) | max µs (inner) | "
        "mean µs | mean ± µs | within ± | mean ppm |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    const char* only = argc > 2 ? argv[2] : nullptr;  // a scenario name's substring
    for (const auto& sc : fsacc::sweep(seed)) {
        if (only != nullptr && sc.name.find(only) == std::string::npos) {
            continue;
        }
        fsacc::Errors e = fsacc::evaluate(sc);
        std::printf(
            "| %s | %.0f | %llu | %.2f | %.2f | %.2f | %.2f | %+.2f | %.1f | %.0f %% | %.2f |\n",
            sc.name.c_str(), sc.duration_s / 60, static_cast<unsigned long long>(e.points),
            e.rms_us, e.max_us, e.inner_rms_us, e.inner_max_us, e.mean_us, e.mean_uncertainty_us,
            100 * e.covered, e.stats.mean_ppm);
        if (std::getenv("FS_ACC_DEBUG")) {
            std::printf("   max at %.1f s\n", e.max_at_s);
        }
        std::fflush(stdout);
    }
}
