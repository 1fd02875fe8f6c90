// ThreadPool and queued slots (ConnectOptions::executor), as docs/guide.md ("Background
// handlers") describes them.
#include <authevents/dispatcher.hpp>
#include <authevents/signal.hpp>
#include <authevents/thread_pool.hpp>

#include "catch_compat.hpp"
#include "log_capture.hpp"
#include "sync_helpers.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using authevents::Connection;
using authevents::ConnectOptions;
using authevents::Executor;
using authevents::ScopedConnection;
using authevents::Signal;
using authevents::SlotError;
using authevents::ThreadPool;
using authevents::ThreadPoolShutDown;
using authevents::ThreadPoolStats;

using test_sync::eventually;
using test_sync::Gate;

namespace {

/// Occupies a worker of `pool` until `release` opens; returns once the task is running.
void occupy_worker(ThreadPool& pool, Gate& release) {
    auto running = std::make_shared<Gate>(); // shared: the task may still be opening it
    pool.submit([running, &release] {
        running->open();
        release.wait();
    });
    running->wait();
}

ConnectOptions on(Executor executor) {
    ConnectOptions options;
    options.executor = std::move(executor);
    return options;
}

struct Event {
    std::string text;
    int number = 0;
};

} // namespace

TEST_CASE("ThreadPool rejects zero threads or zero capacity with a clear error", "[pool]") {
    CHECK_THROWS_AS(ThreadPool(0, 4), std::invalid_argument);
    CHECK_THROWS_AS(ThreadPool(2, 0), std::invalid_argument);
}

TEST_CASE("every task accepted before shutdown runs exactly once", "[pool][thread]") {
    constexpr int tasks_per_thread = 2000;
    constexpr int submitters = 3;
    std::vector<std::atomic<int>> runs(static_cast<std::size_t>(tasks_per_thread * submitters));
    ThreadPool pool(2, 8); // small queue: submitters block while it is full
    const Executor executor = pool.executor();
    std::vector<std::thread> threads;
    for (int thread = 0; thread < submitters; ++thread) {
        threads.emplace_back([&, thread] {
            for (int task = 0; task < tasks_per_thread; ++task) {
                const auto index = static_cast<std::size_t>(thread * tasks_per_thread + task);
                executor([&runs, index] { runs[index].fetch_add(1); });
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    pool.shutdown();
    bool all_once = true;
    for (const auto& count : runs) {
        all_once = all_once && count.load() == 1;
    }
    CHECK(all_once);
    const ThreadPoolStats stats = pool.stats();
    CHECK(stats.completed == runs.size());
    CHECK(stats.failed == 0);
    CHECK(stats.queued == 0);
    CHECK(stats.running == 0);
}

TEST_CASE("submitting after shutdown throws, also through an executor that outlived the pool",
          "[pool]") {
    Executor executor;
    {
        ThreadPool pool(1, 1);
        executor = pool.executor();
        pool.shutdown();
        pool.shutdown(); // idempotent
        CHECK_THROWS_AS(pool.submit([] {}), ThreadPoolShutDown);
        try {
            executor([] {});
            FAIL("no exception");
        } catch (const std::exception& error) {
            CHECK(std::string(error.what()).find("shutdown") != std::string::npos);
        }
    }
    CHECK_THROWS_AS(executor([] {}), ThreadPoolShutDown);
}

TEST_CASE("a full queue blocks the submitter until a worker takes a task", "[pool][thread]") {
    ThreadPool pool(1, 1);
    Gate release;
    occupy_worker(pool, release);
    pool.submit([] {}); // fills the queue
    std::atomic<bool> third_accepted{false};
    std::thread submitter([&] {
        pool.submit([] {});
        third_accepted.store(true);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const bool accepted_while_full = third_accepted.load();
    const ThreadPoolStats while_full = pool.stats();
    release.open();
    submitter.join();
    pool.shutdown();
    CHECK_FALSE(accepted_while_full);
    CHECK(while_full.running == 1);
    CHECK(while_full.queued == 1);
    CHECK(pool.stats().completed == 3);
}

TEST_CASE("a throwing task counts as failed and its worker keeps going", "[pool][thread]") {
    ThreadPool pool(1, 16);
    std::atomic<int> ran{0};
    for (int task = 0; task < 10; ++task) {
        pool.submit([&ran, task] {
            ran.fetch_add(1);
            if (task % 2 == 0) {
                throw std::runtime_error("task failed");
            }
        });
    }
    pool.shutdown();
    CHECK(ran.load() == 10);
    CHECK(pool.stats().failed == 5);
    CHECK(pool.stats().completed == 5);
}

TEST_CASE("a queued slot runs on the executor with its own copy of the arguments",
          "[pool][thread][queued]") {
    ThreadPool pool(2, 16);
    Signal<const Event&> signal;
    std::mutex mutex;
    std::vector<std::string> seen;
    std::thread::id slot_thread;
    Gate done;
    signal.connect(
        [&](const Event& event) {
            std::lock_guard<std::mutex> lock(mutex);
            seen.push_back(event.text);
            slot_thread = std::this_thread::get_id();
            done.open();
        },
        on(pool.executor()));
    {
        Event event{"welcome ada", 1};
        signal.send(event);
        event.text = "overwritten"; // the caller's object changes (and dies) right away
    }
    REQUIRE(done.wait_for(std::chrono::seconds(10)));
    pool.shutdown();
    std::lock_guard<std::mutex> lock(mutex);
    CHECK(seen == std::vector<std::string>{"welcome ada"});
    CHECK(slot_thread != std::this_thread::get_id());
}

TEST_CASE("send returns without waiting for a queued slot", "[pool][thread][queued]") {
    ThreadPool pool(1, 4);
    Signal<int> signal;
    Gate release;
    std::atomic<int> finished{0};
    signal.connect(
        [&](int) {
            release.wait();
            finished.fetch_add(1);
        },
        on(pool.executor()));
    signal.send(1); // would block forever if it waited
    CHECK(finished.load() == 0);
    release.open();
    pool.shutdown();
    CHECK(finished.load() == 1);
}

TEST_CASE("calls of one queued slot run one at a time in send order, on a multi-thread pool",
          "[pool][thread][queued]") {
    ThreadPool pool(4, 64);
    Signal<int> signal;
    std::vector<int> order; // written only by the serialised calls
    std::atomic<int> inside{0};
    std::atomic<bool> overlapped{false};
    signal.connect(
        [&](int value) {
            if (inside.fetch_add(1) != 0) {
                overlapped.store(true);
            }
            order.push_back(value);
            inside.fetch_sub(1);
        },
        on(pool.executor()));
    constexpr int sends = 2000;
    for (int value = 0; value < sends; ++value) {
        signal.send(value);
    }
    pool.shutdown();
    CHECK_FALSE(overlapped.load());
    REQUIRE(order.size() == static_cast<std::size_t>(sends));
    bool in_order = true;
    for (int value = 0; value < sends; ++value) {
        in_order = in_order && order[static_cast<std::size_t>(value)] == value;
    }
    CHECK(in_order);
}

TEST_CASE("many threads dispatching into a small pool: every accepted call runs exactly once",
          "[pool][thread][queued]") {
    constexpr int senders = 4;
    constexpr int sends = 1500;
    std::atomic<long> calls{0};
    std::atomic<long> sum{0};
    ThreadPoolStats stats;
    {
        ThreadPool pool(2, 4);
        Signal<const Event&> signal;
        for (int slot = 0; slot < 3; ++slot) {
            signal.connect(
                [&](const Event& event) {
                    calls.fetch_add(1);
                    sum.fetch_add(event.number);
                },
                on(pool.executor()));
        }
        std::vector<std::thread> threads;
        for (int sender = 0; sender < senders; ++sender) {
            threads.emplace_back([&] {
                for (int send = 0; send < sends; ++send) {
                    signal.send(Event{"e", 1});
                }
            });
        }
        for (auto& thread : threads) {
            thread.join();
        }
        pool.shutdown();
        stats = pool.stats();
    }
    CHECK(calls.load() == 3L * senders * sends);
    CHECK(sum.load() == 3L * senders * sends);
    CHECK(stats.completed == static_cast<std::size_t>(3 * senders * sends));
}

TEST_CASE("a throwing queued slot is reported to the error handler and the pool, and the other "
          "slots still run",
          "[pool][thread][queued]") {
    ThreadPool pool(2, 16);
    Signal<int> signal;
    std::mutex mutex;
    std::vector<std::string> reported;
    Connection failing_connection;
    bool all_named_the_failing_slot = true; // asserted on this thread: Catch2 is not thread-safe
    signal.set_queued_error_handler([&](const SlotError& failure) {
        try {
            std::rethrow_exception(failure.error);
        } catch (const std::exception& error) {
            std::lock_guard<std::mutex> lock(mutex);
            reported.push_back(error.what());
            all_named_the_failing_slot =
                all_named_the_failing_slot && failure.connection == failing_connection;
        }
    });
    failing_connection =
        signal.connect([](int) { throw std::runtime_error("crm down"); }, on(pool.executor()));
    std::atomic<int> other_calls{0};
    signal.connect([&](int) { other_calls.fetch_add(1); }, on(pool.executor()));
    std::vector<SlotError> failures;
    for (int send = 0; send < 5; ++send) {
        failures = signal.send_robust(send);
        CHECK(failures.empty()); // queued failures happen later, elsewhere
    }
    pool.shutdown();
    CHECK(other_calls.load() == 5);
    CHECK(pool.stats().failed == 5);
    std::lock_guard<std::mutex> lock(mutex);
    CHECK(reported == std::vector<std::string>(5, "crm down"));
    CHECK(all_named_the_failing_slot);
}

TEST_CASE("a queued call refused by the executor fails the send like a throwing slot",
          "[pool][queued]") {
    Signal<int> signal;
    ThreadPool pool(1, 1);
    signal.connect([](int) {}, on(pool.executor()));
    pool.shutdown();
    CHECK_THROWS_AS(signal.send(1), ThreadPoolShutDown);
    const auto failures = signal.send_robust(1);
    REQUIRE(failures.size() == 1);
    CHECK_THROWS_AS(std::rethrow_exception(failures.front().error), ThreadPoolShutDown);
}

TEST_CASE("disconnecting a queued slot stops its calls that have not started",
          "[pool][thread][queued]") {
    ThreadPool pool(1, 16);
    Signal<int> signal;
    Gate release;
    occupy_worker(pool, release);
    std::atomic<int> calls{0};
    Connection connection = signal.connect([&](int) { calls.fetch_add(1); }, on(pool.executor()));
    signal.send(1);
    signal.send(2);
    CHECK(connection.disconnect());
    release.open();
    pool.shutdown();
    CHECK(calls.load() == 0);
    CHECK(pool.stats().completed == 3); // the tasks ran, and skipped the disconnected slot
}

TEST_CASE("a blocked signal queues nothing; a slot blocked before its call starts skips it",
          "[pool][thread][queued]") {
    ThreadPool pool(1, 16);
    Signal<int> signal;
    std::atomic<int> calls{0};
    Connection connection = signal.connect([&](int) { calls.fetch_add(1); }, on(pool.executor()));
    signal.block();
    signal.send(1);
    CHECK(pool.stats().queued + pool.stats().running + pool.stats().completed == 0);
    signal.unblock();

    Gate release;
    occupy_worker(pool, release);
    signal.send(2);
    connection.block();
    release.open();
    pool.shutdown();
    CHECK(calls.load() == 0);
}

TEST_CASE("disconnect_and_wait waits for a queued call already running, and a ScopedConnection "
          "does too",
          "[pool][thread][queued]") {
    ThreadPool pool(2, 16);
    Signal<int> signal;
    Gate entered;
    Gate release;
    int written = 0; // plain: the wait must order the slot's write before our read
    Connection connection = signal.connect(
        [&](int value) {
            entered.open();
            release.wait();
            written = value;
        },
        on(pool.executor()));
    signal.send(42);
    entered.wait();
    std::atomic<bool> returned{false};
    std::thread waiter([&] {
        connection.disconnect_and_wait();
        returned.store(true);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const bool returned_while_running = returned.load();
    release.open();
    waiter.join();
    CHECK_FALSE(returned_while_running);
    CHECK(written == 42);

    Gate scoped_entered;
    Gate scoped_release;
    std::atomic<bool> finished{false};
    auto scoped = std::make_unique<ScopedConnection>(signal.connect(
        [&](int) {
            scoped_entered.open();
            scoped_release.wait();
            finished.store(true);
        },
        on(pool.executor())));
    signal.send(1);
    scoped_entered.wait();
    std::thread releaser([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        scoped_release.open();
    });
    scoped.reset();
    CHECK(finished.load());
    releaser.join();
}

TEST_CASE("a queued slot may disconnect_and_wait itself without deadlock",
          "[pool][thread][queued]") {
    ThreadPool pool(2, 16);
    Signal<int> signal;
    Connection self;
    std::atomic<int> results{0};
    Gate done;
    self = signal.connect(
        [&](int) {
            if (self.disconnect_and_wait()) {
                results.fetch_add(1);
            }
            done.open();
        },
        on(pool.executor()));
    signal.send(1);
    REQUIRE(done.wait_for(std::chrono::seconds(10)));
    pool.shutdown();
    CHECK(results.load() == 1);
    CHECK_FALSE(self.connected());
}

TEST_CASE("queued calls whose signal is destroyed do not run", "[pool][thread][queued]") {
    ThreadPool pool(1, 16);
    Gate release;
    occupy_worker(pool, release);
    std::atomic<int> calls{0};
    {
        Signal<int> signal;
        signal.connect([&](int) { calls.fetch_add(1); }, on(pool.executor()));
        signal.send(1);
    }
    release.open();
    pool.shutdown();
    CHECK(calls.load() == 0);
}

TEST_CASE("an inline executor runs the slot during the send; its exception reaches send_robust "
          "once",
          "[queued]") {
    Signal<int> signal;
    int handler_calls = 0;
    signal.set_queued_error_handler([&](const SlotError&) { ++handler_calls; });
    const Executor inline_executor = [](std::function<void()> task) { task(); };
    int calls = 0;
    signal.connect([&](int) { ++calls; }, on(inline_executor));
    signal.connect([](int) { throw std::runtime_error("inline"); }, on(inline_executor));
    const auto failures = signal.send_robust(1);
    CHECK(calls == 1);
    CHECK(failures.size() == 1);
    CHECK(handler_calls == 0);
}

TEST_CASE("a queued slot on a signal with a move-only argument is refused at connect", "[queued]") {
    Signal<std::unique_ptr<int>> signal;
    CHECK_THROWS_AS(signal.connect([](const std::unique_ptr<int>&) {},
                                   on([](std::function<void()> task) { task(); })),
                    std::invalid_argument);
    CHECK(signal.size() == 0);
}

TEST_CASE("an executor that drops a task does not hold up the slot's later calls",
          "[pool][thread][queued]") {
    ThreadPool pool(2, 16);
    const Executor pool_executor = pool.executor();
    std::atomic<int> submitted{0};
    const Executor dropping = [&](std::function<void()> task) {
        if (submitted.fetch_add(1) == 0) {
            return; // drops the first task
        }
        pool_executor(std::move(task));
    };
    Signal<int> signal;
    std::atomic<int> calls{0};
    signal.connect([&](int) { calls.fetch_add(1); }, on(dropping));
    signal.send(1);
    signal.send(2);
    signal.send(3);
    CHECK(eventually([&] { return calls.load() == 2; }));
    pool.shutdown();
}

TEST_CASE("a dispatcher's queued handler failure is logged with the event and uid, and counted",
          "[pool][thread][queued][dispatcher]") {
    LogCapture log;
    authevents::EventDispatcher dispatcher;
    dispatcher.set_logger(log.logger());
    ThreadPool pool(2, 8);
    ConnectOptions crm = on(pool.executor());
    crm.dispatch_uid = "crm-sync";
    dispatcher.connect<authevents::UserRegistered>(
        [](const authevents::UserRegistered&) { throw std::runtime_error("CRM unreachable"); },
        crm);
    std::atomic<int> welcome_emails{0};
    dispatcher.connect<authevents::UserRegistered>(
        [&](const authevents::UserRegistered&) { welcome_emails.fetch_add(1); },
        on(pool.executor()));
    authevents::User user;
    user.id = 7;
    user.email = "ada@example.com";
    const authevents::DispatchReport report = dispatcher.dispatch_user_registered(user, true);
    CHECK(report.handlers_called == 2);
    CHECK(report.failures.empty());
    pool.shutdown();
    CHECK(welcome_emails.load() == 1);
    CHECK(pool.stats().failed == 1);
    CHECK(dispatcher.stats<authevents::UserRegistered>().handler_failures == 1);
    const auto errors = log.texts(authevents::LogLevel::error);
    REQUIRE(errors.size() == 1);
    CHECK(errors.front() ==
          "[EVENT] user_registered queued handler 'crm-sync' failed: CRM unreachable");
}

TEST_CASE("wait_idle returns once every submitted task has finished, and the pool keeps working",
          "[pool][thread]") {
    ThreadPool pool(2, 4);
    std::atomic<int> finished{0};
    for (int task = 0; task < 50; ++task) {
        pool.submit([&finished] {
            std::this_thread::sleep_for(std::chrono::microseconds(100));
            finished.fetch_add(1);
        });
    }
    pool.wait_idle();
    CHECK(finished.load() == 50);
    const ThreadPoolStats stats = pool.stats();
    CHECK(stats.queued == 0);
    CHECK(stats.running == 0);
    pool.submit([&finished] { finished.fetch_add(1); });
    pool.wait_idle();
    CHECK(finished.load() == 51);
}
