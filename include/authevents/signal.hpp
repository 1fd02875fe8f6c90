// authevents core: typed signals with connection handles, dispatch_uid deduplication, sender
// filtering, priorities, lifetime tracking and blocking, safe under threads and re-entrancy.
//
// Standard library only. See docs/signals.md for the guide.
#pragma once

#include <authevents/detail/function.hpp>
#include <authevents/detail/queued_slot.hpp>
#include <authevents/detail/signal_core.hpp>
#include <authevents/detail/slot_entry.hpp>
#include <authevents/detail/slot_node.hpp>
#include <authevents/executor.hpp>

#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace authevents {

template <class... Args> class Signal;

namespace detail {
/// One object per type, whose address identifies the type as a sender.
template <class T> inline char type_identity_tag = 0;

template <class T> struct is_std_function : std::false_type {};
template <class R, class... P> struct is_std_function<std::function<R(P...)>> : std::true_type {};

template <class... Args> bool has_slots(const authevents::Signal<Args...>& signal) noexcept;

template <class F>
inline constexpr bool is_function_pointer_v =
    std::conjunction_v<std::is_pointer<F>, std::is_function<std::remove_pointer_t<F>>>;
} // namespace detail

/// Who sent a signal: Django's `sender`. A value type; copying and comparing are thread-safe.
class SenderId {
public:
    /// Any sender: Django's `sender=None`. Default-constructed SenderIds are any().
    constexpr SenderId() noexcept = default;

    /// Any sender: a slot connected with any() receives every send.
    [[nodiscard]] static constexpr SenderId any() noexcept { return SenderId(); }

    /// The identity of one object, by address (of the most-derived object for polymorphic
    /// types, so a base and a derived pointer to one object are the same sender). A null
    /// pointer gives any().
    template <class T> [[nodiscard]] static SenderId of(const T* object) noexcept {
        if constexpr (std::is_polymorphic_v<T>) {
            return SenderId(dynamic_cast<const void*>(object));
        } else {
            return SenderId(static_cast<const void*>(object));
        }
    }

    /// A class as sender (Django's `sender=CustomUser`); cv-qualifiers are ignored.
    template <class T> [[nodiscard]] static SenderId type() noexcept {
        return SenderId(&detail::type_identity_tag<std::remove_cv_t<T>>);
    }

    /// True for any().
    [[nodiscard]] constexpr bool is_any() const noexcept { return key_ == nullptr; }

    /// An opaque key: equal keys mean equal senders (nullptr for any()).
    [[nodiscard]] constexpr const void* key() const noexcept { return key_; }

    friend constexpr bool operator==(SenderId left, SenderId right) noexcept {
        return left.key_ == right.key_;
    }
    friend constexpr bool operator!=(SenderId left, SenderId right) noexcept {
        return left.key_ != right.key_;
    }

private:
    constexpr explicit SenderId(const void* key) noexcept : key_(key) {}

    const void* key_ = nullptr;
};

/// How a slot is connected. All fields are optional.
struct ConnectOptions {
    /// Deduplication key; a second connect with the same uid and sender changes nothing.
    /// Empty means none (then a plain function pointer is its own key).
    std::string dispatch_uid;
    /// Only sends from this sender reach the slot; any() receives every send.
    SenderId sender = SenderId::any();
    /// Higher runs first; equal priorities run in connection order.
    int priority = 0;
    /// If set, the slot is skipped and dropped once the tracked object has expired, and the
    /// object is kept alive while the slot runs.
    std::weak_ptr<const void> track{};
    /// If set, the slot is queued: each send hands the executor one task that calls the slot
    /// with its own copies of the arguments, and returns without waiting. Calls of one slot
    /// run one at a time, in send order (given an executor that starts tasks in submission
    /// order, as ThreadPool does). Empty: the slot runs on the sending thread.
    Executor executor{};
};

template <class... Args> class Signal;
class ConnectionBlocker;

/// A handle to one connected slot. Copies name the same slot. Every member may be called from
/// any thread, concurrently, also after the Signal is gone (it then reports disconnected).
class Connection {
public:
    /// An empty handle: connected() is false and every operation does nothing.
    Connection() noexcept = default;
    Connection(const Connection&) noexcept = default;
    Connection(Connection&&) noexcept = default;
    Connection& operator=(const Connection&) noexcept = default;
    Connection& operator=(Connection&&) noexcept = default;

    /// Releases the handle (the slot stays connected). Out of line, so that code that may
    /// destroy handles, such as the failure list of a report, keeps no register for the
    /// reference count's inline fast path.
    AUTHEVENTS_DETAIL_NOINLINE ~Connection() {} // NOLINT(modernize-use-equals-default)

    /// True while the slot is connected: not disconnected, its track (if any) not expired,
    /// and its Signal alive. A blocked slot is still connected.
    [[nodiscard]] bool connected() const noexcept { return node_ != nullptr && node_->alive(); }

    /// Disconnects the slot: no emission that starts after this returns calls it. Returns true
    /// if this call disconnected it (false if it already was, or the handle is empty). May be
    /// called from inside the slot itself.
    bool disconnect() noexcept {
        if (node_ == nullptr) {
            return false;
        }
        return disconnect_node(nullptr);
    }

    /// disconnect(), then waits until the slot runs on no other thread, queued calls already
    /// running included (queued calls not started yet will not run). Called from inside the
    /// slot (or from a slot further up this thread's stack) it does not wait for this thread.
    /// Returns what disconnect() returned. Two threads each waiting for the slot the other is
    /// running deadlock, as with any wait.
    /// @throws std::bad_alloc if memory runs out.
    bool disconnect_and_wait() {
        if (node_ == nullptr) {
            return false;
        }
        // One reference to the signal serves the disconnect and the wait.
        const std::shared_ptr<detail::SlotOwner> owner = node_->owner.lock();
        const bool disconnected_now = disconnect_node(owner.get());
        if (owner != nullptr) {
            owner->wait_until_idle(*node_);
        }
        detail::wait_for_queued_calls(*node_);
        return disconnected_now;
    }

    /// Blocks the slot: emissions skip it until unblock(). It stays connected.
    void block() noexcept {
        if (node_ != nullptr) {
            node_->disturb({detail::slot_state::blocked, 0});
        }
    }

    /// Undoes block(). ConnectionBlockers still alive keep the slot blocked.
    void unblock() noexcept {
        if (node_ != nullptr) {
            node_->unblock();
        }
    }

    /// True while block() or a ConnectionBlocker blocks the slot.
    [[nodiscard]] bool blocked() const noexcept {
        return node_ != nullptr &&
               (node_->state.load(std::memory_order_acquire) & detail::slot_state::blocking) != 0;
    }

    /// The dispatch_uid the slot was connected with; empty if none or for an empty handle.
    [[nodiscard]] const std::string& dispatch_uid() const noexcept {
        static const std::string none;
        return node_ != nullptr ? node_->uid() : none;
    }

    /// True when both handles name the same slot (or both are empty).
    friend bool operator==(const Connection& left, const Connection& right) noexcept {
        return left.node_ == right.node_;
    }
    friend bool operator!=(const Connection& left, const Connection& right) noexcept {
        return left.node_ != right.node_;
    }

private:
    explicit Connection(std::shared_ptr<detail::SlotNode> node) noexcept : node_(std::move(node)) {}

    /// disconnect() of a non-empty handle; `owner` is the slot's signal if the caller holds it
    /// (null: a reference is taken only if needed).
    bool disconnect_node(detail::SlotOwner* owner) noexcept {
        const bool was_alive = node_->alive();
        const std::uint32_t previous = node_->disturb({detail::slot_state::disconnected, 0}, owner);
        const bool disconnected_now = was_alive && (previous & detail::slot_state::gone) == 0;
        // A slot whose callable is trivial stays in the signal as a tombstone that emissions
        // skip and the next write drops; one owning captures is dropped now, releasing them.
        if (disconnected_now && node_->owns_callable()) {
            drop_from_signal(owner);
        }
        return disconnected_now;
    }

    /// Drops the disconnected slot (which owns its callable) from its signal (`owner`, or
    /// the node's if null) at once. Out of line: disconnect()'s common path saves no
    /// registers for it.
    AUTHEVENTS_DETAIL_NOINLINE void drop_from_signal(detail::SlotOwner* owner) noexcept {
        if (owner != nullptr) {
            owner->remove_inactive();
        } else if (auto held = node_->owner.lock()) {
            held->remove_inactive();
        }
    }

    template <class... Args> friend class Signal;
    friend class ConnectionBlocker;

    std::shared_ptr<detail::SlotNode> node_;
};

/// Owns a Connection and disconnects it, waiting for the slot to finish on other threads, when
/// destroyed. Move-only. Every member may be called from any thread concurrently; two threads
/// calling release() at once: exactly one gets the Connection.
class [[nodiscard]] ScopedConnection {
public:
    ScopedConnection() noexcept = default;

    /// Takes charge of `connection` (implicit, so `ScopedConnection c = signal.connect(...)`).
    ScopedConnection(Connection connection) noexcept // NOLINT(google-explicit-constructor)
        : connection_(std::move(connection)) {}

    ScopedConnection(ScopedConnection&& other) noexcept : connection_(other.release()) {}

    /// Disconnects (and waits for) the slot held so far, then takes over `other`'s. When both
    /// name the same slot (a deduplicated connect hands back the existing slot), it stays
    /// connected. If the wait cannot allocate, the old slot is still disconnected.
    ScopedConnection& operator=(ScopedConnection&& other) noexcept {
        if (this != &other) {
            Connection incoming = other.release();
            Connection previous = exchange(incoming);
            if (previous != incoming) {
                disconnect_waiting(std::move(previous));
            }
        }
        return *this;
    }

    ScopedConnection(const ScopedConnection&) = delete;
    ScopedConnection& operator=(const ScopedConnection&) = delete;

    /// disconnect_and_wait(); if that cannot allocate, the slot is still disconnected.
    ~ScopedConnection() { disconnect_waiting(connection_); }

    /// Hands back the Connection, still connected; this object is then empty.
    Connection release() noexcept { return exchange(Connection()); }

    /// A copy of the held Connection.
    [[nodiscard]] Connection connection() const noexcept {
        std::lock_guard<std::mutex> lock(mutex_);
        return connection_;
    }

    [[nodiscard]] bool connected() const noexcept { return connection().connected(); }
    bool disconnect() noexcept { return connection().disconnect(); }
    bool disconnect_and_wait() { return connection().disconnect_and_wait(); }
    void block() noexcept { connection().block(); }
    void unblock() noexcept { connection().unblock(); }
    [[nodiscard]] bool blocked() const noexcept { return connection().blocked(); }

private:
    static void disconnect_waiting(Connection connection) noexcept {
        try {
            connection.disconnect_and_wait();
        } catch (...) {
            connection.disconnect(); // out of memory while waiting: disconnected all the same
        }
    }

    Connection exchange(Connection next) noexcept {
        std::lock_guard<std::mutex> lock(mutex_);
        std::swap(connection_, next);
        return next;
    }

    mutable std::mutex mutex_;
    Connection connection_;
};

/// Blocks a Connection for its own lifetime (RAII). Blockers nest with each other and with
/// Connection::block(): the slot runs again once no blocker and no block() remains.
class [[nodiscard]] ConnectionBlocker {
public:
    explicit ConnectionBlocker(Connection connection) noexcept
        : connection_(std::move(connection)) {
        if (connection_.node_ != nullptr) {
            connection_.node_->disturb({0, detail::slot_state::blocker_unit});
        }
    }
    ConnectionBlocker(ConnectionBlocker&& other) noexcept
        : connection_(std::exchange(other.connection_, Connection())) {}
    ConnectionBlocker(const ConnectionBlocker&) = delete;
    ConnectionBlocker& operator=(const ConnectionBlocker&) = delete;
    ConnectionBlocker& operator=(ConnectionBlocker&&) = delete;
    ~ConnectionBlocker() {
        if (connection_.node_ != nullptr) {
            connection_.node_->remove_blocker();
        }
    }

private:
    Connection connection_;
};

/// One slot's failure in send_robust(): the slot and the exception it threw.
struct SlotError {
    Connection connection;
    std::exception_ptr error;
};

namespace detail {
/// Where a robust emission hands each failure: `report(context, failure)`. Type-erased, so
/// that the robust emission loop is compiled once per signature, whatever receives the
/// failures (failures are rare: an indirect call then costs nothing that matters).
struct FailureSink {
    void (*report)(void* context, SlotError&& failure);
    void* context;

    /// Hands `failure` on. @throws what the receiver throws.
    void operator()(SlotError&& failure) const { report(context, std::move(failure)); }
};

/// A sink calling `on_error(SlotError&&)`, which must outlive the sink.
template <class OnError> FailureSink failure_sink(OnError& on_error) noexcept {
    return FailureSink{[](void* context, SlotError&& failure) {
                           (*static_cast<OnError*>(context))(std::move(failure));
                       },
                       const_cast<void*>(static_cast<const void*>(std::addressof(on_error)))};
}

/// Signal<Args...>'s robust send inlined into its caller (defined after Signal).
template <class... Args> struct InlineRobustSend;
} // namespace detail

namespace detail {
/// Signal::connect() once the slot is type-erased, for every signature alike (so compiled once
/// per translation unit, not once per signature): `entry` calls the slot, `callable`, if not
/// null, holds the node that owns it (a CallableNode made without a key; moved from here), and
/// `queued_invoke` is the signature's thunk for queued calls (null when its arguments cannot
/// be copied). A pointer rather than a `std::shared_ptr` by value: the common connect (a small
/// callable, stored in the entry) then builds, passes and destroys no empty one.
/// Makes the slot's node (queued, or the callable's own; a plain one is made or reused by
/// `core`), completes `entry` in place (a copy made here, right after the caller's narrow
/// stores built it, would load it with wide loads that wait for those stores: a
/// store-forwarding stall) and inserts it into `core`. Returns the node now connected under
/// the slot's key. On an exception `core` is unchanged.
/// A template on the core's type (always SignalCore) only so that it is compiled where a unit
/// connects, not wherever the header is included.
/// @throws std::invalid_argument for an executor on a signal whose arguments cannot be copied.
/// @throws std::bad_alloc if memory runs out.
template <class Core>
AUTHEVENTS_DETAIL_NOINLINE std::shared_ptr<SlotNode>
connect_erased(const std::shared_ptr<Core>& core, SlotEntry& entry,
               std::shared_ptr<SlotNode>* callable, FunctionId function, ConnectOptions* given,
               SlotEntry::ErasedInvoker queued_invoke) {
    std::shared_ptr<SlotNode> owned =
        callable != nullptr ? std::move(*callable) : std::shared_ptr<SlotNode>();
    ConnectOptions defaults;
    ConnectOptions& options = given != nullptr ? *given : defaults;
    const std::weak_ptr<const void> untracked;
    const bool tracked =
        options.track.owner_before(untracked) || untracked.owner_before(options.track);
    const void* sender = options.sender.key();
    std::shared_ptr<SlotNode> node;
    if (options.executor) {
        if (queued_invoke == nullptr) {
            throw std::invalid_argument(
                "authevents::Signal::connect: a slot with an executor gets its own copies "
                "of the arguments, but this signal has an argument type that cannot be "
                "copied");
        }
        auto queued = std::make_shared<QueuedNode<QueuedSlot>>(
            std::make_shared<QueuedSlot>(entry, std::move(owned), std::move(options.executor)),
            std::move(options.dispatch_uid), function, sender, options.priority,
            std::move(options.track), tracked);
        entry.storage.object = queued->queue();
        entry.invoke = queued_invoke;
        queued->queue()->set_node(queued);
        node = std::move(queued);
    } else if (owned != nullptr) {
        owned->set_key(std::move(options.dispatch_uid), function, sender, options.priority,
                       std::move(options.track), tracked);
        node = std::move(owned);
    } else {
        entry.sender = sender;
        return core->insert_plain(core, entry, std::move(options.dispatch_uid), function, sender,
                                  options.priority, std::move(options.track), tracked);
    }
    entry.node = node.get();
    entry.sender = sender;
    node->owner = core;
    return core->insert(std::move(node), entry);
}

/// connect_erased() of the common connect: a callable stored in its entry, no options. A
/// function of its own, with none of the other connects' registers to save (none of their
/// options to build and destroy either).
/// @throws std::bad_alloc if memory runs out.
template <class Core>
AUTHEVENTS_DETAIL_NOINLINE std::shared_ptr<SlotNode>
connect_plain(const std::shared_ptr<Core>& core, SlotEntry& entry, FunctionId function) {
    entry.sender = nullptr;
    return core->insert_plain(core, entry, std::string(), function, nullptr, 0,
                              std::weak_ptr<const void>(), false);
}
} // namespace detail

/// A typed signal: slots connect to it, and each send calls them in order on the sending
/// thread. Non-copyable and non-movable. Every member may be called from any thread
/// concurrently and re-entrantly from inside slots; no lock is held while a slot runs.
///
/// Args are the parameter types, e.g. `Signal<const UserRegistered&>` or `Signal<int>`. Every
/// slot of one send receives the same argument objects, as lvalues (`Args&...`).
template <class... Args> class Signal {
    static_assert((!std::is_rvalue_reference_v<Args> && ...),
                  "authevents::Signal: argument types cannot be rvalue references; every slot "
                  "receives the same argument objects as lvalues");
    static_assert((!std::is_void_v<Args> && ...),
                  "authevents::Signal: use Signal<> for a signal without arguments");

    using Core = detail::SignalCore;
    using Entry = detail::SlotEntry;
    using Thunks = detail::SlotThunks<Args...>;

public:
    Signal() : core_(std::make_shared<Core>()) {}
    Signal(const Signal&) = delete;
    Signal& operator=(const Signal&) = delete;
    Signal(Signal&&) = delete;
    Signal& operator=(Signal&&) = delete;

    /// Disconnects every slot; Connections report disconnected from then on. Must not run
    /// while an emission of this signal is in progress.
    ~Signal() {
        try {
            core_->disconnect_all();
        } catch (...) {
            // disconnect_all cannot throw: compaction failures are deferred to ~SignalCore.
        }
    }

    /// Connects `slot`, any callable invocable with `Args&...` (its return value is ignored).
    /// If a live slot has the same key, (options.dispatch_uid, options.sender) or, without a
    /// uid, (function pointer, options.sender), nothing changes and its Connection is returned.
    /// On an exception the signal is unchanged. (Two overloads rather than a default argument,
    /// so that a call site without options does not build and destroy them.)
    /// @throws std::invalid_argument for a null function pointer or empty std::function.
    /// @throws std::bad_alloc if memory runs out.
    template <class F> Connection connect(F&& slot, ConnectOptions options) {
        return connect_with(std::forward<F>(slot), &options);
    }
    template <class F> Connection connect(F&& slot) {
        return connect_with(std::forward<F>(slot), nullptr);
    }

    /// Disconnects the slot connected with this uid and sender; true if one was. An empty uid
    /// matches nothing.
    bool disconnect(std::string_view dispatch_uid, SenderId sender = SenderId::any()) {
        if (dispatch_uid.empty()) {
            return false;
        }
        return core_->disconnect_matching([&](const detail::SlotNode& node) {
            return node.sender() == sender.key() && node.uid() == dispatch_uid;
        }) != 0;
    }

    /// Disconnects the slot connected, without a uid, as this function and sender; true if one
    /// was.
    template <class R, class... P>
    bool disconnect(R (*function)(P...), SenderId sender = SenderId::any()) {
        if (function == nullptr) {
            return false;
        }
        const auto identity = reinterpret_cast<detail::FunctionId>(function);
        return core_->disconnect_matching([&](const detail::SlotNode& node) {
            return node.sender() == sender.key() && node.uid().empty() &&
                   node.function() == identity;
        }) != 0;
    }

    /// Disconnects every slot. No emission that starts after this returns calls any of them.
    void disconnect_all() { core_->disconnect_all(); }

    /// Calls, in order, every slot connected for any sender.
    /// @throws the first exception a slot throws; the remaining slots then do not run.
    AUTHEVENTS_DETAIL_INLINE void send(Args... args) { emit(nullptr, args...); }

    /// Calls, in order, every slot connected for any sender or for `sender`.
    /// @throws the first exception a slot throws; the remaining slots then do not run.
    AUTHEVENTS_DETAIL_INLINE void send_from(SenderId sender, Args... args) {
        emit(sender.key(), args...);
    }

    /// Like send(), but every slot runs: each exception is caught and returned, in slot order.
    std::vector<SlotError> send_robust(Args... args) { return collect_failures(nullptr, args...); }

    /// Like send_from(), but every slot runs: each exception is caught and returned, in slot
    /// order.
    std::vector<SlotError> send_robust_from(SenderId sender, Args... args) {
        return collect_failures(sender.key(), args...);
    }

    /// Like send_robust_from(), but hands each failure to `on_error(SlotError&&)` as it happens
    /// (an exception from on_error propagates), and returns how many slots ran, failing ones
    /// included.
    template <class OnError>
    std::size_t send_robust_each(SenderId sender, OnError&& on_error, Args... args) {
        if (!detail::has_slots(*this)) {
            return 0; // no slot: one load, no call
        }
        return emit_robust(sender.key(), detail::failure_sink(on_error), args...);
    }

    /// True exactly when a send from `sender` would call at least one slot now.
    [[nodiscard]] bool has_listeners(SenderId sender = SenderId::any()) const {
        if (core_->blocked()) {
            return false;
        }
        bool found = false;
        core_->for_each_node([&](const detail::SlotNode& node) {
            found = found || ((node.sender() == nullptr || node.sender() == sender.key()) &&
                              node.callable_now());
        });
        return found;
    }

    /// The number of connected slots, any sender, blocked ones included, expired ones not.
    [[nodiscard]] std::size_t size() const {
        std::size_t count = 0;
        core_->for_each_node([&count](const detail::SlotNode& node) {
            if (node.alive()) {
                ++count;
            }
        });
        return count;
    }

    /// Sets who hears about failures of queued slots (connected with an executor), which no
    /// send can return: `handler(const SlotError&)` runs on the executor's thread after the slot
    /// threw, before the executor sees the exception. Empty (the default): only the executor
    /// sees it. A handler that throws is ignored. Thread-safe.
    void set_queued_error_handler(std::function<void(const SlotError&)> handler) {
        if (!handler) {
            core_->set_queued_failure_handler(nullptr);
            return;
        }
        core_->set_queued_failure_handler(
            [handler = std::move(handler)](const std::shared_ptr<detail::SlotNode>& node,
                                           std::exception_ptr error) {
                handler(SlotError{Connection(node), std::move(error)});
            });
    }

    /// Blocks the whole signal: sends call no slot until unblock().
    void block() noexcept { core_->block(true); }
    void unblock() noexcept { core_->block(false); }
    [[nodiscard]] bool blocked() const noexcept { return core_->blocked(); }

private:
    /// connect() with `options`, or the default options when null.
    template <class F> Connection connect_with(F&& slot, ConnectOptions* options) {
        using Fn = std::decay_t<F>;
        static_assert(std::is_invocable_v<Fn&, Args&...>,
                      "authevents::Signal::connect: this slot cannot be called with the signal's "
                      "arguments. Each slot is called with every argument as an lvalue (Args&...), "
                      "so a parameter must be a value, an lvalue reference or a const reference "
                      "of a matching type; an rvalue-reference parameter (T&&) does not fit.");
        static_assert(std::is_constructible_v<Fn, F>,
                      "authevents::Signal::connect: the slot must be copy- or move-constructible "
                      "from the argument passed to connect()");
        if constexpr (std::is_invocable_v<Fn&, Args&...> && std::is_constructible_v<Fn, F>) {
            reject_null(slot);
            detail::FunctionId function = nullptr;
            if constexpr (detail::is_function_pointer_v<Fn>) {
                function = reinterpret_cast<detail::FunctionId>(slot);
            }
            // Only what depends on the slot's type is done here (its call thunk, and its node
            // when it does not fit an entry); the rest is one out-of-line function per
            // signature, so that each connect costs the compiler little.
            if constexpr (detail::fits_inline<Fn, Args...>) {
                Entry entry = Thunks::inline_callable(static_cast<const Fn&>(slot));
                return connect_entry(entry, nullptr, function, options);
            } else {
                auto made = std::make_shared<detail::CallableNode<Fn>>(std::forward<F>(slot));
                Entry entry = Thunks::owned_callable(*made);
                std::shared_ptr<detail::SlotNode> node = std::move(made);
                return connect_entry(entry, &node, function, options);
            }
        } else {
            return Connection();
        }
    }

    /// connect() once the slot is type-erased (see detail::connect_erased()). Only the thunk
    /// of a queued call depends on the signature here. Inline: a call of its own would cost
    /// every connect more than its body does.
    AUTHEVENTS_DETAIL_INLINE Connection connect_entry(Entry& entry,
                                                      std::shared_ptr<detail::SlotNode>* callable,
                                                      detail::FunctionId function,
                                                      ConnectOptions* given) {
        if (given == nullptr && callable == nullptr) {
            return Connection(detail::connect_plain(core_, entry, function));
        }
        Entry::ErasedInvoker queued = nullptr;
        if constexpr (detail::queueable_arguments<Args...>) {
            queued = Thunks::template queued_invoker<detail::QueuedSlot>();
        }
        return Connection(detail::connect_erased(core_, entry, callable, function, given, queued));
    }

    AUTHEVENTS_DETAIL_INLINE void emit(const void* sender, Args&... args) {
        auto call = [&args...](const Entry& entry) { entry.template call<Args...>(args...); };
        core_->emit(sender, call);
    }

    /// The robust emission: one out-of-line loop per signature (not per failure handler: the
    /// handler is behind `sink`), so that its caller does not crowd the slot loop out of
    /// registers. Its slot loop is send()'s; what a failure needs is out of line
    /// (SignalCore::resume_robust(), report_failure()).
    AUTHEVENTS_DETAIL_NOINLINE AUTHEVENTS_DETAIL_LINE_ALIGNED std::size_t
    emit_robust(const void* sender, detail::FailureSink sink, Args&... args) {
        return emit_robust_inline(core_->peek(), sender, sink, args...);
    }

    /// emit_robust(), inlined into its caller: for a caller that is itself one out-of-line
    /// function per signature (see detail::InlineRobustSend), from `seen`, the published
    /// snapshot as the caller loaded it (Core::peek()). `sink(SlotError&&)` (a const call)
    /// receives the failures; the emission keeps a copy (Sink is small and trivially
    /// copyable), so that no object of the common path has its address taken and the
    /// compiler keeps in registers what it chooses.
    template <class Sink>
    AUTHEVENTS_DETAIL_INLINE std::size_t
    emit_robust_inline(const typename Core::EntrySnapshot* seen, const void* sender,
                       const Sink& sink, Args&... args) {
        static_assert(std::is_trivially_copyable_v<Sink>,
                      "authevents: a robust emission's failure sink is copied into its rare "
                      "paths, so it must be small and trivially copyable (hold pointers)");
        auto call = [&args...](const Entry& entry) { entry.template call<Args...>(args...); };
        auto failed = [sink](const Entry& entry) { report_failure(sink, entry); };
        return core_->emit_robust_seen(seen, sender, call, failed);
    }

    /// Hands the exception being handled, thrown by `entry`'s slot, to `sink` as a SlotError.
    /// Finds the signal through the slot's node, so that the loop keeps no register for it.
    /// @throws what the sink throws (e.g. std::bad_alloc).
    template <class Sink>
    AUTHEVENTS_DETAIL_NOINLINE static void report_failure(const Sink& sink, const Entry& entry) {
        // The emission runs inside a member of the signal: its core is alive.
        const std::shared_ptr<detail::SlotOwner> owner = entry.node->owner.lock();
        std::shared_ptr<detail::SlotNode> node =
            owner != nullptr ? static_cast<const Core&>(*owner).share(*entry.node) : nullptr;
        sink(SlotError{Connection(std::move(node)), std::current_exception()});
    }

    std::vector<SlotError> collect_failures(const void* sender, Args&... args) {
        std::vector<SlotError> failures;
        auto collect = [&failures](SlotError&& failure) { failures.push_back(std::move(failure)); };
        emit_robust(sender, detail::failure_sink(collect), args...);
        return failures;
    }

    template <class F> static void reject_null(const F& slot) {
        using Value = std::remove_cv_t<std::remove_reference_t<F>>;
        bool null = false;
        if constexpr (std::is_pointer_v<Value> || std::is_member_pointer_v<Value>) {
            null = slot == nullptr;
        } else if constexpr (detail::is_std_function<Value>::value) {
            null = !slot;
        }
        if (null) {
            throw std::invalid_argument("authevents::Signal::connect: the slot is a null "
                                        "function pointer or an empty std::function");
        }
    }

    template <class... A> friend bool detail::has_slots(const Signal<A...>& signal) noexcept;
    friend struct detail::InlineRobustSend<Args...>;

    std::shared_ptr<Core> core_;
};

namespace detail {
/// False when `signal` has no slot, so that a send would return at once (one load; a hint
/// that a concurrent connect may make stale). For callers that would build arguments first.
template <class... Args> bool has_slots(const Signal<Args...>& signal) noexcept {
    return signal.core_->published();
}

/// Signal<Args...>::send_robust_each() with the emission inlined into the caller, so that one
/// function holds the caller's own steps and the slot loop (EventDispatcher::dispatch()). Same
/// semantics and exceptions as send_robust_each(); `on_error(SlotError&&)`, a const call on a
/// small trivially copyable object, is called out of line (one report_failure() per OnError
/// type, not type-erased) on a copy that only the rare paths hold.
template <class... Args> struct InlineRobustSend {
    /// What peek() returns: the signal's published snapshot, or nullptr.
    using Seen = const typename Signal<Args...>::Core::EntrySnapshot*;

    /// The signal's published snapshot, nullptr when it has no slot (one load): a caller that
    /// decides on it hands it to run(), which then does not load it again.
    static Seen peek(const Signal<Args...>& signal) noexcept { return signal.core_->peek(); }

    /// Emits `args` to the slots of `seen` (peek() of `signal`, nullptr: none), each failure
    /// to `on_error`. Returns how many slots ran.
    template <class OnError>
    AUTHEVENTS_DETAIL_INLINE static std::size_t run(Signal<Args...>& signal, Seen seen,
                                                    SenderId sender, const OnError& on_error,
                                                    Args&... args) {
        return signal.emit_robust_inline(seen, sender.key(), on_error, args...);
    }
};
} // namespace detail

} // namespace authevents
