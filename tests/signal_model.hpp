// A reference model of the Signal contract (docs/signals.md): deliberately simple, one mutex and
// one vector, no cleverness, so that it can be read and trusted at a glance. The differential
// test (signal_model_test.cpp) runs the same operations against it and against
// authevents::Signal and compares every observable result.
//
// What it models, one rule per line of the contract:
// - dedup key: (dispatch_uid, sender) with a uid, else (function pointer, sender); first wins;
// - order: priority descending, then connection order (a reconnect appends);
// - senders: a slot connected for any() hears every send, one for S only sends from S;
// - send: slots in order, the first exception propagates; send_robust: every slot runs, each
//   failure is returned in slot order;
// - a blocked slot (block() or a blocker), and every slot of a blocked signal, is skipped;
// - a tracked slot whose object has expired is never called, is not connected, and is not
//   counted; while it runs its object is kept alive;
// - during an emission: slots connected after it started are not called; a slot disconnected,
//   blocked or expired before the emission reaches it is not called.
// The mutex is never held while a slot runs, so slots may call back into the model.
#pragma once

#include <authevents/signal.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace model {

using authevents::ConnectOptions;
using authevents::SenderId;

/// One connected slot. Every field is guarded by the owning signal's mutex.
struct Slot {
    std::shared_ptr<void> callable; // a std::function<void(Args&...)> of the owning Signal
    std::string uid;
    SenderId sender;
    int priority = 0;
    const void* function = nullptr; // plain function pointer identity, or null
    bool tracked = false;
    std::weak_ptr<const void> track;
    bool disconnected = false;
    bool blocked = false;
    int blockers = 0;

    bool alive() const { return !disconnected && !(tracked && track.expired()); }
    bool blocking() const { return blocked || blockers > 0; }
};

/// What a Signal and its Connections share: the mutex and the vector.
struct State {
    std::mutex mutex;
    std::vector<std::shared_ptr<Slot>> slots; // in call order
    bool blocked = false;
};

/// A copyable handle to one slot, like authevents::Connection.
class Connection {
public:
    Connection() = default;
    Connection(std::shared_ptr<Slot> slot, std::weak_ptr<State> state)
        : slot_(std::move(slot)), state_(std::move(state)) {}

    bool connected() const {
        return with_lock([this] { return slot_->alive(); });
    }
    bool disconnect() {
        return with_lock([this] {
            const bool was_alive = slot_->alive();
            slot_->disconnected = true;
            return was_alive;
        });
    }
    /// Single-threaded, nothing runs elsewhere: the same as disconnect().
    bool disconnect_and_wait() { return disconnect(); }
    void block() {
        with_lock([this] { return slot_->blocked = true; });
    }
    void unblock() {
        with_lock([this] { return slot_->blocked = false; });
    }
    bool blocked() const {
        return with_lock([this] { return slot_->blocking(); });
    }
    void add_blocker(int delta) {
        with_lock([this, delta] { return (slot_->blockers += delta) != 0; });
    }

    friend bool operator==(const Connection& left, const Connection& right) {
        return left.slot_ == right.slot_;
    }
    friend bool operator!=(const Connection& left, const Connection& right) {
        return !(left == right);
    }

private:
    // Runs `body` under the signal's mutex; false when the handle is empty or the signal gone.
    template <class Body> bool with_lock(Body body) const {
        const std::shared_ptr<State> state = state_.lock();
        if (slot_ == nullptr || state == nullptr) {
            return false;
        }
        std::lock_guard<std::mutex> lock(state->mutex);
        return body();
    }

    std::shared_ptr<Slot> slot_;
    std::weak_ptr<State> state_;
};

/// Blocks a slot for its lifetime, like authevents::ConnectionBlocker.
class ConnectionBlocker {
public:
    explicit ConnectionBlocker(Connection connection) : connection_(std::move(connection)) {
        connection_.add_blocker(1);
    }
    ConnectionBlocker(const ConnectionBlocker&) = delete;
    ConnectionBlocker& operator=(const ConnectionBlocker&) = delete;
    ~ConnectionBlocker() { connection_.add_blocker(-1); }

private:
    Connection connection_;
};

/// One failure of send_robust, like authevents::SlotError.
struct SlotError {
    Connection connection;
    std::exception_ptr error;
};

/// The reference signal.
template <class... Args> class Signal {
public:
    Signal() = default;
    Signal(const Signal&) = delete;
    Signal& operator=(const Signal&) = delete;

    template <class F> Connection connect(F slot, ConnectOptions options = {}) {
        auto made = std::make_shared<Slot>();
        made->uid = options.dispatch_uid;
        made->sender = options.sender;
        made->priority = options.priority;
        if constexpr (std::is_pointer_v<F>) {
            made->function = reinterpret_cast<const void*>(slot);
        }
        const std::weak_ptr<const void> none;
        made->tracked = options.track.owner_before(none) || none.owner_before(options.track);
        made->track = options.track;
        std::lock_guard<std::mutex> lock(state_->mutex);
        for (const auto& existing : state_->slots) {
            if (existing->alive() && same_key(*existing, *made)) {
                return Connection(existing, state_);
            }
        }
        made->callable = std::make_shared<Callable>(std::move(slot));
        auto position = state_->slots.begin();
        while (position != state_->slots.end() && (*position)->priority >= made->priority) {
            ++position;
        }
        state_->slots.insert(position, made);
        return Connection(made, state_);
    }

    bool disconnect(std::string_view dispatch_uid, SenderId sender = SenderId::any()) {
        if (dispatch_uid.empty()) {
            return false;
        }
        return disconnect_if(
            [&](const Slot& slot) { return slot.uid == dispatch_uid && slot.sender == sender; });
    }

    template <class R, class... P>
    bool disconnect(R (*function)(P...), SenderId sender = SenderId::any()) {
        const void* identity = reinterpret_cast<const void*>(function);
        return disconnect_if([&](const Slot& slot) {
            return slot.uid.empty() && slot.function == identity && slot.sender == sender;
        });
    }

    void disconnect_all() {
        disconnect_if([](const Slot&) { return true; });
    }

    void send(Args... args) { emit(SenderId::any(), nullptr, args...); }
    void send_from(SenderId sender, Args... args) { emit(sender, nullptr, args...); }
    std::vector<SlotError> send_robust(Args... args) {
        return send_robust_from(SenderId::any(), args...);
    }
    std::vector<SlotError> send_robust_from(SenderId sender, Args... args) {
        std::vector<SlotError> failures;
        emit(sender, &failures, args...);
        return failures;
    }

    bool has_listeners(SenderId sender = SenderId::any()) const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        if (state_->blocked) {
            return false;
        }
        for (const auto& slot : state_->slots) {
            if (callable(*slot) && hears(*slot, sender)) {
                return true;
            }
        }
        return false;
    }

    std::size_t size() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        std::size_t count = 0;
        for (const auto& slot : state_->slots) {
            count += slot->alive() ? 1U : 0U;
        }
        return count;
    }

    void block() { set_blocked(true); }
    void unblock() { set_blocked(false); }
    bool blocked() const {
        std::lock_guard<std::mutex> lock(state_->mutex);
        return state_->blocked;
    }

private:
    using Callable = std::function<void(Args&...)>;

    static bool same_key(const Slot& left, const Slot& right) {
        if (left.sender != right.sender || left.uid != right.uid) {
            return false;
        }
        return !right.uid.empty() || (right.function != nullptr && left.function == right.function);
    }
    static bool callable(const Slot& slot) { return slot.alive() && !slot.blocking(); }
    static bool hears(const Slot& slot, SenderId sender) {
        return slot.sender == SenderId::any() || slot.sender == sender;
    }

    template <class Predicate> bool disconnect_if(Predicate predicate) {
        std::lock_guard<std::mutex> lock(state_->mutex);
        bool any = false;
        for (const auto& slot : state_->slots) {
            if (slot->alive() && predicate(*slot)) {
                slot->disconnected = true;
                any = true;
            }
        }
        return any;
    }

    void set_blocked(bool blocked) {
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->blocked = blocked;
    }

    // Calls the slots of a snapshot taken at the start, each only if, when the emission reaches
    // it, it is still callable and the signal is not blocked. With `failures`, every exception
    // is collected; without, the first one propagates.
    void emit(SenderId sender, std::vector<SlotError>* failures, Args&... args) {
        std::vector<std::shared_ptr<Slot>> snapshot;
        {
            std::lock_guard<std::mutex> lock(state_->mutex);
            snapshot = state_->slots;
        }
        for (const auto& slot : snapshot) {
            std::shared_ptr<const void> keep_alive;
            std::shared_ptr<void> callable_now;
            {
                std::lock_guard<std::mutex> lock(state_->mutex);
                if (state_->blocked || !callable(*slot) || !hears(*slot, sender)) {
                    continue;
                }
                keep_alive = slot->track.lock();
                callable_now = slot->callable;
            }
            try {
                (*static_cast<Callable*>(callable_now.get()))(args...);
            } catch (...) {
                if (failures == nullptr) {
                    throw;
                }
                failures->push_back(SlotError{Connection(slot, state_), std::current_exception()});
            }
        }
    }

    std::shared_ptr<State> state_ = std::make_shared<State>();
};

} // namespace model
