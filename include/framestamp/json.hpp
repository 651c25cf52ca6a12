// JSON text for the CLI's and verify's machine-readable output.
#pragma once

#include <string>
#include <string_view>

namespace framestamp {

// `s` as a JSON string literal, quotes included: ", \ and control characters escaped, UTF-8
// passed through unchanged.
std::string json_string(std::string_view s);

}  // namespace framestamp
