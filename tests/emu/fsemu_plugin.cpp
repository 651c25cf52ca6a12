// fsemu: an ALSA external I/O (ioplug) capture PCM that behaves like a USB sound card whose
// crystal is off. See docs/emulated-card.md for every parameter.
//
// Time base: CLOCK_MONOTONIC, with the card's origin taken when the PCM is opened. The "true"
// CLOCK_REALTIME of any instant is origin_realtime + (monotonic - origin_monotonic), so an NTP
// step during a test does not move the card.
//
// alsa-lib facts this relies on (1.2.8): the pointer callback's return is the hardware position
// modulo the boundary (SND_PCM_IOPLUG_FLAG_BOUNDARY_WA); a negative return always becomes XRUN
// (-EPIPE), so a disconnect is signalled by setting the DISCONNECTED state instead, which the
// read path reports as -ENODEV; the read path only waits when avail is 0, so poll reports POLLIN
// as soon as any frame is available; snd_pcm_status calls the pointer callback before it takes
// its timestamp, so a reported position is never ahead of its timestamp.

#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>
#include <poll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "fsemu_model.hpp"

namespace {

using fsemu::CardClock;
using fsemu::Format;
using fsemu::SignalGenerator;

constexpr int64_t kNsPerS = 1'000'000'000;
constexpr int64_t kPresentCheckNs = 20'000'000;  // how often present_file is looked at

int64_t now_ns(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<int64_t>(ts.tv_sec) * kNsPerS + ts.tv_nsec;
}

enum class Wakeup { timer, step };

struct EmuConfig {
    fsemu::ClockParams clock;
    fsemu::SignalParams signal;
    // How the hardware pointer moves and how late its steps become visible; its
    // granularity_frames is the frames mode's step.
    fsemu::PointerParams pointer;
    std::optional<Wakeup> wakeup;  // unset: step for usb and period pointers, timer for frames
    bool truth_steps = false;      // write a "step" row to the truth log for every pointer step
    int64_t jitter_ns = 0;         // extra latency of each position reading, uniform [0, jitter]
    int64_t min_wakeup_ns = 1'000'000;
    std::string truth_log;
    int64_t truth_every_frames = 0;  // 0: rate / 100
    double stall_at_s = -1;          // seconds after the first start; < 0: never
    double stall_s = 0;
    double disconnect_at_s = -1;  // seconds after the first start; < 0: never
    std::string present_file;     // when set: the card is plugged in iff this file exists
    std::vector<unsigned> rates;  // empty: any rate in [8000, 384000]
    unsigned channels_min = 1;
    unsigned channels_max = 32;
    uint64_t seed = 1;
};

struct Emu {
    snd_pcm_ioplug_t io{};
    EmuConfig cfg;
    std::optional<CardClock> clock;
    std::optional<SignalGenerator> gen;
    std::optional<fsemu::CardPointer> pointer;
    std::vector<fsemu::PointerStep> passed;  // steps seen by the last position query
    Wakeup wakeup = Wakeup::timer;
    std::mt19937_64 rng;

    int64_t origin_mono_ns = 0;
    int64_t origin_rt_ns = 0;
    int timer_fd = -1;

    Format format = Format::s16_le;
    unsigned channels = 0;
    snd_pcm_uframes_t buffer_size = 0;
    snd_pcm_uframes_t boundary = 0;

    // Per start (reset by prepare).
    bool running = false;
    bool xrun = false;
    int64_t start_card_frame = 0;
    uint64_t appl_frames = 0;  // frames transferred to the application since the start
    uint64_t hw_frames = 0;    // last stream position reported
    uint64_t start_index = 0;  // how many starts since open

    // Whole open.
    int64_t last_card_pos = 0;
    bool started_once = false;
    int64_t first_start_mono_ns = 0;
    bool stalled = false;
    bool disconnected = false;
    int64_t last_present_check_ns = 0;  // monotonic ns of the last look at present_file
    FILE* truth = nullptr;
    bool truth_header_written = false;

    int64_t mono_to_rt(int64_t mono) const { return origin_rt_ns + (mono - origin_mono_ns); }
    int64_t true_rt_of_card_frame(int64_t frame) const {
        return origin_rt_ns + clock->time_of(static_cast<double>(frame));
    }
};

Emu* emu_of(snd_pcm_ioplug_t* io) {
    return static_cast<Emu*>(io->private_data);
}

void truth_row(Emu* e, const char* kind, uint64_t stream_frame, int64_t card_frame,
               int64_t realtime_ns, int channel, int64_t latency_ns = 0) {
    if (e->truth == nullptr) {
        return;
    }
    if (!e->truth_header_written) {
        const auto& c = e->clock->params();
        const auto& p = e->pointer->params();
        std::fprintf(e->truth,
                     "# fsemu truth log v2: rate_hz=%.0f offset_ppm=%.6f wander_ppm=%.6f "
                     "wander_period_s=%.3f granularity_frames=%" PRId64 " jitter_ns=%" PRId64
                     " origin_realtime_ns=%" PRId64 " pointer=%s urb_packets=%" PRId64
                     " packet_ns=%" PRId64 " period_frames=%" PRId64 " completion_ns=%" PRId64
                     " completion_tail_prob=%.6f completion_tail_ns=%" PRId64 " wakeup=%s\n",
                     c.rate_hz, c.offset_ppm, c.wander_ppm, c.wander_period_s, p.granularity_frames,
                     e->cfg.jitter_ns, e->origin_rt_ns, fsemu::pointer_mode_name(p.mode),
                     p.urb_packets, p.packet_ns, p.period_frames, p.completion_mean_ns, p.tail_prob,
                     p.tail_ns, e->wakeup == Wakeup::step ? "step" : "timer");
        std::fprintf(e->truth,
                     "kind,start_index,stream_frame,card_frame,realtime_ns,channel,latency_ns\n");
        e->truth_header_written = true;
    }
    std::fprintf(e->truth, "%s,%" PRIu64 ",%" PRIu64 ",%" PRId64 ",%" PRId64 ",%d,%" PRId64 "\n",
                 kind, e->start_index, stream_frame, card_frame, realtime_ns, channel, latency_ns);
}

// Truth rows for the pointer steps the last query made visible (truth_steps).
void log_steps(Emu* e) {
    for (const auto& s : e->passed) {
        if (e->running && s.frame >= e->start_card_frame) {
            truth_row(e, "step", static_cast<uint64_t>(s.frame - e->start_card_frame), s.frame,
                      e->origin_rt_ns + s.true_ns, -1, s.latency_ns);
        }
    }
    e->passed.clear();
}

// The card's frame counter as the hardware shows it at monotonic time `mono` (no reading
// latency): the pointer model's visible position, never going backwards.
int64_t hw_position(Emu* e, int64_t mono) {
    int64_t pos =
        e->pointer->visible_at(mono - e->origin_mono_ns, e->cfg.truth_steps ? &e->passed : nullptr);
    log_steps(e);
    if (pos < e->last_card_pos) {
        pos = e->last_card_pos;
    }
    e->last_card_pos = pos;
    return pos;
}

// The card's frame counter as a reading taken at monotonic time `mono` would see it: the
// pointer model's visible position, optionally late by a random latency (jitter_us: a
// scheduling delay between reading the pointer and taking the timestamp).
int64_t card_position(Emu* e, int64_t mono) {
    int64_t latency = 0;
    if (e->cfg.jitter_ns > 0) {
        std::uniform_int_distribution<int64_t> dist(0, e->cfg.jitter_ns);
        latency = dist(e->rng);
    }
    return hw_position(e, mono - latency);
}

void disconnect(Emu* e, int64_t mono) {
    if (e->disconnected) {
        return;
    }
    e->disconnected = true;
    e->running = false;
    truth_row(e, "disconnect", e->hw_frames, e->last_card_pos, e->mono_to_rt(mono), -1);
    snd_pcm_ioplug_set_state(&e->io, SND_PCM_STATE_DISCONNECTED);
}

// Scheduled and file-controlled unplugging. Returns true when the card is (now) unplugged.
bool check_unplugged(Emu* e, int64_t mono) {
    if (e->disconnected) {
        return true;
    }
    if (e->cfg.disconnect_at_s >= 0 && e->started_once &&
        mono - e->first_start_mono_ns >=
            static_cast<int64_t>(e->cfg.disconnect_at_s * static_cast<double>(kNsPerS))) {
        if (!e->cfg.present_file.empty()) {
            unlink(e->cfg.present_file.c_str());  // stays unplugged until the test replugs it
        }
        disconnect(e, mono);
        return true;
    }
    if (!e->cfg.present_file.empty() && mono >= e->last_present_check_ns + kPresentCheckNs) {
        e->last_present_check_ns = mono;
        if (access(e->cfg.present_file.c_str(), F_OK) != 0) {
            disconnect(e, mono);
            return true;
        }
    }
    return false;
}

// wakeup timer: a periodic timer at max(one nominal step, min_wakeup). wakeup step: a one-shot
// timer at the instant the next pointer step becomes visible (a URB completion or period
// interrupt), re-armed from poll_revents.
void arm_timer(Emu* e, bool on) {
    itimerspec spec{};
    if (on && e->wakeup == Wakeup::step) {
        const int64_t at = std::max<int64_t>(e->origin_mono_ns + e->pointer->next_visible_ns(), 1);
        spec.it_value.tv_sec = static_cast<time_t>(at / kNsPerS);
        spec.it_value.tv_nsec = static_cast<long>(at % kNsPerS);
        timerfd_settime(e->timer_fd, TFD_TIMER_ABSTIME, &spec, nullptr);
        return;
    }
    if (on) {
        int64_t wake = std::max(e->pointer->nominal_step_ns(), e->cfg.min_wakeup_ns);
        wake = std::max<int64_t>(wake, 1000);
        spec.it_interval.tv_sec = static_cast<time_t>(wake / kNsPerS);
        spec.it_interval.tv_nsec = static_cast<long>(wake % kNsPerS);
        spec.it_value = spec.it_interval;
    }
    timerfd_settime(e->timer_fd, 0, &spec, nullptr);
}

int emu_start(snd_pcm_ioplug_t* io) {
    Emu* e = emu_of(io);
    const int64_t mono = now_ns(CLOCK_MONOTONIC);
    if (check_unplugged(e, mono)) {
        return -ENODEV;
    }
    if (e->pointer->params().mode == fsemu::PointerMode::period) {
        // Period boundaries count from the start (a hardware event: no reading latency).
        e->start_card_frame =
            std::max(e->pointer->start(mono - e->origin_mono_ns), e->last_card_pos);
        e->last_card_pos = e->start_card_frame;
    } else {
        e->start_card_frame = card_position(e, mono);
    }
    e->appl_frames = 0;
    e->hw_frames = 0;
    e->running = true;
    e->xrun = false;
    ++e->start_index;
    if (!e->started_once) {
        e->started_once = true;
        e->first_start_mono_ns = mono;
    }
    truth_row(e, "start", 0, e->start_card_frame, e->true_rt_of_card_frame(e->start_card_frame),
              -1);
    arm_timer(e, true);
    return 0;
}

int emu_stop(snd_pcm_ioplug_t* io) {
    Emu* e = emu_of(io);
    if (e->running) {
        const int64_t mono = now_ns(CLOCK_MONOTONIC);
        const int64_t pos = card_position(e, mono);
        truth_row(e, "stop", static_cast<uint64_t>(pos - e->start_card_frame), pos,
                  e->mono_to_rt(mono), -1);
    }
    e->running = false;
    arm_timer(e, false);
    return 0;
}

snd_pcm_sframes_t emu_pointer(snd_pcm_ioplug_t* io) {
    Emu* e = emu_of(io);
    const int64_t mono = now_ns(CLOCK_MONOTONIC);
    if (check_unplugged(e, mono)) {
        snd_pcm_ioplug_set_state(io, SND_PCM_STATE_DISCONNECTED);
        return static_cast<snd_pcm_sframes_t>(e->hw_frames % e->boundary);
    }
    if (e->xrun) {
        return -EPIPE;
    }
    if (!e->running) {
        return static_cast<snd_pcm_sframes_t>(e->hw_frames % e->boundary);
    }
    const int64_t pos = card_position(e, mono);
    const auto hw = static_cast<uint64_t>(pos - e->start_card_frame);
    if (hw - e->appl_frames > e->buffer_size) {
        // The card has written over frames the application has not read: overrun.
        e->xrun = true;
        truth_row(e, "xrun", hw, pos, e->mono_to_rt(mono), -1);
        return -EPIPE;
    }
    e->hw_frames = hw;
    return static_cast<snd_pcm_sframes_t>(hw % e->boundary);
}

void maybe_stall(Emu* e) {
    if (e->stalled || e->cfg.stall_at_s < 0 || !e->started_once) {
        return;
    }
    const int64_t mono = now_ns(CLOCK_MONOTONIC);
    if (mono - e->first_start_mono_ns <
        static_cast<int64_t>(e->cfg.stall_at_s * static_cast<double>(kNsPerS))) {
        return;
    }
    e->stalled = true;
    truth_row(e, "stall", e->appl_frames,
              e->start_card_frame + static_cast<int64_t>(e->appl_frames), e->mono_to_rt(mono), -1);
    const auto ns = static_cast<int64_t>(e->cfg.stall_s * static_cast<double>(kNsPerS));
    timespec ts{static_cast<time_t>(ns / kNsPerS), static_cast<long>(ns % kNsPerS)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

snd_pcm_sframes_t emu_transfer(snd_pcm_ioplug_t* io, const snd_pcm_channel_area_t* areas,
                               snd_pcm_uframes_t offset, snd_pcm_uframes_t size) {
    Emu* e = emu_of(io);
    maybe_stall(e);
    const int64_t first_card = e->start_card_frame + static_cast<int64_t>(e->appl_frames);
    for (unsigned c = 0; c < e->channels; ++c) {
        const snd_pcm_channel_area_t& a = areas[c];
        auto* base = static_cast<unsigned char*>(a.addr);
        for (snd_pcm_uframes_t i = 0; i < size; ++i) {
            const uint64_t bit = a.first + (offset + i) * a.step;
            const auto frame = static_cast<uint64_t>(first_card) + i;
            fsemu::pack_sample(e->format, e->gen->value(frame, c), base + bit / 8);
        }
    }
    if (e->truth != nullptr) {
        const uint64_t every = static_cast<uint64_t>(e->cfg.truth_every_frames);
        const uint64_t end = e->appl_frames + size;
        for (uint64_t f = (e->appl_frames + every - 1) / every * every; f < end; f += every) {
            const int64_t card = e->start_card_frame + static_cast<int64_t>(f);
            truth_row(e, "point", f, card, e->true_rt_of_card_frame(card), -1);
        }
        const int64_t last_card = first_card + static_cast<int64_t>(size);
        for (unsigned c = 0; c < e->channels; ++c) {
            for (int64_t k : e->gen->clicks_in(first_card, last_card, c)) {
                truth_row(e, "click", static_cast<uint64_t>(k - e->start_card_frame), k,
                          e->true_rt_of_card_frame(k), static_cast<int>(c));
            }
        }
    }
    e->appl_frames += size;
    return static_cast<snd_pcm_sframes_t>(size);
}

int emu_prepare(snd_pcm_ioplug_t* io) {
    Emu* e = emu_of(io);
    if (check_unplugged(e, now_ns(CLOCK_MONOTONIC))) {
        return -ENODEV;
    }
    e->running = false;
    e->xrun = false;
    e->appl_frames = 0;
    e->hw_frames = 0;
    arm_timer(e, false);
    return 0;
}

int emu_hw_params(snd_pcm_ioplug_t* io, snd_pcm_hw_params_t* /*params*/) {
    Emu* e = emu_of(io);
    switch (io->format) {
        case SND_PCM_FORMAT_S16_LE:
            e->format = Format::s16_le;
            break;
        case SND_PCM_FORMAT_S24_LE:
            e->format = Format::s24_le;
            break;
        case SND_PCM_FORMAT_S24_3LE:
            e->format = Format::s24_3le;
            break;
        case SND_PCM_FORMAT_S32_LE:
            e->format = Format::s32_le;
            break;
        case SND_PCM_FORMAT_FLOAT_LE:
            e->format = Format::float_le;
            break;
        default:
            SNDERR("fsemu: unsupported format %s", snd_pcm_format_name(io->format));
            return -EINVAL;
    }
    e->channels = io->channels;
    e->buffer_size = io->buffer_size;
    if (e->boundary == 0) {
        e->boundary = e->buffer_size;
        while (e->boundary * 2 <= static_cast<snd_pcm_uframes_t>(LONG_MAX) - e->buffer_size) {
            e->boundary *= 2;
        }
    }
    fsemu::ClockParams cp = e->cfg.clock;
    cp.rate_hz = io->rate;
    e->gen.reset();
    e->pointer.reset();
    e->clock.emplace(cp);
    e->gen.emplace(*e->clock, e->origin_rt_ns, e->cfg.signal, e->channels);
    e->cfg.pointer.period_frames = static_cast<int64_t>(io->period_size);
    e->pointer.emplace(*e->clock, e->cfg.pointer);
    if (e->cfg.truth_every_frames <= 0) {
        e->cfg.truth_every_frames = std::max<int64_t>(1, io->rate / 100);
    }
    return 0;
}

int emu_sw_params(snd_pcm_ioplug_t* io, snd_pcm_sw_params_t* params) {
    Emu* e = emu_of(io);
    snd_pcm_uframes_t boundary = 0;
    if (snd_pcm_sw_params_get_boundary(params, &boundary) == 0 && boundary > 0) {
        e->boundary = boundary;
    }
    return 0;
}

int emu_poll_revents(snd_pcm_ioplug_t* io, struct pollfd* pfds, unsigned int nfds,
                     unsigned short* revents) {
    Emu* e = emu_of(io);
    if (nfds >= 1 && (pfds[0].revents & POLLIN) != 0) {
        uint64_t expirations = 0;
        const ssize_t n = read(e->timer_fd, &expirations, sizeof expirations);
        (void)n;  // EAGAIN when the timer has not fired again: nothing to drain
    }
    const int64_t mono = now_ns(CLOCK_MONOTONIC);
    if (check_unplugged(e, mono)) {
        snd_pcm_ioplug_set_state(io, SND_PCM_STATE_DISCONNECTED);
        *revents = POLLERR;
        return 0;
    }
    *revents = 0;
    if (e->running) {
        // A step wake-up is the hardware's own event: the position it shows has no reading
        // latency (jitter_us is the reader's scheduling delay, not the card's).
        const int64_t pos =
            e->wakeup == Wakeup::step ? hw_position(e, mono) : card_position(e, mono);
        const auto hw = static_cast<uint64_t>(pos - e->start_card_frame);
        if (hw > e->appl_frames) {
            *revents = POLLIN;
        }
        if (e->wakeup == Wakeup::step && !e->xrun) {
            arm_timer(e, true);
        }
    }
    return 0;
}

int emu_close(snd_pcm_ioplug_t* io) {
    Emu* e = emu_of(io);
    if (e->running) {
        emu_stop(io);
    }
    if (e->truth != nullptr) {
        std::fclose(e->truth);
    }
    if (e->timer_fd >= 0) {
        close(e->timer_fd);
    }
    delete e;
    return 0;
}

const snd_pcm_ioplug_callback_t kCallbacks = [] {
    snd_pcm_ioplug_callback_t cb{};
    cb.start = emu_start;
    cb.stop = emu_stop;
    cb.pointer = emu_pointer;
    cb.transfer = emu_transfer;
    cb.close = emu_close;
    cb.hw_params = emu_hw_params;
    cb.sw_params = emu_sw_params;
    cb.prepare = emu_prepare;
    cb.poll_revents = emu_poll_revents;
    return cb;
}();

// --- configuration -------------------------------------------------------------------------

int get_real(snd_config_t* n, const char* id, double* out) {
    if (snd_config_get_ireal(n, out) < 0) {
        const char* s = nullptr;
        char* end = nullptr;
        if (snd_config_get_string(n, &s) == 0 && s != nullptr) {
            *out = std::strtod(s, &end);
            if (end != s && *end == '\0') {
                return 0;
            }
        }
        SNDERR("fsemu: %s must be a number", id);
        return -EINVAL;
    }
    return 0;
}

int get_int(snd_config_t* n, const char* id, int64_t min, int64_t max, int64_t* out) {
    double v = 0;
    int err = get_real(n, id, &v);
    if (err < 0) {
        return err;
    }
    if (v != std::floor(v) || v < static_cast<double>(min) || v > static_cast<double>(max)) {
        SNDERR("fsemu: %s must be a whole number in [%" PRId64 ", %" PRId64 "]", id, min, max);
        return -EINVAL;
    }
    *out = static_cast<int64_t>(v);
    return 0;
}

int get_str(snd_config_t* n, const char* id, std::string* out) {
    const char* s = nullptr;
    if (snd_config_get_string(n, &s) < 0 || s == nullptr) {
        SNDERR("fsemu: %s must be a string", id);
        return -EINVAL;
    }
    *out = s;
    return 0;
}

// A list given as a compound ([a b c]) or a single value.
int get_real_list(snd_config_t* n, const char* id, std::vector<double>* out) {
    out->clear();
    if (snd_config_get_type(n) != SND_CONFIG_TYPE_COMPOUND) {
        double v = 0;
        int err = get_real(n, id, &v);
        if (err == 0) {
            out->push_back(v);
        }
        return err;
    }
    snd_config_iterator_t i = nullptr;
    snd_config_iterator_t next = nullptr;
    snd_config_for_each(i, next, n) {
        double v = 0;
        int err = get_real(snd_config_iterator_entry(i), id, &v);
        if (err < 0) {
            return err;
        }
        out->push_back(v);
    }
    return 0;
}

int parse_config(snd_config_t* conf, EmuConfig* c) {
    snd_config_iterator_t i = nullptr;
    snd_config_iterator_t next = nullptr;
    snd_config_for_each(i, next, conf) {
        snd_config_t* n = snd_config_iterator_entry(i);
        const char* id_c = nullptr;
        if (snd_config_get_id(n, &id_c) < 0) {
            continue;
        }
        const std::string id = id_c;
        int err = 0;
        int64_t iv = 0;
        double dv = 0;
        std::vector<double> list;
        if (id == "comment" || id == "type" || id == "hint") {
            continue;
        }
        if (id == "offset_ppm") {
            err = get_real(n, id_c, &c->clock.offset_ppm);
        } else if (id == "wander_ppm") {
            err = get_real(n, id_c, &c->clock.wander_ppm);
        } else if (id == "wander_period_s") {
            err = get_real(n, id_c, &c->clock.wander_period_s);
        } else if (id == "wander_phase_deg") {
            err = get_real(n, id_c, &dv);
            c->clock.wander_phase_rad = dv * M_PI / 180.0;
        } else if (id == "granularity_frames") {
            err = get_int(n, id_c, 1, 1 << 20, &c->pointer.granularity_frames);
        } else if (id == "pointer") {
            std::string s;
            err = get_str(n, id_c, &s);
            if (err == 0 && !s.empty()) {
                auto m = fsemu::parse_pointer_mode(s);
                if (!m) {
                    SNDERR("fsemu: pointer must be frames, usb or period, not '%s'", s.c_str());
                    return -EINVAL;
                }
                c->pointer.mode = *m;
            }
        } else if (id == "urb_packets") {
            err = get_int(n, id_c, 1, 1024, &c->pointer.urb_packets);
        } else if (id == "packet_us") {
            err = get_real(n, id_c, &dv);
            if (err == 0 && (dv < 1 || dv > 1e6)) {
                SNDERR("fsemu: packet_us must be in [1, 1000000]");
                return -EINVAL;
            }
            c->pointer.packet_ns = static_cast<int64_t>(std::llround(dv * 1000.0));
        } else if (id == "completion_us") {
            err = get_real(n, id_c, &dv);
            if (err == 0 && dv < 0) {
                SNDERR("fsemu: completion_us must not be negative");
                return -EINVAL;
            }
            c->pointer.completion_mean_ns = static_cast<int64_t>(std::llround(dv * 1000.0));
        } else if (id == "completion_tail_prob") {
            err = get_real(n, id_c, &c->pointer.tail_prob);
            if (err == 0 && (c->pointer.tail_prob < 0 || c->pointer.tail_prob > 1)) {
                SNDERR("fsemu: completion_tail_prob must be in [0, 1]");
                return -EINVAL;
            }
        } else if (id == "completion_tail_us") {
            err = get_real(n, id_c, &dv);
            if (err == 0 && dv < 0) {
                SNDERR("fsemu: completion_tail_us must not be negative");
                return -EINVAL;
            }
            c->pointer.tail_ns = static_cast<int64_t>(std::llround(dv * 1000.0));
        } else if (id == "wakeup") {
            std::string s;
            err = get_str(n, id_c, &s);
            if (err == 0 && s == "step") {
                c->wakeup = Wakeup::step;
            } else if (err == 0 && s == "timer") {
                c->wakeup = Wakeup::timer;
            } else if (err == 0 && !s.empty()) {
                SNDERR("fsemu: wakeup must be step or timer, not '%s'", s.c_str());
                return -EINVAL;
            }
        } else if (id == "truth_steps") {
            err = get_int(n, id_c, 0, 1, &iv);
            c->truth_steps = iv != 0;
        } else if (id == "jitter_us") {
            err = get_real(n, id_c, &dv);
            c->jitter_ns = static_cast<int64_t>(dv * 1000.0);
        } else if (id == "min_wakeup_us") {
            err = get_real(n, id_c, &dv);
            c->min_wakeup_ns = static_cast<int64_t>(dv * 1000.0);
        } else if (id == "signal") {
            std::string s;
            err = get_str(n, id_c, &s);
            if (err == 0) {
                auto sig = fsemu::parse_signal(s);
                if (!sig) {
                    SNDERR("fsemu: signal must be silence, sine, clicks or counter, not '%s'",
                           s.c_str());
                    return -EINVAL;
                }
                c->signal.signal = *sig;
            }
        } else if (id == "sine_hz") {
            err = get_real(n, id_c, &c->signal.sine_hz);
        } else if (id == "amplitude") {
            err = get_real(n, id_c, &c->signal.amplitude);
        } else if (id == "click_frames") {
            err = get_int(n, id_c, 1, 1 << 16, &iv);
            c->signal.click_frames = static_cast<uint32_t>(iv);
        } else if (id == "click_delay_us") {
            err = get_real_list(n, id_c, &list);
            c->signal.click_delay_ns.clear();
            for (double us : list) {
                c->signal.click_delay_ns.push_back(static_cast<int64_t>(std::llround(us * 1000.0)));
            }
        } else if (id == "pps_channel") {
            err = get_int(n, id_c, 1, 32, &iv);
            c->signal.pps_channel = static_cast<int>(iv) - 1;  // counted from 1, as in the config
        } else if (id == "pps_amplitude") {
            err = get_real(n, id_c, &c->signal.pps_amplitude);
        } else if (id == "pps_decay_ms") {
            err = get_real(n, id_c, &c->signal.pps_decay_ms);
        } else if (id == "pps_width_ms") {
            err = get_real(n, id_c, &c->signal.pps_width_ms);
        } else if (id == "pps_noise") {
            err = get_real(n, id_c, &c->signal.pps_noise);
        } else if (id == "pps_missing") {
            err = get_real(n, id_c, &c->signal.pps_missing);
        } else if (id == "truth_log") {
            err = get_str(n, id_c, &c->truth_log);
        } else if (id == "truth_every_frames") {
            err = get_int(n, id_c, 0, INT32_MAX, &c->truth_every_frames);
        } else if (id == "stall_at_s") {
            err = get_real(n, id_c, &c->stall_at_s);
        } else if (id == "stall_s") {
            err = get_real(n, id_c, &c->stall_s);
        } else if (id == "disconnect_at_s") {
            err = get_real(n, id_c, &c->disconnect_at_s);
        } else if (id == "present_file") {
            err = get_str(n, id_c, &c->present_file);
        } else if (id == "rates") {
            err = get_real_list(n, id_c, &list);
            c->rates.clear();
            for (double r : list) {
                c->rates.push_back(static_cast<unsigned>(r));
            }
        } else if (id == "channels_min") {
            err = get_int(n, id_c, 1, 32, &iv);
            c->channels_min = static_cast<unsigned>(iv);
        } else if (id == "channels_max") {
            err = get_int(n, id_c, 1, 32, &iv);
            c->channels_max = static_cast<unsigned>(iv);
        } else if (id == "seed") {
            err = get_int(n, id_c, 0, INT64_MAX, &iv);
            c->seed = static_cast<uint64_t>(iv);
        } else {
            SNDERR("fsemu: unknown parameter '%s' (see docs/emulated-card.md)", id_c);
            return -EINVAL;
        }
        if (err < 0) {
            return err;
        }
    }
    if (c->signal.amplitude < 0 || c->signal.amplitude > 1) {
        SNDERR("fsemu: amplitude must be in [0, 1]");
        return -EINVAL;
    }
    if (c->signal.pps_amplitude <= 0 || c->signal.pps_amplitude > 0.5 ||
        c->signal.pps_decay_ms <= 0 || c->signal.pps_width_ms <= 0 ||
        c->signal.pps_width_ms >= 900 || c->signal.pps_noise < 0 || c->signal.pps_missing < 0 ||
        c->signal.pps_missing > 1) {
        SNDERR(
            "fsemu: pps_amplitude must be in (0, 0.5], pps_decay_ms > 0, pps_width_ms in "
            "(0, 900), pps_noise >= 0, pps_missing in [0, 1]");
        return -EINVAL;
    }
    if (c->clock.wander_period_s <= 0) {
        SNDERR("fsemu: wander_period_s must be positive");
        return -EINVAL;
    }
    if (std::fabs(c->clock.offset_ppm) + std::fabs(c->clock.wander_ppm) >= 1e5) {
        SNDERR("fsemu: offset_ppm + wander_ppm must stay below 100000 ppm");
        return -EINVAL;
    }
    if (c->channels_min > c->channels_max) {
        SNDERR("fsemu: channels_min is above channels_max");
        return -EINVAL;
    }
    return 0;
}

int set_constraints(Emu* e) {
    static const unsigned int kAccess[] = {SND_PCM_ACCESS_RW_INTERLEAVED,
                                           SND_PCM_ACCESS_RW_NONINTERLEAVED};
    static const unsigned int kFormats[] = {SND_PCM_FORMAT_S16_LE, SND_PCM_FORMAT_S24_LE,
                                            SND_PCM_FORMAT_S24_3LE, SND_PCM_FORMAT_S32_LE,
                                            SND_PCM_FORMAT_FLOAT_LE};
    snd_pcm_ioplug_t* io = &e->io;
    int err = snd_pcm_ioplug_set_param_list(io, SND_PCM_IOPLUG_HW_ACCESS, 2, kAccess);
    if (err == 0) {
        err = snd_pcm_ioplug_set_param_list(io, SND_PCM_IOPLUG_HW_FORMAT, 5, kFormats);
    }
    if (err == 0) {
        err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_CHANNELS, e->cfg.channels_min,
                                              e->cfg.channels_max);
    }
    if (err == 0) {
        if (e->cfg.rates.empty()) {
            err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_RATE, 8000, 384000);
        } else {
            err = snd_pcm_ioplug_set_param_list(io, SND_PCM_IOPLUG_HW_RATE,
                                                static_cast<unsigned>(e->cfg.rates.size()),
                                                e->cfg.rates.data());
        }
    }
    if (err == 0) {
        err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_PERIOD_BYTES, 64,
                                              64 * 1024 * 1024);
    }
    if (err == 0) {
        err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_PERIODS, 2, 1024);
    }
    if (err == 0) {
        err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_BUFFER_BYTES, 128,
                                              256 * 1024 * 1024);
    }
    return err;
}

int open_emu(snd_pcm_t** pcmp, const char* name, snd_config_t* conf, snd_pcm_stream_t stream,
             int mode) {
    if (stream != SND_PCM_STREAM_CAPTURE) {
        SNDERR("fsemu: the emulated card is capture only");
        return -EINVAL;
    }
    auto* e = new Emu();
    int err = parse_config(conf, &e->cfg);
    if (err < 0) {
        delete e;
        return err;
    }
    if (!e->cfg.present_file.empty() && access(e->cfg.present_file.c_str(), F_OK) != 0) {
        SNDERR("fsemu: card unplugged (%s does not exist)", e->cfg.present_file.c_str());
        delete e;
        return -ENODEV;
    }
    e->rng.seed(e->cfg.seed);
    e->cfg.pointer.seed = e->cfg.seed;
    e->cfg.signal.pps_seed = e->cfg.seed;
    e->wakeup = e->cfg.wakeup.value_or(
        e->cfg.pointer.mode == fsemu::PointerMode::frames ? Wakeup::timer : Wakeup::step);
    // Origin: a CLOCK_REALTIME reading bracketed by two CLOCK_MONOTONIC readings.
    const int64_t m1 = now_ns(CLOCK_MONOTONIC);
    e->origin_rt_ns = now_ns(CLOCK_REALTIME);
    const int64_t m2 = now_ns(CLOCK_MONOTONIC);
    e->origin_mono_ns = m1 + (m2 - m1) / 2;
    // A clock is needed before hw_params for status calls; use the nominal default until then.
    e->clock.emplace(e->cfg.clock);
    e->pointer.emplace(*e->clock, e->cfg.pointer);

    e->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (e->timer_fd < 0) {
        err = -errno;
        delete e;
        return err;
    }
    if (!e->cfg.truth_log.empty()) {
        e->truth = std::fopen(e->cfg.truth_log.c_str(), "a");
        if (e->truth == nullptr) {
            err = -errno;
            SNDERR("fsemu: cannot open truth_log %s: %s", e->cfg.truth_log.c_str(),
                   std::strerror(errno));
            close(e->timer_fd);
            delete e;
            return err;
        }
        std::setvbuf(e->truth, nullptr, _IOLBF, 0);
    }

    e->io.version = SND_PCM_IOPLUG_VERSION;
    e->io.name = "framestamp emulated sound card";
    e->io.callback = &kCallbacks;
    e->io.private_data = e;
    e->io.poll_fd = e->timer_fd;
    e->io.poll_events = POLLIN;
    e->io.mmap_rw = 0;
    e->io.flags = SND_PCM_IOPLUG_FLAG_BOUNDARY_WA;

    err = snd_pcm_ioplug_create(&e->io, name, stream, mode);
    if (err < 0) {
        if (e->truth != nullptr) {
            std::fclose(e->truth);
        }
        close(e->timer_fd);
        delete e;
        return err;
    }
    err = set_constraints(e);
    if (err < 0) {
        snd_pcm_ioplug_delete(&e->io);  // calls emu_close, which frees e
        return err;
    }
    *pcmp = e->io.pcm;
    return 0;
}

}  // namespace

extern "C" {

SND_PCM_PLUGIN_DEFINE_FUNC(fsemu) {
    (void)root;
    return open_emu(pcmp, name, conf, stream, mode);
}

SND_PCM_PLUGIN_SYMBOL(fsemu);

}  // extern "C"
