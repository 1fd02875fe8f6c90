// Synchronisation helpers shared by the thread tests. None is a timing assertion: bounds only
// keep a broken build from hanging the run.
#pragma once

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spawn.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace test_sync {

// A one-shot gate: wait() blocks until open() has been called.
class Gate {
public:
    void open() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            open_ = true;
        }
        cv_.notify_all();
    }
    void wait() {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return open_; });
    }
    // Waits at most `limit`; true if opened.
    bool wait_for(std::chrono::seconds limit) {
        std::unique_lock<std::mutex> lock(mutex_);
        return cv_.wait_for(lock, limit, [this] { return open_; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool open_ = false;
};

// Runs `gdb -batch -ex "thread apply all bt"` on this process, its output on our stderr; waits
// at most 60 s for it. Prints a line instead when gdb cannot be started.
inline void print_every_stack() {
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

// Ends the process with a message naming `what`, every thread's stack (print_every_stack())
// and exit code 3 if it is not destroyed within `limit`, a generous bound: a deadlock then
// fails the test run, with its place named, instead of hanging it.
class Watchdog {
public:
    explicit Watchdog(const char* what, std::chrono::seconds limit = std::chrono::seconds(60))
        : what_(what), limit_(limit), thread_([this] { run(); }) {}
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;
    ~Watchdog() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            done_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

private:
    void run() {
        std::unique_lock<std::mutex> lock(mutex_);
        if (!cv_.wait_for(lock, limit_, [this] { return done_; })) {
            std::fprintf(stderr,
                         "\nWATCHDOG: deadlock suspected in: %s (still running after %lld s); "
                         "every thread's stack follows; exiting with 3\n",
                         what_, static_cast<long long>(limit_.count()));
            std::fflush(stderr);
            print_every_stack();
            std::fflush(stderr);
            std::_Exit(3); // not abort(): no signal handler runs with other threads stuck
        }
    }

    const char* what_;
    std::chrono::seconds limit_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;
};

// Runs body(t) on `threads` threads at once (each waits at a gate until all are started) and
// joins them.
template <class Body> void run_together(std::size_t threads, Body body) {
    Gate start;
    std::vector<std::thread> workers;
    workers.reserve(threads);
    for (std::size_t t = 0; t < threads; ++t) {
        workers.emplace_back([&start, &body, t] {
            start.wait();
            body(t);
        });
    }
    start.open();
    for (std::thread& worker : workers) {
        worker.join();
    }
}

// Polls `predicate` until it holds or a generous bound (20 s) passes; returns its last value.
template <class Predicate> bool eventually(Predicate predicate) {
    for (int i = 0; i < 20000; ++i) {
        if (predicate()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return predicate();
}

} // namespace test_sync
