#pragma once

#include <cstdio>

namespace framestamp {

// Prints the ALSA cards and capture PCMs with the rates, channels and formats they accept.
// Returns 0, or 1 if ALSA gave no device list.
int list_devices(std::FILE* out);

}  // namespace framestamp
