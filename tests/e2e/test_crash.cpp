// kill -9 of the real framestampd at seeded random instants, for every file format, then a
// restart so that the start-up recovery runs: everything left must be readable, continuous,
// timed and placed exactly, and each kill may cost at most a flush interval of audio.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <random>
#include <thread>

#include "daemon_harness.hpp"
#include "emu_testkit.hpp"
#include "fsemu_model.hpp"
#include "test_support.hpp"

namespace {

using e2e::DaemonRun;
using e2e::LogRow;
namespace fsys = std::filesystem;

constexpr int64_t kNsPerS = 1'000'000'000;
constexpr int64_t kRate = 48000;
constexpr int64_t kChunkNs = 2 * kNsPerS;  // chunk_seconds below
constexpr int64_t kFlushNs = 1 * kNsPerS;  // flush_interval_s below
// What a kill may cost beyond the flush interval: the ALSA buffer and the ring the writer had
// not drained yet (it wakes every 50 ms), a chunk's first fraction of a second held until its
// first timing point, and FLAC's block in progress (4096 frames, 85 ms).
constexpr int64_t kMarginNs = kNsPerS / 4;

void sleep_until_rt(int64_t rt_ns) {
    const int64_t now = emutest::realtime_now_ns();
    if (rt_ns > now) {
        std::this_thread::sleep_for(std::chrono::nanoseconds(rt_ns - now));
    }
}

// One daemon process: when it was started and killed (CLOCK_REALTIME).
struct Life {
    int64_t start_ns = 0;
    int64_t kill_ns = 0;
};

// One opening of an emulated card by one daemon process, from its truth log.
struct CardRun {
    int64_t start_card_frame = 0;
    int64_t start_ns = 0;
    std::vector<emutest::TruthRow> points;
    bool xrun = false;
    // The card frame the card had reached at realtime t (the truth's points, then the rate).
    int64_t card_frame_at(int64_t t) const {
        int64_t f = start_card_frame;
        int64_t at = start_ns;
        for (const auto& p : points) {
            if (p.realtime_ns > t) {
                break;
            }
            f = p.card_frame;
            at = p.realtime_ns;
        }
        return f + (t - at) * kRate / kNsPerS;
    }
};

std::vector<CardRun> card_runs(const std::string& truth_path) {
    std::vector<CardRun> runs;
    for (const auto& r : emutest::read_truth(truth_path)) {
        if (r.kind == "start" && r.start_index == 1) {
            runs.push_back({.start_card_frame = r.card_frame, .start_ns = r.realtime_ns});
        } else if (runs.empty()) {
            continue;
        } else if (r.kind == "point" && r.start_index == 1) {
            runs.back().points.push_back(r);
        } else if (r.kind == "xrun" || r.kind == "start") {
            runs.back().xrun = true;
        }
    }
    return runs;
}

// A chunk as it is on disk after the recovery.
struct Chunk {
    fsys::path audio;
    std::vector<LogRow> rows;
    bool readable = false;
    std::vector<int16_t> samples;
    int channels = 0;
    int64_t frames = 0;
    int64_t first_frame = -1;  // chunk_open's session frame
    int64_t open_ns = 0;       // chunk_open's realtime
    int64_t points = 0;
};

struct StreamFigures {
    int files = 0;
    int readable = 0;
    int64_t untimed_frames = 0;
    int64_t max_loss_frames = 0;
    int kills_measured = 0;
};

std::string run_verify(const DaemonRun& run, int* status) {
    const std::string cmd = std::string(FRAMESTAMP_CLI) + " --cache-dir '" +
                            run.dir().file("cache") + "' verify '" + run.data_dir().string() +
                            "' 2>&1";
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    std::size_t n = 0;
    while (p != nullptr && (n = fread(buf, 1, sizeof buf, p)) > 0) {
        out.append(buf, n);
    }
    const int st = p != nullptr ? pclose(p) : -1;
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return out;
}

// The audio, its log and what they say, for one stream; checks each file on its own.
std::vector<Chunk> read_chunks(const fsys::path& data, const std::string& stream,
                               const std::string& ext, StreamFigures& fig) {
    std::vector<Chunk> chunks;
    for (const fsys::path& a : e2e::files_with_suffix(data / stream, ext)) {
        Chunk c;
        c.audio = a;
        ++fig.files;
        try {
            c.samples = e2e::read_audio_s16(a, &c.channels, &c.frames);
            c.readable = true;
            ++fig.readable;
        } catch (const std::exception& e) {
            ADD_FAILURE() << e.what();
        }
        fsys::path log = a;
        log.replace_extension(".timing.csv");
        EXPECT_TRUE(fsys::exists(log)) << a << " has no timing log";
        if (fsys::exists(log)) {
            c.rows = e2e::read_timing_log(log);
        }
        const bool starts = !c.rows.empty() && c.rows.front()["kind"] == "log_start";
        EXPECT_TRUE(starts) << log << " does not start with log_start";
        for (const LogRow& r : c.rows) {
            if (r["kind"] == "point") {
                ++c.points;
            } else if (r["kind"] == "chunk_open") {
                c.first_frame = r.i("session_frame");
                c.open_ns = r.i("realtime_ns");
            }
        }
        EXPECT_GE(c.points, 1) << log << " has no timing point";
        EXPECT_GE(c.first_frame, 0) << log << " has no chunk_open";
        EXPECT_GT(c.frames, 0) << a << " holds no frame";
        if (!starts || c.points == 0 || c.first_frame < 0) {
            fig.untimed_frames += c.frames;
        }
        const auto close = e2e::rows_of(c.rows, "chunk_close");
        EXPECT_EQ(close.size(), 1U) << log;
        if (close.size() == 1 && !close[0]["frames"].empty()) {
            EXPECT_EQ(close[0].i("frames"), c.frames) << log;
        }
        chunks.push_back(std::move(c));
    }
    return chunks;
}

uint32_t counter_at(const Chunk& c, int64_t frame) {
    const auto i = static_cast<std::size_t>(frame * c.channels);
    return fsemu::counter_decode(c.samples[i], c.samples[i + 1]);
}

// Kills at seeded instants: right after the start (while recovery runs, before and as the first
// chunk opens), anywhere, and around chunk boundaries (just before, and as the next chunk opens).
// 20 kills, about 40 s; FS_CRASH_KILLS=<n> for more, FS_TEST_SEED=<n> for other instants. It
// prints, per format, the kills, files, readable files, largest loss and untimed frames.
TEST(DaemonCrash, Kill9AtRandomInstantsLosesAtMostAFlushIntervalAndLeavesATimedArchive) {
    const uint64_t seed = fstest::test_seed(20261204);
    SCOPED_TRACE("FS_TEST_SEED=" + std::to_string(seed));
    std::mt19937_64 rng(seed);
    const int kills =
        std::getenv("FS_CRASH_KILLS") != nullptr ? std::atoi(std::getenv("FS_CRASH_KILLS")) : 20;

    DaemonRun run;
    const std::vector<std::pair<std::string, std::string>> streams = {
        {"f", "flac"}, {"w", "wav"}, {"r", "rf64"}};
    std::string yaml = "streams:\n";
    for (const auto& [name, format] : streams) {
        run.define_card("card_" + name,
                        "offset_ppm 0\nwander_ppm 0\nsignal counter\n"
                        "truth_log \"" +
                            run.truth_path("card_" + name) + "\"");
        yaml += "  - name: " + name + "\n    device: card_" + name +
                "\n    chunk_seconds: 2\n    file_format: " + format +
                "\n    flush_interval_s: 1\n";
    }
    run.write_config(yaml);

    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<Life> lives;
    for (int k = 0; k < kills; ++k) {
        Life life;
        life.start_ns = emutest::realtime_now_ns();
        run.start();
        const double kind = u(rng);
        int64_t at = 0;
        if (kind < 0.3) {
            at = life.start_ns + static_cast<int64_t>(u(rng) * 0.6 * kNsPerS);
        } else if (kind < 0.5) {
            at = life.start_ns + static_cast<int64_t>((0.6 + u(rng) * 2.4) * kNsPerS);
        } else {
            // -150 ms .. +350 ms around the first or second boundary after 0.3 s.
            const int64_t from = life.start_ns + kNsPerS * 3 / 10;
            const int64_t boundary = (from / kChunkNs + 1 + (u(rng) < 0.5 ? 0 : 1)) * kChunkNs;
            at = boundary + static_cast<int64_t>((u(rng) * 0.5 - 0.15) * kNsPerS);
        }
        sleep_until_rt(at);
        life.kill_ns = emutest::realtime_now_ns();
        ASSERT_EQ(run.stop(SIGKILL), 128 + SIGKILL) << run.stderr_text();
        lives.push_back(life);
    }
    // A last start recovers what the last kill left; a clean stop ends it.
    run.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    ASSERT_EQ(run.stop(SIGTERM), 0) << run.stderr_text();
    EXPECT_TRUE(e2e::files_with_suffix(run.data_dir(), ".partial").empty());
    EXPECT_TRUE(e2e::files_with_suffix(run.data_dir(), ".corrupt").empty());
    EXPECT_TRUE(e2e::files_with_suffix(run.data_dir(), ".empty").empty());

    int status = -1;
    const std::string verify = run_verify(run, &status);
    EXPECT_EQ(status, 0) << verify;
    EXPECT_EQ(verify.find("log_skipped"), std::string::npos) << verify;

    StreamFigures total;
    for (const auto& [name, format] : streams) {
        SCOPED_TRACE(name + " (" + format + ")");
        StreamFigures fig;
        const std::vector<Chunk> chunks =
            read_chunks(run.data_dir(), name, format == "flac" ? ".flac" : ".wav", fig);
        const std::vector<CardRun> cards = card_runs(run.truth_path("card_" + name));
        // Each killed life's card opening, and the chunks it recorded, by time.
        for (const Life& life : lives) {
            const auto card = std::find_if(cards.begin(), cards.end(), [&](const CardRun& c) {
                return c.start_ns >= life.start_ns && c.start_ns <= life.kill_ns;
            });
            if (card == cards.end()) {
                continue;  // killed before the card was opened: nothing was captured
            }
            std::vector<const Chunk*> mine;
            for (const Chunk& c : chunks) {
                if (c.open_ns >= life.start_ns && c.open_ns <= life.kill_ns) {
                    mine.push_back(&c);
                }
            }
            int64_t next_frame = 0;  // session frame the next chunk must start at
            for (const Chunk* c : mine) {
                if (!c->readable) {
                    continue;
                }
                EXPECT_EQ(c->first_frame, next_frame) << c->audio;
                // Every sample is the card's, at its session frame: nothing lost inside a life,
                // nothing repeated, nothing shifted.
                if (!card->xrun) {
                    for (int64_t f = 0; f < c->frames; ++f) {
                        const auto want =
                            static_cast<uint32_t>(card->start_card_frame + c->first_frame + f);
                        ASSERT_EQ(counter_at(*c, f), want) << c->audio << " frame " << f;
                    }
                }
                next_frame = c->first_frame + c->frames;
            }
            if (card->xrun) {
                continue;  // an overrun's zero fill: the loss is not the kill's alone
            }
            const int64_t produced = card->card_frame_at(life.kill_ns) - card->start_card_frame;
            const int64_t loss = produced - next_frame;
            EXPECT_GE(loss, 0);
            EXPECT_LE(loss, (kFlushNs + kMarginNs) * kRate / kNsPerS)
                << "kill " << (life.kill_ns - life.start_ns) / 1'000'000 << " ms after start";
            fig.max_loss_frames = std::max(fig.max_loss_frames, loss);
            ++fig.kills_measured;
        }
        std::printf(
            "crash[%s]: seed %llu, %d kills (%d after the card opened), %d files, %d readable, "
            "max loss %.3f s, %lld untimed frames\n",
            format.c_str(), static_cast<unsigned long long>(seed), kills, fig.kills_measured,
            fig.files, fig.readable, static_cast<double>(fig.max_loss_frames) / kRate,
            static_cast<long long>(fig.untimed_frames));
        total.files += fig.files;
        total.readable += fig.readable;
        total.untimed_frames += fig.untimed_frames;
        total.max_loss_frames = std::max(total.max_loss_frames, fig.max_loss_frames);
        total.kills_measured += fig.kills_measured;
    }
    EXPECT_EQ(total.untimed_frames, 0);
    EXPECT_EQ(total.readable, total.files);
    // What the recoveries did: chunks killed before their first audio are removed; no log head
    // needs rebuilding, since the writer syncs it before any audio.
    const std::string err = run.stderr_text();
    int removed = 0;
    for (std::size_t at = 0; (at = err.find("held no audio frame", at)) != std::string::npos;
         ++at) {
        ++removed;
    }
    int rebuilt = 0;
    for (const fsys::path& log : e2e::files_with_suffix(run.data_dir(), ".timing.csv")) {
        rebuilt += fstest::slurp(log).find("log_head=rebuilt") != std::string::npos ? 1 : 0;
    }
    std::printf("crash: %d empty chunks removed by recovery, %d log heads rebuilt\n", removed,
                rebuilt);
    EXPECT_EQ(rebuilt, 0);
}

}  // namespace
