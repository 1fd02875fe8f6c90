// Multi-threaded semantics of <authevents/signal.hpp> (docs/signals.md, "Threads, in plain
// words" and "Disconnecting").
// Every test is bounded in iterations; none asserts a timing. Catch2 assertions run on the main
// thread only, after the worker threads are joined. A watchdog ends the process with a message
// instead of hanging when a test deadlocks.
#include <authevents/detail/asymmetric_fence.hpp>
#include <authevents/signal.hpp>

#include "catch_compat.hpp"
#include "connect_options.hpp"
#include "sync_helpers.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using authevents::Connection;
using authevents::ConnectionBlocker;
using authevents::ConnectOptions;
using authevents::ScopedConnection;
using authevents::SenderId;
using authevents::Signal;
using authevents::SlotError;

namespace {

using test_sync::eventually;
using test_sync::Gate;
using test_sync::Watchdog;

// Lets a broken implementation run ahead (e.g. return too early) before we look. Correct
// implementations pass regardless of how long this takes; it is not a timing assertion.
void give_other_threads_a_chance() {
    for (int i = 0; i < 20; ++i) {
        std::this_thread::yield();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

// Spins until `count` threads have arrived, to start them together.
class StartLine {
public:
    explicit StartLine(int count) : remaining_(count) {}
    void arrive_and_wait() {
        remaining_.fetch_sub(1);
        while (remaining_.load() > 0) {
            std::this_thread::yield();
        }
    }

private:
    std::atomic<int> remaining_;
};

struct Source {
    int id = 0;
};

void free_slot(int) {}

} // namespace

// =============================================================================================
// No lock is held while a slot runs

TEST_CASE("while a slot runs on one thread other threads can use the signal fully",
          "[signal][thread][locking]") {
    Watchdog watchdog("no lock held while a slot runs");
    Signal<int> signal;
    Gate entered;
    Gate release;
    std::atomic<bool> park{true};
    signal.connect([&](int) {
        if (park.exchange(false)) {
            entered.open();
            release.wait();
        }
    });
    Connection other = signal.connect([](int) {}, with_uid("other"));
    std::thread parked([&] { signal.send(0); });
    entered.wait();

    std::atomic<bool> done{false};
    std::size_t size_seen = 0;
    bool listeners_seen = false;
    int calls = 0;
    bool disconnected_other = false;
    std::thread user([&] {
        Connection mine = signal.connect([&calls](int) { ++calls; });
        size_seen = signal.size();
        listeners_seen = signal.has_listeners();
        signal.send(1);
        (void)signal.send_robust(2);
        mine.block();
        mine.unblock();
        signal.block();
        signal.unblock();
        disconnected_other = signal.disconnect("other");
        (void)mine.disconnect();
        done.store(true);
    });
    const bool finished_while_slot_parked = eventually([&] { return done.load(); });
    release.open();
    user.join();
    parked.join();

    CHECK(finished_while_slot_parked);
    CHECK(size_seen == 3);
    CHECK(listeners_seen);
    CHECK(calls == 2);
    CHECK(disconnected_other);
    CHECK_FALSE(other.connected());
    CHECK(signal.size() == 1);
}

// =============================================================================================
// disconnect_and_wait and ScopedConnection wait for a slot running on another thread

TEST_CASE("disconnect_and_wait returns only after the slot finished on another thread",
          "[signal][thread][wait]") {
    Watchdog watchdog("disconnect_and_wait waits for another thread");
    Signal<> signal;
    Gate entered;
    Gate release;
    std::atomic<bool> slot_finished{false};
    Connection connection = signal.connect([&] {
        entered.open();
        release.wait();
        slot_finished.store(true);
    });
    Connection observer = connection;

    std::thread emitter([&] { signal.send(); });
    entered.wait();

    std::atomic<bool> calling{false};
    std::atomic<bool> returned{false};
    bool finished_when_returned = false;
    bool result = false;
    std::thread waiter([&] {
        calling.store(true);
        result = connection.disconnect_and_wait();
        finished_when_returned = slot_finished.load();
        returned.store(true);
    });

    const bool waiter_started = eventually([&] { return calling.load(); });
    // Once disconnect_and_wait has disconnected the slot, it must still be waiting for it.
    const bool disconnected_while_running = eventually([&] { return !observer.connected(); });
    give_other_threads_a_chance();
    const bool returned_while_slot_blocked = returned.load();
    const bool slot_finished_early = slot_finished.load();

    release.open();
    waiter.join();
    emitter.join();

    CHECK(waiter_started);
    CHECK(disconnected_while_running);
    CHECK_FALSE(slot_finished_early);
    CHECK_FALSE(returned_while_slot_blocked);
    CHECK(result);
    CHECK(finished_when_returned);
    CHECK_FALSE(observer.connected());
    CHECK(signal.size() == 0);
}

TEST_CASE("plain writes of a slot are visible after disconnect_and_wait returns",
          "[signal][thread][wait]") {
    Watchdog watchdog("plain writes visible after disconnect_and_wait");
    Signal<> signal;
    Gate entered;
    Gate release;
    int written_by_slot = 0; // deliberately not atomic: TSan checks the happens-before
    Connection connection = signal.connect([&] {
        entered.open();
        release.wait();
        written_by_slot = 42;
    });

    std::thread emitter([&] { signal.send(); });
    entered.wait();
    std::atomic<bool> calling{false};
    int read_after_wait = 0;
    bool result = false;
    std::thread waiter([&] {
        calling.store(true);
        result = connection.disconnect_and_wait();
        read_after_wait = written_by_slot;
    });
    eventually([&] { return calling.load(); });
    give_other_threads_a_chance();
    release.open();
    waiter.join();
    emitter.join();

    CHECK(result);
    CHECK(read_after_wait == 42);
}

TEST_CASE("under continuous emission disconnect_and_wait leaves the slot finished and never "
          "called again",
          "[signal][thread][wait]") {
    Watchdog watchdog("continuous emission and disconnect_and_wait");
    for (int round = 0; round < 40; ++round) {
        Signal<int> signal;
        long hits = 0; // written only by the slot, read by this thread after the wait
        std::atomic<bool> stop{false};
        std::atomic<long> sends{0};
        Connection connection = signal.connect([&hits](int value) { hits += value; });
        std::thread emitter([&] {
            while (!stop.load()) {
                signal.send(1);
                sends.fetch_add(1);
            }
        });
        eventually([&] { return sends.load() > 3; });
        const bool result = connection.disconnect_and_wait();
        const long hits_after_wait = hits;
        const long sends_at_wait = sends.load();
        eventually([&] { return sends.load() > sends_at_wait + 10; });
        const long hits_later = hits; // the slot must not run any more: no race, no change
        stop.store(true);
        emitter.join();

        INFO("round " << round);
        CHECK(result);
        CHECK(hits_after_wait > 0);
        CHECK(hits_later == hits_after_wait);
    }
}

TEST_CASE("a ScopedConnection destructor waits for the slot running on another thread",
          "[signal][thread][wait][scoped]") {
    Watchdog watchdog("ScopedConnection destructor waits");
    Signal<> signal;
    Gate entered;
    Gate release;
    std::atomic<bool> slot_finished{false};
    int written_by_slot = 0;
    Connection connection = signal.connect([&] {
        entered.open();
        release.wait();
        written_by_slot = 7;
        slot_finished.store(true);
    });
    Connection observer = connection;
    auto scoped = std::make_unique<ScopedConnection>(connection);

    std::thread emitter([&] { signal.send(); });
    entered.wait();

    std::atomic<bool> calling{false};
    std::atomic<bool> returned{false};
    bool finished_when_returned = false;
    int read_after_destruction = 0;
    std::thread destroyer([&] {
        calling.store(true);
        scoped.reset();
        finished_when_returned = slot_finished.load();
        read_after_destruction = written_by_slot;
        returned.store(true);
    });
    eventually([&] { return calling.load(); });
    eventually([&] { return !observer.connected(); });
    give_other_threads_a_chance();
    const bool returned_while_slot_blocked = returned.load();
    release.open();
    destroyer.join();
    emitter.join();

    CHECK_FALSE(returned_while_slot_blocked);
    CHECK(finished_when_returned);
    CHECK(read_after_destruction == 7);
    CHECK_FALSE(observer.connected());
}

TEST_CASE("ScopedConnection move assignment waits for the slot it held on another thread",
          "[signal][thread][wait][scoped]") {
    Watchdog watchdog("ScopedConnection move assignment waits");
    Signal<> signal;
    Gate entered;
    Gate release;
    std::atomic<bool> slot_finished{false};
    Connection held = signal.connect([&] {
        entered.open();
        release.wait();
        slot_finished.store(true);
    });
    Connection replacement = signal.connect([] {}, with_uid("replacement"));
    ScopedConnection scoped(held);

    std::thread emitter([&] { signal.send(); });
    entered.wait();
    std::atomic<bool> calling{false};
    std::atomic<bool> returned{false};
    bool finished_when_returned = false;
    std::thread assigner([&] {
        calling.store(true);
        scoped = ScopedConnection(replacement);
        finished_when_returned = slot_finished.load();
        returned.store(true);
    });
    eventually([&] { return calling.load(); });
    give_other_threads_a_chance();
    const bool returned_while_slot_blocked = returned.load();
    release.open();
    assigner.join();
    emitter.join();

    CHECK_FALSE(returned_while_slot_blocked);
    CHECK(finished_when_returned);
    CHECK_FALSE(held.connected());
    CHECK(replacement.connected());
}

TEST_CASE("disconnect_and_wait waits for every thread running the slot", "[signal][thread][wait]") {
    Watchdog watchdog("disconnect_and_wait waits for two threads");
    Signal<> signal;
    std::atomic<int> inside{0};
    Gate release;
    std::atomic<int> finished{0};
    Connection connection = signal.connect([&] {
        inside.fetch_add(1);
        release.wait();
        finished.fetch_add(1);
    });
    Connection observer = connection;
    std::thread first([&] { signal.send(); });
    std::thread second([&] { signal.send(); });
    const bool both_inside = eventually([&] { return inside.load() == 2; });

    std::atomic<bool> returned{false};
    int finished_when_returned = 0;
    bool result = false;
    std::thread waiter([&] {
        result = connection.disconnect_and_wait();
        finished_when_returned = finished.load();
        returned.store(true);
    });
    eventually([&] { return !observer.connected(); });
    give_other_threads_a_chance();
    const bool returned_early = returned.load();
    release.open();
    waiter.join();
    first.join();
    second.join();

    CHECK(both_inside);
    CHECK_FALSE(returned_early);
    CHECK(result);
    CHECK(finished_when_returned == 2);
}

TEST_CASE("disconnect_and_wait does not wait for another thread's emission from a sender the "
          "slot does not listen to",
          "[signal][thread][wait]") {
    Watchdog watchdog("disconnect_and_wait and unrelated emissions");
    // Another thread's emission (from any()) is parked in slot `parked`. The slot we disconnect
    // listens only to `source`, so that emission can never call it: disconnect_and_wait must
    // return without waiting for `parked`. The bound only avoids hanging a broken build.
    Source source;
    Signal<> signal;
    Gate entered;
    Gate release;
    ConnectOptions high;
    high.priority = 10;
    signal.connect(
        [&] {
            entered.open();
            release.wait();
        },
        high);
    int target_calls = 0;
    Connection target = signal.connect([&] { ++target_calls; }, with_sender(SenderId::of(&source)));
    // The emitter's thread first sends from `source` on another signal: its emission frame must
    // not keep that sender for the send() from any() that follows.
    Signal<> other;
    other.connect([] {});
    std::thread emitter([&] {
        other.send_from(SenderId::of(&source));
        signal.send();
    });
    entered.wait();
    std::atomic<bool> returned{false};
    bool result = false;
    std::thread waiter([&] {
        result = target.disconnect_and_wait();
        returned.store(true);
    });
    const bool returned_while_other_slot_parked = eventually([&] { return returned.load(); });
    release.open();
    waiter.join();
    emitter.join();

    CHECK(returned_while_other_slot_parked);
    CHECK(result);
    CHECK(target_calls == 0);
}

TEST_CASE("an emission parked before a slot that another thread disconnects and waits for "
          "skips it when it resumes",
          "[signal][thread][wait]") {
    Watchdog watchdog("disconnect_and_wait and an emission before the slot");
    // docs/signals.md: an emission on another thread that has not reached the slot yet might
    // still call it, as far as the waiter can tell without slowing every emission down, so
    // the waiter may wait until that emission passes the slot. Either way the resumed
    // emission must skip the disconnected slot and nobody deadlocks.
    Signal<> signal;
    Gate entered;
    Gate release;
    ConnectOptions high;
    high.priority = 10;
    signal.connect(
        [&] {
            entered.open();
            release.wait();
        },
        high);
    std::atomic<int> target_calls{0};
    Connection target = signal.connect([&] { target_calls.fetch_add(1); });
    std::thread emitter([&] { signal.send(); });
    entered.wait();
    std::atomic<bool> returned{false};
    bool result = false;
    std::thread waiter([&] {
        result = target.disconnect_and_wait();
        returned.store(true);
    });
    const bool disconnected = eventually([&] { return !target.connected(); });
    release.open(); // only now may the parked emission move on to the slot
    waiter.join();
    emitter.join();

    CHECK(disconnected);
    CHECK(returned.load());
    CHECK(result);
    CHECK(target_calls.load() == 0);
}

TEST_CASE("disconnect_and_wait does not wait for an emission that has already passed the slot",
          "[signal][thread][wait]") {
    Watchdog watchdog("disconnect_and_wait and an emission parked after the slot");
    // The emission is parked in a later slot until the waiter returns: a waiter that waited for
    // the whole emission instead of for the slot would never return. Both the unchecked path
    // (the first round) and the checked path (a sender filter ahead of the slots) are covered.
    for (const bool checked : {false, true}) {
        Signal<> signal;
        Source source;
        if (checked) {
            signal.connect([] {}, with_sender(SenderId::of(&source)));
        }
        std::atomic<int> target_calls{0};
        Connection target = signal.connect([&] { target_calls.fetch_add(1); });
        signal.connect([] {});
        Gate entered;
        Gate release;
        signal.connect([&] {
            entered.open();
            release.wait();
        });
        std::thread emitter([&] { signal.send(); });
        entered.wait();
        std::atomic<bool> returned{false};
        std::thread waiter([&] {
            (void)target.disconnect_and_wait();
            returned.store(true);
        });
        const bool returned_while_parked = eventually([&] { return returned.load(); });
        release.open();
        waiter.join();
        emitter.join();

        CHECK(returned_while_parked);
        CHECK(target_calls.load() == 1);
        CHECK_FALSE(target.connected());
    }
}

// =============================================================================================
// disconnect_and_wait from inside a slot never waits for its own thread

TEST_CASE("disconnect_and_wait called by the slot itself returns true without deadlock",
          "[signal][thread][wait][reentrancy]") {
    Watchdog watchdog("disconnect_and_wait from inside the slot");
    Signal<int> signal;
    Connection self;
    std::atomic<int> calls{0};
    bool result = false;
    bool second = true;
    self = signal.connect([&](int) {
        calls.fetch_add(1);
        result = self.disconnect_and_wait();
        second = self.disconnect_and_wait();
    });
    // Emit from another thread, so "its own thread" is not the main thread.
    std::thread emitter([&] {
        signal.send(0);
        signal.send(0);
    });
    emitter.join();
    CHECK(calls.load() == 1);
    CHECK(result);
    CHECK_FALSE(second);
    CHECK(signal.size() == 0);
}

TEST_CASE("disconnect_and_wait from a slot further down the same thread's stack returns true",
          "[signal][thread][wait][reentrancy]") {
    Watchdog watchdog("disconnect_and_wait from a nested slot");
    Signal<int> signal;
    Connection outer;
    bool result = false;
    int outer_calls = 0;
    outer = signal.connect([&](int depth) {
        ++outer_calls;
        if (depth == 0) {
            signal.send(1); // the inner slot disconnects this one and waits for it
        }
    });
    ConnectOptions first; // runs before `outer`, so it disconnects it before the nested
    first.priority = 1;   // emission reaches it
    signal.connect(
        [&](int depth) {
            if (depth == 1) {
                result = outer.disconnect_and_wait();
            }
        },
        first);
    std::thread emitter([&] {
        signal.send(0);
        signal.send(0);
    });
    emitter.join();
    CHECK(result);
    CHECK(outer_calls == 1); // disconnected before the nested emission reached it
    CHECK_FALSE(outer.connected());
}

TEST_CASE("disconnect_and_wait of an outer slot of another signal on the same stack returns true",
          "[signal][thread][wait][reentrancy]") {
    Watchdog watchdog("disconnect_and_wait across two signals on one stack");
    Signal<> first;
    Signal<> second;
    Connection outer;
    bool result = false;
    bool after = false;
    outer = first.connect([&] {
        second.send();
        after = true; // the outer slot continues after being disconnected
    });
    second.connect([&] { result = outer.disconnect_and_wait(); });
    std::thread emitter([&] { first.send(); });
    emitter.join();
    CHECK(result);
    CHECK(after);
    CHECK(first.size() == 0);
}

TEST_CASE("disconnect_and_wait from inside the slot still waits for other threads running it",
          "[signal][thread][wait][reentrancy]") {
    Watchdog watchdog("in-slot disconnect_and_wait waits for other threads");
    Signal<int> signal;
    Connection self;
    Gate other_entered;
    Gate release_other;
    std::atomic<bool> other_finished{false};
    bool finished_when_returned = false;
    bool result = false;
    self = signal.connect([&](int role) {
        if (role == 1) { // the other thread: parks in the slot
            other_entered.open();
            release_other.wait();
            other_finished.store(true);
        } else { // the disconnecting thread
            result = self.disconnect_and_wait();
            finished_when_returned = other_finished.load();
        }
    });
    Connection observer = self;
    std::thread other([&] { signal.send(1); });
    other_entered.wait();
    std::atomic<bool> returned{false};
    std::thread disconnecting([&] {
        signal.send(2);
        returned.store(true);
    });
    eventually([&] { return !observer.connected(); });
    give_other_threads_a_chance();
    const bool returned_early = returned.load();
    release_other.open();
    disconnecting.join();
    other.join();

    CHECK_FALSE(returned_early);
    CHECK(result);
    CHECK(finished_when_returned);
}

TEST_CASE("two slots on two threads that disconnect and wait for each other both return",
          "[signal][thread][wait][reentrancy]") {
    // A runs S and waits for T; B runs T and waits for S: like two locks taken in opposite
    // orders, but the thread that finds the other one waiting for a slot it runs itself does
    // not wait for it, so neither call waits forever.
    Watchdog watchdog("slots disconnecting each other");
    Signal<int> signal;
    struct SenderA {};
    struct SenderB {};
    ConnectOptions from_a;
    from_a.sender = SenderId::type<SenderA>();
    ConnectOptions from_b;
    from_b.sender = SenderId::type<SenderB>();
    Connection s;
    Connection t;
    Gate a_inside;
    Gate b_inside;
    bool a_result = false;
    bool b_result = false;
    s = signal.connect(
        [&](int) {
            a_inside.open();
            b_inside.wait();
            a_result = t.disconnect_and_wait();
        },
        from_a);
    t = signal.connect(
        [&](int) {
            b_inside.open();
            a_inside.wait();
            b_result = s.disconnect_and_wait();
        },
        from_b);
    std::thread a([&] { signal.send_from(SenderId::type<SenderA>(), 1); });
    std::thread b([&] { signal.send_from(SenderId::type<SenderB>(), 2); });
    a.join();
    b.join();

    CHECK(a_result);
    CHECK(b_result);
    CHECK_FALSE(s.connected());
    CHECK_FALSE(t.connected());
}

// =============================================================================================
// After disconnect() returns, no emission that starts later calls the slot

TEST_CASE("after disconnect returns no emission that starts later calls the slot",
          "[signal][thread][disconnect]") {
    Watchdog watchdog("no call after disconnect");
    // Emitters pass the epoch read just before each send; the disconnecting thread bumps the
    // epoch after disconnect returns. A call whose emission read an epoch at or after the
    // slot's disconnect epoch started after disconnect returned: a violation.
    constexpr int cycles = 150;
    constexpr std::uint64_t never = std::numeric_limits<std::uint64_t>::max();
    struct Record {
        std::atomic<std::uint64_t> disconnected_at{never};
        std::atomic<int> calls{0};
    };
    std::vector<Record> records(cycles);
    std::atomic<std::uint64_t> epoch{0};
    std::atomic<int> violations{0};
    std::atomic<long> calls{0};
    std::atomic<bool> stop{false};
    Signal<std::uint64_t> signal;
    Source source;

    auto emit = [&](int which) {
        while (!stop.load()) {
            const std::uint64_t started = epoch.load();
            switch (which) {
            case 0:
                signal.send(started);
                break;
            case 1:
                (void)signal.send_robust(started);
                break;
            default:
                signal.send_from(SenderId::of(&source), started);
                break;
            }
        }
    };
    std::thread e1(emit, 0);
    std::thread e2(emit, 1);
    std::thread e3(emit, 2);

    int method_results_false = 0;
    for (int i = 0; i < cycles; ++i) {
        Record& record = records[static_cast<std::size_t>(i)];
        auto slot = [&record, &violations, &calls](std::uint64_t started) {
            calls.fetch_add(1);
            record.calls.fetch_add(1);
            if (started >= record.disconnected_at.load()) {
                violations.fetch_add(1);
            }
        };
        const int method = i % 4;
        const std::string uid = "slot" + std::to_string(i);
        Connection connection;
        if (method == 1) {
            connection = signal.connect(slot, with_uid(uid));
        } else if (method == 2) {
            connection = signal.connect(slot, with_sender(SenderId::of(&source)));
        } else {
            connection = signal.connect(slot);
        }
        // Disconnect while emissions are actively calling the slot.
        eventually([&record] { return record.calls.load() > 0; });
        bool disconnected = false;
        switch (method) {
        case 0:
            disconnected = connection.disconnect();
            break;
        case 1:
            disconnected = signal.disconnect(uid);
            break;
        case 2:
            disconnected = connection.disconnect();
            break;
        default:
            signal.disconnect_all();
            disconnected = true;
            break;
        }
        if (!disconnected) {
            ++method_results_false;
        }
        record.disconnected_at.store(epoch.fetch_add(1) + 1);
    }
    stop.store(true);
    e1.join();
    e2.join();
    e3.join();

    CHECK(method_results_false == 0);
    CHECK(violations.load() == 0);
    CHECK(calls.load() > 0);
    CHECK(signal.size() == 0);
}

TEST_CASE("after a block returns no emission that starts later calls the slot, and after the "
          "unblock emissions call it again",
          "[signal][thread][blocking]") {
    Watchdog watchdog("block and unblock under emission");
    // As above: emitters pass the epoch read before each send, and the blocking thread moves
    // the epoch after each block returns; the slot must not see an epoch from after a block
    // while blocked. Blocks alternate between Connection::block, a ConnectionBlocker and the
    // whole signal; the slot sits between two other slots, so both the unchecked and the
    // checked paths of the emission are exercised.
    constexpr int cycles = 120;
    std::atomic<std::uint64_t> epoch{0};
    std::atomic<std::uint64_t> blocked_since{std::numeric_limits<std::uint64_t>::max()};
    std::atomic<int> violations{0};
    std::atomic<long> calls{0};
    std::atomic<bool> stop{false};
    Signal<std::uint64_t> signal;
    signal.connect([](std::uint64_t) {});
    Connection watched = signal.connect([&](std::uint64_t started) {
        calls.fetch_add(1);
        if (started >= blocked_since.load()) {
            violations.fetch_add(1);
        }
    });
    signal.connect([](std::uint64_t) {});

    auto emit = [&] {
        while (!stop.load()) {
            signal.send(epoch.load());
        }
    };
    std::thread e1(emit);
    std::thread e2(emit);
    int resumed = 0;
    for (int i = 0; i < cycles; ++i) {
        const long before = calls.load();
        eventually([&] { return calls.load() > before; }); // running (again) before each block
        ++resumed;
        std::optional<ConnectionBlocker> blocker;
        switch (i % 3) {
        case 0:
            watched.block();
            break;
        case 1:
            blocker.emplace(watched);
            break;
        default:
            signal.block();
            break;
        }
        blocked_since.store(epoch.fetch_add(1) + 1);
        give_other_threads_a_chance();
        blocked_since.store(std::numeric_limits<std::uint64_t>::max());
        switch (i % 3) {
        case 0:
            watched.unblock();
            break;
        case 1:
            blocker.reset();
            break;
        default:
            signal.unblock();
            break;
        }
    }
    stop.store(true);
    e1.join();
    e2.join();
    CHECK(violations.load() == 0);
    CHECK(resumed == cycles);
    CHECK(watched.connected());
}

TEST_CASE("after a track expires no emission that starts later calls the slot",
          "[signal][thread][track]") {
    Watchdog watchdog("no call after track expiry");
    constexpr int cycles = 200;
    constexpr std::uint64_t never = std::numeric_limits<std::uint64_t>::max();
    struct Record {
        std::atomic<std::uint64_t> expired_at{never};
    };
    std::vector<Record> records(cycles);
    std::atomic<std::uint64_t> epoch{0};
    std::atomic<int> violations{0};
    std::atomic<bool> stop{false};
    Signal<std::uint64_t> signal;
    std::thread emitter([&] {
        while (!stop.load()) {
            signal.send(epoch.load());
        }
    });
    int reported_connected = 0;
    for (int i = 0; i < cycles; ++i) {
        Record& record = records[static_cast<std::size_t>(i)];
        auto owner = std::make_shared<int>(i);
        ConnectOptions options;
        options.track = owner;
        Connection connection = signal.connect(
            [&record, &violations](std::uint64_t started) {
                if (started >= record.expired_at.load()) {
                    violations.fetch_add(1);
                }
            },
            options);
        std::this_thread::yield();
        owner.reset(); // may not be the last owner while the slot runs: then it expires later
        // The track has expired once no emission holds it: wait for that, then stamp.
        eventually([&] { return !connection.connected(); });
        if (connection.connected()) {
            ++reported_connected;
        }
        record.expired_at.store(epoch.fetch_add(1) + 1);
    }
    stop.store(true);
    emitter.join();
    CHECK(reported_connected == 0);
    CHECK(violations.load() == 0);
    CHECK(signal.size() == 0);
}

// =============================================================================================
// Concurrent members of one Connection / ScopedConnection object

TEST_CASE("two threads calling release on one ScopedConnection: exactly one gets the Connection",
          "[signal][thread][scoped]") {
    Watchdog watchdog("concurrent ScopedConnection::release");
    Signal<> signal;
    int exactly_one = 0;
    int released_still_connected = 0;
    constexpr int rounds = 100;
    for (int round = 0; round < rounds; ++round) {
        Connection original = signal.connect([] {});
        Connection got[2];
        {
            ScopedConnection scoped(original);
            StartLine start(2);
            auto take = [&](int i) {
                start.arrive_and_wait();
                got[i] = scoped.release();
            };
            std::thread a(take, 0);
            std::thread b(take, 1);
            a.join();
            b.join();
        }
        const int connected_count = (got[0].connected() ? 1 : 0) + (got[1].connected() ? 1 : 0);
        if (connected_count == 1) {
            ++exactly_one;
        }
        if (original.connected()) {
            ++released_still_connected; // the scoped connection no longer owned it
        }
        original.disconnect();
    }
    CHECK(exactly_one == rounds);
    CHECK(released_still_connected == rounds);
    CHECK(signal.size() == 0);
}

TEST_CASE("concurrent disconnects of one slot: exactly one returns true",
          "[signal][thread][disconnect]") {
    Watchdog watchdog("concurrent disconnects");
    Signal<> signal;
    constexpr int rounds = 100;
    int exactly_one = 0;
    for (int round = 0; round < rounds; ++round) {
        Connection connection = signal.connect([] {}, with_uid("uid"));
        Connection copy = connection;
        StartLine start(4);
        bool results[3] = {false, false, false};
        // a and b call members of the same Connection object concurrently.
        std::thread a([&] {
            start.arrive_and_wait();
            results[0] = connection.disconnect();
        });
        std::thread b([&] {
            start.arrive_and_wait();
            results[1] = connection.disconnect_and_wait();
        });
        std::thread c([&] {
            start.arrive_and_wait();
            results[2] = signal.disconnect("uid");
        });
        std::thread d([&] {
            start.arrive_and_wait();
            copy.block();
            (void)copy.connected();
            (void)copy.blocked();
        });
        a.join();
        b.join();
        c.join();
        d.join();
        const int trues = (results[0] ? 1 : 0) + (results[1] ? 1 : 0) + (results[2] ? 1 : 0);
        if (trues == 1) {
            ++exactly_one;
        }
    }
    CHECK(exactly_one == rounds);
    CHECK(signal.size() == 0);
}

TEST_CASE("concurrent connects with one key make one slot and equal Connections",
          "[signal][thread][dedup]") {
    Watchdog watchdog("concurrent keyed connects");
    constexpr int rounds = 100;
    int one_slot = 0;
    int all_equal = 0;
    for (int round = 0; round < rounds; ++round) {
        Signal<int> signal;
        Connection got[4];
        StartLine start(4);
        std::vector<std::thread> threads;
        for (int i = 0; i < 4; ++i) {
            threads.emplace_back([&, i] {
                start.arrive_and_wait();
                if (i % 2 == 0) {
                    got[i] = signal.connect([](int) {}, with_uid("same"));
                } else {
                    got[i] = signal.connect(free_slot, with_uid("same"));
                }
            });
        }
        for (auto& thread : threads) {
            thread.join();
        }
        if (signal.size() == 1) {
            ++one_slot;
        }
        if (got[0] == got[1] && got[1] == got[2] && got[2] == got[3] && got[0].connected()) {
            ++all_equal;
        }
    }
    CHECK(one_slot == rounds);
    CHECK(all_equal == rounds);
}

TEST_CASE("a Connection may outlive its Signal while other threads disconnect it",
          "[signal][thread][lifetime]") {
    Watchdog watchdog("Connection outliving its Signal across threads");
    constexpr int rounds = 100;
    int disconnected_after = 0;
    int at_most_one_true = 0;
    for (int round = 0; round < rounds; ++round) {
        auto signal = std::make_unique<Signal<int>>();
        Connection a = signal->connect([](int) {});
        Connection b = a;
        Connection c = a;
        auto scoped = std::make_unique<ScopedConnection>(signal->connect([](int) {}));
        StartLine start(4);
        bool result_a = false;
        bool result_b = false;
        std::thread ta([&] {
            start.arrive_and_wait();
            a.block();
            (void)a.connected();
            a.unblock();
            result_a = a.disconnect();
        });
        std::thread tb([&] {
            start.arrive_and_wait();
            (void)b.blocked();
            result_b = b.disconnect_and_wait();
        });
        std::thread tc([&] {
            start.arrive_and_wait();
            scoped.reset();
        });
        start.arrive_and_wait();
        signal.reset();
        ta.join();
        tb.join();
        tc.join();
        if (!a.connected() && !b.connected() && !c.connected() && !c.disconnect()) {
            ++disconnected_after;
        }
        if (!(result_a && result_b)) {
            ++at_most_one_true;
        }
    }
    CHECK(disconnected_after == rounds);
    CHECK(at_most_one_true == rounds);
}

// =============================================================================================
// Concurrent emissions with slots that disconnect themselves

TEST_CASE("two threads emitting while their slots disconnect themselves with "
          "disconnect_and_wait do not deadlock",
          "[signal][thread][wait][reentrancy]") {
    Watchdog watchdog("concurrent emissions with self-disconnecting slots (per sender)");
    // Each emitting thread has its own sender, so no slot that waits runs on both threads; an
    // any-sender slot runs on both threads concurrently and never disconnects.
    Source first_source;
    Source second_source;
    constexpr int rounds = 30;
    constexpr std::size_t per_sender = 8;
    int ok_rounds = 0;
    for (int round = 0; round < rounds; ++round) {
        Signal<int> signal;
        std::atomic<int> shared_calls{0};
        signal.connect([&shared_calls](int) { shared_calls.fetch_add(1); });
        std::vector<Connection> connections(2 * per_sender);
        std::vector<std::atomic<int>> calls(2 * per_sender);
        std::vector<std::atomic<int>> trues(2 * per_sender);
        for (std::size_t i = 0; i < connections.size(); ++i) {
            const SenderId sender =
                i < per_sender ? SenderId::of(&first_source) : SenderId::of(&second_source);
            ConnectOptions options = with_sender(sender);
            options.priority = static_cast<int>(i % 3);
            connections[i] = signal.connect(
                [&connections, &calls, &trues, i](int) {
                    calls[i].fetch_add(1);
                    if (connections[i].disconnect_and_wait()) {
                        trues[i].fetch_add(1);
                    }
                },
                options);
        }
        StartLine start(2);
        auto emit = [&](const Source* source) {
            start.arrive_and_wait();
            for (int k = 0; k < 4; ++k) {
                signal.send_from(SenderId::of(source), k);
            }
        };
        std::thread a(emit, &first_source);
        std::thread b(emit, &second_source);
        a.join();
        b.join();
        bool ok = signal.size() == 1 && shared_calls.load() == 8;
        for (std::size_t i = 0; i < connections.size(); ++i) {
            ok = ok && calls[i].load() == 1 && trues[i].load() == 1;
        }
        if (ok) {
            ++ok_rounds;
        }
    }
    CHECK(ok_rounds == rounds);
}

// =============================================================================================
// Bounded stress of every member from several threads

TEST_CASE("concurrent connect/disconnect/block/send and queries keep the signal consistent",
          "[signal][thread][stress]") {
    Watchdog watchdog("mixed stress");
    Signal<int> signal;
    Source sources[2];
    std::atomic<long> slot_calls{0};
    constexpr int threads_count = 4;
    constexpr int iterations = 3000;
    std::vector<std::vector<Connection>> kept(threads_count);
    std::atomic<int> unexpected_exceptions{0};
    std::atomic<int> wrong_error_count{0};

    StartLine start(threads_count);
    auto worker = [&](int id) {
        start.arrive_and_wait();
        std::mt19937 rng(static_cast<std::mt19937::result_type>(1000 + id));
        std::vector<Connection>& mine = kept[static_cast<std::size_t>(id)];
        std::vector<std::shared_ptr<int>> owners;
        for (int it = 0; it < iterations; ++it) {
            const auto op = rng() % 16;
            try {
                switch (op) {
                case 0:
                case 1:
                case 2: { // connect something
                    if (mine.size() > 24) {
                        break;
                    }
                    ConnectOptions options;
                    options.priority = static_cast<int>(rng() % 5) - 2;
                    const auto kind = rng() % 5;
                    if (kind == 0) {
                        options.dispatch_uid = "uid" + std::to_string(rng() % 6);
                    } else if (kind == 1) {
                        options.sender = SenderId::of(&sources[rng() % 2]);
                    } else if (kind == 2) {
                        owners.push_back(std::make_shared<int>(it));
                        options.track = owners.back();
                    }
                    if (kind == 3) {
                        mine.push_back(signal.connect(free_slot, options));
                    } else {
                        const std::string uid = options.dispatch_uid;
                        const SenderId sender = options.sender;
                        mine.push_back(signal.connect(
                            [&slot_calls, &signal, uid, sender](int value) {
                                slot_calls.fetch_add(1);
                                if (value % 7 == 3) {
                                    throw std::runtime_error("slot failure");
                                }
                                if (value % 11 == 5 && !uid.empty()) {
                                    (void)signal.disconnect(uid, sender); // self, re-entrantly
                                }
                                if (value % 13 == 4) {
                                    (void)signal.size();
                                    (void)signal.has_listeners(sender);
                                }
                                if (value > 0 && value % 17 == 0) {
                                    signal.send(-value); // nested emission, bounded depth
                                }
                            },
                            options));
                    }
                    break;
                }
                case 3:
                    if (!mine.empty()) {
                        const std::size_t at = rng() % mine.size();
                        (void)mine[at].disconnect();
                        mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(at));
                    }
                    break;
                case 4:
                    (void)signal.disconnect("uid" + std::to_string(rng() % 6));
                    (void)signal.disconnect(free_slot, SenderId::of(&sources[rng() % 2]));
                    break;
                case 5:
                    if (!mine.empty()) {
                        Connection& c = mine[rng() % mine.size()];
                        if (rng() % 2 == 0) {
                            c.block();
                        } else {
                            c.unblock();
                        }
                    }
                    break;
                case 6:
                    if (!mine.empty()) {
                        ConnectionBlocker blocker(mine[rng() % mine.size()]);
                        signal.send(static_cast<int>(rng() % 100));
                    }
                    break;
                case 7:
                case 8:
                    signal.send(static_cast<int>(rng() % 100));
                    break;
                case 9:
                    signal.send_from(SenderId::of(&sources[rng() % 2]),
                                     static_cast<int>(rng() % 100));
                    break;
                case 10: {
                    const int value = static_cast<int>(rng() % 100);
                    const auto errors = signal.send_robust(value);
                    if (value % 7 != 3 && !errors.empty() && value % 17 != 0) {
                        wrong_error_count.fetch_add(1);
                    }
                    for (const SlotError& error : errors) {
                        if (!error.error) {
                            wrong_error_count.fetch_add(1);
                        }
                    }
                    break;
                }
                case 11:
                    (void)signal.has_listeners();
                    (void)signal.has_listeners(SenderId::of(&sources[rng() % 2]));
                    (void)signal.size();
                    (void)signal.blocked();
                    break;
                case 12:
                    if (rng() % 8 == 0) {
                        signal.block();
                        signal.send(1);
                        signal.unblock();
                    }
                    break;
                case 13:
                    if (!owners.empty()) {
                        owners.erase(owners.begin() +
                                     static_cast<std::ptrdiff_t>(rng() % owners.size()));
                    }
                    break;
                case 14:
                    if (!mine.empty()) {
                        const std::size_t at = rng() % mine.size();
                        {
                            ScopedConnection scoped(mine[at]);
                            signal.send(2);
                        }
                        mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(at));
                    }
                    break;
                default:
                    if (!mine.empty()) {
                        const std::size_t at = rng() % mine.size();
                        (void)mine[at].disconnect_and_wait();
                        mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(at));
                    }
                    break;
                }
            } catch (const std::runtime_error&) {
                // a slot failed during send: expected
            } catch (...) {
                unexpected_exceptions.fetch_add(1);
            }
        }
    };

    std::vector<std::thread> threads;
    for (int id = 0; id < threads_count; ++id) {
        threads.emplace_back(worker, id);
    }
    for (auto& thread : threads) {
        thread.join();
    }

    CHECK(unexpected_exceptions.load() == 0);
    CHECK(wrong_error_count.load() == 0);
    CHECK(slot_calls.load() > 0);
    CHECK_FALSE(signal.blocked());

    // size() equals the number of distinct connected slots the threads still hold handles to.
    std::vector<Connection> distinct;
    for (const auto& list : kept) {
        for (const Connection& c : list) {
            if (!c.connected()) {
                continue;
            }
            bool seen = false;
            for (const Connection& d : distinct) {
                seen = seen || d == c;
            }
            if (!seen) {
                distinct.push_back(c);
            }
        }
    }
    CHECK(signal.size() == distinct.size());
    signal.disconnect_all();
    CHECK(signal.size() == 0);
    for (const Connection& c : distinct) {
        CHECK_FALSE(c.connected());
    }
}

TEST_CASE("concurrent emissions deliver every send to every unblocked slot",
          "[signal][thread][stress]") {
    Watchdog watchdog("concurrent emissions count");
    Signal<int> signal;
    constexpr int slots = 6;
    constexpr int emitters = 3;
    constexpr int sends = 300;
    std::atomic<long> calls{0};
    std::atomic<long> sum{0};
    for (int i = 0; i < slots; ++i) {
        signal.connect([&](int value) {
            calls.fetch_add(1);
            sum.fetch_add(value);
        });
    }
    Connection blocked = signal.connect([&](int) { calls.fetch_add(1000000); });
    blocked.block();
    std::atomic<long> queries_ok{0};
    std::atomic<long> queries{0};
    std::atomic<bool> stop{false};
    std::thread reader([&] {
        while (!stop.load()) {
            if (signal.size() == static_cast<std::size_t>(slots) + 1 && signal.has_listeners()) {
                queries_ok.fetch_add(1);
            }
            queries.fetch_add(1);
        }
    });
    std::vector<std::thread> threads;
    for (int e = 0; e < emitters; ++e) {
        threads.emplace_back([&] {
            // The reader queries while the emitters run, however late a busy machine starts it.
            while (queries.load() == 0) {
                std::this_thread::yield();
            }
            for (int k = 0; k < sends; ++k) {
                if (k % 2 == 0) {
                    signal.send(1);
                } else {
                    (void)signal.send_robust(1);
                }
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    stop.store(true);
    reader.join();
    CHECK(calls.load() == static_cast<long>(slots) * emitters * sends);
    CHECK(sum.load() == static_cast<long>(slots) * emitters * sends);
    CHECK(queries_ok.load() > 0);
}

// =============================================================================================
// Last: the same self-disconnecting slot running on two threads at once. The contract says
// disconnect_and_wait from inside a slot "does not wait for its own thread" and never deadlocks
// on itself; when two threads run the same slot and both call it, each would wait for the other.
// We require no deadlock and exactly one true per slot (see the report on this ambiguity).

TEST_CASE("two threads running the same slot that disconnects itself with disconnect_and_wait "
          "do not deadlock",
          "[signal][thread][wait][reentrancy]") {
    Watchdog watchdog("same self-disconnecting slot on two threads");
    constexpr int rounds = 50;
    constexpr std::size_t slots = 6;
    int ok_rounds = 0;
    for (int round = 0; round < rounds; ++round) {
        Signal<int> signal;
        std::vector<Connection> connections(slots);
        std::vector<std::atomic<int>> trues(slots);
        for (std::size_t i = 0; i < slots; ++i) {
            connections[i] = signal.connect([&connections, &trues, i](int) {
                if (connections[i].disconnect_and_wait()) {
                    trues[i].fetch_add(1);
                }
            });
        }
        StartLine start(2);
        auto emit = [&] {
            start.arrive_and_wait();
            for (int k = 0; k < 3; ++k) {
                signal.send(k);
            }
        };
        std::thread a(emit);
        std::thread b(emit);
        a.join();
        b.join();
        bool ok = signal.size() == 0;
        for (std::size_t i = 0; i < slots; ++i) {
            ok = ok && trues[i].load() == 1;
        }
        if (ok) {
            ++ok_rounds;
        }
    }
    CHECK(ok_rounds == rounds);
}

// =============================================================================================
// Both fence modes: senders skip their fence when writers can run a process-wide barrier
// (asymmetric), else both use sequentially consistent operations (symmetric: no such barrier,
// or ThreadSanitizer). Each mode must reclaim only what no emission can still reach.

namespace {

// A capture that marks its flag dead when the slot's callable is destroyed (moved-from copies
// mark nothing): a slot that finds its flag dead was called after its callable was released.
class AliveFlag {
public:
    explicit AliveFlag(std::atomic<bool>& alive) : alive_(&alive) {}
    AliveFlag(AliveFlag&& other) noexcept : alive_(std::exchange(other.alive_, nullptr)) {}
    AliveFlag(const AliveFlag&) = delete;
    AliveFlag& operator=(const AliveFlag&) = delete;
    AliveFlag& operator=(AliveFlag&&) = delete;
    ~AliveFlag() {
        if (alive_ != nullptr) {
            alive_->store(false);
        }
    }
    [[nodiscard]] bool alive() const { return alive_ != nullptr && alive_->load(); }

private:
    std::atomic<bool>* alive_;
};

// Connects and disconnects slots owning captures (one reclamation and one process-wide barrier
// each) and slots without (reclaimed in batches) while three threads send; every slot checks
// that its captures are still alive when called, and disconnect_and_wait that it is not called
// afterwards.
void stress_reclamation(const char* mode) {
    constexpr std::size_t rounds = 300;
    // Declared before the signal: a disconnected slot's callable may be released only by the
    // signal's destructor (when an emission pinned its snapshot at the last reclamation).
    std::vector<std::atomic<bool>> alive(rounds);
    std::vector<std::atomic<bool>> waited(rounds);
    Signal<int> signal;
    std::atomic<long> dead_calls{0};
    std::atomic<long> late_calls{0};
    std::atomic<long> sends{0};
    std::atomic<bool> stop{false};
    for (int i = 0; i < 4; ++i) {
        signal.connect([](int) {});
    }
    std::vector<std::thread> emitters;
    for (int e = 0; e < 3; ++e) {
        emitters.emplace_back([&, e] {
            while (!stop.load(std::memory_order_relaxed)) {
                if (e == 2) {
                    (void)signal.send_robust(1);
                } else {
                    signal.send(1);
                }
                sends.fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
    eventually([&] { return sends.load() > 10; });
    for (std::size_t round = 0; round < rounds; ++round) {
        alive[round].store(true);
        Connection owning = signal.connect([flag = AliveFlag(alive[round]), &dead_calls,
                                            &late_calls, &waited = waited[round]](int) {
            if (!flag.alive()) {
                dead_calls.fetch_add(1);
            }
            if (waited.load()) {
                late_calls.fetch_add(1);
            }
        });
        Connection trivial = signal.connect([](int) {});
        if (round % 3 == 0) {
            owning.disconnect();
            trivial.disconnect();
            owning.disconnect_and_wait();
        } else {
            owning.disconnect_and_wait();
            trivial.disconnect();
        }
        waited[round].store(true);
    }
    stop.store(true);
    for (auto& thread : emitters) {
        thread.join();
    }
    INFO("fence mode: " << mode);
    CHECK(dead_calls.load() == 0);
    CHECK(late_calls.load() == 0);
    CHECK(signal.size() == 4);
}

/// Runs `stress(mode)` in the fence mode the machine supports, then in the symmetric mode
/// forced, then restores the supported mode.
void in_both_fence_modes(void (*stress)(const char* mode)) {
    namespace fence = authevents::detail::asymmetric_fence;
    using authevents::detail::FenceMode;
    const FenceMode supported = fence::force_symmetric(false);
#ifdef AUTHEVENTS_DETAIL_TSAN
    CHECK(supported == FenceMode::symmetric); // TSan cannot see the kernel's barrier
#endif
    CHECK(supported != FenceMode::unknown);
    stress(supported == FenceMode::asymmetric ? "asymmetric" : "symmetric");

    CHECK(fence::force_symmetric(true) == FenceMode::symmetric);
    CHECK_FALSE(fence::senders_light());
    stress("symmetric (forced)");
    CHECK(fence::force_symmetric(false) == supported);
}

} // namespace

TEST_CASE("reclamation and disconnect_and_wait under concurrent sends in both fence modes",
          "[signal][thread][fence]") {
    Watchdog watchdog("reclamation in both fence modes");
    in_both_fence_modes(stress_reclamation);
}

namespace {

/// Churn with a dead run (see the test below) in the fence mode now in force.
void churn_with_dead_run(const char* mode) {
    INFO("fence mode: " << mode);
    constexpr int permanent = 8;
    constexpr int cycles = 300;
    struct Record {
        std::atomic<bool> connected{false};     // connect() has returned
        std::atomic<bool> disconnecting{false}; // disconnect() has been called
        std::atomic<bool> disconnected{false};  // disconnect() has returned
    };
    std::vector<Record> records(cycles);
    // The calls of the emission running on this thread, per temporary slot and in all to the
    // permanent ones.
    thread_local std::vector<int>* temporary_calls = nullptr;
    thread_local int permanent_calls = 0;
    Signal<int> signal;
    for (int slot = 0; slot < permanent; ++slot) {
        signal.connect([](int) { ++permanent_calls; });
    }
    std::atomic<bool> stop{false};
    std::atomic<int> violations{0};
    std::atomic<long> sends{0};
    const auto emit = [&](bool robust) {
        std::vector<int> calls(cycles, 0);
        temporary_calls = &calls;
        std::vector<int> called_before(cycles);
        std::vector<char> must_call(cycles);
        while (!stop.load()) {
            std::fill(calls.begin(), calls.end(), 0);
            for (int index = 0; index < cycles; ++index) {
                const Record& record = records[static_cast<std::size_t>(index)];
                called_before[static_cast<std::size_t>(index)] = record.disconnected.load() ? 1 : 0;
                must_call[static_cast<std::size_t>(index)] =
                    record.connected.load() && !record.disconnecting.load() ? 1 : 0;
            }
            permanent_calls = 0;
            if (robust) {
                const std::size_t ran = signal.send_robust_each(
                    SenderId::any(), [](SlotError&&) {}, 0);
                if (ran < static_cast<std::size_t>(permanent)) {
                    violations.fetch_add(1);
                }
            } else {
                signal.send(0);
            }
            if (permanent_calls != permanent) {
                violations.fetch_add(1); // a live slot skipped (or called twice)
            }
            for (int index = 0; index < cycles; ++index) {
                const auto at = static_cast<std::size_t>(index);
                const int count = calls[at];
                // Disconnected before the send started: never called. Connected before it
                // started and not disconnected until it ended: called exactly once.
                if ((called_before[at] != 0 && count != 0) || count > 1 ||
                    (must_call[at] != 0 && !records[at].disconnecting.load() && count != 1)) {
                    violations.fetch_add(1);
                }
            }
            sends.fetch_add(1);
        }
        temporary_calls = nullptr;
    };
    std::thread plain(emit, false);
    std::thread robust(emit, true);

    // Mostly connect one slot and disconnect it again (its entry joins the dead run); now
    // and then keep one alive for a while, so that live entries sit between tombstones.
    std::vector<std::pair<int, Connection>> kept;
    for (int index = 0; index < cycles; ++index) {
        Record& record = records[static_cast<std::size_t>(index)];
        Connection connection = signal.connect([index](int) {
            if (temporary_calls != nullptr) {
                ++(*temporary_calls)[static_cast<std::size_t>(index)];
            }
        });
        record.connected.store(true);
        if (index % 10 == 3) {
            kept.emplace_back(index, connection);
        } else {
            record.disconnecting.store(true);
            CHECK(connection.disconnect());
            record.disconnected.store(true);
        }
        if (kept.size() > 2 || (index % 10 == 9 && !kept.empty())) {
            Record& old = records[static_cast<std::size_t>(kept.front().first)];
            old.disconnecting.store(true);
            CHECK(kept.front().second.disconnect());
            old.disconnected.store(true);
            kept.erase(kept.begin());
        }
        if (index % 16 == 0) {
            const long seen = sends.load();
            eventually([&] { return sends.load() > seen + 1; }); // sends overlap the churn
        }
    }
    stop.store(true);
    plain.join();
    robust.join();
    CHECK(violations.load() == 0);
    CHECK(sends.load() > 0);
    CHECK(signal.size() == static_cast<std::size_t>(permanent) + kept.size());
}

} // namespace

TEST_CASE("under churn an emission skips every tombstone and calls every live slot once",
          "[signal][thread][disconnect]") {
    Watchdog watchdog("churn with a dead run");
    in_both_fence_modes(churn_with_dead_run);
}
