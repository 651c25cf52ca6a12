// Logging helpers: the rate limiter, scoped fields, journal detection.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "framestamp/log.hpp"

namespace {

using framestamp::LogRateLimiter;

TEST(LogRateLimiter, LetsABurstThroughThenCountsTheRest) {
    LogRateLimiter rl(1'000'000'000, 3);
    uint64_t suppressed = 99;
    EXPECT_TRUE(rl.allow("overrun", 0, &suppressed));
    EXPECT_EQ(suppressed, 0U);
    EXPECT_TRUE(rl.allow("overrun", 1, &suppressed));
    EXPECT_TRUE(rl.allow("overrun", 2, &suppressed));
    for (int i = 0; i < 7; ++i) {
        EXPECT_FALSE(rl.allow("overrun", 3 + i));
    }
    // Another key has its own budget.
    EXPECT_TRUE(rl.allow("device", 10));
    // A new window: the first message through reports what was suppressed.
    EXPECT_TRUE(rl.allow("overrun", 1'000'000'005, &suppressed));
    EXPECT_EQ(suppressed, 7U);
    EXPECT_TRUE(rl.allow("overrun", 1'000'000'006, &suppressed));
    EXPECT_EQ(suppressed, 0U);
}

TEST(LogFields, NestAndUnwindPerThread) {
    EXPECT_TRUE(framestamp::log_thread_fields().empty());
    {
        framestamp::LogFields a{{"CHUNK", "x.flac"}};
        {
            framestamp::LogFields b{{"FRAMES_LOST", "12"}, {"FRAME", "7"}};
            ASSERT_EQ(framestamp::log_thread_fields().size(), 3U);
            EXPECT_EQ(framestamp::log_thread_fields()[1].first, "FRAMES_LOST");
        }
        ASSERT_EQ(framestamp::log_thread_fields().size(), 1U);
    }
    EXPECT_TRUE(framestamp::log_thread_fields().empty());
    framestamp::log_set_thread_stream("front");
    EXPECT_EQ(framestamp::log_thread_stream(), "front");
}

TEST(LogJournal, DetectedOnlyWhenStderrIsTheJournalStream) {
    unsetenv("JOURNAL_STREAM");
    EXPECT_FALSE(framestamp::log_stderr_is_journal());
    struct stat st {};
    ASSERT_EQ(fstat(2, &st), 0);
    const std::string match = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    setenv("JOURNAL_STREAM", match.c_str(), 1);
    EXPECT_TRUE(framestamp::log_stderr_is_journal());
    setenv("JOURNAL_STREAM", "1:2", 1);  // a stream of the parent's, not ours
    EXPECT_FALSE(framestamp::log_stderr_is_journal());
    unsetenv("JOURNAL_STREAM");
}

}  // namespace
