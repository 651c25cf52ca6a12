// CaptureSource on libasound. Frame counts never come from ALSA's pointers (they wrap at the
// boundary, every few hours on 32-bit systems): the loop counts frames read, and only `avail` and
// `delay` (small, non-wrapping) are taken from snd_pcm_status.
#include <alsa/asoundlib.h>
#include <fmt/format.h>
#include <poll.h>

#include <cerrno>
#include <ctime>
#include <string_view>
#include <vector>

#include "framestamp/capture.hpp"

namespace framestamp {

namespace {

snd_pcm_format_t to_alsa(SampleFormat f) {
    switch (f) {
        case SampleFormat::s16_le:
            return SND_PCM_FORMAT_S16_LE;
        case SampleFormat::s24_le:
            return SND_PCM_FORMAT_S24_LE;
        case SampleFormat::s24_3le:
            return SND_PCM_FORMAT_S24_3LE;
        case SampleFormat::s32_le:
            return SND_PCM_FORMAT_S32_LE;
        case SampleFormat::float_le:
            return SND_PCM_FORMAT_FLOAT_LE;
    }
    return SND_PCM_FORMAT_UNKNOWN;
}

bool is_absent_error(int err) {
    return err == -ENODEV || err == -ENOENT || err == -EBUSY || err == -EAGAIN || err == -ENXIO;
}

// PCM types and names that put a converter or a sound server between the card's clock and us:
// timestamps then describe a software buffer, not the card.
std::optional<std::string> clock_hiding_warning(const std::string& device, snd_pcm_type_t type) {
    switch (type) {
        case SND_PCM_TYPE_PLUG:
        case SND_PCM_TYPE_DSNOOP:
        case SND_PCM_TYPE_RATE:
        case SND_PCM_TYPE_DSHARE:
        case SND_PCM_TYPE_DMIX:
        case SND_PCM_TYPE_SOFTVOL:
        case SND_PCM_TYPE_ROUTE:
        case SND_PCM_TYPE_LINEAR:
            return fmt::format(
                "device '{}' is an ALSA '{}' PCM, which sits between framestamp and the card: "
                "timestamps describe its buffer, not the card's clock; use hw:CARD=...,DEV=... ",
                device, snd_pcm_type_name(type));
        default:
            break;
    }
    for (std::string_view server : {"pulse", "pipewire", "jack", "default", "sysdefault"}) {
        if (device == server || device.rfind(std::string(server) + ":", 0) == 0) {
            return fmt::format(
                "device '{}' is a sound-server or default PCM that hides the card's own clock and "
                "may resample; use hw:CARD=...,DEV=...",
                device);
        }
    }
    return std::nullopt;
}

class AlsaSource final : public CaptureSource {
  public:
    ~AlsaSource() override { close(); }

    OpenResult open(const CaptureParams& p) override {
        close();
        OpenResult r;
        int err = snd_pcm_open(&pcm_, p.device.c_str(), SND_PCM_STREAM_CAPTURE, 0);
        if (err < 0) {
            pcm_ = nullptr;
            r.error = is_absent_error(err) ? -ENODEV : err;
            r.message = fmt::format("cannot open '{}': {}", p.device, snd_strerror(err));
            return r;
        }
        if (auto w = clock_hiding_warning(p.device, snd_pcm_type(pcm_))) {
            r.warnings.push_back(*w);
        }
        r.granted.pcm_type = snd_pcm_type_name(snd_pcm_type(pcm_));
        if (!configure(p, &r) || !start(&r)) {
            close();
        }
        return r;
    }

    // The PCM is non-blocking: the loop waits in wait(), with a deadline for its next timing
    // point, and reads when a period is there.
    bool read_blocks() const override { return false; }

    int wait(int64_t deadline_mono_ns) override {
        // A descriptor that keeps saying "readable" while less than a period is there (some
        // plugins) must not spin the thread: after this many such wake-ups the read goes ahead
        // with what there is.
        constexpr int kMaxShortWakeups = 64;
        int short_wakeups = 0;
        for (;;) {
            const int64_t left = std::max<int64_t>(0, deadline_mono_ns - monotonic_ns());
            const timespec ts{static_cast<time_t>(left / 1'000'000'000),
                              static_cast<long>(left % 1'000'000'000)};
            const int n = ppoll(pfds_.data(), pfds_.size(), &ts, nullptr);
            if (n < 0) {
                return errno == EINTR ? 0 : -errno;
            }
            if (n == 0) {
                return 0;
            }
            unsigned short revents = 0;
            const int err = snd_pcm_poll_descriptors_revents(
                pcm_, pfds_.data(), static_cast<unsigned>(pfds_.size()), &revents);
            if (err < 0) {
                return 1;  // the read reports what is wrong
            }
            if ((revents & (POLLERR | POLLNVAL | POLLHUP)) != 0) {
                return 1;
            }
            if ((revents & POLLIN) == 0) {
                continue;
            }
            ++wakeups_;
            const snd_pcm_sframes_t avail = snd_pcm_avail_update(pcm_);
            if (avail < 0 || static_cast<snd_pcm_uframes_t>(avail) >= period_ ||
                ++short_wakeups >= kMaxShortWakeups) {
                return 1;
            }
        }
    }

    uint64_t wakeups() const override { return wakeups_; }

    int64_t read(void* buffer, uint64_t frames) override {
        const snd_pcm_sframes_t n =
            snd_pcm_readi(pcm_, buffer, static_cast<snd_pcm_uframes_t>(frames));
        if (n == -ESTRPIPE) {
            return -EPIPE;  // suspended: handled like an overrun (frames lost, restart)
        }
        return n;
    }

    int status(StatusReading* out) override {
        const int64_t raw_before = monotonic_raw_ns();
        int err = snd_pcm_status(pcm_, status_);
        const int64_t raw_after = monotonic_raw_ns();
        if (err < 0) {
            return err;
        }
        switch (snd_pcm_status_get_state(status_)) {
            case SND_PCM_STATE_XRUN:
            case SND_PCM_STATE_SUSPENDED:
                return -EPIPE;
            case SND_PCM_STATE_DISCONNECTED:
                return -ENODEV;
            default:
                break;
        }
        snd_htimestamp_t ts{};
        snd_pcm_status_get_htstamp(status_, &ts);
        out->realtime_ns = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
        if (out->realtime_ns == 0) {
            out->realtime_ns = realtime_ns();  // a device without timestamps: our own reading
        }
        out->avail_frames = snd_pcm_status_get_avail(status_);
        out->delay_frames = snd_pcm_status_get_delay(status_);
        out->monotonic_raw_ns = raw_before + (raw_after - raw_before) / 2;
        out->window_ns = raw_after - raw_before;
        return 0;
    }

    int restart() override {
        int err = snd_pcm_prepare(pcm_);
        if (err == 0) {
            err = snd_pcm_start(pcm_);
        }
        return err;
    }

    void close() override {
        if (pcm_ != nullptr) {
            snd_pcm_close(pcm_);
            pcm_ = nullptr;
        }
        if (status_ != nullptr) {
            snd_pcm_status_free(status_);
            status_ = nullptr;
        }
    }

  private:
    bool fail(OpenResult* r, int err, std::string message) {
        r->error = err < 0 ? err : -EINVAL;
        r->message = std::move(message);
        return false;
    }

    bool configure(const CaptureParams& p, OpenResult* r) {
        snd_pcm_hw_params_t* hw = nullptr;
        snd_pcm_hw_params_alloca(&hw);
        int err = snd_pcm_hw_params_any(pcm_, hw);
        if (err < 0) {
            return fail(
                r, err,
                fmt::format("'{}': no hardware parameters: {}", p.device, snd_strerror(err)));
        }
        snd_pcm_hw_params_set_rate_resample(pcm_, hw, 0);  // never let alsa-lib resample
        if ((err = snd_pcm_hw_params_set_access(pcm_, hw, SND_PCM_ACCESS_RW_INTERLEAVED)) < 0) {
            return fail(r, err,
                        fmt::format("'{}' does not offer interleaved read access", p.device));
        }
        if ((err = snd_pcm_hw_params_set_format(pcm_, hw, to_alsa(p.format))) < 0) {
            return fail(
                r, err,
                fmt::format("'{}' cannot capture {}", p.device, sample_format_name(p.format)));
        }
        if ((err = snd_pcm_hw_params_set_channels(pcm_, hw, p.channels)) < 0) {
            unsigned lo = 0;
            unsigned hi = 0;
            snd_pcm_hw_params_get_channels_min(hw, &lo);
            snd_pcm_hw_params_get_channels_max(hw, &hi);
            return fail(r, err,
                        fmt::format("'{}' cannot capture {} channels (it offers {}..{})", p.device,
                                    p.channels, lo, hi));
        }
        if ((err = snd_pcm_hw_params_set_rate(pcm_, hw, p.rate_hz, 0)) < 0) {
            unsigned lo = 0;
            unsigned hi = 0;
            int dir = 0;
            snd_pcm_hw_params_get_rate_min(hw, &lo, &dir);
            snd_pcm_hw_params_get_rate_max(hw, &hi, &dir);
            return fail(r, err,
                        fmt::format("'{}' cannot capture at exactly {} Hz (it offers {}..{} Hz); "
                                    "framestamp records at the card's own rate and never "
                                    "resamples: set rate_hz to a rate the card supports",
                                    p.device, p.rate_hz, lo, hi));
        }
        snd_pcm_uframes_t period = p.period_frames;
        snd_pcm_uframes_t buffer = p.buffer_frames;
        if ((err = snd_pcm_hw_params_set_period_size_near(pcm_, hw, &period, nullptr)) < 0 ||
            (err = snd_pcm_hw_params_set_buffer_size_near(pcm_, hw, &buffer)) < 0) {
            return fail(r, err,
                        fmt::format("'{}' refuses period {} / buffer {} frames: {}", p.device,
                                    p.period_frames, p.buffer_frames, snd_strerror(err)));
        }
        if ((err = snd_pcm_hw_params(pcm_, hw)) < 0) {
            return fail(r, err,
                        fmt::format("'{}': cannot apply hardware parameters: {}", p.device,
                                    snd_strerror(err)));
        }
        snd_pcm_hw_params_get_period_size(hw, &period, nullptr);
        snd_pcm_hw_params_get_buffer_size(hw, &buffer);
        r->granted.period_frames = static_cast<uint32_t>(period);
        r->granted.buffer_frames = static_cast<uint32_t>(buffer);

        snd_pcm_sw_params_t* sw = nullptr;
        snd_pcm_sw_params_alloca(&sw);
        if ((err = snd_pcm_sw_params_current(pcm_, sw)) < 0 ||
            (err = snd_pcm_sw_params_set_tstamp_mode(pcm_, sw, SND_PCM_TSTAMP_ENABLE)) < 0 ||
            (err = snd_pcm_sw_params_set_tstamp_type(pcm_, sw, SND_PCM_TSTAMP_TYPE_GETTIMEOFDAY)) <
                0 ||
            (err = snd_pcm_sw_params_set_avail_min(pcm_, sw, period)) < 0 ||
            (err = snd_pcm_sw_params(pcm_, sw)) < 0) {
            return fail(r, err,
                        fmt::format("'{}': cannot enable CLOCK_REALTIME timestamps: {}", p.device,
                                    snd_strerror(err)));
        }
        if ((err = snd_pcm_status_malloc(&status_)) < 0) {
            return fail(r, err, "out of memory");
        }
        period_ = period;
        if ((err = snd_pcm_nonblock(pcm_, 1)) < 0) {
            return fail(
                r, err,
                fmt::format("'{}': cannot read non-blocking: {}", p.device, snd_strerror(err)));
        }
        const int nfds = snd_pcm_poll_descriptors_count(pcm_);
        if (nfds <= 0) {
            return fail(r, nfds < 0 ? nfds : -EINVAL,
                        fmt::format("'{}' has no poll descriptors", p.device));
        }
        pfds_.assign(static_cast<std::size_t>(nfds), pollfd{});
        if ((err = snd_pcm_poll_descriptors(pcm_, pfds_.data(), static_cast<unsigned>(nfds))) < 0) {
            return fail(
                r, err,
                fmt::format("'{}': cannot get poll descriptors: {}", p.device, snd_strerror(err)));
        }
        return true;
    }

    bool start(OpenResult* r) {
        const int err = restart();
        if (err < 0) {
            r->error = is_absent_error(err) ? -ENODEV : err;
            r->message = fmt::format("cannot start capture: {}", snd_strerror(err));
            return false;
        }
        return true;
    }

    snd_pcm_t* pcm_ = nullptr;
    snd_pcm_status_t* status_ = nullptr;
    std::vector<pollfd> pfds_;
    snd_pcm_uframes_t period_ = 1;
    uint64_t wakeups_ = 0;
};

}  // namespace

std::unique_ptr<CaptureSource> make_alsa_source() {
    return std::make_unique<AlsaSource>();
}

}  // namespace framestamp
