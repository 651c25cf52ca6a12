// The emulated sound card's physics, free of ALSA: a drifting crystal, a test signal and the
// packing of samples into ALSA's sample formats. The plugin (fsemu_plugin.cpp) drives this with
// the real clock; unit tests drive it with made-up times.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fsemu {

// The card's crystal. Time t is in ns since the card's origin (the moment the PCM was opened).
// Instantaneous rate: rate_hz * (1 + (offset_ppm + wander_ppm * sin(2*pi*t/wander_period + phase))
// * 1e-6). Positive offset_ppm means the card runs fast: it produces more frames per real second
// than its nominal rate.
struct ClockParams {
    double rate_hz = 48000.0;
    double offset_ppm = 0.0;
    double wander_ppm = 0.0;         // amplitude of the sinusoidal wander, in ppm
    double wander_period_s = 86400;  // period of the wander, in seconds
    double wander_phase_rad = 0.0;   // phase of the wander at the origin
};

class CardClock {
  public:
    explicit CardClock(const ClockParams& params);

    // Continuous frame position (frames since origin, fractional) at t_ns after the origin.
    double frames_at(int64_t t_ns) const;

    // Inverse of frames_at: ns after the origin at which the position reaches `frame`.
    // Accurate to well under 1 ns for any realistic wander.
    int64_t time_of(double frame) const;

    const ClockParams& params() const { return params_; }

  private:
    double rate_at(double t_s) const;  // frames per second at t_s

    ClockParams params_;
    double omega_;  // 2*pi / wander_period_s, in rad/s (0 when there is no wander)
};

// How the card's hardware pointer moves (docs/emulated-card.md, "Pointer models").
//  - frames: in steps of `granularity_frames` card frames, at the instant the crystal reaches
//    each multiple (an idealised DMA pointer; the historical behaviour).
//  - usb: once per completed URB, like snd-usb-audio. URBs are timed by the USB bus (host time:
//    every urb_packets * packet_ns from the origin); each carries the frames the card's crystal
//    produced meanwhile, so at 44.1 kHz and 1 ms packets the steps are 44,44,...,45 (441 per
//    10 packets) and at 192 kHz with 4 packets per URB 768 frames.
//  - period: once per period of card frames from the stream's start (a BATCH-like card that
//    only reports period interrupts).
enum class PointerMode { frames, usb, period };

std::optional<PointerMode> parse_pointer_mode(const std::string& name);
const char* pointer_mode_name(PointerMode m);

struct PointerParams {
    PointerMode mode = PointerMode::frames;
    int64_t granularity_frames = 48;  // frames mode
    int64_t urb_packets = 1;          // usb mode: packets per URB
    int64_t packet_ns = 1'000'000;    // usb mode: bus interval of one packet
    int64_t period_frames = 0;        // period mode: the negotiated period (set at hw_params)
    // Completion latency of each step: exponential with this mean (0: none), plus with
    // probability tail_prob a further uniform [0, tail_ns). The exponential part is capped at
    // kLatencyCapMeans times its mean.
    int64_t completion_mean_ns = 0;
    double tail_prob = 0.0;
    int64_t tail_ns = 0;
    uint64_t seed = 1;
};

constexpr int64_t kLatencyCapMeans = 20;

// One pointer step: from its true instant (ns after the origin) the hardware position is
// `frame`; the new position becomes visible to readers `latency_ns` later (and never before
// every earlier step is visible: completions are handled in order).
struct PointerStep {
    int64_t index = 0;
    int64_t frame = 0;
    int64_t true_ns = 0;
    int64_t latency_ns = 0;
};

// Completion latency of step `index`: a pure function of the seed and the index, so a test
// (and the truth log) can state it.
int64_t completion_latency_ns(const PointerParams& p, int64_t index);

// The card's hardware pointer as readers see it. Times are ns after the card's origin. Queries
// are expected at non-decreasing times; an earlier time returns the position already seen (the
// pointer never goes backwards).
class CardPointer {
  public:
    CardPointer(const CardClock& clock, PointerParams params);

    // A stream starts at t_ns: returns its frame 0 (card frame). In period mode the period
    // boundaries are anchored there.
    int64_t start(int64_t t_ns);
    // The visible position at t_ns. Steps that became visible are appended to `passed` when it
    // is not null (for the truth log).
    int64_t visible_at(int64_t t_ns, std::vector<PointerStep>* passed = nullptr);
    // When the next step not yet visible becomes visible (ns after the origin).
    int64_t next_visible_ns() const;
    // Nominal interval between steps, in ns.
    int64_t nominal_step_ns() const;
    PointerStep step(int64_t index) const;
    const PointerParams& params() const { return params_; }
    void set_period_frames(int64_t frames) { params_.period_frames = frames; }

  private:
    int64_t true_index_at(int64_t t_ns) const;       // last step whose true instant is <= t_ns
    int64_t estimated_index_at(int64_t t_ns) const;  // the same from the clock, +-1
    int64_t step_frame(int64_t index) const;
    bool has_latency() const;

    const CardClock& clock_;
    PointerParams params_;
    int64_t anchor_frame_ = 0;    // period mode: card frame of step 0
    int64_t cursor_ = INT64_MIN;  // index of the last visible step
    int64_t position_ = 0;        // its frame
    int64_t last_t_ns_ = INT64_MIN;
};

enum class Signal { silence, sine, clicks, counter };

std::optional<Signal> parse_signal(const std::string& name);
const char* signal_name(Signal s);

// What the card "hears". Sample values are produced as 32-bit full-scale integers and then
// packed into the negotiated format, so that integer test patterns survive every format exactly.
struct SignalParams {
    Signal signal = Signal::silence;
    double sine_hz = 1000.0;    // in Hz of the card's own clock (frame index / nominal rate)
    double amplitude = 0.5;     // 0..1 of full scale (sine and clicks)
    uint32_t click_frames = 4;  // length of each click in frames
    // Per-channel delay of the click after the whole UTC second, in ns (missing channels: 0).
    std::vector<int64_t> click_delay_ns;
    // A GPS PPS on channel pps_channel (0-based; -1: none) in place of the signal there, as an
    // AC-coupled line input records it: at every whole second of CLOCK_REALTIME a step of
    // pps_amplitude band-limited by an ideal anti-alias filter at 0.45 of the rate (its
    // half-height at the second), decaying with pps_decay_ms, ending pps_width_ms later, with
    // Gaussian noise of RMS pps_noise (fractions of full scale); each second's pulse is missing
    // with probability pps_missing (from pps_seed).
    int pps_channel = -1;
    double pps_amplitude = 0.4;
    double pps_decay_ms = 10.0;
    double pps_width_ms = 100.0;
    double pps_noise = 0.001;
    double pps_missing = 0.0;
    uint64_t pps_seed = 1;
};

// The PPS signal's value (fraction of full scale) at realtime rt_ns, for a card at rate_hz.
double pps_value(const SignalParams& p, int64_t rt_ns, double rate_hz, uint64_t frame);

// Card frame of the click for UTC second `second` on a channel with `delay_ns`: the frame whose
// true sampling time is nearest to second + delay. origin_realtime_ns is the CLOCK_REALTIME of
// the card's origin.
int64_t click_frame(const CardClock& clock, int64_t origin_realtime_ns, int64_t second,
                    int64_t delay_ns);

// Value of the counter signal for card frame `frame` on channel `channel`: channel 0 carries the
// low 16 bits of the frame index, channel 1 the next 16 bits, and so on (cycling every 4
// channels), each as a signed 16-bit sample placed in the top bits of a 32-bit sample.
int32_t counter_value(uint64_t frame, unsigned channel);

// Recover the low 32 bits of a frame index from the counter signal's channels 0 and 1, given
// as 16-bit sample values.
uint32_t counter_decode(int16_t ch0, int16_t ch1);

enum class Format { s16_le, s24_le, s24_3le, s32_le, float_le };

std::size_t format_bytes(Format f);
// Pack a 32-bit full-scale sample into `dst` in format f (little-endian).
void pack_sample(Format f, int32_t value, unsigned char* dst);
// Inverse of pack_sample, returning the 32-bit full-scale value (low bits lost by the format are
// zero).
int32_t unpack_sample(Format f, const unsigned char* src);

// Generates sample values for a range of card frames. Holds the click schedule so that
// consecutive ranges cost O(frames + clicks).
class SignalGenerator {
  public:
    SignalGenerator(const CardClock& clock, int64_t origin_realtime_ns, SignalParams params,
                    unsigned channels);

    // Value for card frame `frame` on `channel`. Asking in non-decreasing order per channel keeps
    // the click schedule O(1) a frame; going back costs one new search.
    int32_t value(uint64_t frame, unsigned channel);

    // Click frames (card frames) for channel `channel` in [first, last), for the truth log.
    std::vector<int64_t> clicks_in(int64_t first, int64_t last, unsigned channel) const;

    const SignalParams& params() const { return params_; }

  private:
    int64_t delay_of(unsigned channel) const;
    int64_t first_click_at_or_after(int64_t frame, unsigned channel) const;

    const CardClock& clock_;
    int64_t origin_realtime_ns_;
    SignalParams params_;
    std::vector<int64_t> next_click_;  // per channel: card frame of the next click not yet passed
    std::vector<int64_t> last_frame_;  // per channel: the frame asked for last
    int32_t click_value_;
    int32_t sine_amplitude_;
};

}  // namespace fsemu
