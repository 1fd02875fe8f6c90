// Differential test of authevents::Signal against the reference model in signal_model.hpp.
//
// Random sequences of operations (connects of lambdas and function pointers with and without
// uid, sender, priority and track; disconnects by handle, uid and function; disconnect_all;
// blocking of slots, blockers and of the signal; plain, sender-filtered and robust sends; the
// expiry of tracked objects; and slots that do any of these from inside an emission, nested
// sends included) run against both. After every operation the two must agree on everything
// observable: the log of slot calls, what the operation returned or threw, the failures of a
// robust send (which slot, which error, in order), size(), has_listeners() for every sender,
// blocked(), and connected()/blocked() of every handle ever returned, and which handles name
// the same slot.
//
// Every run prints its seed. To replay one: AUTHEVENTS_MODEL_SEED=<seed> ./signal_model_test.
// AUTHEVENTS_MODEL_RUNS=<n> changes the number of runs (default 400); runs also stop after
// a few seconds of wall time so that slow (sanitized) builds stay bounded.
#include "signal_model.hpp"

#include <authevents/signal.hpp>

#include "catch_compat.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using authevents::ConnectOptions;
using authevents::SenderId;

struct SenderObject {
    int unused = 0;
};
struct SenderType {};
const SenderObject sender_object{};

/// The three senders every run uses: any(), one object, one type.
SenderId sender_at(int index) {
    switch (index) {
    case 1:
        return SenderId::of(&sender_object);
    case 2:
        return SenderId::type<SenderType>();
    default:
        return SenderId::any();
    }
}
constexpr int sender_count = 3;

/// The exception slots throw: its message names the slot, so both sides must agree on who threw.
class SlotFailure : public std::runtime_error {
public:
    explicit SlotFailure(const std::string& what) : std::runtime_error(what) {}
};

// ---------------------------------------------------------------------------------------------
// Operations, generated once from the seed and applied to both signals.

enum class Kind {
    connect,
    disconnect_handle,
    disconnect_and_wait_handle,
    disconnect_uid,
    disconnect_function,
    disconnect_all,
    block_handle,
    unblock_handle,
    push_blocker,
    pop_blocker,
    block_signal,
    unblock_signal,
    send,
    send_from,
    send_robust,
    send_robust_from,
    expire_track,
    throw_now, // only as a slot action
    none,      // only as a slot action
};

/// What a connect connects, and what that slot does each time it is called.
struct Operation;
struct ConnectSpec {
    int function = -1; // -1: a lambda; else one of the plain functions below
    int uid = -1;      // -1: no uid; else "uid<k>"
    int sender = 0;
    int priority = 0;
    int track = -1;                 // -1: untracked; else a tracked object index
    std::vector<Operation> actions; // run by the slot when called (lambdas only)
};

struct Operation {
    Kind kind = Kind::none;
    int target = 0; // a handle index (taken modulo the handle count), uid, function, object
    int sender = 0;
    int argument = 0;
    std::shared_ptr<ConnectSpec> connect; // for Kind::connect
};

constexpr int function_count = 3;
constexpr int uid_count = 3;
constexpr int track_count = 3;
constexpr int max_depth = 2;    // nested sends deeper than this are skipped (by both sides)
constexpr int max_handles = 80; // connects beyond this are skipped (by both sides)

std::string describe(const Operation& operation);

std::string describe_spec(const ConnectSpec& spec) {
    std::ostringstream out;
    out << (spec.function >= 0 ? "function" + std::to_string(spec.function) : "lambda");
    if (spec.uid >= 0) {
        out << " uid" << spec.uid;
    }
    out << " sender" << spec.sender << " priority " << spec.priority;
    if (spec.track >= 0) {
        out << " track" << spec.track;
    }
    if (!spec.actions.empty()) {
        out << " does {";
        for (const Operation& action : spec.actions) {
            out << ' ' << describe(action) << ';';
        }
        out << " }";
    }
    return out.str();
}

std::string describe(const Operation& operation) {
    std::ostringstream out;
    switch (operation.kind) {
    case Kind::connect:
        out << "connect " << describe_spec(*operation.connect);
        break;
    case Kind::disconnect_handle:
        out << "disconnect handle " << operation.target;
        break;
    case Kind::disconnect_and_wait_handle:
        out << "disconnect_and_wait handle " << operation.target;
        break;
    case Kind::disconnect_uid:
        out << "disconnect(uid" << operation.target << ", sender" << operation.sender << ")";
        break;
    case Kind::disconnect_function:
        out << "disconnect(function" << operation.target << ", sender" << operation.sender << ")";
        break;
    case Kind::disconnect_all:
        out << "disconnect_all";
        break;
    case Kind::block_handle:
        out << "block handle " << operation.target;
        break;
    case Kind::unblock_handle:
        out << "unblock handle " << operation.target;
        break;
    case Kind::push_blocker:
        out << "ConnectionBlocker on handle " << operation.target;
        break;
    case Kind::pop_blocker:
        out << "destroy the newest ConnectionBlocker";
        break;
    case Kind::block_signal:
        out << "block the signal";
        break;
    case Kind::unblock_signal:
        out << "unblock the signal";
        break;
    case Kind::send:
        out << "send(" << operation.argument << ")";
        break;
    case Kind::send_from:
        out << "send_from(sender" << operation.sender << ", " << operation.argument << ")";
        break;
    case Kind::send_robust:
        out << "send_robust(" << operation.argument << ")";
        break;
    case Kind::send_robust_from:
        out << "send_robust_from(sender" << operation.sender << ", " << operation.argument << ")";
        break;
    case Kind::expire_track:
        out << "expire tracked object " << operation.target;
        break;
    case Kind::throw_now:
        out << "throw";
        break;
    case Kind::none:
        out << "nothing";
        break;
    }
    return out.str();
}

/// Draws operations. Slot actions are drawn from the same kinds, less deep.
class Generator {
public:
    explicit Generator(std::uint64_t seed) : random_(seed) {}

    Operation top_level() { return draw(2); }

private:
    int pick(int low, int high) { return std::uniform_int_distribution<int>(low, high)(random_); }

    Operation draw(int nesting) {
        Operation operation;
        operation.target = pick(0, 1000);
        operation.sender = pick(0, sender_count - 1);
        operation.argument = pick(0, 9);
        const int roll = pick(0, 99);
        if (roll < 22) {
            operation.kind = Kind::connect;
            operation.connect = draw_spec(nesting);
        } else if (roll < 27) {
            operation.kind = Kind::disconnect_handle;
        } else if (roll < 30) {
            operation.kind = Kind::disconnect_and_wait_handle;
        } else if (roll < 34) {
            operation.kind = Kind::disconnect_uid;
            operation.target = pick(-1, uid_count - 1); // -1: the empty uid
        } else if (roll < 37) {
            operation.kind = Kind::disconnect_function;
            operation.target = pick(0, function_count - 1);
        } else if (roll < 38) {
            operation.kind = Kind::disconnect_all;
        } else if (roll < 43) {
            operation.kind = Kind::block_handle;
        } else if (roll < 48) {
            operation.kind = Kind::unblock_handle;
        } else if (roll < 51) {
            operation.kind = Kind::push_blocker;
        } else if (roll < 54) {
            operation.kind = Kind::pop_blocker;
        } else if (roll < 56) {
            operation.kind = Kind::block_signal;
        } else if (roll < 59) {
            operation.kind = Kind::unblock_signal;
        } else if (roll < 70) {
            operation.kind = Kind::send;
        } else if (roll < 78) {
            operation.kind = Kind::send_from;
        } else if (roll < 85) {
            operation.kind = Kind::send_robust;
        } else if (roll < 90) {
            operation.kind = Kind::send_robust_from;
        } else if (roll < 94) {
            operation.kind = Kind::expire_track;
            operation.target = pick(0, track_count - 1);
        } else {
            operation.kind = nesting < 2 ? Kind::throw_now : Kind::send;
        }
        return operation;
    }

    std::shared_ptr<ConnectSpec> draw_spec(int nesting) {
        auto spec = std::make_shared<ConnectSpec>();
        spec->function = pick(0, 3) == 0 ? pick(0, function_count - 1) : -1;
        spec->uid = pick(0, 2) == 0 ? pick(0, uid_count - 1) : -1;
        spec->sender = pick(0, 2) == 0 ? pick(1, sender_count - 1) : 0;
        spec->priority = pick(0, 1) == 0 ? 0 : pick(-2, 2);
        spec->track = pick(0, 3) == 0 ? pick(0, track_count - 1) : -1;
        if (spec->function < 0 && nesting > 0) {
            const int actions = pick(0, 3) == 0 ? pick(1, 2) : 0;
            for (int i = 0; i < actions; ++i) {
                spec->actions.push_back(draw(nesting - 1));
            }
            if (pick(0, 5) == 0) {
                Operation failure;
                failure.kind = Kind::throw_now;
                spec->actions.push_back(failure);
            }
        }
        return spec;
    }

    std::mt19937_64 random_;
};

// ---------------------------------------------------------------------------------------------
// One side of the comparison: a signal (the real one or the model), its handles, blockers and
// tracked objects, and the log of everything observable that happened.

/// Plain functions have an identity; they log into the side that is running now.
std::vector<std::string>* current_log = nullptr;

template <int Index> void plain_function(int argument) {
    current_log->push_back("function" + std::to_string(Index) + "(" + std::to_string(argument) +
                           ")");
    if (argument % 5 == Index) {
        throw SlotFailure("function" + std::to_string(Index) + " failed");
    }
}
using PlainFunction = void (*)(int);
const PlainFunction plain_functions[function_count] = {&plain_function<0>, &plain_function<1>,
                                                       &plain_function<2>};

template <class SignalType, class ConnectionType, class BlockerType, class SlotErrorType>
class Side {
public:
    Side() {
        for (auto& object : tracked_) {
            object = std::make_shared<int>(0);
        }
    }

    /// Applies one top-level operation; returns everything observable it produced.
    std::string apply(const Operation& operation) {
        current_log = &log_;
        log_.clear();
        run(operation, 0, -1);
        log_.push_back(state());
        std::string all;
        for (const std::string& line : log_) {
            all += line;
            all += '\n';
        }
        current_log = nullptr;
        return all;
    }

private:
    ConnectionType* handle(int target) {
        if (handles_.empty()) {
            return nullptr;
        }
        return &handles_[static_cast<std::size_t>(target) % handles_.size()];
    }

    std::string handle_name(const ConnectionType& connection) const {
        for (std::size_t i = 0; i < handles_.size(); ++i) {
            if (handles_[i] == connection) {
                return "handle " + std::to_string(i);
            }
        }
        return "an unknown connection";
    }

    static std::string uid_name(int uid) {
        return uid < 0 ? std::string() : "uid" + std::to_string(uid);
    }

    // Runs an operation at a nesting depth (0: top level; more: inside slots). `self` is the
    // index of the handle of the slot running it, or -1.
    void run(const Operation& operation, int depth, int self) {
        const std::string prefix = std::string(static_cast<std::size_t>(depth) * 2, ' ');
        ConnectionType* target = handle(operation.target);
        switch (operation.kind) {
        case Kind::connect:
            connect(*operation.connect, prefix);
            break;
        case Kind::disconnect_handle:
            if (self >= 0 && operation.target % 2 == 0) {
                target = &handles_[static_cast<std::size_t>(self)]; // disconnect itself
            }
            if (target != nullptr) {
                log_.push_back(prefix + "disconnect -> " + flag(target->disconnect()));
            }
            break;
        case Kind::disconnect_and_wait_handle:
            if (self >= 0 && operation.target % 2 == 0) {
                target = &handles_[static_cast<std::size_t>(self)];
            }
            if (target != nullptr) {
                log_.push_back(prefix + "disconnect_and_wait -> " +
                               flag(target->disconnect_and_wait()));
            }
            break;
        case Kind::disconnect_uid:
            log_.push_back(
                prefix + "disconnect(uid) -> " +
                flag(signal_.disconnect(uid_name(operation.target), sender_at(operation.sender))));
            break;
        case Kind::disconnect_function:
            log_.push_back(
                prefix + "disconnect(function) -> " +
                flag(signal_.disconnect(plain_functions[operation.target % function_count],
                                        sender_at(operation.sender))));
            break;
        case Kind::disconnect_all:
            signal_.disconnect_all();
            break;
        case Kind::block_handle:
            if (target != nullptr) {
                target->block();
            }
            break;
        case Kind::unblock_handle:
            if (target != nullptr) {
                target->unblock();
            }
            break;
        case Kind::push_blocker:
            if (target != nullptr) {
                blockers_.push_back(std::make_unique<BlockerType>(*target));
            }
            break;
        case Kind::pop_blocker:
            if (!blockers_.empty()) {
                blockers_.pop_back();
            }
            break;
        case Kind::block_signal:
            signal_.block();
            break;
        case Kind::unblock_signal:
            signal_.unblock();
            break;
        case Kind::send:
        case Kind::send_from:
        case Kind::send_robust:
        case Kind::send_robust_from:
            send(operation, depth, prefix);
            break;
        case Kind::expire_track:
            tracked_[static_cast<std::size_t>(operation.target % track_count)].reset();
            break;
        case Kind::throw_now:
            log_.push_back(prefix + "throws");
            throw SlotFailure("slot handle " + std::to_string(self) + " failed");
        case Kind::none:
            break;
        }
    }

    void connect(const ConnectSpec& spec, const std::string& prefix) {
        if (handles_.size() >= static_cast<std::size_t>(max_handles)) {
            return;
        }
        ConnectOptions options;
        if (spec.uid >= 0) {
            options.dispatch_uid = uid_name(spec.uid);
        }
        options.sender = sender_at(spec.sender);
        options.priority = spec.priority;
        if (spec.track >= 0) {
            auto& object = tracked_[static_cast<std::size_t>(spec.track)];
            if (object == nullptr) {
                object = std::make_shared<int>(0); // a fresh object: tracking needs a live one
            }
            options.track = object;
        }
        const int index = static_cast<int>(handles_.size());
        ConnectionType connection;
        if (spec.function >= 0) {
            connection = signal_.connect(plain_functions[spec.function], options);
        } else {
            const ConnectSpec* behaviour = &spec;
            connection = signal_.connect(
                [this, index, behaviour](int argument) { call(index, *behaviour, argument); },
                options);
        }
        handles_.push_back(connection);
        log_.push_back(prefix + "connect -> " + handle_name(connection));
    }

    void call(int index, const ConnectSpec& behaviour, int argument) {
        const std::string prefix = std::string(static_cast<std::size_t>(depth_) * 2, ' ');
        log_.push_back(prefix + "slot of handle " + std::to_string(index) + " called with " +
                       std::to_string(argument));
        for (const Operation& action : behaviour.actions) {
            run(action, depth_, index);
        }
    }

    void send(const Operation& operation, int depth, const std::string& prefix) {
        if (depth >= max_depth) {
            return;
        }
        ++depth_;
        const SenderId sender = sender_at(operation.sender);
        const int argument = operation.argument;
        try {
            switch (operation.kind) {
            case Kind::send:
                signal_.send(argument);
                log_.push_back(prefix + "send returned");
                break;
            case Kind::send_from:
                signal_.send_from(sender, argument);
                log_.push_back(prefix + "send_from returned");
                break;
            case Kind::send_robust:
                report(prefix, signal_.send_robust(argument));
                break;
            default:
                report(prefix, signal_.send_robust_from(sender, argument));
                break;
            }
        } catch (const std::exception& error) {
            // A nested send's exception is caught here too, so both sides log it the same way.
            log_.push_back(prefix + "send threw: " + error.what());
        }
        --depth_;
    }

    void report(const std::string& prefix, const std::vector<SlotErrorType>& failures) {
        std::string line =
            prefix + "send_robust returned " + std::to_string(failures.size()) + " failure(s):";
        for (const SlotErrorType& failure : failures) {
            line += " [" + handle_name(failure.connection) + ": ";
            try {
                std::rethrow_exception(failure.error);
            } catch (const std::exception& error) {
                line += error.what();
            }
            line += "]";
        }
        log_.push_back(line);
    }

    std::string state() const {
        std::string out = "size " + std::to_string(signal_.size()) + ", signal blocked " +
                          flag(signal_.blocked()) + ", has_listeners";
        for (int sender = 0; sender < sender_count; ++sender) {
            out += " " + flag(signal_.has_listeners(sender_at(sender)));
        }
        out += ", handles (connected, blocked):";
        for (const ConnectionType& connection : handles_) {
            out += " " + flag(connection.connected()) + flag(connection.blocked());
        }
        return out;
    }

    static std::string flag(bool value) { return value ? "1" : "0"; }

    SignalType signal_;
    std::vector<ConnectionType> handles_;
    std::vector<std::unique_ptr<BlockerType>> blockers_;
    std::shared_ptr<int> tracked_[track_count];
    std::vector<std::string> log_;
    int depth_ = 0;
};

using RealSide = Side<authevents::Signal<int>, authevents::Connection,
                      authevents::ConnectionBlocker, authevents::SlotError>;
using ModelSide =
    Side<model::Signal<int>, model::Connection, model::ConnectionBlocker, model::SlotError>;

/// Runs `operations` operations from `seed` against both; on the first difference, fails with
/// the seed, the operations so far and both outputs.
void run_one(std::uint64_t seed, int operations) {
    Generator generator(seed);
    // Slot behaviours are referenced by the connected lambdas: keep every operation alive
    // until both sides are gone (sides are declared after `history`, so destroyed first).
    std::vector<Operation> history;
    history.reserve(static_cast<std::size_t>(operations));
    auto real = std::make_unique<RealSide>();
    auto reference = std::make_unique<ModelSide>();
    for (int i = 0; i < operations; ++i) {
        history.push_back(generator.top_level());
        const std::string expected = reference->apply(history.back());
        const std::string actual = real->apply(history.back());
        if (expected != actual) {
            std::string trace;
            for (std::size_t k = 0; k < history.size(); ++k) {
                trace += "  " + std::to_string(k) + ": " + describe(history[k]) + "\n";
            }
            INFO("seed " << seed << " (replay: AUTHEVENTS_MODEL_SEED=" << seed << "), operations:\n"
                         << trace << "model:\n"
                         << expected << "authevents::Signal:\n"
                         << actual);
            REQUIRE(expected == actual);
        }
    }
    real.reset();
    reference.reset();
}

std::uint64_t environment_number(const char* name, std::uint64_t fallback) {
    const char* text = std::getenv(name);
    if (text == nullptr || *text == '\0') {
        return fallback;
    }
    return std::strtoull(text, nullptr, 10);
}

} // namespace

TEST_CASE("the model itself follows the contract on a hand-written sequence", "[signal][model]") {
    // The model is the oracle, so check it too on cases whose answers are known by heart.
    model::Signal<int> signal;
    std::vector<int> calls;
    ConnectOptions high;
    high.priority = 1;
    ConnectOptions uid;
    uid.dispatch_uid = "once";
    auto low = signal.connect([&calls](int) { calls.push_back(1); });
    signal.connect([&calls](int) { calls.push_back(2); }, high);
    auto first = signal.connect([&calls](int) { calls.push_back(3); }, uid);
    auto second = signal.connect([&calls](int) { calls.push_back(4); }, uid);
    CHECK(first == second);
    CHECK(signal.size() == 3);
    signal.send(0);
    CHECK(calls == std::vector<int>{2, 1, 3});
    low.block();
    CHECK(low.connected());
    calls.clear();
    signal.send(0);
    CHECK(calls == std::vector<int>{2, 3});
    CHECK(signal.disconnect("once"));
    CHECK_FALSE(signal.disconnect("once"));
    CHECK(signal.size() == 2);
    signal.block();
    CHECK_FALSE(signal.has_listeners());
}

TEST_CASE("Signal matches the reference model on random operation sequences", "[signal][model]") {
    const std::uint64_t replay = environment_number("AUTHEVENTS_MODEL_SEED", 0);
    if (replay != 0) {
        std::printf("signal_model_test: replaying seed %llu\n",
                    static_cast<unsigned long long>(replay));
        run_one(replay, 200);
        return;
    }
    const std::uint64_t base = std::random_device{}() | 1U;
    const std::uint64_t runs = environment_number("AUTHEVENTS_MODEL_RUNS", 400);
    std::printf("signal_model_test: seeds %llu..%llu (replay one with AUTHEVENTS_MODEL_SEED)\n",
                static_cast<unsigned long long>(base),
                static_cast<unsigned long long>(base + runs - 1));
    std::fflush(stdout);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::uint64_t done = 0;
    for (; done < runs && std::chrono::steady_clock::now() < deadline; ++done) {
        run_one(base + done, 200);
    }
    std::printf("signal_model_test: %llu runs of 200 operations agreed\n",
                static_cast<unsigned long long>(done));
    CHECK(done > 0);
}
