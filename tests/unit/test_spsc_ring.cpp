// SpscRing: boundaries on one thread, then two threads pushing tens of millions of items.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "record/spsc_ring.hpp"

namespace {

using framestamp::RingRegions;
using framestamp::SpscRing;

uint64_t test_seed() {
    const char* s = std::getenv("FS_TEST_SEED");
    return s != nullptr ? std::strtoull(s, nullptr, 10) : 20261124ULL;
}

std::vector<uint32_t> iota_vector(std::size_t n, uint32_t first) {
    std::vector<uint32_t> v(n);
    std::iota(v.begin(), v.end(), first);
    return v;
}

TEST(SpscRing, CapacityIsRoundedUpToAPowerOfTwo) {
    EXPECT_EQ(SpscRing<std::byte>(0).capacity(), 1U);
    EXPECT_EQ(SpscRing<std::byte>(1).capacity(), 1U);
    EXPECT_EQ(SpscRing<std::byte>(3).capacity(), 4U);
    EXPECT_EQ(SpscRing<std::byte>(1000).capacity(), 1024U);
    EXPECT_EQ(SpscRing<std::byte>(1024).capacity(), 1024U);
    EXPECT_EQ(SpscRing<uint64_t>(1025).capacity(), 2048U);
    EXPECT_THROW(SpscRing<uint64_t>(SIZE_MAX / 4), std::length_error);
}

TEST(SpscRing, EmptyRingReadsNothing) {
    SpscRing<uint32_t> ring(8);
    EXPECT_EQ(ring.readable(), 0U);
    EXPECT_EQ(ring.writable(), 8U);
    uint32_t out[4] = {};
    EXPECT_EQ(ring.read(out, 4), 0U);
    EXPECT_TRUE(ring.read_regions().empty());
    EXPECT_EQ(ring.write(out, 0), 0U);
    EXPECT_EQ(ring.readable(), 0U);
}

TEST(SpscRing, FullRingRefusesWritesAndPartialWritesReturnWhatFit) {
    SpscRing<uint32_t> ring(8);
    const auto in = iota_vector(12, 100);
    EXPECT_EQ(ring.write(in.data(), 5), 5U);
    EXPECT_EQ(ring.write(in.data() + 5, 7), 3U);  // only 3 slots left
    EXPECT_EQ(ring.readable(), 8U);
    EXPECT_EQ(ring.writable(), 0U);
    EXPECT_EQ(ring.write(in.data(), 1), 0U);
    EXPECT_TRUE(ring.write_regions().empty());

    std::vector<uint32_t> out(12, 0);
    EXPECT_EQ(ring.read(out.data(), 12), 8U);
    EXPECT_EQ(std::vector<uint32_t>(out.begin(), out.begin() + 8),
              std::vector<uint32_t>(in.begin(), in.begin() + 8));
    EXPECT_EQ(ring.writable(), 8U);
}

TEST(SpscRing, ExactWrapLeavesOneRegion) {
    SpscRing<uint32_t> ring(8);
    const auto in = iota_vector(8, 1);
    std::vector<uint32_t> out(8, 0);
    ASSERT_EQ(ring.write(in.data(), 8), 8U);
    ASSERT_EQ(ring.read(out.data(), 8), 8U);
    // Counters are now exactly one capacity on: the free space is one piece from slot 0.
    RingRegions<uint32_t> free = ring.write_regions();
    EXPECT_EQ(free.first.size(), 8U);
    EXPECT_TRUE(free.second.empty());
    ASSERT_EQ(ring.write(in.data(), 8), 8U);
    RingRegions<const uint32_t> data = ring.read_regions();
    EXPECT_EQ(data.first.size(), 8U);
    EXPECT_TRUE(data.second.empty());
    EXPECT_EQ(std::vector<uint32_t>(data.first.begin(), data.first.end()), in);
}

TEST(SpscRing, RegionsSplitWhereTheStorageWraps) {
    SpscRing<uint32_t> ring(8);
    const auto in = iota_vector(8, 10);
    std::vector<uint32_t> out(8, 0);
    ASSERT_EQ(ring.write(in.data(), 6), 6U);
    ASSERT_EQ(ring.read(out.data(), 5), 5U);  // one item left, in slot 5

    RingRegions<uint32_t> free = ring.write_regions();
    ASSERT_EQ(free.first.size(), 2U);   // slots 6, 7
    ASSERT_EQ(free.second.size(), 5U);  // slots 0..4
    free.first[0] = 70;
    free.first[1] = 71;
    free.second[0] = 72;
    ring.commit_write(3);  // only the first three are published
    EXPECT_EQ(ring.readable(), 4U);
    EXPECT_EQ(ring.writable(), 4U);

    RingRegions<const uint32_t> data = ring.read_regions();
    ASSERT_EQ(data.first.size(), 3U);   // slots 5, 6, 7
    ASSERT_EQ(data.second.size(), 1U);  // slot 0
    EXPECT_EQ(data.first[0], 15U);
    EXPECT_EQ(data.first[1], 70U);
    EXPECT_EQ(data.first[2], 71U);
    EXPECT_EQ(data.second[0], 72U);
    ring.commit_read(2);
    EXPECT_EQ(ring.readable(), 2U);
    uint32_t rest[2] = {};
    EXPECT_EQ(ring.read(rest, 2), 2U);
    EXPECT_EQ(rest[0], 71U);
    EXPECT_EQ(rest[1], 72U);
}

TEST(SpscRing, CopiesAcrossTheWrapKeepOrder) {
    SpscRing<uint32_t> ring(16);
    std::mt19937_64 rng(test_seed());
    std::uniform_int_distribution<std::size_t> burst(0, 20);
    uint32_t next_in = 0;
    uint32_t next_out = 0;
    std::vector<uint32_t> buf(20);
    for (int i = 0; i < 10000; ++i) {
        const std::size_t n = burst(rng);
        const auto in = iota_vector(n, next_in);
        const std::size_t free = ring.writable();
        const std::size_t written = ring.write(in.data(), n);
        ASSERT_EQ(written, std::min(n, free)) << "seed " << test_seed();
        next_in += static_cast<uint32_t>(written);
        const std::size_t got = ring.read(buf.data(), burst(rng));
        for (std::size_t k = 0; k < got; ++k) {
            ASSERT_EQ(buf[k], next_out++) << "seed " << test_seed();
        }
        ASSERT_EQ(ring.readable(), next_in - next_out);
    }
}

TEST(SpscRing, HoldsSmallRecords) {
    struct Record {
        uint64_t frame;
        int64_t realtime_ns;
        uint32_t kind;
    };
    SpscRing<Record> ring(4);
    const Record in[3] = {{1, -2, 3}, {4, -5, 6}, {7, -8, 9}};
    ASSERT_EQ(ring.write(in, 3), 3U);
    Record out[3] = {};
    ASSERT_EQ(ring.read(out, 3), 3U);
    EXPECT_EQ(out[2].frame, 7U);
    EXPECT_EQ(out[2].realtime_ns, -8);
    EXPECT_EQ(out[2].kind, 9U);
}

TEST(SpscRing, MoveKeepsContentsAndEmptiesTheSource) {
    SpscRing<uint8_t> a(8);
    const uint8_t in[5] = {1, 2, 3, 4, 5};
    ASSERT_EQ(a.write(in, 5), 5U);
    uint8_t out[5] = {};
    ASSERT_EQ(a.read(out, 2), 2U);

    SpscRing<uint8_t> b(std::move(a));
    EXPECT_EQ(b.capacity(), 8U);
    EXPECT_EQ(b.readable(), 3U);
    EXPECT_EQ(a.capacity(), 0U);  // NOLINT(bugprone-use-after-move): the moved-from state
    EXPECT_EQ(a.readable(), 0U);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(a.write(in, 5), 0U);
    EXPECT_EQ(a.read(out, 5), 0U);
    EXPECT_TRUE(a.write_regions().empty());

    SpscRing<uint8_t> c(2);
    c = std::move(b);
    ASSERT_EQ(c.read(out, 5), 3U);
    EXPECT_EQ(out[0], 3);
    EXPECT_EQ(out[2], 5);
    EXPECT_EQ(c.write(in, 5), 5U);
}

// Item value at position i of the byte stream: mixes several bits of i so that a lost, repeated
// or reordered block shows within a few bytes.
uint8_t byte_at(uint64_t i) {
    return static_cast<uint8_t>((i * 0x9E3779B97F4A7C15ULL) >> 56);
}

constexpr uint64_t kStressItems = 50'000'000;

// Producer and consumer each pick, per burst, the copying or the in-place API at random.
TEST(SpscRingStress, TwoThreadsDeliverEveryItemOnceInOrder) {
    SpscRing<uint64_t> ring(1000);
    const uint64_t seed = test_seed();
    std::atomic<bool> failed{false};

    std::thread producer([&] {
        std::mt19937_64 rng(seed);
        std::uniform_int_distribution<std::size_t> burst(1, 1500);
        std::vector<uint64_t> buf(1500);
        uint64_t next = 0;
        while (next < kStressItems && !failed.load(std::memory_order_relaxed)) {
            const std::size_t n =
                static_cast<std::size_t>(std::min<uint64_t>(burst(rng), kStressItems - next));
            std::size_t done = 0;
            if ((rng() & 1U) != 0) {
                std::iota(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n), next);
                done = ring.write(buf.data(), n);
            } else {
                RingRegions<uint64_t> free = ring.write_regions(n);
                for (uint64_t& slot : free.first) {
                    if (done == n) {
                        break;
                    }
                    slot = next + done++;
                }
                for (uint64_t& slot : free.second) {
                    if (done == n) {
                        break;
                    }
                    slot = next + done++;
                }
                ring.commit_write(done);
            }
            next += done;
            if (done == 0) {
                std::this_thread::yield();
            }
        }
    });

    std::mt19937_64 rng(seed ^ 0x5555);
    std::uniform_int_distribution<std::size_t> burst(1, 1500);
    std::vector<uint64_t> buf(1500);
    uint64_t expected = 0;
    uint64_t mismatches = 0;
    while (expected < kStressItems && mismatches == 0) {
        const std::size_t n = burst(rng);
        std::size_t got = 0;
        if ((rng() & 1U) != 0) {
            got = ring.read(buf.data(), n);
            for (std::size_t k = 0; k < got; ++k) {
                mismatches += buf[k] != expected + k ? 1 : 0;
            }
        } else {
            RingRegions<const uint64_t> data = ring.read_regions(n);
            for (uint64_t v : data.first) {
                if (got == n) {
                    break;
                }
                mismatches += v != expected + got++ ? 1 : 0;
            }
            for (uint64_t v : data.second) {
                if (got == n) {
                    break;
                }
                mismatches += v != expected + got++ ? 1 : 0;
            }
            ring.commit_read(got);
        }
        expected += got;
        if (got == 0) {
            std::this_thread::yield();
        }
    }
    failed.store(mismatches != 0);
    producer.join();
    EXPECT_EQ(mismatches, 0U) << "near item " << expected << ", seed " << seed;
    EXPECT_EQ(expected, kStressItems) << "seed " << seed;
    EXPECT_EQ(ring.readable(), 0U);
}

// Audio-shaped: a byte ring, frame-sized bursts, the consumer draining in large reads.
TEST(SpscRingStress, ByteStreamSurvivesRandomBursts) {
    SpscRing<std::byte> ring(3ULL * 4096);
    const uint64_t seed = test_seed();
    std::atomic<bool> failed{false};

    std::thread producer([&] {
        std::mt19937_64 rng(seed + 1);
        std::uniform_int_distribution<std::size_t> frames(1, 1024);
        std::vector<std::byte> buf(1024ULL * 6);
        uint64_t next = 0;
        while (next < kStressItems && !failed.load(std::memory_order_relaxed)) {
            const std::size_t n =
                static_cast<std::size_t>(std::min<uint64_t>(frames(rng) * 6, kStressItems - next));
            for (std::size_t k = 0; k < n; ++k) {
                buf[k] = std::byte{byte_at(next + k)};
            }
            std::size_t done = 0;
            while (done < n && !failed.load(std::memory_order_relaxed)) {
                const std::size_t w = ring.write(buf.data() + done, n - done);
                done += w;
                if (w == 0) {
                    std::this_thread::yield();
                }
            }
            next += n;
        }
    });

    std::mt19937_64 rng(seed + 2);
    std::uniform_int_distribution<std::size_t> burst(1, 16384);
    std::vector<std::byte> buf(16384);
    uint64_t expected = 0;
    bool ok = true;
    while (expected < kStressItems && ok) {
        const std::size_t got = ring.read(buf.data(), burst(rng));
        for (std::size_t k = 0; k < got && ok; ++k) {
            ok = buf[k] == std::byte{byte_at(expected + k)};
        }
        expected += got;
        if (got == 0) {
            std::this_thread::yield();
        }
    }
    failed.store(!ok);
    producer.join();
    EXPECT_TRUE(ok) << "byte stream corrupted near " << expected << ", seed " << seed;
    EXPECT_EQ(expected, kStressItems) << "seed " << seed;
}

}  // namespace
