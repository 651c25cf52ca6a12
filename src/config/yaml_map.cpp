#include "config/yaml_map.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <system_error>
#include <utility>

namespace framestamp::config_detail {

namespace {

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string number_text(double v) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

std::string join(std::span<const std::string_view> words) {
    std::string out;
    for (const auto w : words) {
        if (!out.empty()) {
            out += ", ";
        }
        out += w;
    }
    return out;
}

}  // namespace

void IssueList::add(int line, std::string key, std::string message) {
    issues_.push_back(ConfigIssue{file_, line, std::move(key), std::move(message)});
}

std::vector<ConfigIssue> IssueList::sorted() const {
    auto out = issues_;
    std::stable_sort(out.begin(), out.end(),
                     [](const ConfigIssue& a, const ConfigIssue& b) { return a.line < b.line; });
    return out;
}

int node_line(const YAML::Node& node) {
    const auto mark = node.Mark();
    return mark.is_null() ? 0 : mark.line + 1;
}

std::string describe_node(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined:
            return "an empty value";
        case YAML::NodeType::Sequence:
            return "a list";
        case YAML::NodeType::Map:
            return "a mapping";
        case YAML::NodeType::Scalar:
            break;
    }
    constexpr std::size_t kMaxShown = 40;
    const std::string& s = node.Scalar();
    return "'" + (s.size() > kMaxShown ? s.substr(0, kMaxShown) + "..." : s) + "'";
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    // Optimal string alignment distance over three rolling rows; keys are short.
    std::vector<std::size_t> prev2(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        prev[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const bool same = lower(a[i - 1]) == lower(b[j - 1]);
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (same ? 0 : 1)});
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
                lower(a[i - 2]) == lower(b[j - 1])) {
                cur[j] = std::min(cur[j], prev2[j - 2] + 1);
            }
        }
        std::swap(prev2, prev);
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::string_view closest_match(std::string_view word,
                               std::span<const std::string_view> candidates) {
    // A typo of a short word changes a larger share of it, so allow fewer edits there.
    const std::size_t allowed = word.size() <= 4 ? 1 : (word.size() <= 8 ? 2 : 3);
    std::string_view best;
    std::size_t best_distance = std::numeric_limits<std::size_t>::max();
    for (const auto c : candidates) {
        const std::size_t d = edit_distance(word, c);
        if (d <= allowed && d < best_distance) {
            best = c;
            best_distance = d;
        }
    }
    if (!best.empty() || word.size() < 3) {
        return best;
    }
    // A unit suffix left off or added ("rate" for "rate_hz", "latitude_deg" for "latitude").
    for (const auto c : candidates) {
        if (c.starts_with(word) || word.starts_with(c)) {
            return c;
        }
    }
    return {};
}

MapReader::MapReader(const YAML::Node& map, std::string path, IssueList& issues,
                     std::span<const std::string_view> known, KeyHint misplaced)
    : path_(std::move(path)), issues_(&issues), line_(std::max(1, node_line(map))) {
    for (auto it = map.begin(); it != map.end(); ++it) {
        const YAML::Node key_node = it->first;  // a copy: it-> returns a temporary proxy
        const int line = node_line(key_node) > 0 ? node_line(key_node) : line_;
        if (!key_node.IsScalar()) {
            issues.add(line, path_, "keys must be plain names, got " + describe_node(key_node));
            continue;
        }
        const std::string& key = key_node.Scalar();
        if (const Entry* first = find(key)) {
            issues.add(line, this->path(key),
                       "duplicate key; already given at line " + std::to_string(first->line));
            continue;
        }
        entries_.push_back(Entry{key, it->second, line});
        if (std::find(known.begin(), known.end(), key) != known.end()) {
            continue;
        }
        std::string message = "unknown key";
        if (key == "<<") {
            message = "YAML merge keys ('<<') are not supported; write the keys out in full";
        } else if (const auto near = closest_match(key, known); !near.empty()) {
            message += "; did you mean '" + std::string(near) + "'?";
        } else if (const std::string hint = misplaced != nullptr ? misplaced(key) : "";
                   !hint.empty()) {
            message += "; " + hint;
        } else {
            message += " (known keys here: " + join(known) + ")";
        }
        issues.add(line, this->path(key), std::move(message));
    }
}

const MapReader::Entry* MapReader::find(std::string_view key) const {
    for (const auto& e : entries_) {
        if (e.key == key) {
            return &e;
        }
    }
    return nullptr;
}

int MapReader::key_line(std::string_view key) const {
    const Entry* e = find(key);
    return e != nullptr ? e->line : line_;
}

std::string MapReader::path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void MapReader::report(std::string_view key, std::string message) const {
    issues_->add(key_line(key), path(key), std::move(message));
}

const YAML::Node* MapReader::value(std::string_view key) const {
    const Entry* e = find(key);
    return e != nullptr ? &e->value : nullptr;
}

template <typename T>
std::optional<std::string> MapReader::scalar(std::string_view key, std::string_view what,
                                             Field<T>& field) const {
    field.line = key_line(key);
    const Entry* e = find(key);
    if (e == nullptr || e->value.IsNull()) {
        return std::nullopt;
    }
    if (!e->value.IsScalar()) {
        report(key, "expected " + std::string(what) + ", got " + describe_node(e->value));
        field.bad = true;
        return std::nullopt;
    }
    return e->value.Scalar();
}

Field<int64_t> MapReader::integer(std::string_view key, int64_t lo, int64_t hi) const {
    Field<int64_t> field;
    const auto s = scalar(key, "an integer", field);
    if (!s) {
        return field;
    }
    const std::string range = " (must be " + std::to_string(lo) + ".." + std::to_string(hi) + ")";
    std::string_view digits = *s;
    if (digits.starts_with('+')) {
        digits.remove_prefix(1);
    }
    int64_t v = 0;
    const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    field.bad = true;
    if (r.ec == std::errc::result_out_of_range) {
        report(key, "out of range: " + *s + range);
    } else if (r.ec != std::errc() || r.ptr != digits.data() + digits.size() || digits.empty()) {
        report(key, "expected an integer, got " + describe_node(*value(key)));
    } else if (v < lo || v > hi) {
        report(key, "out of range: " + *s + range);
    } else {
        field.bad = false;
        field.value = v;
    }
    return field;
}

Field<double> MapReader::real(std::string_view key, double lo, double hi) const {
    Field<double> field;
    const auto s = scalar(key, "a number", field);
    if (!s) {
        return field;
    }
    std::string_view digits = *s;
    if (digits.starts_with('+')) {
        digits.remove_prefix(1);
    }
    double v = 0;
    const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    field.bad = true;
    if (r.ec != std::errc() || r.ptr != digits.data() + digits.size() || digits.empty() ||
        !std::isfinite(v)) {
        report(key, "expected a number, got " + describe_node(*value(key)));
    } else if (v < lo || v > hi) {
        report(key, "out of range: " + *s + " (must be " + number_text(lo) + ".." +
                        number_text(hi) + ")");
    } else {
        field.bad = false;
        field.value = v;
    }
    return field;
}

Field<std::string> MapReader::text(std::string_view key, bool required) const {
    Field<std::string> field;
    field.value = scalar(key, "a string", field);
    if (!field.value && !field.bad && required) {
        report(key, has(key) ? "required key has an empty value" : "missing required key");
        field.bad = true;
    }
    return field;
}

Field<std::size_t> MapReader::choice(std::string_view key,
                                     std::span<const std::string_view> choices) const {
    Field<std::size_t> field;
    const auto s = scalar(key, "one of " + join(choices), field);
    if (!s) {
        return field;
    }
    const auto it = std::find(choices.begin(), choices.end(), *s);
    if (it != choices.end()) {
        field.value = static_cast<std::size_t>(it - choices.begin());
        return field;
    }
    std::string message = describe_node(*value(key)) + " is not one of " + join(choices);
    if (const auto near = closest_match(*s, choices); !near.empty()) {
        message += "; did you mean '" + std::string(near) + "'?";
    }
    report(key, std::move(message));
    field.bad = true;
    return field;
}

}  // namespace framestamp::config_detail
