// Multithreaded tests of EventDispatcher, EventRecorder and SignalsDisabled: concurrent
// dispatch while handlers connect and disconnect. Bounded in iterations; run under TSan.
#include <authevents/receiver.hpp>
#include <authevents/testing.hpp>

#include "catch_compat.hpp"
#include "event_samples.hpp"
#include "log_capture.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

using namespace authevents;
using samples::ana;

namespace {

constexpr int dispatcher_threads = 4;
constexpr int dispatches_per_thread = 400;

struct Heartbeat {
    static constexpr std::string_view name = "heartbeat";
    int thread = 0;
    int sequence = 0;
};

} // namespace

TEST_CASE("concurrent dispatch while handlers connect and disconnect", "[thread]") {
    EventDispatcher d;
    LogCapture log;
    d.set_logger(log.logger());
    std::atomic<long> stable_calls{0};
    std::atomic<long> churn_calls{0};
    std::atomic<bool> stop{false};

    d.connect<UserLoginFailed>([&](const UserLoginFailed&) { ++stable_calls; });
    d.connect<UserLoginFailed>([](const UserLoginFailed& event) {
        if (event.reason == LoginFailureReason::rate_limited) {
            throw std::runtime_error("limiter down");
        }
    });

    std::thread churner([&] {
        while (!stop.load()) {
            Connection c =
                d.connect<UserLoginFailed>([&](const UserLoginFailed&) { ++churn_calls; });
            ScopedConnection scoped =
                d.connect<Heartbeat>([&](const Heartbeat&) { ++churn_calls; });
            std::this_thread::yield();
            c.disconnect_and_wait();
        }
    });

    std::vector<DispatchReport> last_reports(dispatcher_threads);
    std::vector<std::thread> dispatchers;
    for (int t = 0; t < dispatcher_threads; ++t) {
        dispatchers.emplace_back([&, t] {
            for (int i = 0; i < dispatches_per_thread; ++i) {
                const auto reason = i % 2 == 0 ? LoginFailureReason::wrong_password
                                               : LoginFailureReason::rate_limited;
                last_reports[static_cast<std::size_t>(t)] =
                    d.dispatch_user_login_failed("ana@example.com", reason);
                d.dispatch(Heartbeat{t, i});
            }
        });
    }
    for (std::thread& thread : dispatchers) {
        thread.join();
    }
    stop = true;
    churner.join();

    constexpr long total = static_cast<long>(dispatcher_threads) * dispatches_per_thread;
    CHECK(stable_calls == total);
    const EventStats stats = d.stats<UserLoginFailed>();
    CHECK(stats.dispatched == static_cast<std::uint64_t>(total));
    CHECK(stats.handler_failures == static_cast<std::uint64_t>(total / 2));
    CHECK(stats.handlers_called >= static_cast<std::uint64_t>(2 * total));
    CHECK(d.stats<Heartbeat>().dispatched == static_cast<std::uint64_t>(total));
    CHECK(log.texts(LogLevel::info).size() == static_cast<std::size_t>(2 * total));
    CHECK(log.texts(LogLevel::error).size() == static_cast<std::size_t>(total / 2));
    for (const DispatchReport& report : last_reports) {
        CHECK(report.failures.size() == 1); // the last dispatch of each thread was rate_limited
    }
    CHECK(d.user_login_failed.size() == 2);
}

TEST_CASE("custom events created concurrently on first use are created once", "[thread]") {
    EventDispatcher d;
    d.set_logger({});
    std::atomic<int> calls{0};
    std::vector<std::thread> threads;
    std::vector<Signal<const Heartbeat&>*> signals(dispatcher_threads);
    for (int t = 0; t < dispatcher_threads; ++t) {
        threads.emplace_back([&, t] {
            signals[static_cast<std::size_t>(t)] = &d.signal<Heartbeat>();
            d.connect<Heartbeat>([&](const Heartbeat&) { ++calls; });
        });
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    for (Signal<const Heartbeat&>* signal : signals) {
        CHECK(signal == &d.signal<Heartbeat>());
    }
    CHECK(d.dispatch(Heartbeat{}).handlers_called == dispatcher_threads);
    CHECK(calls == dispatcher_threads);
}

TEST_CASE("a recorder records dispatches from several threads, and its destruction waits",
          "[thread]") {
    EventDispatcher d;
    d.set_logger({});
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    std::atomic<long> dispatched{0};
    for (int t = 0; t < dispatcher_threads; ++t) {
        threads.emplace_back([&] {
            while (!stop.load()) {
                d.dispatch_user_2fa_enabled(ana());
                ++dispatched;
            }
        });
    }
    for (int round = 0; round < 20; ++round) {
        testing::EventRecorder recorder(d);
        while (recorder.size() < 10) {
            std::this_thread::yield();
        }
        const std::vector<User2faEnabled> events = recorder.events<User2faEnabled>();
        CHECK(recorder.count<User2faEnabled>() >= events.size()); // still recording
        CHECK(events.front() == User2faEnabled{ana()});
    }
    {
        // Enable switching from another thread while dispatches run: never a crash or race.
        const testing::SignalsDisabled disabled(d);
        std::this_thread::yield();
    }
    stop = true;
    for (std::thread& thread : threads) {
        thread.join();
    }
    const EventStats stats = d.stats<User2faEnabled>();
    CHECK(stats.dispatched + stats.suppressed == static_cast<std::uint64_t>(dispatched.load()));
    CHECK(d.observers().size() == 0);
}

TEST_CASE("a registry connects to a dispatcher while another thread dispatches", "[thread]") {
    HandlerRegistry registry;
    std::atomic<int> calls{0};
    registry.add<UserRegistered, UserEmailVerified>([&](const auto&) { ++calls; });
    EventDispatcher d;
    d.set_logger({});
    std::atomic<bool> stop{false};
    std::thread dispatcher([&] {
        while (!stop.load()) {
            d.dispatch_user_registered(ana(), true);
        }
    });
    for (int i = 0; i < 50; ++i) {
        for (Connection c : registry.connect_all(d)) {
            c.disconnect_and_wait();
        }
    }
    stop = true;
    dispatcher.join();
    CHECK(d.user_registered.size() == 0);
    CHECK(d.dispatch_user_registered(ana(), false).handlers_called == 0);
}

TEST_CASE("switch, log level and observers changed while other threads dispatch: every dispatch "
          "is counted once, and each change reaches the dispatches that start after it",
          "[thread]") {
    EventDispatcher d;
    LogCapture log;
    d.set_logger(log.logger(), LogLevel::warning);
    std::atomic<int> calls{0};
    d.connect<User2faEnabled>([&](const User2faEnabled&) { ++calls; });
    std::atomic<bool> stop{false};
    std::atomic<long> dispatched{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&] {
            while (!stop.load()) {
                d.dispatch_user_2fa_enabled(ana());
                ++dispatched;
            }
        });
    }
    for (int round = 0; round < 50; ++round) {
        d.set_enabled(round % 2 == 0);
        d.set_logger(log.logger(), round % 3 == 0 ? LogLevel::info : LogLevel::warning);
        std::atomic<int> observed{0};
        const ScopedConnection observer(
            d.observers().connect([&](const EventView&) { ++observed; }));
        // A dispatch that starts now, on this thread, sees each setting just made.
        const int before = calls.load();
        const std::size_t lines = log.texts(LogLevel::info).size();
        const DispatchReport report = d.dispatch_user_2fa_enabled(ana());
        ++dispatched;
        CHECK(observed.load() >= 1);
        CHECK(report.handlers_called == (round % 2 == 0 ? 1U : 0U));
        if (round % 2 == 0) {
            CHECK(calls.load() > before);
        }
        if (round % 3 == 0) {
            CHECK(log.texts(LogLevel::info).size() > lines);
        }
    }
    stop = true;
    for (std::thread& thread : threads) {
        thread.join();
    }
    const EventStats stats = d.stats<User2faEnabled>();
    CHECK(stats.dispatched + stats.suppressed == static_cast<std::uint64_t>(dispatched.load()));
    CHECK(stats.handlers_called == static_cast<std::uint64_t>(calls.load()));
}

TEST_CASE("dispatches without handlers are counted exactly by more live threads than the first "
          "sixteen counter cells",
          "[thread][stats]") {
    // 24 threads alive at once hold 24 thread records: the first 16 count through the inline
    // path, the others through the cells of an allocated chunk. Every thread's first count
    // also registers its record. No handler: each dispatch takes the inline counting path.
    constexpr int threads = 24;
    constexpr int dispatches = 200;
    EventDispatcher d;
    d.set_logger({});
    std::atomic<int> started{0};
    std::vector<std::thread> workers;
    workers.reserve(threads);
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
            started.fetch_add(1);
            while (started.load() < threads) {
                std::this_thread::yield(); // all alive together: no record is reused
            }
            for (int i = 0; i < dispatches; ++i) {
                const DispatchReport report = d.dispatch_user_2fa_enabled(ana());
                if (report.handlers_called != 0 || !report.failures.empty() ||
                    !report.observer_failures.empty()) {
                    throw std::logic_error("a dispatch without handlers reported something");
                }
            }
        });
    }
    for (std::thread& worker : workers) {
        worker.join();
    }
    const EventStats stats = d.stats<User2faEnabled>();
    CHECK(stats.dispatched == std::uint64_t{threads} * dispatches);
    CHECK(stats.handlers_called == 0);
    CHECK(stats.suppressed == 0);
}
