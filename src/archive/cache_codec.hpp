// Byte-level writing and reading of the index cache (native byte order; the file's header
// carries a tag that rejects another order). Shared by cache.cpp (the file) and cache_index.cpp
// (the index part).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "archive/archive_impl.hpp"

namespace framestamp::archive {

// A fast 64-bit hash, 32 bytes a step in four lanes: guards the cache against torn or damaged
// bytes only.
uint64_t hash64(std::string_view bytes);

class Out {
  public:
    template <typename T>
    void put(T v) {
        static_assert(std::is_trivially_copyable_v<T>);
        s.append(reinterpret_cast<const char*>(&v), sizeof v);
    }
    void str(std::string_view v) {
        put(static_cast<uint32_t>(v.size()));
        s.append(v);
    }
    // A length-prefixed block, so a reader can take it as a view and parse it later.
    void block(std::string_view v) {
        put(static_cast<uint64_t>(v.size()));
        s.append(v);
    }
    std::string s;
};

// Thrown by In on bytes that do not parse; the reader treats the cache as absent.
struct Corrupt {};

class In {
  public:
    explicit In(std::string_view b) : b_(b) {}
    template <typename T>
    T get() {
        if (b_.size() - pos_ < sizeof(T)) {
            throw Corrupt{};
        }
        T v;
        std::memcpy(&v, b_.data() + pos_, sizeof v);
        pos_ += sizeof v;
        return v;
    }
    std::string str() { return std::string(str_view()); }
    std::string_view str_view() { return view(get<uint32_t>()); }
    std::string_view block() { return view(get<uint64_t>()); }
    std::string_view view(uint64_t n) {
        if (b_.size() - pos_ < n) {
            throw Corrupt{};
        }
        const std::string_view v = b_.substr(pos_, n);
        pos_ += n;
        return v;
    }
    // A count of items each at least `min_bytes` long: larger than what is left is corrupt.
    uint64_t count(uint64_t min_bytes) {
        const auto n = get<uint64_t>();
        if (n > (b_.size() - pos_) / min_bytes) {
            throw Corrupt{};
        }
        return n;
    }
    bool at_end() const { return pos_ == b_.size(); }

  private:
    std::string_view b_;
    std::size_t pos_ = 0;
};

// The index part's fixed sections into `out` (throws Corrupt); false when it is for another
// root.
bool parse_index(std::string_view index, const std::filesystem::path& root, CacheView& out);

}  // namespace framestamp::archive
