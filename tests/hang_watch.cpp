// A Catch2 listener linked into every test executable: each test case runs under a
// test_sync::Watchdog, so that one still running after a generous bound is named on stderr,
// every thread's stack is printed when gdb is installed, and the process ends with exit code 3.
// A hang then fails with its place named, well before ctest's timeout kills a silent process.
// None of this is a timing assertion: the slowest test case takes seconds, even under the
// sanitizers.
#define CATCH_CONFIG_EXTERNAL_INTERFACES // Catch2 v2: declares the listener base class
#include "catch_compat.hpp"
#include "sync_helpers.hpp"

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>

namespace {

// 150 s unless the environment sets AUTHEVENTS_TEST_HANG_SECONDS (a positive integer).
std::chrono::seconds hang_limit() {
    const char* text = std::getenv("AUTHEVENTS_TEST_HANG_SECONDS");
    const long long seconds = text != nullptr ? std::atoll(text) : 0;
    return std::chrono::seconds(seconds > 0 ? seconds : 150);
}

#if __has_include(<catch2/catch_all.hpp>)
using ListenerBase = Catch::EventListenerBase;
#else
using ListenerBase = Catch::TestEventListenerBase;
#endif

class HangListener : public ListenerBase {
public:
    using ListenerBase::ListenerBase;

    void testCaseStarting(const Catch::TestCaseInfo& info) override {
        watched_ = "test case \"" + info.name + "\"";
        watchdog_.emplace(watched_.c_str(), limit_);
        ListenerBase::testCaseStarting(info);
    }

    void testCaseEnded(const Catch::TestCaseStats& stats) override {
        watchdog_.reset();
        ListenerBase::testCaseEnded(stats);
    }

private:
    std::chrono::seconds limit_ = hang_limit();
    std::string watched_;                         // what watchdog_ names
    std::optional<test_sync::Watchdog> watchdog_; // last: destroyed before what it names
};

} // namespace

CATCH_REGISTER_LISTENER(HangListener)
