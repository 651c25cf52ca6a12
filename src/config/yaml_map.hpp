// Typed, checked reading of one YAML mapping for the config loader. The only yaml-cpp seam: every
// value leaves here as a plain C++ value plus the line it came from, and every problem is
// collected as a ConfigIssue instead of thrown, so one pass reports them all.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "framestamp/config.hpp"

namespace framestamp::config_detail {

class IssueList {
  public:
    explicit IssueList(std::string file) : file_(std::move(file)) {}
    void add(int line, std::string key, std::string message);
    bool empty() const { return issues_.empty(); }
    // The issues in file order (stable for issues on the same line).
    std::vector<ConfigIssue> sorted() const;

  private:
    std::string file_;
    std::vector<ConfigIssue> issues_;
};

// 1-based line of a node, or 0 when yaml-cpp has no position for it.
int node_line(const YAML::Node& node);

// "a mapping", "a list", "an empty value", or the scalar quoted: for "expected X, got Y".
std::string describe_node(const YAML::Node& node);

// Edit distance counting insertions, deletions, substitutions and swaps of neighbours, ignoring
// ASCII case (a key that differs only in case is distance 0 from the right one).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate nearest to word if it is close enough to be a plausible typo, else empty.
std::string_view closest_match(std::string_view word, std::span<const std::string_view> candidates);

// A value read from the mapping. Absent keys and empty values ("key:" with nothing after it) are
// neither ok nor bad, so the caller's default applies.
template <typename T>
struct Field {
    std::optional<T> value;  // set when present and valid
    bool bad = false;        // present but invalid; the issue is already reported
    int line = 0;            // line of the key, or of the mapping when the key is absent

    T get_or(T fallback) const { return value.value_or(std::move(fallback)); }
};

// Returns a hint such as "'rate_hz' belongs in each entry under 'streams'" for a key that is
// unknown at this level but known at another one, or an empty string.
using KeyHint = std::string (*)(std::string_view key);

class MapReader {
  public:
    // map must be a YAML mapping. Reports, at once, keys that are unknown at this level (with a
    // "did you mean" suggestion or a hint from misplaced), duplicate keys and non-scalar keys.
    // path is the key path of the mapping itself ("" at the top level, "streams[0]", ...).
    MapReader(const YAML::Node& map, std::string path, IssueList& issues,
              std::span<const std::string_view> known, KeyHint misplaced = nullptr);

    int line() const { return line_; }
    bool has(std::string_view key) const { return find(key) != nullptr; }
    // Line of the key, or of the mapping when the key is absent.
    int key_line(std::string_view key) const;
    // "streams[0].rate_hz".
    std::string path(std::string_view key) const;
    // Reports a problem with key at its line (the mapping's line when the key is absent).
    void report(std::string_view key, std::string message) const;
    // The key's value, or nullptr when the key is absent.
    const YAML::Node* value(std::string_view key) const;

    // A decimal integer in lo..hi.
    Field<int64_t> integer(std::string_view key, int64_t lo, int64_t hi) const;
    // A finite decimal number in lo..hi.
    Field<double> real(std::string_view key, double lo, double hi) const;
    // Any scalar, taken as text. A required key that is absent or empty is reported.
    Field<std::string> text(std::string_view key, bool required) const;
    // A scalar that must be one of choices (exact case); returns the index into choices.
    Field<std::size_t> choice(std::string_view key,
                              std::span<const std::string_view> choices) const;

  private:
    struct Entry {
        std::string key;
        YAML::Node value;
        int line;
    };
    const Entry* find(std::string_view key) const;
    // The key's scalar text, or nullopt after reporting "expected <what>" for a non-scalar. Sets
    // field.line. Returns nullopt without a report for an absent key or an empty value.
    template <typename T>
    std::optional<std::string> scalar(std::string_view key, std::string_view what,
                                      Field<T>& field) const;

    std::vector<Entry> entries_;
    std::string path_;
    IssueList* issues_;
    int line_;
};

}  // namespace framestamp::config_detail
