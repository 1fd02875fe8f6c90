// The multi-threaded half of the model-based test of authevents::Signal (the single-threaded
// half, a differential test against tests/signal_model.hpp, is signal_model_test.cpp). With
// threads the exact interleaving is not reproducible, so instead of comparing with the model
// this test checks, on every slot call, the invariants the contract promises across threads:
// - after disconnect() (or disconnect_and_wait(), or a track's expiry) returns, no emission
//   that starts later calls the slot;
// - after block() returns, no emission that starts later calls the slot until unblock() is
//   called;
// - after disconnect_and_wait() returns, the slot is not running and is never called again;
// - a slot connected for a sender is never called by a send from another sender;
// - within one emission slots run in priority order, equal priorities in connection order;
// - send_robust returns exactly the failures of that emission, in slot order;
// - a slot that disconnects itself with disconnect_and_wait() from inside does not deadlock,
//   and is not called again;
// - at the end, connected() and size() agree with what every thread did.
// Controller threads own disjoint sets of slots (connect, disconnect, block, unblock, expire);
// emitter threads send, plain and robust, from any() and from one sender. Choices come from a
// printed seed (AUTHEVENTS_MODEL_SEED replays them; the interleaving stays up to the machine).
// Bounded in count; asserts no timing. Runs under TSan (label "thread").
#include <authevents/signal.hpp>

#include "catch_compat.hpp"
#include "sync_helpers.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int controllers = 2;
constexpr int emitters = 2;
constexpr int slots_per_controller = 64;
constexpr int slot_count = controllers * slots_per_controller;
constexpr int controller_steps = 600;
constexpr int emitter_sends = 1500;       // at least, and on until the controllers are done...
constexpr int emitter_max_sends = 200000; // ...but never more

struct Sender {
    int unused = 0;
};
const Sender the_sender{};

/// What an emitter knew about every slot when its send started.
struct Emission {
    bool from_sender = false; // send_from(the_sender) rather than send()
    bool robust = false;
    int argument = 0;
    std::array<bool, slot_count> off{};            // disconnected or expired before the start
    std::array<bool, slot_count> blocked{};        // blocked before the start...
    std::array<std::uint32_t, slot_count> epoch{}; // ...and no unblock since this epoch
    // Filled by the slots of this emission, on the emitting thread.
    int last_priority = 1000;
    std::array<int, controllers> last_index{}; // per controller: its last slot called, or -1
    std::array<int, controllers> last_index_priority{};
    std::vector<int> thrown; // slots that threw, in call order
};

/// One slot's shared record. Written by its owning controller (flags) and by slots (counters).
struct Record {
    int priority = 0;
    bool for_sender = false;             // connected with sender = the_sender
    std::atomic<bool> off{false};        // set after disconnect/expiry returned
    std::atomic<bool> waited{false};     // set after disconnect_and_wait returned
    std::atomic<bool> blocked{false};    // set after block() returned, cleared before unblock()
    std::atomic<std::uint32_t> epoch{0}; // bumped before each unblock(), after clearing blocked
    std::atomic<int> running{0};
    // Slots that disconnect themselves (with disconnect_and_wait, from inside) read their own
    // Connection here; the controller sets it after connect returns.
    bool disconnects_itself = false;
    std::mutex self_mutex;
    authevents::Connection self;
    std::atomic<bool> gone_by_itself{false};
};

struct Shared {
    std::array<Record, slot_count> records;
    std::atomic<int> violations{0};
    std::atomic<long> calls{0};
    std::atomic<int> controllers_done{0};
    std::atomic<int> emitters_done{0};
    std::atomic<long> sends{0};           // controllers pace themselves on this, see control()
    std::atomic<int> first_violation{-1}; // a code, see report()

    void violate(int code) {
        int none = -1;
        first_violation.compare_exchange_strong(none, code);
        violations.fetch_add(1);
    }
};

enum Violation {
    called_after_off = 1,
    called_while_blocked,
    called_after_wait,
    running_after_wait,
    wrong_sender,
    wrong_order,
    wrong_failures,
    wrong_final_state,
};

const char* describe(int code) {
    switch (code) {
    case called_after_off:
        return "a slot was called by an emission that started after its disconnect/expiry";
    case called_while_blocked:
        return "a slot was called by an emission that started after block() and before unblock()";
    case called_after_wait:
        return "a slot was called after disconnect_and_wait() returned";
    case running_after_wait:
        return "a slot was running when disconnect_and_wait() returned";
    case wrong_sender:
        return "a slot connected for a sender was called by a send from another sender";
    case wrong_order:
        return "slots of one emission ran out of priority / connection order";
    case wrong_failures:
        return "send_robust did not return exactly that emission's failures in slot order";
    case wrong_final_state:
        return "connected() or size() disagree with what the threads did";
    default:
        return "none";
    }
}

using TestSignal = authevents::Signal<Emission&>;

void slot_body(Shared& shared, int index, Emission& emission) {
    Record& record = shared.records[static_cast<std::size_t>(index)];
    record.running.fetch_add(1);
    shared.calls.fetch_add(1);
    if (record.waited.load()) {
        shared.violate(called_after_wait);
    }
    const auto at = static_cast<std::size_t>(index);
    if (emission.off[at]) {
        shared.violate(called_after_off);
    }
    if (emission.blocked[at] && record.epoch.load() == emission.epoch[at]) {
        shared.violate(called_while_blocked);
    }
    if (record.for_sender && !emission.from_sender) {
        shared.violate(wrong_sender);
    }
    // Priority descending; equal priorities in connection order, which is known for slots of
    // one controller (it connects its records in index order).
    const auto owner = static_cast<std::size_t>(index / slots_per_controller);
    if (record.priority > emission.last_priority ||
        (record.priority == emission.last_index_priority[owner] &&
         index < emission.last_index[owner])) {
        shared.violate(wrong_order);
    }
    emission.last_priority = record.priority;
    emission.last_index[owner] = index;
    emission.last_index_priority[owner] = record.priority;
    if (record.disconnects_itself && emission.argument == 3) {
        authevents::Connection self;
        {
            std::lock_guard<std::mutex> lock(record.self_mutex);
            self = record.self;
        }
        // From inside the slot: must not wait for this thread (no deadlock), but must wait for
        // other threads running it; afterwards no call may start.
        self.disconnect_and_wait();
        if (self.connected()) {
            shared.violate(wrong_final_state);
        }
        if (self != authevents::Connection()) {
            record.gone_by_itself.store(true);
            record.off.store(true);
            record.waited.store(true);
        }
    }
    record.running.fetch_sub(1);
    if (emission.robust && (emission.argument + index) % 7 == 0) {
        emission.thrown.push_back(index);
        throw std::runtime_error(std::to_string(index));
    }
}

void emitter(Shared& shared, TestSignal& signal, std::uint64_t seed) {
    std::mt19937_64 random(seed);
    for (int i = 0; i < emitter_max_sends &&
                    (i < emitter_sends || shared.controllers_done.load() < controllers);
         ++i) {
        Emission emission;
        emission.last_index.fill(-1);
        emission.last_index_priority.fill(-1000);
        emission.from_sender = random() % 2 == 0;
        emission.robust = random() % 2 == 0;
        emission.argument = static_cast<int>(random() % 7);
        for (std::size_t k = 0; k < static_cast<std::size_t>(slot_count); ++k) {
            Record& record = shared.records[k];
            emission.off[k] = record.off.load();
            emission.epoch[k] = record.epoch.load(); // epoch first: see Record::epoch
            emission.blocked[k] = record.blocked.load();
        }
        const authevents::SenderId sender = emission.from_sender
                                                ? authevents::SenderId::of(&the_sender)
                                                : authevents::SenderId::any();
        if (emission.robust) {
            const std::vector<authevents::SlotError> failures =
                signal.send_robust_from(sender, emission);
            bool same = failures.size() == emission.thrown.size();
            for (std::size_t k = 0; same && k < failures.size(); ++k) {
                try {
                    std::rethrow_exception(failures[k].error);
                } catch (const std::runtime_error& error) {
                    same = error.what() == std::to_string(emission.thrown[k]);
                }
            }
            if (!same) {
                shared.violate(wrong_failures);
            }
        } else {
            signal.send_from(sender, emission);
        }
        shared.sends.fetch_add(1);
    }
    shared.emitters_done.fetch_add(1);
}

/// Owns records [first, first + slots_per_controller): connects them in order, and
/// disconnects, blocks, unblocks and expires them at random. Returns which are still live.
struct Controller {
    std::array<authevents::Connection, slots_per_controller> connections{};
    std::array<std::shared_ptr<int>, slots_per_controller> tracked{};
    std::array<bool, slots_per_controller> live{};
    std::array<bool, slots_per_controller> blocked{};
    int connected = 0; // records connected so far
};

void control(Shared& shared, TestSignal& signal, Controller& self, int first, std::uint64_t seed) {
    std::mt19937_64 random(seed);
    for (int step = 0; step < controller_steps; ++step) {
        // Let the emitters send a few times per step, so that slots live through many sends
        // (a pace, not a timing: nothing is measured, and a finished emitter releases it).
        while (shared.sends.load() < 3L * step && shared.emitters_done.load() < emitters) {
            std::this_thread::yield();
        }
        const int roll = static_cast<int>(random() % 100);
        if (roll < 30 && self.connected < slots_per_controller) {
            const int local = self.connected++;
            const int index = first + local;
            Record& record = shared.records[static_cast<std::size_t>(index)];
            authevents::ConnectOptions options;
            options.priority = static_cast<int>(random() % 3);
            options.sender = random() % 3 == 0 ? authevents::SenderId::of(&the_sender)
                                               : authevents::SenderId::any();
            record.priority = options.priority;           // written before connect:
            record.for_sender = !options.sender.is_any(); // connect publishes the slot
            record.disconnects_itself = random() % 5 == 0;
            if (random() % 4 == 0) {
                self.tracked[static_cast<std::size_t>(local)] = std::make_shared<int>(index);
                options.track = self.tracked[static_cast<std::size_t>(local)];
            }
            Shared* shared_pointer = &shared;
            self.connections[static_cast<std::size_t>(local)] = signal.connect(
                [shared_pointer, index](Emission& emission) {
                    slot_body(*shared_pointer, index, emission);
                },
                options);
            self.live[static_cast<std::size_t>(local)] = true;
            {
                std::lock_guard<std::mutex> lock(record.self_mutex);
                record.self = self.connections[static_cast<std::size_t>(local)];
            }
            continue;
        }
        if (self.connected == 0) {
            continue;
        }
        const int local = static_cast<int>(random() % static_cast<std::uint64_t>(self.connected));
        const auto at = static_cast<std::size_t>(local);
        Record& record = shared.records[static_cast<std::size_t>(first + local)];
        authevents::Connection& connection = self.connections[at];
        if (!self.live[at]) {
            continue;
        }
        if (roll < 38) {
            connection.disconnect();
            record.off.store(true);
            self.live[at] = false;
        } else if (roll < 46) {
            connection.disconnect_and_wait();
            record.off.store(true);
            record.waited.store(true);
            if (record.running.load() != 0) {
                shared.violate(running_after_wait);
            }
            self.live[at] = false;
        } else if (roll < 66) {
            connection.block();
            record.blocked.store(true);
            self.blocked[at] = true;
        } else if (roll < 86) {
            record.blocked.store(false);
            record.epoch.fetch_add(1); // after clearing `blocked`: see the emitter's reads
            connection.unblock();
            self.blocked[at] = false;
        } else if (roll < 92 && self.tracked[at] != nullptr) {
            std::weak_ptr<int> watch = self.tracked[at];
            self.tracked[at].reset();
            // A running slot keeps its object alive: only an expired object promises anything.
            if (watch.expired()) {
                record.off.store(true);
            }
            self.live[at] = false;
        }
    }
}

std::uint64_t chosen_seed() {
    const char* text = std::getenv("AUTHEVENTS_MODEL_SEED");
    if (text != nullptr && *text != '\0') {
        return std::strtoull(text, nullptr, 10);
    }
    return std::random_device{}() | 1U;
}

} // namespace

TEST_CASE("the thread-level contract of Signal holds on random concurrent operations",
          "[signal][thread][model]") {
    test_sync::Watchdog watchdog("signal model thread test");
    const std::uint64_t seed = chosen_seed();
    std::printf("signal model thread test: seed %llu (replay with AUTHEVENTS_MODEL_SEED)\n",
                static_cast<unsigned long long>(seed));
    std::fflush(stdout);
    long total_calls = 0;
    for (std::uint64_t round = 0; round < 5; ++round) {
        auto shared = std::make_unique<Shared>();
        TestSignal signal;
        std::array<Controller, controllers> owners{};
        test_sync::run_together(controllers + emitters, [&](std::size_t thread) {
            const std::uint64_t thread_seed = seed * 31 + round * 7 + thread;
            if (thread < static_cast<std::size_t>(controllers)) {
                const int owner = static_cast<int>(thread);
                control(*shared, signal, owners[thread], owner * slots_per_controller, thread_seed);
                shared->controllers_done.fetch_add(1);
            } else {
                emitter(*shared, signal, thread_seed);
            }
        });
        std::size_t live = 0;
        for (std::size_t c = 0; c < owners.size(); ++c) {
            for (std::size_t k = 0; k < static_cast<std::size_t>(slots_per_controller); ++k) {
                const bool expected =
                    owners[c].live[k] &&
                    !shared->records[c * slots_per_controller + k].gone_by_itself.load();
                live += expected ? 1U : 0U;
                if (owners[c].connections[k].connected() != expected) {
                    shared->violate(wrong_final_state);
                }
                if (expected && owners[c].connections[k].blocked() != owners[c].blocked[k]) {
                    shared->violate(wrong_final_state);
                }
            }
        }
        if (signal.size() != live) {
            shared->violate(wrong_final_state);
        }
        INFO("seed " << seed << ", round " << round << ": " << shared->violations.load()
                     << " violation(s); the first: " << describe(shared->first_violation.load()));
        std::printf("  round %llu: %ld slot calls checked over %ld sends\n",
                    static_cast<unsigned long long>(round), shared->calls.load(),
                    shared->sends.load());
        REQUIRE(shared->violations.load() == 0);
        // A round may call no slot at all (every slot disconnected or blocked whenever a send
        // ran): the checks must have run in some round, not in each.
        total_calls += shared->calls.load();
    }
    CHECK(total_calls > 0); // the checks above did run
}

// Contract: "After disconnect_and_wait() returns, the slot is also not running on any other
// thread", also when that thread runs the slot while it itself waits in a disconnect_and_wait()
// (of another slot, here). Not a timing assertion: a correct core passes however long the
// pauses take.
TEST_CASE("disconnect_and_wait waits for a thread running the slot that itself waits in "
          "another disconnect_and_wait",
          "[signal][thread][model]") {
    test_sync::Watchdog watchdog("disconnect_and_wait of a slot whose thread waits");
    authevents::Signal<int> signal;
    std::atomic<bool> a_inside{false};
    std::atomic<bool> b_inside{false};
    std::atomic<bool> release_b{false};
    struct OtherSender {};
    struct SlotSender {};
    authevents::ConnectOptions other_options;
    other_options.sender = authevents::SenderId::type<OtherSender>();
    // T runs on thread B until released.
    authevents::Connection other = signal.connect(
        [&](int) {
            b_inside.store(true);
            while (!release_b.load()) {
                std::this_thread::yield();
            }
            b_inside.store(false);
        },
        other_options);
    authevents::ConnectOptions slot_options;
    slot_options.sender = authevents::SenderId::type<SlotSender>();
    // S runs on thread A and, inside, waits for T (running on B).
    authevents::Connection slot = signal.connect(
        [&](int) {
            a_inside.store(true);
            other.disconnect_and_wait();
            a_inside.store(false);
        },
        slot_options);
    std::thread b([&] { signal.send_from(authevents::SenderId::type<OtherSender>(), 2); });
    while (!b_inside.load()) {
        std::this_thread::yield();
    }
    std::thread a([&] { signal.send_from(authevents::SenderId::type<SlotSender>(), 1); });
    while (!a_inside.load()) {
        std::this_thread::yield();
    }
    bool running_at_return = false;
    std::thread waiter([&] {
        slot.disconnect_and_wait();
        running_at_return = a_inside.load();
    });
    for (int i = 0; i < 50; ++i) {
        std::this_thread::yield(); // let a broken core return early
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    release_b.store(true);
    waiter.join();
    a.join();
    b.join();
    CHECK_FALSE(running_at_return);
}
