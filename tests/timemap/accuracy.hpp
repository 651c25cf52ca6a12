// The drift fit's accuracy against the simulated card's truth: scenarios, and their error figures.
// Shared by the accuracy test (which asserts limits) and the table printed for docs/accuracy.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framestamp/timemap.hpp"
#include "framestamp/timemap_sim.hpp"

namespace fsacc {

struct Scenario {
    std::string name;
    framestamp::SimParams sim;
    double duration_s = 600;
    double limit_rms_us = 5;        // the test's limits for this scenario
    double limit_max_us = 20;       // away from the ends
    double limit_edge_max_us = 60;  // anywhere, ends included
};

inline constexpr double edge_s = 30.0;

struct Errors {
    double rms_us = 0;
    double max_us = 0;    // largest |error|
    double max_at_s = 0;  // where (seconds of audio into the segment)
    // The same away from the segment's ends (more than edge_s from either), where the envelope
    // has reads on both sides.
    double inner_rms_us = 0;
    double inner_max_us = 0;
    double mean_us = 0;              // signed: + means the model says later than the truth
    double covered = 0;              // fraction of |error| <= reported uncertainty (fit + clock)
    double mean_uncertainty_us = 0;  // the reported uncertainty, averaged over the samples
    uint64_t points = 0;
    uint64_t samples = 0;
    framestamp::SegmentStats stats;
};

// Runs the simulation for the scenario's duration, fits one segment, and compares the model's UTC
// with the truth at `samples` frames spread over the whole segment (its ends included).
Errors evaluate(const Scenario& sc, uint64_t samples = 20000);

// The sweep published in docs/accuracy.md (and asserted by the test).
std::vector<Scenario> sweep(uint64_t seed);

}  // namespace fsacc
