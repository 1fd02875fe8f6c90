// Synchronisation helpers shared by the thread tests. None is a timing assertion: bounds only
// keep a broken build from hanging the run.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <mutex>
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

// Ends the process with a message and exit code 3 if it is not destroyed within a generous bound:
// a deadlock then fails the test run instead of hanging it.
class Watchdog {
public:
    explicit Watchdog(const char* what) : what_(what), thread_([this] { run(); }) {}
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
        if (!cv_.wait_for(lock, std::chrono::seconds(60), [this] { return done_; })) {
            std::fprintf(stderr, "\nWATCHDOG: deadlock suspected in: %s; exiting with 3\n", what_);
            std::fflush(stderr);
            std::_Exit(3); // not abort(): no signal handler runs with other threads stuck
        }
    }

    const char* what_;
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
