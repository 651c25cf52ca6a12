// SpscRing throughput in bytes per second, 4 KiB bursts (a capture period of 1024 stereo 16-bit
// frames; 8 channels of 32-bit samples at 48 kHz are 1.5 MB/s, the figure to compare with).
//   single_thread: write then read on one thread, the cost of the ring's bookkeeping and copies.
//   two_threads:   a producer thread writes while the measured thread reads, as in the daemon.
//   two_threads_in_place: the same with write_regions()/read_regions() and no staging copy.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <thread>
#include <vector>

#include "record/spsc_ring.hpp"

namespace {

using framestamp::RingRegions;
using framestamp::SpscRing;

constexpr std::size_t kBurstBytes = 4096;
constexpr std::size_t kRingBytes = 4 << 20;  // a few seconds of multichannel audio

void single_thread(benchmark::State& state) {
    SpscRing<std::byte> ring(kRingBytes);
    std::vector<std::byte> in(kBurstBytes, std::byte{0x5a});
    std::vector<std::byte> out(kBurstBytes);
    for (auto _ : state) {
        benchmark::DoNotOptimize(ring.write(in.data(), in.size()));
        benchmark::DoNotOptimize(ring.read(out.data(), out.size()));
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kBurstBytes);
}

void two_threads(benchmark::State& state) {
    SpscRing<std::byte> ring(kRingBytes);
    std::atomic<bool> stop{false};
    std::thread producer([&] {
        std::vector<std::byte> in(kBurstBytes, std::byte{0x5a});
        while (!stop.load(std::memory_order_relaxed)) {
            if (ring.write(in.data(), in.size()) == 0) {
                std::this_thread::yield();
            }
        }
    });
    std::vector<std::byte> out(kBurstBytes);
    std::size_t bytes = 0;
    for (auto _ : state) {
        std::size_t got = 0;
        while (got < kBurstBytes) {
            const std::size_t n = ring.read(out.data() + got, kBurstBytes - got);
            if (n == 0) {
                std::this_thread::yield();
            }
            got += n;
        }
        benchmark::DoNotOptimize(out.data());
        bytes += got;
    }
    stop.store(true);
    producer.join();
    state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

void two_threads_in_place(benchmark::State& state) {
    SpscRing<std::byte> ring(kRingBytes);
    std::atomic<bool> stop{false};
    std::thread producer([&] {
        while (!stop.load(std::memory_order_relaxed)) {
            RingRegions<std::byte> free = ring.write_regions(kBurstBytes);
            if (free.size() < kBurstBytes) {
                std::this_thread::yield();
                continue;
            }
            const std::size_t first = std::min(kBurstBytes, free.first.size());
            std::memset(free.first.data(), 0x5a, first);
            std::memset(free.second.data(), 0x5a, kBurstBytes - first);
            ring.commit_write(kBurstBytes);
        }
    });
    std::size_t bytes = 0;
    unsigned sum = 0;
    for (auto _ : state) {
        RingRegions<const std::byte> data = ring.read_regions(kBurstBytes);
        while (data.size() < kBurstBytes) {
            std::this_thread::yield();
            data = ring.read_regions(kBurstBytes);
        }
        // Touch one byte per cache line, as an encoder reading the data would.
        for (std::size_t k = 0; k < data.first.size() && k < kBurstBytes; k += 64) {
            sum += static_cast<unsigned>(data.first[k]);
        }
        ring.commit_read(kBurstBytes);
        bytes += kBurstBytes;
    }
    benchmark::DoNotOptimize(sum);
    stop.store(true);
    producer.join();
    state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

}  // namespace

BENCHMARK(single_thread);
BENCHMARK(two_threads)->UseRealTime();
BENCHMARK(two_threads_in_place)->UseRealTime();

BENCHMARK_MAIN();
