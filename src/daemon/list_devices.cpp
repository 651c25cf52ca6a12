// framestampd --list-devices: the ALSA cards and capture PCMs, with what each accepts, so a field
// engineer can pick the device name and a rate the card really supports.
#include <alsa/asoundlib.h>

#include <cstdio>
#include <string>

#include "daemon/list_devices.hpp"

namespace framestamp {

namespace {

constexpr unsigned kRates[] = {8000,  11025, 16000, 22050,  32000,  44100,
                               48000, 88200, 96000, 176400, 192000, 384000};
constexpr snd_pcm_format_t kFormats[] = {SND_PCM_FORMAT_S16_LE, SND_PCM_FORMAT_S24_LE,
                                         SND_PCM_FORMAT_S24_3LE, SND_PCM_FORMAT_S32_LE,
                                         SND_PCM_FORMAT_FLOAT_LE};

void describe_capture(std::FILE* out, const char* name) {
    snd_pcm_t* pcm = nullptr;
    int err = snd_pcm_open(&pcm, name, SND_PCM_STREAM_CAPTURE, SND_PCM_NONBLOCK);
    if (err < 0) {
        std::fprintf(out, "    cannot open for capture: %s\n", snd_strerror(err));
        return;
    }
    snd_pcm_hw_params_t* hw = nullptr;
    snd_pcm_hw_params_alloca(&hw);
    if ((err = snd_pcm_hw_params_any(pcm, hw)) < 0) {
        std::fprintf(out, "    no hardware parameters: %s\n", snd_strerror(err));
        snd_pcm_close(pcm);
        return;
    }
    unsigned rmin = 0;
    unsigned rmax = 0;
    unsigned cmin = 0;
    unsigned cmax = 0;
    int dir = 0;
    snd_pcm_hw_params_get_rate_min(hw, &rmin, &dir);
    snd_pcm_hw_params_get_rate_max(hw, &rmax, &dir);
    snd_pcm_hw_params_get_channels_min(hw, &cmin);
    snd_pcm_hw_params_get_channels_max(hw, &cmax);
    std::string rates;
    for (unsigned r : kRates) {
        if (snd_pcm_hw_params_test_rate(pcm, hw, r, 0) == 0) {
            rates += (rates.empty() ? "" : " ") + std::to_string(r);
        }
    }
    std::string formats;
    for (snd_pcm_format_t f : kFormats) {
        if (snd_pcm_hw_params_test_format(pcm, hw, f) == 0) {
            formats += (formats.empty() ? "" : " ") + std::string(snd_pcm_format_name(f));
        }
    }
    std::fprintf(out, "    type %s; rates %u..%u Hz (exactly: %s); channels %u..%u; formats %s\n",
                 snd_pcm_type_name(snd_pcm_type(pcm)), rmin, rmax,
                 rates.empty() ? "none of the usual" : rates.c_str(), cmin, cmax,
                 formats.empty() ? "none framestamp records" : formats.c_str());
    snd_pcm_close(pcm);
}

}  // namespace

int list_devices(std::FILE* out) {
    std::fprintf(out, "Sound cards:\n");
    int card = -1;
    int cards = 0;
    while (snd_card_next(&card) == 0 && card >= 0) {
        char* name = nullptr;
        char* longname = nullptr;
        snd_card_get_name(card, &name);
        snd_card_get_longname(card, &longname);
        std::fprintf(out, "  card %d: %s — %s\n", card, name != nullptr ? name : "?",
                     longname != nullptr ? longname : "");
        std::free(name);
        std::free(longname);
        ++cards;
    }
    if (cards == 0) {
        std::fprintf(out, "  (none found)\n");
    }
    std::fprintf(out, "\nCapture PCMs (use the name as a stream's device; prefer hw:CARD=...):\n");
    void** hints = nullptr;
    if (snd_device_name_hint(-1, "pcm", &hints) < 0) {
        std::fprintf(out, "  (ALSA gave no device list)\n");
        return 1;
    }
    for (void** h = hints; *h != nullptr; ++h) {
        char* name = snd_device_name_get_hint(*h, "NAME");
        char* desc = snd_device_name_get_hint(*h, "DESC");
        char* ioid = snd_device_name_get_hint(*h, "IOID");
        // IOID is absent for PCMs that do both directions.
        if (name != nullptr && (ioid == nullptr || std::string(ioid) == "Input")) {
            std::string d = desc != nullptr ? desc : "";
            for (char& c : d) {
                c = c == '\n' ? ' ' : c;
            }
            std::fprintf(out, "  %s\n    %s\n", name, d.c_str());
            describe_capture(out, name);
        }
        std::free(name);
        std::free(desc);
        std::free(ioid);
    }
    snd_device_name_free_hint(hints);
    return 0;
}

}  // namespace framestamp
