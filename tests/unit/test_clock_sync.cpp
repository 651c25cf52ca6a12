// Clock-sync monitoring: parsing `chronyc -c tracking`, running chronyc (fake ones: missing,
// failing, garbled, hanging), the verdict and its transitions with injected readings, and the
// monitor and its lock-free probe against a fake SyncSources.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "clock/seqlock.hpp"
#include "framestamp/clock_sync.hpp"

namespace {

using namespace framestamp;
namespace fs = std::filesystem;
using ::testing::HasSubstr;

uint64_t test_seed() {
    const char* s = std::getenv("FS_TEST_SEED");
    return s != nullptr ? std::strtoull(s, nullptr, 10) : 20261124ULL;
}

// chrony 4.3 against a server two hops from a stratum-1 (values from a real `chronyc -c
// tracking`, the reference renamed).
const char* const kSynced =
    "C0A80073,192.168.0.115,3,1706097235.123456789,-0.000012000,-0.000031117,0.000035274,"
    "-11.621,-0.023,0.543,0.016247051,0.000187333,64.8,Normal\n";
// What chronyd -x with `local stratum 1` answered in this project's system test.
const char* const kLocal =
    "7F7F0101,,1,1795504145.853218246,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,"
    "0.000000000,0.000000000,0.0,Normal\n";
const char* const kUnsynced =
    "00000000,0.0.0.0,0,0.000000000,0.000004000,0.000000000,0.000000000,3.200,0.000,0.000,"
    "1.000000000,1.000000000,0.0,Not synchronised\n";

// ---------------------------------------------------------------------------------------------
// Parsing

TEST(ChronycParse, SyncedLine) {
    std::string why;
    const auto t = parse_chronyc_tracking(kSynced, &why);
    ASSERT_TRUE(t) << why;
    EXPECT_EQ(t->reference_id, 0xC0A80073u);
    EXPECT_EQ(t->reference_name, "192.168.0.115");
    EXPECT_EQ(t->stratum, 3u);
    EXPECT_EQ(t->ref_time_ns, 1706097235'123456789);
    EXPECT_EQ(t->system_offset_ns, -12'000);  // negative: the clock is fast
    EXPECT_EQ(t->last_offset_ns, -31'117);
    EXPECT_EQ(t->rms_offset_ns, 35'274);
    EXPECT_DOUBLE_EQ(t->frequency_ppm, -11.621);
    EXPECT_DOUBLE_EQ(t->residual_frequency_ppm, -0.023);
    EXPECT_DOUBLE_EQ(t->skew_ppm, 0.543);
    EXPECT_EQ(t->root_delay_ns, 16'247'051);
    EXPECT_EQ(t->root_dispersion_ns, 187'333);
    EXPECT_EQ(t->update_interval_ns, 64'800'000'000);
    EXPECT_EQ(t->leap, ChronyLeap::normal);
    EXPECT_FALSE(t->local_reference());
    // chronyc's bound: |offset| + root dispersion + root delay / 2.
    EXPECT_EQ(t->max_error_ns(), 12'000 + 187'333 + 16'247'051 / 2);
}

TEST(ChronycParse, LocalAndUnsynchronisedLines) {
    const auto local = parse_chronyc_tracking(kLocal);
    ASSERT_TRUE(local);
    EXPECT_TRUE(local->local_reference());
    EXPECT_EQ(local->reference_name, "");
    EXPECT_EQ(local->stratum, 1u);
    const auto unsynced = parse_chronyc_tracking(kUnsynced);
    ASSERT_TRUE(unsynced);
    EXPECT_EQ(unsynced->leap, ChronyLeap::unsynchronised);
    EXPECT_EQ(unsynced->stratum, 0u);
    EXPECT_EQ(unsynced->system_offset_ns, 4'000);
}

TEST(ChronycParse, NameWithCommasAndOtherLeapStatuses) {
    const auto t = parse_chronyc_tracking(
        "47505300,GP,S,1,1.5,+0.000000001,0,0,+1.000,0,0,0,0,16.0,Insert second");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->reference_name, "GP,S");
    EXPECT_EQ(t->ref_time_ns, 1'500'000'000);
    EXPECT_EQ(t->system_offset_ns, 1);
    EXPECT_EQ(t->leap, ChronyLeap::insert_second);
    EXPECT_EQ(parse_chronyc_tracking("0,x,2,0,0,0,0,0,0,0,0,0,0,Delete second")->leap,
              ChronyLeap::delete_second);
}

TEST(ChronycParse, GarbledOutputIsRefusedWithAReason) {
    const std::pair<std::string, std::string> cases[] = {
        {"", "no output"},
        {"\n", "no output"},
        {"506 Cannot talk to daemon\n", "1 fields, expected 14"},
        {std::string(kSynced) + kSynced, "more than one line"},
        {"XYZ,a,2,0,0,0,0,0,0,0,0,0,0,Normal", "reference ID 'XYZ'"},
        {"123456789,a,2,0,0,0,0,0,0,0,0,0,0,Normal", "reference ID '123456789'"},
        {"0,a,-2,0,0,0,0,0,0,0,0,0,0,Normal", "stratum '-2'"},
        {"0,a,256,0,0,0,0,0,0,0,0,0,0,Normal", "stratum '256'"},
        {"0,a,2,0,1e-3,0,0,0,0,0,0,0,0,Normal", "system time '1e-3'"},
        {"0,a,2,0,nan,0,0,0,0,0,0,0,0,Normal", "system time 'nan'"},
        {"0,a,2,0,0,0,0,inf,0,0,0,0,0,Normal", "frequency 'inf'"},
        {"0,a,2,0,0,0,0,0,0,0,.,0,0,Normal", "root delay '.'"},
        {"0,a,2,99999999999,0,0,0,0,0,0,0,0,0,Normal", "ref time '99999999999'"},
        {"0,a,2,0,0,0,0,0,0,0,0,0,0,normal", "unknown leap status 'normal'"},
        {"0,a,2,0,0,0,0,0,0,0,0,0,0,Normal ", "unknown leap status 'Normal '"},
    };
    for (const auto& [text, reason] : cases) {
        std::string why;
        EXPECT_FALSE(parse_chronyc_tracking(text, &why)) << text;
        EXPECT_THAT(why, HasSubstr(reason)) << text;
    }
    // Every strict prefix of a good line (a short read) is refused.
    const std::string good = std::string(kSynced).substr(0, std::strlen(kSynced) - 1);
    for (std::size_t n = 0; n < good.size(); ++n) {
        EXPECT_FALSE(parse_chronyc_tracking(good.substr(0, n))) << good.substr(0, n);
    }
}

// Seconds as chronyc prints them (%.9f) parse back to exactly the ns printed, for any value.
TEST(ChronycParse, RandomValuesParseExactly) {
    std::mt19937_64 rng(test_seed());
    std::uniform_int_distribution<int64_t> offset(-3'600'000'000'000, 3'600'000'000'000);
    std::uniform_int_distribution<int64_t> epoch(0, 4'000'000'000'000'000'000);
    auto seconds = [](int64_t ns) {
        char buf[64];
        const int64_t a = ns < 0 ? -ns : ns;
        std::snprintf(buf, sizeof buf, "%s%lld.%09lld", ns < 0 ? "-" : "",
                      static_cast<long long>(a / 1'000'000'000),
                      static_cast<long long>(a % 1'000'000'000));
        return std::string(buf);
    };
    for (int i = 0; i < 2000; ++i) {
        const int64_t ref = epoch(rng);
        const int64_t sys = offset(rng);
        const int64_t last = offset(rng);
        const std::string line = "0A000001,10.0.0.1,2," + seconds(ref) + "," + seconds(sys) + "," +
                                 seconds(last) + ",0.000001000,1.500,-0.001,0.010," +
                                 seconds(offset(rng) / 1000 + 3'600'000'000) +
                                 ",0.000100000,64.0,Normal\n";
        const auto t = parse_chronyc_tracking(line);
        ASSERT_TRUE(t) << "seed " << test_seed() << ": " << line;
        EXPECT_EQ(t->ref_time_ns, ref) << "seed " << test_seed() << ": " << line;
        EXPECT_EQ(t->system_offset_ns, sys) << "seed " << test_seed() << ": " << line;
        EXPECT_EQ(t->last_offset_ns, last) << "seed " << test_seed() << ": " << line;
    }
    // More than 9 decimals round to the nearest ns.
    EXPECT_EQ(
        parse_chronyc_tracking("0,a,2,0,0.0000000015,0,0,0,0,0,0,0,0,Normal")->system_offset_ns, 2);
    EXPECT_EQ(
        parse_chronyc_tracking("0,a,2,0,-0.0000000014,0,0,0,0,0,0,0,0,Normal")->system_offset_ns,
        -1);
}

TEST(FormatDuration, PicksAReadableUnit) {
    EXPECT_EQ(format_duration_ns(0), "0.0 us");
    EXPECT_EQ(format_duration_ns(400), "0.4 us");
    EXPECT_EQ(format_duration_ns(12'345), "12 us");
    EXPECT_EQ(format_duration_ns(-1'312'000), "-1.3 ms");
    EXPECT_EQ(format_duration_ns(250'000'000), "250 ms");
    EXPECT_EQ(format_duration_ns(3'000'000'000), "3.0 s");
}

// ---------------------------------------------------------------------------------------------
// Running chronyc: fake chronyc scripts in a temporary directory.

class ChronycRun : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "fs_chronyc_XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { fs::remove_all(dir_); }

    // Writes an executable /bin/sh script and returns a query that runs it.
    ChronycQuery script(const std::string& body, int64_t timeout_ms = 2000) const {
        const std::string path = dir_ + "/chronyc";
        std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
        ::chmod(path.c_str(), 0755);
        return ChronycQuery{path, "/run/x/chronyd.sock", timeout_ms * 1'000'000};
    }
    std::string read(const std::string& name) const {
        std::ifstream in(dir_ + "/" + name);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }

    std::string dir_;
};

TEST_F(ChronycRun, GoodOutputAndTheArgumentsPassed) {
    ChronycQuery q = script("echo \"$@\" > " + dir_ + "/args\necho \"$LC_ALL\" > " + dir_ +
                            "/lc\nprintf '%s' '" + kSynced + "'");
    q.host = "/tmp/some dir/chronyd.sock";
    const ChronycResult r = chronyc_query(q);
    ASSERT_EQ(r.status, ChronycStatus::ok) << r.error;
    EXPECT_EQ(r.tracking, parse_chronyc_tracking(kSynced));
    EXPECT_EQ(read("args"), "-c -n -h /tmp/some dir/chronyd.sock tracking\n");
    EXPECT_EQ(read("lc"), "C\n");
}

TEST_F(ChronycRun, MissingAndNotExecutable) {
    ChronycQuery q;
    q.chronyc_path = dir_ + "/none/chronyc";
    ChronycResult r = chronyc_query(q);
    EXPECT_EQ(r.status, ChronycStatus::missing);
    EXPECT_THAT(r.error, HasSubstr("No such file or directory"));
    q = script("exit 0");
    ::chmod(q.chronyc_path.c_str(), 0644);
    r = chronyc_query(q);
    EXPECT_EQ(r.status, ChronycStatus::failed);
    EXPECT_THAT(r.error, HasSubstr("Permission denied"));
}

TEST_F(ChronycRun, DaemonNotAnsweringGivesChronycsMessage) {
    ChronycResult r = chronyc_query(script("echo '506 Cannot talk to daemon'\nexit 1"));
    EXPECT_EQ(r.status, ChronycStatus::unreachable);
    EXPECT_EQ(r.error, "506 Cannot talk to daemon");
    r = chronyc_query(script("echo 'Could not open connection to daemon' >&2\nexit 1"));
    EXPECT_EQ(r.status, ChronycStatus::unreachable);
    EXPECT_EQ(r.error, "Could not open connection to daemon");
    r = chronyc_query(script("exit 3"));
    EXPECT_EQ(r.status, ChronycStatus::unreachable);
    EXPECT_EQ(r.error, "chronyc exited with status 3");
}

TEST_F(ChronycRun, GarbledOutputIsBadOutput) {
    const ChronycResult r = chronyc_query(script("echo '7F7F0101,,1,1.0,0.0'"));
    EXPECT_EQ(r.status, ChronycStatus::bad_output);
    EXPECT_THAT(r.error, HasSubstr("5 fields, expected 14"));
    EXPECT_THAT(r.error, HasSubstr("'7F7F0101,,1,1.0,0.0'"));
}

TEST_F(ChronycRun, HangingChronycIsKilledWithWhatItStarted) {
    // The script starts a grandchild that keeps stdout open, then hangs itself.
    const ChronycQuery q =
        script("sleep 60 &\necho $! > " + dir_ + "/grandchild\nexec sleep 60", 200);
    const ChronycResult r = chronyc_query(q);
    EXPECT_EQ(r.status, ChronycStatus::timeout);
    EXPECT_THAT(r.error, HasSubstr("within 200 ms and was killed"));
    // The grandchild got SIGKILL with its process group: gone, or a zombie awaiting its reaper.
    const std::string pid = read("grandchild");
    ASSERT_FALSE(pid.empty());
    std::string state;
    for (int i = 0; i < 200; ++i) {
        std::ifstream stat("/proc/" + pid.substr(0, pid.size() - 1) + "/stat");
        std::string comm;
        long p = 0;
        if (!(stat >> p >> comm >> state) || state == "Z") {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(state.empty() || state == "Z") << "grandchild " << pid << " state " << state;
}

TEST_F(ChronycRun, ChildGetsACleanSignalMaskAndNoInheritedDescriptors) {
    // As the daemon does: SIGTERM blocked in this thread, and a descriptor without O_CLOEXEC.
    sigset_t term;
    sigset_t old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &term, &old), 0);
    const int fd = ::open("/dev/null", O_RDONLY);
    ASSERT_GE(fd, 0);
    const int high = ::dup2(fd, 77);
    ASSERT_EQ(high, 77);
    const ChronycResult r = chronyc_query(script(
        // The shell's own builtins read its mask: a forked grep could catch the shell inside a
        // fork, when dash blocks every signal for a moment.
        "while read -r k v; do [ \"$k\" = SigBlk: ] && printf 'SigBlk:\\t%s\\n' \"$v\"; done "
        "< /proc/$$/status > " +
        dir_ + "/mask\n" + "test -e /proc/$$/fd/77 && echo " + "leaked > " + dir_ +
        "/fd77\nprintf '%s' '" + kSynced + "'"));
    ::close(fd);
    ::close(high);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    ASSERT_EQ(r.status, ChronycStatus::ok) << r.error;
    EXPECT_EQ(read("mask"), "SigBlk:\t0000000000000000\n");
    EXPECT_EQ(read("fd77"), "");
}

// ---------------------------------------------------------------------------------------------
// The verdict, the summary and the transitions, with injected readings.

AdjtimexResult kernel(int64_t status, int state = TIME_OK) {
    AdjtimexReading r;
    r.state = state;
    r.status = status;
    r.offset_ns = 2'000;
    r.esterror_ns = 1'000;
    r.maxerror_ns = 16'000'000;
    return AdjtimexResult{r, 0};
}

ChronycResult answered(const char* line) {
    return ChronycResult{ChronycStatus::ok, parse_chronyc_tracking(line), ""};
}

ChronycResult tracking(uint32_t stratum, ChronyLeap leap, int64_t offset_ns = -12'000) {
    ChronyTracking t;
    t.reference_id = 0xC0A80073;
    t.reference_name = "192.168.0.115";
    t.stratum = stratum;
    t.system_offset_ns = offset_ns;
    t.rms_offset_ns = 30'000;
    t.root_delay_ns = 600'000;
    t.root_dispersion_ns = 1'000'000;
    t.leap = leap;
    return ChronycResult{ChronycStatus::ok, t, ""};
}

ChronycResult not_answering() {
    return ChronycResult{ChronycStatus::unreachable, std::nullopt, "506 Cannot talk to daemon"};
}

TEST(SyncVerdict, ChronydAnswerOverridesTheKernelsUnsyncFlag) {
    SyncTracker tracker(ChronydMode::automatic, "/run/chrony/chronyd.sock");
    tracker.update(1, 2, kernel(STA_UNSYNC | STA_PLL, TIME_ERROR), tracking(2, ChronyLeap::normal));
    const SyncSnapshot& s = tracker.snapshot();
    EXPECT_TRUE(s.synchronised);
    EXPECT_EQ(s.chronyd, ChronydState::reachable);
    EXPECT_EQ(s.taken_mono_ns, 1);
    EXPECT_EQ(s.taken_realtime_ns, 2);
    EXPECT_EQ(s.reason, "chronyd: stratum 2, leap Normal, reference C0A80073 (192.168.0.115)");
    EXPECT_EQ(s.summary, "clock synced (chronyd: 12 us fast, max. error 1.3 ms, stratum 2)");
    const auto sample = s.sample();
    ASSERT_TRUE(sample);
    EXPECT_STREQ(sample->source, "chronyd");
    EXPECT_EQ(sample->status, STA_UNSYNC | STA_PLL);  // the kernel's word, always
    EXPECT_EQ(sample->offset_ns, -12'000);
    EXPECT_EQ(sample->esterror_ns, 30'000);
    EXPECT_EQ(sample->maxerror_ns, 12'000 + 1'000'000 + 300'000);
    EXPECT_TRUE(sample->synchronised);
}

TEST(SyncVerdict, DetailForTheTimingLog) {
    SyncTracker tracker(ChronydMode::yes, "h");
    tracker.update(1, 2, kernel(STA_UNSYNC, TIME_ERROR), answered(kSynced));
    EXPECT_EQ(tracker.snapshot().detail(),
              "stratum=3;ref=C0A80073;leap=normal;root_delay_ns=16247051;"
              "root_dispersion_ns=187333;freq_ppm=-11.621;skew_ppm=0.543");
    tracker.update(1, 2, kernel(0), not_answering());
    EXPECT_EQ(tracker.snapshot().detail(), "state=TIME_OK;freq_ppm=0.000;chronyd=unreachable");
    tracker.update(1, 2, AdjtimexResult{std::nullopt, EPERM}, std::nullopt);
    EXPECT_EQ(tracker.snapshot().detail(), "adjtimex_errno=1;chronyd=not_asked");
    // The longest realistic values (chronyd keeps root delay and dispersion below 16 s) fit
    // whole.
    ChronycResult big = tracking(255, ChronyLeap::unsynchronised);
    big.tracking->reference_id = 0xFFFFFFFF;
    big.tracking->root_delay_ns = 16'000'000'000;
    big.tracking->root_dispersion_ns = 16'000'000'000;
    big.tracking->frequency_ppm = -99999.999;
    big.tracking->skew_ppm = -99999.999;
    tracker.update(1, 2, kernel(0), big);
    EXPECT_LE(tracker.snapshot().detail().size(), SyncSnapshot::kMaxDetail);
    EXPECT_TRUE(tracker.snapshot().detail().ends_with(";skew_ppm=-99999.999"))
        << tracker.snapshot().detail();
    EXPECT_THAT(tracker.snapshot().detail(), HasSubstr("leap=unsynchronised"));
}

TEST(SyncVerdict, ChronydStates) {
    struct Case {
        ChronycResult chrony;
        bool synchronised;
        std::string summary;
    };
    const Case cases[] = {
        {tracking(1, ChronyLeap::insert_second, 3'000), true,
         "clock synced (chronyd: 3.0 us slow, max. error 1.3 ms, stratum 1)"},
        {tracking(0, ChronyLeap::unsynchronised), false,
         "clock UNSYNCHRONISED (chronyd: leap status Not synchronised, stratum 0)"},
        {tracking(16, ChronyLeap::normal), false, "clock UNSYNCHRONISED (chronyd: stratum 16)"},
        {answered(kLocal), false,
         "clock UNSYNCHRONISED (chronyd: local reference only, stratum 1)"},
        {answered(kUnsynced), false,
         "clock UNSYNCHRONISED (chronyd: leap status Not synchronised, stratum 0)"},
    };
    for (const auto& c : cases) {
        SyncTracker tracker(ChronydMode::yes, "h");
        tracker.update(1, 2, kernel(0), c.chrony);
        EXPECT_EQ(tracker.snapshot().synchronised, c.synchronised) << c.summary;
        EXPECT_EQ(tracker.snapshot().summary, c.summary);
    }
}

TEST(SyncVerdict, KernelStateWhenChronydDoesNotAnswer) {
    SyncTracker tracker(ChronydMode::automatic, "h");
    tracker.update(1, 2, kernel(STA_UNSYNC, TIME_ERROR), not_answering());
    EXPECT_FALSE(tracker.snapshot().synchronised);
    EXPECT_EQ(tracker.snapshot().summary,
              "clock UNSYNCHRONISED (adjtimex STA_UNSYNC; chronyd not reachable)");
    EXPECT_EQ(tracker.snapshot().reason, "adjtimex: STA_UNSYNC set");
    EXPECT_EQ(tracker.snapshot().chronyd_error, "506 Cannot talk to daemon");
    EXPECT_FALSE(tracker.snapshot().chrony);
    auto sample = tracker.snapshot().sample();
    ASSERT_TRUE(sample);
    EXPECT_STREQ(sample->source, "adjtimex");
    EXPECT_EQ(sample->offset_ns, 2'000);
    EXPECT_EQ(sample->esterror_ns, 1'000);
    EXPECT_EQ(sample->maxerror_ns, 16'000'000);

    tracker.update(3, 4, kernel(STA_PLL), not_answering());
    EXPECT_TRUE(tracker.snapshot().synchronised);
    EXPECT_EQ(tracker.snapshot().summary,
              "clock synced (adjtimex: 2.0 us slow, max. error 16 ms; chronyd not reachable)");
    tracker.update(5, 6, kernel(0, TIME_ERROR), std::nullopt);  // mode no: not asked
    EXPECT_FALSE(tracker.snapshot().synchronised);
    EXPECT_EQ(tracker.snapshot().summary, "clock UNSYNCHRONISED (adjtimex TIME_ERROR)");
    tracker.update(7, 8, kernel(0),
                   ChronycResult{ChronycStatus::missing, std::nullopt, "cannot run x"});
    EXPECT_EQ(tracker.snapshot().chronyd, ChronydState::no_chronyc);
    EXPECT_EQ(tracker.snapshot().summary,
              "clock synced (adjtimex: 2.0 us slow, max. error 16 ms; no chronyc)");
    tracker.update(9, 10, AdjtimexResult{std::nullopt, EPERM}, not_answering());
    EXPECT_FALSE(tracker.snapshot().synchronised);
    EXPECT_FALSE(tracker.snapshot().sample());
    EXPECT_THAT(tracker.snapshot().summary, HasSubstr("clock sync UNKNOWN (ntp_adjtime failed"));
}

std::string levels(const std::vector<SyncTransition>& ts) {
    std::string out;
    for (const auto& t : ts) {
        out += t.warning ? 'W' : 'I';
    }
    return out;
}

TEST(SyncTransitions, EachChangeIsReportedOnce) {
    SyncTracker tracker(ChronydMode::automatic, "/run/chrony/chronyd.sock");
    auto t = tracker.update(0, 0, kernel(STA_UNSYNC), tracking(2, ChronyLeap::normal));
    ASSERT_EQ(levels(t), "II");
    EXPECT_EQ(t[0].message,
              "chronyd answers at /run/chrony/chronyd.sock: stratum 2, reference "
              "C0A80073 (192.168.0.115)");
    EXPECT_THAT(t[1].message, HasSubstr("clock synced"));
    EXPECT_EQ(levels(tracker.update(1, 1, kernel(STA_UNSYNC), tracking(2, ChronyLeap::normal))),
              "");
    // chronyd goes away: a warning even in auto mode (it was answering), and the verdict falls
    // back to the kernel, which says unsynchronised.
    t = tracker.update(2, 2, kernel(STA_UNSYNC), not_answering());
    ASSERT_EQ(levels(t), "WW");
    EXPECT_THAT(t[0].message, HasSubstr("chronyd stopped answering at /run/chrony/chronyd.sock "
                                        "(506 Cannot talk to daemon)"));
    EXPECT_THAT(t[1].message, HasSubstr("clock sync lost: clock UNSYNCHRONISED (adjtimex"));
    EXPECT_EQ(levels(tracker.update(3, 3, kernel(STA_UNSYNC), not_answering())), "");
    t = tracker.update(4, 4, kernel(STA_UNSYNC), tracking(3, ChronyLeap::normal));
    ASSERT_EQ(levels(t), "II");
    EXPECT_THAT(t[0].message, HasSubstr("chronyd answers again at"));
    EXPECT_THAT(t[1].message, HasSubstr("clock synchronised again: clock synced (chronyd"));
    // A new stratum or offset is not a transition.
    EXPECT_EQ(levels(tracker.update(5, 5, kernel(0), tracking(4, ChronyLeap::normal, 5))), "");
}

TEST(SyncTransitions, UnreachableAtStartIsInfoInAutoModeAndAWarningInYesMode) {
    SyncTracker auto_tracker(ChronydMode::automatic, "h");
    auto t = auto_tracker.update(0, 0, kernel(0),
                                 ChronycResult{ChronycStatus::missing, std::nullopt, "no x"});
    EXPECT_EQ(levels(t), "II");
    EXPECT_THAT(t[0].message, HasSubstr("chronyc not found (no x)"));
    SyncTracker yes_tracker(ChronydMode::yes, "h");
    t = yes_tracker.update(0, 0, kernel(0), not_answering());
    EXPECT_EQ(levels(t), "WI");
    EXPECT_THAT(t[0].message, HasSubstr("chronyd does not answer at h"));
    // Its first answer is not "again".
    SyncTracker later(ChronydMode::yes, "h");
    later.update(0, 0, kernel(0), not_answering());
    t = later.update(0, 0, kernel(0), tracking(2, ChronyLeap::normal));
    ASSERT_EQ(levels(t), "I");
    EXPECT_THAT(t[0].message, HasSubstr("chronyd answers at h"));
    t = yes_tracker.update(0, 0, kernel(STA_UNSYNC),
                           ChronycResult{ChronycStatus::timeout, std::nullopt, "slow"});
    EXPECT_EQ(levels(t), "W");  // sync lost; timeout and unreachable are the same state
    SyncTracker no_tracker(ChronydMode::no, "h");
    t = no_tracker.update(0, 0, kernel(STA_UNSYNC), std::nullopt);
    EXPECT_EQ(levels(t), "IW");
    EXPECT_THAT(t[0].message, HasSubstr("clock_sync.chronyd: no"));
}

// Random polls: the number of transitions reported is exactly the number of state changes.
TEST(SyncTransitions, RandomPollsReportEveryChangeExactlyOnce) {
    std::mt19937_64 rng(test_seed());
    std::uniform_int_distribution<int> pick(0, 5);
    SyncTracker tracker(ChronydMode::automatic, "h");
    bool had = false;
    bool synced = false;
    ChronydState chronyd = ChronydState::not_asked;
    for (int i = 0; i < 2000; ++i) {
        const int p = pick(rng);
        const AdjtimexResult a = kernel(p % 2 == 0 ? 0 : STA_UNSYNC);
        const ChronycResult c = p < 2   ? tracking(2, ChronyLeap::normal)
                                : p < 4 ? not_answering()
                                : p < 5 ? answered(kUnsynced)
                                        : ChronycResult{ChronycStatus::missing, {}, "x"};
        const auto t = tracker.update(i, i, a, c);
        const SyncSnapshot& s = tracker.snapshot();
        const std::size_t expected = (!had ? 2u : 0u) + (had && s.chronyd != chronyd ? 1u : 0u) +
                                     (had && s.synchronised != synced ? 1u : 0u);
        ASSERT_EQ(t.size(), expected) << "seed " << test_seed() << " poll " << i;
        had = true;
        synced = s.synchronised;
        chronyd = s.chronyd;
    }
}

// ---------------------------------------------------------------------------------------------
// The monitor and its probe, against fake sources.

class FakeSources final : public SyncSources {
  public:
    int64_t monotonic_ns() override { return mono.load(); }
    int64_t realtime_ns() override { return 1'700'000'000'000'000'000 + mono.load(); }
    AdjtimexResult read_adjtimex() override {
        adjtimex_calls.fetch_add(1);
        std::lock_guard lock(mutex);
        return adjtimex_result;
    }
    ChronycResult query_chronyd(const ChronycQuery& q) override {
        std::lock_guard lock(mutex);
        ++chrony_calls;
        last_query = q;
        if (counting) {
            // Each answer's fields are tied together, so a torn read would show.
            ++answer;
            ChronycResult r = tracking(2, ChronyLeap::normal, answer);
            r.tracking->rms_offset_ns = 2 * answer;
            r.tracking->root_delay_ns = 0;
            r.tracking->root_dispersion_ns = 0;
            return r;
        }
        return chrony_result;
    }

    std::atomic<int64_t> mono{1'000'000'000};
    std::atomic<int> adjtimex_calls{0};
    std::mutex mutex;
    AdjtimexResult adjtimex_result = kernel(STA_UNSYNC, TIME_ERROR);
    ChronycResult chrony_result = tracking(2, ChronyLeap::normal);
    int chrony_calls = 0;
    ChronycQuery last_query;
    bool counting = false;
    int64_t answer = 0;
};

SyncMonitorOptions options(ChronydMode mode) {
    SyncMonitorOptions o;
    o.chronyd = mode;
    o.chronyc_path = "/opt/chronyc";
    o.chronyd_socket = "127.0.0.1";
    o.timeout_ns = 300'000'000;
    o.interval_ns = 5'000'000'000;
    return o;
}

// Captures the monitor's log lines for one test.
class LogCapture {
  public:
    LogCapture() : previous_(spdlog::default_logger()) {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
        auto logger = std::make_shared<spdlog::logger>("test", sink);
        logger->set_pattern("%l %v");
        spdlog::set_default_logger(logger);
    }
    ~LogCapture() { spdlog::set_default_logger(previous_); }
    std::string text() const { return out_.str(); }

  private:
    std::ostringstream out_;
    std::shared_ptr<spdlog::logger> previous_;
};

TEST(SyncMonitorFake, ProbeCopiesThePublishedSampleWithoutCallingAnything) {
    auto fake = std::make_shared<FakeSources>();
    SyncMonitor monitor(options(ChronydMode::yes), fake);
    EXPECT_EQ(monitor.summary(), "clock sync not checked yet");
    auto probe = monitor.make_probe();
    // Before any poll the probe reads the kernel itself.
    auto s = probe->sample();
    ASSERT_TRUE(s);
    EXPECT_STREQ(s->source, "adjtimex");
    EXPECT_FALSE(s->synchronised);
    EXPECT_EQ(fake->adjtimex_calls.load(), 1);

    LogCapture log;
    monitor.poll_now();
    EXPECT_EQ(monitor.polls(), 1u);
    EXPECT_EQ(fake->chrony_calls, 1);
    EXPECT_EQ(fake->last_query.chronyc_path, "/opt/chronyc");
    EXPECT_EQ(fake->last_query.host, "127.0.0.1");
    EXPECT_EQ(fake->last_query.timeout_ns, 300'000'000);
    const SyncSnapshot snap = monitor.snapshot();
    EXPECT_TRUE(snap.synchronised);
    EXPECT_EQ(snap.taken_mono_ns, 1'000'000'000);
    EXPECT_EQ(monitor.summary(), snap.summary);
    EXPECT_EQ(log.text(),
              "info chronyd answers at 127.0.0.1: stratum 2, reference C0A80073 "
              "(192.168.0.115)\ninfo " +
                  snap.summary + "\n");

    const int calls = fake->adjtimex_calls.load();
    for (int i = 0; i < 100; ++i) {
        s = probe->sample();
        ASSERT_TRUE(s);
        EXPECT_STREQ(s->source, "chronyd");
        EXPECT_TRUE(s->synchronised);
        EXPECT_EQ(s->offset_ns, -12'000);
    }
    EXPECT_EQ(fake->adjtimex_calls.load(), calls);
    EXPECT_EQ(fake->chrony_calls, 1);

    // The published sample expires after 2 intervals + timeout + 1 s: then the kernel's state.
    fake->mono += 2 * 5'000'000'000 + 300'000'000 + 1'000'000'000;
    EXPECT_STREQ(probe->sample()->source, "chronyd");
    fake->mono += 1;
    EXPECT_STREQ(probe->sample()->source, "adjtimex");
    EXPECT_EQ(fake->adjtimex_calls.load(), calls + 1);
}

TEST(SyncMonitorFake, ModeNoNeverAsksChronyd) {
    auto fake = std::make_shared<FakeSources>();
    SyncMonitor monitor(options(ChronydMode::no), fake);
    monitor.poll_now();
    monitor.poll_now();
    EXPECT_EQ(fake->chrony_calls, 0);
    EXPECT_EQ(monitor.snapshot().chronyd, ChronydState::not_asked);
    EXPECT_EQ(monitor.summary(), "clock UNSYNCHRONISED (adjtimex STA_UNSYNC)");
}

TEST(SyncMonitorFake, ProbesOutliveTheMonitor) {
    auto fake = std::make_shared<FakeSources>();
    std::unique_ptr<SyncProbe> probe;
    {
        SyncMonitor monitor(options(ChronydMode::yes), fake);
        monitor.poll_now();
        probe = monitor.make_probe();
    }
    EXPECT_STREQ(probe->sample()->source, "chronyd");
}

TEST(SyncMonitorFake, ThreadPollsAndStops) {
    auto fake = std::make_shared<FakeSources>();
    SyncMonitorOptions o = options(ChronydMode::yes);
    o.interval_ns = 2'000'000;
    SyncMonitor monitor(o, fake);
    LogCapture log;
    monitor.start();
    monitor.start();  // idempotent
    for (int i = 0; i < 5000 && monitor.polls() < 5; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_GE(monitor.polls(), 5u);
    monitor.stop();
    monitor.stop();
    const uint64_t after = monitor.polls();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(monitor.polls(), after);
    // The same answer every time: the first poll's two lines and nothing more.
    const std::string text = log.text();
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
}

// A capture thread reading while the monitor publishes as fast as it can never sees a torn
// sample: every answer's offset and esterror are tied (esterror = 2 x offset).
TEST(SyncMonitorFake, ConcurrentProbeReadsAreNeverTorn) {
    auto fake = std::make_shared<FakeSources>();
    fake->counting = true;
    SyncMonitorOptions o = options(ChronydMode::yes);
    o.interval_ns = 1;
    SyncMonitor monitor(o, fake);
    monitor.poll_now();
    auto probe = monitor.make_probe();
    LogCapture log;
    monitor.start();
    int64_t last = 0;
    int chrony_samples = 0;
    for (int i = 0; i < 200'000; ++i) {
        const auto s = probe->sample();
        ASSERT_TRUE(s);
        if (std::string_view(s->source) == "chronyd") {
            ++chrony_samples;
            ASSERT_EQ(s->esterror_ns, 2 * s->offset_ns);
            ASSERT_EQ(s->maxerror_ns, s->offset_ns);
            ASSERT_GE(s->offset_ns, last);  // never older than a sample already seen
            last = s->offset_ns;
        }
    }
    monitor.stop();
    EXPECT_GT(chrony_samples, 0);
    EXPECT_GT(last, 1);
}

TEST(Seqlock, ReadersSeeWholeValuesOrGiveUp) {
    struct Value {
        int64_t a;
        int64_t b;
        int64_t c;
    };
    clock_detail::Seqlock<Value> box;
    Value v{};
    ASSERT_TRUE(box.try_load(v));
    EXPECT_EQ(v.a + v.b + v.c, 0);
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        for (int64_t i = 1; !stop.load(std::memory_order_relaxed); ++i) {
            box.store(Value{i, -2 * i, i});
        }
    });
    int loaded = 0;
    for (int i = 0; i < 200'000; ++i) {
        Value got{1, 1, 1};
        if (box.try_load(got)) {
            ++loaded;
            ASSERT_EQ(got.a + got.b + got.c, 0) << got.a << " " << got.b << " " << got.c;
        } else {
            ASSERT_EQ(got.a, 1);  // untouched
        }
    }
    stop = true;
    writer.join();
    EXPECT_GT(loaded, 0);
}

TEST(SyncMonitorOptionsTest, FromTheConfiguration) {
    Config c;
    c.sync_sample_interval_s = 7;
    c.clock_sync.chronyd = ChronydMode::yes;
    c.clock_sync.chronyc_path = "/usr/local/bin/chronyc";
    c.clock_sync.chronyd_socket = "::1";
    c.clock_sync.timeout_ms = 250;
    const SyncMonitorOptions o = sync_monitor_options(c);
    EXPECT_EQ(o.chronyd, ChronydMode::yes);
    EXPECT_EQ(o.chronyc_path, "/usr/local/bin/chronyc");
    EXPECT_EQ(o.chronyd_socket, "::1");
    EXPECT_EQ(o.timeout_ns, 250'000'000);
    EXPECT_EQ(o.interval_ns, 7'000'000'000);
}

TEST(Adjtimex, ReadsTheKernelWithoutChangingIt) {
    const AdjtimexResult a = adjtimex_read();
    ASSERT_TRUE(a.reading) << std::strerror(a.error);
    EXPECT_GE(a.reading->maxerror_ns, 0);
    EXPECT_EQ(adjtimex_state_name(TIME_ERROR), "TIME_ERROR");
    EXPECT_EQ(adjtimex_state_name(42), "TIME_42");
}

}  // namespace
