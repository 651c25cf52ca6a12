// The HTML report from hand-built models and events: well-formed, self-contained, escaped,
// markers and sync band as the data says, and small for 120 days.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "framestamp/report.hpp"
#include "report/report_parts.hpp"
#include "report/svg_plot.hpp"

namespace {

namespace fsys = std::filesystem;
using namespace framestamp;

uint64_t test_seed() {
    const char* s = std::getenv("FS_TEST_SEED");
    return s != nullptr ? std::strtoull(s, nullptr, 10) : 20261124ULL;
}

constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kT0 = 1'795'000'000LL * kS;  // 2026-11-18

std::size_t count(const std::string& hay, const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t p = hay.find(needle); p != std::string::npos;
         p = hay.find(needle, p + needle.size())) {
        ++n;
    }
    return n;
}

// A model over [t0, t0 + duration) with a trace sample every `step`, drifting around ppm.
SegmentModel make_model(int64_t t0, int64_t duration, int64_t step, double ppm,
                        std::mt19937_64& rng, int sync_every = 0) {
    SegmentModel m;
    m.rate_hz = 48000;
    std::normal_distribution<double> noise(0.0, 0.05);
    std::exponential_distribution<double> late(1.0 / 20000.0);
    for (int64_t t = t0; t < t0 + duration; t += step) {
        const double rms = late(rng);
        m.trace.push_back({.utc_ns = t + step / 2,
                           .ppm = ppm + noise(rng),
                           .lateness_rms_ns = rms,
                           .lateness_max_ns = rms * 3,
                           .points = 80});
    }
    if (sync_every > 0) {
        // raw = utc - 1000 s; unsynced for the middle third, bridged in its first half. Bridged
        // knots carry both flags, as the fit makes them (src/timemap/offset.cpp).
        for (int64_t t = t0; t < t0 + duration; t += sync_every * kS) {
            const double f = static_cast<double>(t - t0) / static_cast<double>(duration);
            uint8_t flags = OffsetKnot::synced;
            if (f >= 1.0 / 3 && f < 2.0 / 3) {
                flags = f < 0.5 ? OffsetKnot::synced | OffsetKnot::bridged : 0;
            }
            m.offset_knots.push_back(
                {.raw_ns = t - 1000 * kS, .offset_ns = 1000 * kS, .flags = flags});
        }
    }
    m.stats.points = m.trace.size() * 80;
    m.stats.points_used = m.stats.points;
    m.stats.mean_ppm = ppm;
    m.stats.min_ppm = ppm - 0.2;
    m.stats.max_ppm = ppm + 0.2;
    m.stats.lateness_rms_ns = 20000;
    m.stats.lateness_max_ns = 900000;
    m.stats.uncertainty_ns = 1500;
    return m;
}

ArchiveEvent event(EventKind k, const std::string& stream, int64_t t, int64_t frames = 0) {
    ArchiveEvent e;
    e.kind = k;
    e.stream = stream;
    e.session = "20261119T000000.000000Z";
    e.realtime_ns = t;
    if (frames != 0) {
        e.frames = frames;
    }
    e.detail = "filled=silence";
    e.file = "/data/x/2026-11-19/x_20261119T000000Z.timing.csv";
    e.line = 42;
    return e;
}

// Structural checks every report must pass.
void expect_well_formed(const std::string& html) {
    EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
    EXPECT_EQ(count(html, "<svg "), count(html, "</svg>"));
    EXPECT_EQ(count(html, "<section"), count(html, "</section>"));
    EXPECT_EQ(count(html, "<table"), count(html, "</table>"));
    // Nothing from the network: the only URL is the SVG namespace.
    EXPECT_EQ(count(html, "http"), count(html, "http://www.w3.org/2000/svg"));
    EXPECT_EQ(count(html, "<script"), 0u);
    EXPECT_EQ(count(html, "url("), 0u);
    EXPECT_NE(html.find("</html>"), std::string::npos);
}

// xmllint, when installed, parses the page as XML (it is written to be well-formed XML).
void expect_xmllint_ok(const std::string& html, const std::string& name) {
    if (std::system("command -v xmllint >/dev/null 2>&1") != 0) {
        GTEST_LOG_(INFO) << "xmllint not installed; skipped";
        return;
    }
    const fsys::path p = fsys::temp_directory_path() /
                         ("fs_report_" + name + "_" + std::to_string(::getpid()) + ".html");
    {
        std::ofstream out(p);
        out << html;
    }
    const std::string cmd = "xmllint --noout --nonet '" + p.string() + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << "xmllint rejected " << p;
    fsys::remove(p);
}

class ReportTest : public ::testing::Test {
  protected:
    void SetUp() override {
        seed_ = test_seed();
        rng_.seed(seed_);
        RecordProperty("seed", std::to_string(seed_));
    }
    void TearDown() override {
        if (HasFailure()) {
            std::fprintf(stderr, "FS_TEST_SEED=%llu\n", static_cast<unsigned long long>(seed_));
        }
    }
    uint64_t seed_ = 0;
    std::mt19937_64 rng_;
};

TEST_F(ReportTest, TwoStreamsWellFormedWithEveryPart) {
    const SegmentModel a1 = make_model(kT0, 3600 * kS, 10 * kS, 80.0, rng_, 60);
    const SegmentModel a2 = make_model(kT0 + 3700 * kS, 1800 * kS, 10 * kS, 79.5, rng_, 60);
    const SegmentModel b1 = make_model(kT0, 5400 * kS, 10 * kS, -12.0, rng_);
    ReportData data;
    data.source = "/data/site <1>";
    ReportStream a{.name = "front"};
    a.segments.push_back({.session = "s1",
                          .starts_with = "session_start",
                          .rate_hz = 48000,
                          .first_frame = 0,
                          .end_frame = 172'800'000,
                          .first_utc_ns = kT0,
                          .end_utc_ns = kT0 + 3600 * kS,
                          .model = &a1});
    a.segments.push_back({.session = "s2",
                          .starts_with = "device_back",
                          .rate_hz = 48000,
                          .first_frame = 0,
                          .end_frame = 86'400'000,
                          .first_utc_ns = kT0 + 3700 * kS,
                          .end_utc_ns = kT0 + 5500 * kS,
                          .model = &a2});
    a.events.push_back(event(EventKind::overrun, "front", kT0 + 600 * kS, 480));
    a.events.push_back(event(EventKind::device_lost, "front", kT0 + 3600 * kS));
    a.events.push_back(event(EventKind::device_back, "front", kT0 + 3700 * kS));
    a.events.push_back(event(EventKind::clock_step, "front", kT0 + 4000 * kS));
    ReportStream b{.name = "rear <&> \"x\""};
    b.segments.push_back({.session = "s3",
                          .starts_with = "session_start",
                          .rate_hz = 48000,
                          .first_frame = 0,
                          .end_frame = 259'200'000,
                          .first_utc_ns = kT0,
                          .end_utc_ns = kT0 + 5400 * kS,
                          .model = &b1});
    data.streams = {a, b};

    const std::string html = render_report_html(data, {.title = "Site <1> report"});
    expect_well_formed(html);
    expect_xmllint_ok(html, "two");
    EXPECT_NE(html.find("Stream front"), std::string::npos);
    EXPECT_NE(html.find("Stream rear &lt;&amp;&gt; &quot;x&quot;"), std::string::npos);
    EXPECT_EQ(html.find("rear <&>"), std::string::npos);
    EXPECT_EQ(html.find("Site <1>"), std::string::npos);
    // Five plots per stream; four markers for front's four events, none for rear.
    EXPECT_EQ(count(html, "<svg "), 10u);
    EXPECT_EQ(count(html, "class=\"ev "), 4u);
    EXPECT_EQ(count(html, "class=\"ev ev-overrun\""), 1u);
    // Sync band: front has all three states, rear (no knots, no events) is synced throughout.
    // front: synced before and after each of its two segments' bridged and unsynced runs; rear:
    // one run.
    EXPECT_EQ(count(html, "class=\"sy-synced\""), 5u);
    EXPECT_EQ(count(html, "class=\"sy-bridged\""), 2u);
    EXPECT_EQ(count(html, "class=\"sy-unsynced\""), 2u);
    // One table row per segment plus the header; units on the axes.
    EXPECT_EQ(count(html, "<table class=\"segments\">"), 2u);
    EXPECT_NE(html.find("drift (ppm"), std::string::npos);
    EXPECT_NE(html.find("lateness (\u00b5s)"), std::string::npos);
    EXPECT_NE(html.find(">UTC</text>"), std::string::npos);
    EXPECT_NE(html.find("2026-11-18T"), std::string::npos);
}

TEST_F(ReportTest, StreamFilterAndRangeRestrictWhatIsShown) {
    const SegmentModel m = make_model(kT0, 7200 * kS, 10 * kS, 20.0, rng_);
    ReportStream a{.name = "a"};
    a.segments.push_back({.session = "s",
                          .rate_hz = 48000,
                          .end_frame = 1,
                          .first_utc_ns = kT0,
                          .end_utc_ns = kT0 + 7200 * kS,
                          .model = &m});
    std::uniform_int_distribution<int64_t> when(0, 7200 * kS - 1);
    std::size_t in_first_hour = 0;
    for (int i = 0; i < 10; ++i) {
        // Spread out so that no two share a pixel column.
        const int64_t t = kT0 + i * 720 * kS + when(rng_) % (100 * kS);
        a.events.push_back(event(EventKind::overrun, "a", t, 100));
        in_first_hour += t < kT0 + 3600 * kS ? 1 : 0;
    }
    ReportStream b{.name = "b"};
    ReportData data{.streams = {a, b}};

    const std::string only_a =
        render_report_html(data, {.streams = {"a"}, .to_utc_ns = kT0 + 3600 * kS});
    expect_well_formed(only_a);
    EXPECT_NE(only_a.find("Stream a"), std::string::npos);
    EXPECT_EQ(only_a.find("Stream b"), std::string::npos);
    EXPECT_EQ(count(only_a, "class=\"ev "), in_first_hour);

    const std::string all = render_report_html(data, {});
    EXPECT_EQ(count(all, "class=\"ev "), 10u);
    EXPECT_NE(all.find("Nothing recorded in this range."), std::string::npos);  // stream b
}

TEST_F(ReportTest, EventsInOnePixelColumnShareAMarkerAndTheListIsCapped) {
    const SegmentModel m = make_model(kT0, 86400 * kS, 60 * kS, 5.0, rng_);
    ReportStream a{.name = "a"};
    a.segments.push_back({.session = "s",
                          .rate_hz = 48000,
                          .end_frame = 1,
                          .first_utc_ns = kT0,
                          .end_utc_ns = kT0 + 86400 * kS,
                          .model = &m});
    // 300 overruns within one second: one pixel column of a day-long axis.
    for (int i = 0; i < 300; ++i) {
        a.events.push_back(event(EventKind::overrun, "a", kT0 + 5000 * kS + i * 3'000'000, 10));
    }
    const std::string html = render_report_html({.streams = {a}}, {.max_events_listed = 50});
    expect_well_formed(html);
    EXPECT_EQ(count(html, "class=\"ev "), 1u);
    EXPECT_NE(html.find("overrun \u00d7300"), std::string::npos);
    EXPECT_NE(html.find("250 more events not listed."), std::string::npos);
    EXPECT_NE(html.find("overrun: 300"), std::string::npos);
}

TEST_F(ReportTest, HundredTwentyDaysStaySmall) {
    // 120 days, a trace sample every 10 s (over a million), sync knots every minute with an
    // unsynced stretch, and 5000 scattered events.
    const int64_t days = 120;
    const SegmentModel m = make_model(kT0, days * 86400 * kS, 10 * kS, 42.0, rng_, 60);
    ReportStream a{.name = "long"};
    a.segments.push_back({.session = "s",
                          .rate_hz = 48000,
                          .end_frame = 1,
                          .first_utc_ns = kT0,
                          .end_utc_ns = kT0 + days * 86400 * kS,
                          .model = &m});
    std::uniform_int_distribution<int64_t> when(0, days * 86400 * kS - 1);
    std::vector<int64_t> times;
    for (int i = 0; i < 5000; ++i) {
        times.push_back(kT0 + when(rng_));
    }
    std::sort(times.begin(), times.end());
    for (const int64_t t : times) {
        a.events.push_back(event(EventKind::ring_overflow, "long", t, 64));
    }
    const std::string html = render_report_html({.streams = {a}}, {});
    expect_well_formed(html);
    EXPECT_LT(html.size(), 3u * 1024 * 1024) << "report of " << html.size() << " bytes";
    // Each series path holds at most max_points_per_plot points (+ a few piece ends).
    const std::string key = "class=\"s1\" d=\"";
    std::size_t paths = 0;
    for (std::size_t p = html.find(key); p != std::string::npos; p = html.find(key, p + 1)) {
        const std::size_t b = p + key.size();
        const std::string d = html.substr(b, html.find('"', b) - b);
        EXPECT_LE(count(d, ","), 2002u);
        ++paths;
    }
    EXPECT_EQ(paths, 2u);  // drift and residual rms
    // Markers are merged per pixel column: never more than the plot is wide (per kind).
    EXPECT_LE(count(html, "class=\"ev "), 1000u);
}

// A model that maps frames to UTC (raw = UTC - 1000 s), with raw and offset knots every 10 s
// over [t0, t0 + seconds): the fit uncertainty is 3 µs except `worst_fit_ns` at `worst_at_s`; the
// clock is synchronised (± 20 µs) except in [bridged_from_s, bridged_to_s), bridged as the fit
// bridges (both flags, ± 20 µs + 1 ppm of the distance to synchronised time), and in
// [unsynced_from_s, unsynced_to_s), not synchronised at all (± 16 s, the kernel's estimate).
struct MappedModelSpec {
    int64_t t0 = 0;
    int64_t seconds = 600;
    int64_t worst_at_s = -1;
    int64_t worst_fit_ns = 0;
    int64_t bridged_from_s = -1;
    int64_t bridged_to_s = -1;
    int64_t unsynced_from_s = -1;
    int64_t unsynced_to_s = -1;
};

SegmentModel mapped_model(const MappedModelSpec& spec) {
    SegmentModel m;
    m.rate_hz = 48000;
    m.first_frame = 0;
    m.end_frame = static_cast<uint64_t>(spec.seconds) * 48000;
    for (int64_t s = 0; s <= spec.seconds; s += 10) {
        const int64_t raw = spec.t0 + s * kS - 1000 * kS;
        m.raw_knots.push_back({.frame = static_cast<uint64_t>(s) * 48000,
                               .raw_ns = raw,
                               .uncertainty_ns = static_cast<int32_t>(
                                   s == spec.worst_at_s ? spec.worst_fit_ns : 3000)});
        OffsetKnot k{.raw_ns = raw,
                     .offset_ns = 1000 * kS,
                     .clock_error_ns = 20'000,
                     .flags = OffsetKnot::synced};
        if (s >= spec.bridged_from_s && s < spec.bridged_to_s) {
            const int64_t dist = std::min(s - spec.bridged_from_s, spec.bridged_to_s - s);
            k.flags = OffsetKnot::synced | OffsetKnot::bridged;
            k.clock_error_ns = 20'000 + dist * 1000;
        } else if (s >= spec.unsynced_from_s && s < spec.unsynced_to_s) {
            k.flags = 0;
            k.clock_error_ns = 16 * kS;
        }
        m.offset_knots.push_back(k);
        m.trace.push_back({.utc_ns = spec.t0 + s * kS + 5 * kS,
                           .ppm = 30.0,
                           .lateness_rms_ns = 1.5e6,
                           .lateness_max_ns = 4.9e6,
                           .points = 80});
    }
    m.stats.points = m.trace.size() * 80;
    m.stats.points_used = m.stats.points;
    m.stats.uncertainty_ns = std::max<int64_t>(spec.worst_fit_ns, 3000);
    return m;
}

// The text of the first <p ...> whose opening tag contains `marker`, without its tags.
std::string paragraph(const std::string& html, const std::string& marker) {
    const std::size_t at = html.find(marker);
    if (at == std::string::npos) {
        return {};
    }
    const std::size_t b = html.find('>', at) + 1;
    std::string text = html.substr(b, html.find("</p>", b) - b);
    for (std::size_t lt = text.find('<'); lt != std::string::npos; lt = text.find('<')) {
        text.erase(lt, text.find('>', lt) - lt + 1);
    }
    return text;
}

// A field recording: segment s1 (10 min: bridged for 100 s, one 1 s write gap), 30 s without the
// device, segment s2 (10 min: 60 s not synchronised and not bridged).
class ReportVerdict : public ::testing::Test {
  protected:
    void SetUp() override {
        m1_ = mapped_model({.t0 = kT0,
                            .worst_at_s = 500,
                            .worst_fit_ns = 81'000,
                            .bridged_from_s = 200,
                            .bridged_to_s = 300});
        m2_ = mapped_model({.t0 = kT0 + 630 * kS, .unsynced_from_s = 100, .unsynced_to_s = 160});
        ReportStream a{.name = "field"};
        a.segments.push_back({.session = "s1",
                              .starts_with = "session_start",
                              .rate_hz = 48000,
                              .first_frame = 0,
                              .end_frame = m1_.end_frame,
                              .first_utc_ns = kT0,
                              .end_utc_ns = kT0 + 600 * kS,
                              .model = &m1_});
        a.segments.push_back({.session = "s2",
                              .starts_with = "session_start",
                              .rate_hz = 48000,
                              .first_frame = 0,
                              .end_frame = m2_.end_frame,
                              .first_utc_ns = kT0 + 630 * kS,
                              .end_utc_ns = kT0 + 1230 * kS,
                              .model = &m2_});
        ArchiveEvent gap = event(EventKind::write_gap, "field", kT0 + 401 * kS, 48000);
        gap.session = "s1";
        gap.session_frame = 400 * 48000;
        a.events.push_back(gap);
        a.events.push_back(event(EventKind::device_lost, "field", kT0 + 600 * kS));
        a.events.push_back(event(EventKind::device_back, "field", kT0 + 630 * kS));
        a.events.push_back(event(EventKind::clock_step, "field", kT0 + 800 * kS));
        data_.streams = {a};
    }
    SegmentModel m1_;
    SegmentModel m2_;
    ReportData data_;
};

TEST_F(ReportVerdict, SaysWhatWasLostUnsynchronisedAndTheWorstUncertainty) {
    const std::string html = render_report_html(data_, {});
    expect_well_formed(html);
    expect_xmllint_ok(html, "verdict");
    // The verdict comes before the first stream section.
    ASSERT_NE(html.find("id=\"verdict\""), std::string::npos);
    EXPECT_LT(html.find("id=\"verdict\""), html.find("<section"));
    EXPECT_NE(html.find("<p class=\"verdict bad\" id=\"verdict\">"), std::string::npos);
    EXPECT_EQ(paragraph(html, "id=\"verdict\""),
              "Verdict: 31.000 s of audio lost in 2 gaps; clock not synchronised for 2 min 40 s: "
              "1 min 40 s bridged from synchronised time, 1 min 0 s not (UTC there is only the "
              "system clock's); worst uncertainty \u00b1 16.0 s (fit 3.00 \u00b5s + clock 16.0 s) "
              "at 2026-11-18T11:18:50.000000Z.");

    // Only the first segment: the 30 s without the device is outside the range, and the worst is
    // the fit's 81 µs of the knot at 500 s, not the bridged stretch's 20 + 50 µs. A time between
    // two knots states the larger of their uncertainties, so the first sample stating it is the
    // one 10 s before the knot.
    const std::string first = render_report_html(data_, {.to_utc_ns = kT0 + 600 * kS});
    EXPECT_EQ(paragraph(first, "id=\"verdict\""),
              "Verdict: 1.000 s of audio lost in 1 gap; clock not synchronised for 1 min 40 s, all "
              "bridged from synchronised time; worst uncertainty \u00b1 101 \u00b5s (fit 81.0 "
              "\u00b5s + clock 20.0 \u00b5s) at 2026-11-18T11:14:50.000000Z.");
    EXPECT_NE(first.find("<p class=\"verdict warn\" id=\"verdict\">"), std::string::npos);

    // Synchronised throughout, nothing lost.
    const std::string quiet =
        render_report_html(data_, {.from_utc_ns = kT0 + 800 * kS, .to_utc_ns = kT0 + 900 * kS});
    EXPECT_EQ(
        paragraph(quiet, "id=\"verdict\""),
        "Verdict: no audio lost; clock synchronised throughout; worst uncertainty \u00b1 "
        "23.0 \u00b5s (fit 3.00 \u00b5s + clock 20.0 \u00b5s) at 2026-11-18T11:20:00.000000Z.");
    EXPECT_NE(quiet.find("<p class=\"verdict ok\" id=\"verdict\">"), std::string::npos);
}

TEST_F(ReportVerdict, BridgedIsNotDrawnAsSynced) {
    const std::string html = render_report_html(data_, {});
    // The bridged 100 s is one bridged run, and no synced run covers it.
    EXPECT_NE(html.find("<title>bridged 2026-11-18T11:10:00.000000Z \u2013 "
                        "2026-11-18T11:11:40.000000Z</title>"),
              std::string::npos);
    EXPECT_NE(html.find("<title>synced 2026-11-18T11:06:40.000000Z \u2013 "
                        "2026-11-18T11:10:00.000000Z</title>"),
              std::string::npos);
    EXPECT_NE(html.find("<title>synced 2026-11-18T11:11:40.000000Z \u2013 "), std::string::npos);
    EXPECT_NE(html.find("<title>unsynced 2026-11-18T11:18:50.000000Z \u2013 "
                        "2026-11-18T11:19:50.000000Z</title>"),
              std::string::npos);
    EXPECT_EQ(count(html, "class=\"sy-bridged\""), 1u);
    EXPECT_EQ(count(html, "class=\"sy-unsynced\""), 1u);
}

TEST_F(ReportVerdict, EventsHaveAKeyAndGapsAreSpans) {
    const std::string html = render_report_html(data_, {});
    ASSERT_NE(html.find("<p class=\"key\"><b>gaps:</b>"), std::string::npos);
    const std::string key = paragraph(html, "<p class=\"key\"><b>gaps:</b>");
    // Every kind drawn has an entry in the key, in the colour the CSS draws it with.
    for (const EventKind k : {EventKind::write_gap, EventKind::device_lost, EventKind::device_back,
                              EventKind::clock_step}) {
        const std::string name(event_kind_name(k));
        ASSERT_NE(html.find("class=\"ev ev-" + name + "\""), std::string::npos) << name;
        const std::string rule = "svg .ev-" + name + "{fill:";
        const std::size_t r = html.find(rule);
        ASSERT_NE(r, std::string::npos) << name;
        const std::string colour =
            html.substr(r + rule.size(), html.find('}', r) - r - rule.size());
        EXPECT_NE(html.find("<span style=\"background:" + colour + "\"></span>" + name),
                  std::string::npos)
            << name << " in " << colour;
        EXPECT_NE(key.find(name), std::string::npos) << name;
    }
    // The 30 s without the device and the 1 s write gap are spans in the gaps lane.
    EXPECT_EQ(count(html, "<rect class=\"gap\""), 2u);
    EXPECT_NE(html.find("no audio 2026-11-18T11:13:20.000000Z \u2013 2026-11-18T11:13:21.000000Z "
                        "(1.000 s): write_gap: 48000 frames"),
              std::string::npos);
    EXPECT_NE(html.find("no audio 2026-11-18T11:16:40.000000Z \u2013 2026-11-18T11:17:10.000000Z "
                        "(30.000 s): no recording between sessions s1 and s2"),
              std::string::npos);
}

TEST_F(ReportVerdict, UncertaintyIsPlottedAndTheLayoutFitsThePage) {
    const std::string html = render_report_html(data_, {});
    // The uncertainty plot, on a log axis reaching the unsynchronised 16 s.
    const std::size_t u = html.find("class=\"plot uncertainty\"");
    ASSERT_NE(u, std::string::npos);
    const std::string plot = html.substr(u, html.find("</svg>", u) - u);
    EXPECT_NE(plot.find(">100 s</text>"), std::string::npos);
    EXPECT_NE(plot.find(">1 \u00b5s</text>"), std::string::npos);
    EXPECT_EQ(count(plot, "<path class=\"s1\""), 1u);  // fit
    EXPECT_EQ(count(plot, "<path class=\"s2\""), 1u);  // fit + clock
    // Lateness is labelled as such, not as an error.
    EXPECT_EQ(html.find("residual ("), std::string::npos);
    EXPECT_NE(html.find("<h3>Timing-point lateness</h3>"), std::string::npos);
    // Rotated axis labels are centred and shorter than their plot is high (6 px a letter, as
    // bytes: µ counts twice), so none is clipped.
    EXPECT_NE(html.find("svg .yu{text-anchor:middle"), std::string::npos);
    std::size_t labels = 0;
    for (std::size_t p = html.find("<svg "); p != std::string::npos;
         p = html.find("<svg ", p + 1)) {
        const std::size_t end = html.find("</svg>", p);
        const std::size_t h = html.find("height=\"", p) + 8;
        const double plot_height = std::stod(html.substr(h)) - 44;  // less top and bottom margin
        const std::size_t y = html.find("class=\"yu\"", p);
        if (y == std::string::npos || y > end) {
            continue;
        }
        const std::size_t b = html.find('>', y) + 1;
        const std::string label = html.substr(b, html.find('<', b) - b);
        EXPECT_LE(6.0 * static_cast<double>(label.size()), plot_height) << label;
        ++labels;
    }
    EXPECT_EQ(labels, 3u);  // drift, uncertainty, lateness
    // Tables scroll inside the page instead of widening it; plots shrink to fit.
    EXPECT_EQ(count(html, "<div class=\"wide\"><table"), count(html, "<table"));
    EXPECT_NE(html.find("div.wide{max-width:100%;overflow-x:auto}"), std::string::npos);
    EXPECT_NE(html.find("svg{display:block;margin:.2em 0;max-width:100%"), std::string::npos);
}

TEST(ReportVerdictLong, HundredTwentyDaysOfKnotsStaySmall) {
    // A million raw knots: the uncertainty plot is thinned like the others, the worst survives.
    const int64_t seconds = 120 * 86400;
    const SegmentModel m = mapped_model({.t0 = kT0,
                                         .seconds = seconds,
                                         .worst_at_s = 60 * 86400 + 10,
                                         .worst_fit_ns = 555'000,
                                         .bridged_from_s = 30 * 86400,
                                         .bridged_to_s = 30 * 86400 + 600});
    ReportStream a{.name = "long"};
    a.segments.push_back({.session = "s",
                          .rate_hz = 48000,
                          .end_frame = m.end_frame,
                          .first_utc_ns = kT0,
                          .end_utc_ns = kT0 + seconds * kS,
                          .model = &m});
    const std::string html = render_report_html({.streams = {a}}, {});
    EXPECT_LT(html.size(), 3u * 1024 * 1024);
    const std::size_t u = html.find("class=\"plot uncertainty\"");
    ASSERT_NE(u, std::string::npos);
    const std::string plot = html.substr(u, html.find("</svg>", u) - u);
    for (const std::string key : {"class=\"s1\" d=\"", "class=\"s2\" d=\""}) {
        const std::size_t b = plot.find(key);
        ASSERT_NE(b, std::string::npos) << key;
        const std::string d =
            plot.substr(b + key.size(), plot.find('"', b + key.size()) - b - key.size());
        EXPECT_LE(count(d, ","), 2002u) << key;
        EXPECT_GT(count(d, ","), 500u) << key;
    }
    EXPECT_NE(paragraph(html, "id=\"verdict\"").find("worst uncertainty \u00b1 575 \u00b5s"),
              std::string::npos)
        << paragraph(html, "id=\"verdict\"");
}

TEST(ReportPlot, LogTicksAreDecades) {
    const report::ValueTicks t = report::log_ns_ticks(3000, 101'000);
    EXPECT_EQ(t.lo, 3);
    EXPECT_EQ(t.hi, 6);
    ASSERT_EQ(t.labels.size(), 4u);
    EXPECT_EQ(t.labels[0], "1 \u00b5s");
    EXPECT_EQ(t.labels[2], "100 \u00b5s");
    EXPECT_EQ(t.labels[3], "1 ms");
    const report::ValueTicks wide = report::log_ns_ticks(900, 16e9);
    EXPECT_EQ(wide.step, 2);
    EXPECT_EQ(wide.labels.front(), "10 ns");
    EXPECT_GE(wide.hi, std::log10(16e9));
    EXPECT_EQ(wide.labels.back(), "100 s");
}

TEST(ReportPlot, DecimationKeepsTheExtremes) {
    const report::Frame frame{};
    const report::TimeAxis time(kT0, kT0 + 1'000'000 * kS, frame);
    const report::ValueAxis value{report::nice_ticks(-10, 10), &frame};
    report::DecimatedPath path(time, value, 2000);
    path.begin_piece();
    for (int64_t i = 0; i < 1'000'000; ++i) {
        double v = std::sin(static_cast<double>(i) * 1e-3);
        if (i == 123'457) {
            v = 9.0;
        }
        if (i == 876'543) {
            v = -9.0;
        }
        path.add(kT0 + i * kS, v);
    }
    const std::string d = path.finish();
    EXPECT_LE(path.points(), 2000u);
    EXPECT_GT(path.points(), 1000u);
    EXPECT_NE(d.find("," + report::num(value.y(9.0))), std::string::npos);
    EXPECT_NE(d.find("," + report::num(value.y(-9.0))), std::string::npos);
}

TEST(ReportPlot, PiecesAreNotJoinedAndLonePointsAreDots) {
    const report::Frame frame{};
    const report::TimeAxis time(kT0, kT0 + 100 * kS, frame);
    const report::ValueAxis value{report::nice_ticks(0, 1), &frame};
    report::DecimatedPath path(time, value, 2000);
    path.begin_piece();
    path.add(kT0, 0.5);
    path.add(kT0 + 10 * kS, 0.6);
    path.begin_piece();
    path.add(kT0 + 50 * kS, 0.7);
    const std::string d = path.finish();
    EXPECT_EQ(count(d, "M"), 2u);
    EXPECT_NE(d.find("h0"), std::string::npos);
}

TEST(ReportPlot, TicksAreRound) {
    const report::ValueTicks t = report::nice_ticks(79.93, 80.41);
    EXPECT_LE(t.lo, 79.93);
    EXPECT_GE(t.hi, 80.41);
    EXPECT_GE(t.values.size(), 3u);
    EXPECT_LE(t.values.size(), 12u);
    const double k = t.step / std::pow(10.0, std::floor(std::log10(t.step)));
    EXPECT_TRUE(std::abs(k - 1) < 1e-9 || std::abs(k - 2) < 1e-9 || std::abs(k - 5) < 1e-9) << k;
    // A flat series still gets an axis.
    const report::ValueTicks flat = report::nice_ticks(3, 3);
    EXPECT_LT(flat.lo, 3);
    EXPECT_GT(flat.hi, 3);

    const report::Frame frame{};
    const report::TimeAxis day(kT0, kT0 + 86400 * kS, frame);
    const auto ticks = day.ticks();
    ASSERT_FALSE(ticks.empty());
    EXPECT_LE(ticks.size(), 8u);
    for (const auto& tk : ticks) {
        EXPECT_EQ(tk.utc_ns % (3600 * kS), 0) << tk.label;  // whole hours
        EXPECT_EQ(tk.label.size(), 5u) << tk.label;         // "HH:MM"
    }
    const report::TimeAxis months(kT0, kT0 + 120 * 86400 * kS, frame);
    for (const auto& tk : months.ticks()) {
        EXPECT_EQ(tk.label.size(), 10u) << tk.label;  // "YYYY-MM-DD"
    }
}

TEST(ReportText, EscapesEverythingSpecial) {
    EXPECT_EQ(html_escape("a<b>&\"c\"'d'"), "a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;");
    EXPECT_EQ(html_escape(std::string("x\x01y", 3)), "x y");
    EXPECT_EQ(report::human_duration(90 * kS), "1 min 30 s");
    EXPECT_EQ(report::human_duration(3 * 86400 * kS + 4 * 3600 * kS), "3 d 4 h");
}

}  // namespace
