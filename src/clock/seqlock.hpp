// A single-writer sequence lock over a small trivially copyable value, for readers that must
// never block: the capture threads. The value lives in relaxed atomic words, so a read that
// overlaps a write is detected by the sequence number and retried, never undefined behaviour.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace framestamp::clock_detail {

template <typename T>
class Seqlock {
    static_assert(std::is_trivially_copyable_v<T>);
    static constexpr std::size_t kWords = (sizeof(T) + sizeof(uint64_t) - 1) / sizeof(uint64_t);

  public:
    // Readers give up after this many overlapping writes rather than spin: a real-time reader
    // could otherwise spin forever on a writer it has preempted on the same core.
    static constexpr int kMaxAttempts = 64;

    // Callers serialise writers.
    void store(const T& value) {
        std::array<uint64_t, kWords> words{};
        std::memcpy(words.data(), &value, sizeof(T));
        const uint64_t seq = seq_.load(std::memory_order_relaxed);
        seq_.store(seq + 1, std::memory_order_relaxed);  // odd: a write is in progress
        std::atomic_thread_fence(std::memory_order_release);
        for (std::size_t i = 0; i < kWords; ++i) {
            words_[i].store(words[i], std::memory_order_relaxed);
        }
        seq_.store(seq + 2, std::memory_order_release);
    }

    // Copies the value into out and returns true, or returns false (out untouched) when writes
    // overlapped kMaxAttempts reads in a row. Never blocks. Before the first store, out gets a
    // zero-filled T.
    bool try_load(T& out) const {
        for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
            const uint64_t before = seq_.load(std::memory_order_acquire);
            if ((before & 1) != 0) {
                continue;
            }
            std::array<uint64_t, kWords> words{};
            for (std::size_t i = 0; i < kWords; ++i) {
                words[i] = words_[i].load(std::memory_order_relaxed);
            }
            std::atomic_thread_fence(std::memory_order_acquire);
            if (seq_.load(std::memory_order_relaxed) == before) {
                std::memcpy(static_cast<void*>(&out), words.data(), sizeof(T));
                return true;
            }
        }
        return false;
    }

  private:
    std::atomic<uint64_t> seq_{0};
    std::array<std::atomic<uint64_t>, kWords> words_{};
};

}  // namespace framestamp::clock_detail
