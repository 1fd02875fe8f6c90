// A Catch2 listener linked into every test executable: when one test case runs for longer than
// a generous bound, it names the case on stderr, prints every thread's stack when gdb is
// installed, and ends the process with exit code 3. A hang then fails with its place named,
// well before ctest's timeout kills a silent process. None of this is a timing assertion: the
// slowest test case takes seconds, even under the sanitizers.
#define CATCH_CONFIG_EXTERNAL_INTERFACES // Catch2 v2: declares the listener base class
#include "catch_compat.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spawn.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

extern char** environ;

namespace {

// 150 s unless the environment sets AUTHEVENTS_TEST_HANG_SECONDS (a positive integer).
std::chrono::seconds hang_limit() {
    const char* text = std::getenv("AUTHEVENTS_TEST_HANG_SECONDS");
    const long long seconds = text != nullptr ? std::atoll(text) : 0;
    return std::chrono::seconds(seconds > 0 ? seconds : 150);
}

// Runs `gdb -batch -ex "thread apply all bt"` on this process, its output on our stderr; waits
// at most 60 s for it. Does nothing when gdb cannot be started.
void print_every_stack() {
#ifdef PR_SET_PTRACER
    ::prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0); // Yama: let our child attach
#endif
    std::string pid = std::to_string(::getpid());
    std::string args[] = {"gdb", "-p", pid, "-batch", "-nx", "-ex", "thread apply all bt"};
    char* argv[] = {args[0].data(), args[1].data(), args[2].data(), args[3].data(),
                    args[4].data(), args[5].data(), args[6].data(), nullptr};
    pid_t child = 0;
    if (::posix_spawnp(&child, "gdb", nullptr, nullptr, argv, environ) != 0) {
        std::fputs("(gdb is not installed: no stacks)\n", stderr);
        return;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    int status = 0;
    while (::waitpid(child, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(child, SIGKILL);
            ::waitpid(child, &status, 0);
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

// Watches the test case now running from a thread started with the first case.
class HangWatch {
public:
    static HangWatch& instance() {
        static HangWatch watch;
        return watch;
    }

    HangWatch(const HangWatch&) = delete;
    HangWatch& operator=(const HangWatch&) = delete;

    ~HangWatch() {
        {
            const std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (thread_.joinable()) {
            thread_.join();
        }
    }

    void started(const std::string& name) {
        const std::lock_guard<std::mutex> lock(mutex_);
        name_ = name;
        running_ = true;
        since_ = std::chrono::steady_clock::now();
        if (!thread_.joinable()) {
            thread_ = std::thread([this] { run(); });
        }
    }

    void ended() {
        const std::lock_guard<std::mutex> lock(mutex_);
        running_ = false;
    }

private:
    HangWatch() = default;

    void run() {
        const std::chrono::seconds limit = hang_limit();
        std::unique_lock<std::mutex> lock(mutex_);
        while (!stopping_) {
            wake_.wait_for(lock, std::chrono::milliseconds(200));
            if (running_ && std::chrono::steady_clock::now() - since_ > limit) {
                std::fprintf(stderr,
                             "\nHANG: test case \"%s\" still runs after %lld s; every thread's "
                             "stack follows, then the run ends with exit code 3\n",
                             name_.c_str(), static_cast<long long>(limit.count()));
                std::fflush(stderr);
                print_every_stack();
                std::fflush(stderr);
                std::_Exit(3); // not exit(): other threads are stuck, destructors would wait
            }
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    bool running_ = false;
    std::string name_;
    std::chrono::steady_clock::time_point since_{};
    std::thread thread_;
};

#if __has_include(<catch2/catch_all.hpp>)
using ListenerBase = Catch::EventListenerBase;
#else
using ListenerBase = Catch::TestEventListenerBase;
#endif

class HangListener : public ListenerBase {
public:
    using ListenerBase::ListenerBase;

    void testCaseStarting(const Catch::TestCaseInfo& info) override {
        HangWatch::instance().started(info.name);
        ListenerBase::testCaseStarting(info);
    }

    void testCaseEnded(const Catch::TestCaseStats& stats) override {
        HangWatch::instance().ended();
        ListenerBase::testCaseEnded(stats);
    }
};

} // namespace

CATCH_REGISTER_LISTENER(HangListener)
