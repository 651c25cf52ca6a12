// Lock-free single-producer single-consumer ring between the capture thread (producer) and the
// writer thread (consumer). The producer never waits: when the ring is full, write() returns a
// short count and the caller decides (count an overrun), so a stalled disk can never stall capture.
//
// Counters: head_ counts items ever written, tail_ items ever read. Both are 64-bit and only grow
// (at 1 GB/s they would wrap after 584 years), so head_ - tail_ is the fill level without the
// "one slot empty" trick, and the capacity is a power of two so an index is counter & mask_.
// The producer publishes data with a release store of head_ that the consumer acquires, and the
// consumer frees space with a release store of tail_ that the producer acquires; nothing else is
// shared. Each side keeps a plain copy of the other side's counter and reloads it only when that
// copy says there is not enough room (or data), which keeps the other side's cache line from
// bouncing between cores on every call.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace framestamp {

// Up to two contiguous pieces of a ring: `first` starts at the oldest free slot (write side) or
// the oldest item (read side); `second` is non-empty only when the range wraps to the start.
template <typename T>
struct RingRegions {
    std::span<T> first;
    std::span<T> second;

    std::size_t size() const { return first.size() + second.size(); }
    bool empty() const { return size() == 0; }
};

template <typename T>
class SpscRing {
    static_assert(std::is_trivially_copyable_v<T>, "SpscRing copies items with memcpy");

  public:
    // Cache line size assumed for separating the two sides' counters, in bytes.
    static constexpr std::size_t kCacheLineBytes = 64;

    // Holds at least min_capacity items (rounded up to a power of two, at least 1). Allocates and
    // zero-fills the storage once, here, so that its pages are resident before capture starts.
    explicit SpscRing(std::size_t min_capacity) {
        const std::size_t wanted = std::max<std::size_t>(min_capacity, 1);
        if (wanted > (std::numeric_limits<std::size_t>::max() / 2 + 1) / sizeof(T)) {
            throw std::length_error("SpscRing: capacity too large");
        }
        capacity_ = std::bit_ceil(wanted);
        mask_ = capacity_ - 1;
        data_ = std::make_unique<T[]>(capacity_);
    }

    ~SpscRing() = default;
    SpscRing(const SpscRing&) = delete;
    SpscRing& operator=(const SpscRing&) = delete;

    // Moving is only allowed while neither thread uses either ring. The moved-from ring is empty
    // with capacity 0: every write and read on it transfers nothing.
    SpscRing(SpscRing&& other) noexcept
        : data_(std::move(other.data_)),
          capacity_(std::exchange(other.capacity_, 0)),
          mask_(std::exchange(other.mask_, 0)),
          head_(other.head_.exchange(0, std::memory_order_relaxed)),
          tail_cache_(std::exchange(other.tail_cache_, 0)),
          tail_(other.tail_.exchange(0, std::memory_order_relaxed)),
          head_cache_(std::exchange(other.head_cache_, 0)) {}

    SpscRing& operator=(SpscRing&& other) noexcept {
        if (this != &other) {
            data_ = std::move(other.data_);
            capacity_ = std::exchange(other.capacity_, 0);
            mask_ = std::exchange(other.mask_, 0);
            head_.store(other.head_.exchange(0, std::memory_order_relaxed),
                        std::memory_order_relaxed);
            tail_cache_ = std::exchange(other.tail_cache_, 0);
            tail_.store(other.tail_.exchange(0, std::memory_order_relaxed),
                        std::memory_order_relaxed);
            head_cache_ = std::exchange(other.head_cache_, 0);
        }
        return *this;
    }

    // In items. Constant for the ring's life.
    std::size_t capacity() const noexcept { return capacity_; }

    // Items ready to read. Exact from the consumer thread; from the producer thread a lower bound
    // of what the consumer will see; from any other thread a snapshot.
    std::size_t readable() const noexcept { return used(); }

    // Free slots. Exact from the producer thread; a lower bound from the consumer thread.
    std::size_t writable() const noexcept { return capacity_ - used(); }

    // ---- Producer side (one thread only) ----

    // Copies up to n items in and returns how many fit (0 when full). Never blocks.
    std::size_t write(const T* src, std::size_t n) noexcept {
        const RingRegions<T> free = write_regions(n);
        const std::size_t count = std::min(n, free.size());
        if (count == 0) {
            return 0;
        }
        const std::size_t first = std::min(count, free.first.size());
        std::memcpy(free.first.data(), src, first * sizeof(T));
        if (count > first) {
            std::memcpy(free.second.data(), src + first, (count - first) * sizeof(T));
        }
        commit_write(count);
        return count;
    }

    // All free space known to the producer, for filling in place. The other side's counter is
    // reloaded only when the cached copy shows fewer than `wanted` free slots, so a caller that
    // needs only a little room avoids touching the consumer's cache line.
    RingRegions<T> write_regions(
        std::size_t wanted = std::numeric_limits<std::size_t>::max()) noexcept {
        const std::uint64_t head = head_.load(std::memory_order_relaxed);
        std::size_t free = capacity_ - static_cast<std::size_t>(head - tail_cache_);
        if (free < wanted) {
            tail_cache_ = tail_.load(std::memory_order_acquire);
            free = capacity_ - static_cast<std::size_t>(head - tail_cache_);
        }
        return regions<T>(head, free);
    }

    // Publishes the first n items of the last write_regions() (in order: first, then second).
    // n must not exceed what that call offered: more is a bug, asserted in debug builds and
    // clamped otherwise.
    void commit_write(std::size_t n) noexcept {
        const std::uint64_t head = head_.load(std::memory_order_relaxed);
        const std::size_t free = capacity_ - static_cast<std::size_t>(head - tail_cache_);
        assert(n <= free);
        head_.store(head + std::min(n, free), std::memory_order_release);
    }

    // ---- Consumer side (one thread only) ----

    // Copies up to n items out and returns how many there were (0 when empty). Never blocks.
    std::size_t read(T* dst, std::size_t n) noexcept {
        const RingRegions<const T> data = read_regions(n);
        const std::size_t count = std::min(n, data.size());
        if (count == 0) {
            return 0;
        }
        const std::size_t first = std::min(count, data.first.size());
        std::memcpy(dst, data.first.data(), first * sizeof(T));
        if (count > first) {
            std::memcpy(dst + first, data.second.data(), (count - first) * sizeof(T));
        }
        commit_read(count);
        return count;
    }

    // All data known to the consumer, oldest first, for reading in place. As write_regions(), the
    // producer's counter is reloaded only when fewer than `wanted` items are known.
    RingRegions<const T> read_regions(
        std::size_t wanted = std::numeric_limits<std::size_t>::max()) noexcept {
        const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
        auto avail = static_cast<std::size_t>(head_cache_ - tail);
        if (avail < wanted) {
            head_cache_ = head_.load(std::memory_order_acquire);
            avail = static_cast<std::size_t>(head_cache_ - tail);
        }
        return regions<const T>(tail, avail);
    }

    // Releases the first n items of the last read_regions() to the producer. n must not exceed
    // what that call offered (asserted in debug builds, clamped otherwise).
    void commit_read(std::size_t n) noexcept {
        const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
        const auto avail = static_cast<std::size_t>(head_cache_ - tail);
        assert(n <= avail);
        tail_.store(tail + std::min(n, avail), std::memory_order_release);
    }

  private:
    // Fill level. tail_ is loaded first: the acquire makes the head_ loaded after it at least as
    // new as the one the consumer had seen, so head >= tail even from a third thread.
    std::size_t used() const noexcept {
        const std::uint64_t tail = tail_.load(std::memory_order_acquire);
        const std::uint64_t head = head_.load(std::memory_order_acquire);
        return static_cast<std::size_t>(std::min<std::uint64_t>(head - tail, capacity_));
    }

    // The n slots starting at counter value `start`, split where the storage wraps.
    template <typename U>
    RingRegions<U> regions(std::uint64_t start, std::size_t n) const noexcept {
        if (n == 0) {
            return {};
        }
        const std::size_t index = static_cast<std::size_t>(start) & mask_;
        const std::size_t first = std::min(n, capacity_ - index);
        T* base = data_.get();
        return RingRegions<U>{std::span<U>(base + index, first), std::span<U>(base, n - first)};
    }

    // Written only at construction and by moves; read by both sides.
    alignas(kCacheLineBytes) std::unique_ptr<T[]> data_;
    std::size_t capacity_ = 0;
    std::size_t mask_ = 0;

    // The producer's cache line: its counter and its copy of the consumer's.
    alignas(kCacheLineBytes) std::atomic<std::uint64_t> head_{0};
    std::uint64_t tail_cache_ = 0;

    // The consumer's cache line.
    alignas(kCacheLineBytes) std::atomic<std::uint64_t> tail_{0};
    std::uint64_t head_cache_ = 0;
};

}  // namespace framestamp
