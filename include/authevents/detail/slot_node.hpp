// The shared, mutable state of one connected slot: what Connection handles point at.
#pragma once

#include <authevents/detail/hints.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace authevents::detail {

/// Identity of a plain function, for dispatch_uid-less deduplication.
using FunctionId = void (*)();

class SlotNode;

/// A change of a slot's state word that may make the slot uncallable: `set` bits are or-ed in,
/// then `add` is added (a ConnectionBlocker count).
struct StateChange {
    std::uint32_t set = 0;
    std::uint32_t add = 0;
    [[nodiscard]] std::uint32_t applied_to(std::uint32_t state) const noexcept {
        return (state | set) + add;
    }
};

/// What a slot's node needs from the signal that owns it. Implemented by SignalCore.
class SlotOwner {
public:
    SlotOwner() = default;
    SlotOwner(const SlotOwner&) = delete;
    SlotOwner& operator=(const SlotOwner&) = delete;
    virtual ~SlotOwner() = default;

    /// Drops every disconnected or expired slot from the published snapshot. Never throws: if
    /// memory runs out the slots stay in place (already inactive) until the next write.
    virtual void remove_inactive() noexcept = 0;
    /// Returns once no emission on a thread other than the calling one runs `node`.
    virtual void wait_until_idle(const SlotNode& node) = 0;
    /// Reports that a queued call of `node` threw `error` (its send has long returned).
    virtual void report_queued_failure(const std::shared_ptr<SlotNode>& node,
                                       std::exception_ptr error) noexcept = 0;
    /// Changes the state of `node`, which is listed, as SlotNode::disturb() describes, after
    /// taking it out of the clean prefix of every snapshot that may hold it, both under the
    /// writers' lock: once the new state is visible, no emission calls the slot unchecked.
    /// A slot this makes gone also joins its snapshot's dead run (see Snapshot::dead_run()).
    /// Returns the old state.
    virtual std::uint32_t disturb_listed(SlotNode& node, StateChange change) noexcept = 0;
    /// Lengthens the current snapshot's clean prefix again after a slot or the signal was
    /// unblocked. Never throws; at worst emissions keep reading states until the next write.
    virtual void relist() noexcept = 0;
};

/// The state bits of a slot. Any bit but `tracked` and `listed` means the slot must not be
/// called.
namespace slot_state {
inline constexpr std::uint32_t disconnected = 1U;
inline constexpr std::uint32_t expired = 2U;
inline constexpr std::uint32_t blocked = 4U;
inline constexpr std::uint32_t tracked = 8U; // constant: the slot has a track
/// Sticky: the slot may be in the clean prefix of a snapshot (entries that emissions call
/// without reading their state), so a change that makes it uncallable must also unlist it.
inline constexpr std::uint32_t listed = 16U;
inline constexpr std::uint32_t blocker_unit = 32U; // ConnectionBlocker count, in the bits above
inline constexpr std::uint32_t gone = disconnected | expired;
inline constexpr std::uint32_t skip = ~(tracked | listed);
inline constexpr std::uint32_t blocking = ~(gone | tracked | listed);
} // namespace slot_state

/// One connected slot. Shared by the signal (while connected) and every Connection handle;
/// a small callable lives inline in the snapshot entries, a larger one in a CallableNode.
/// Nothing holds a weak_ptr to it (no enable_shared_from_this): the last owner then frees it
/// without a locked instruction, and making one takes none either (see SignalCore::share()).
class SlotNode {
public:
    SlotNode(std::string dispatch_uid, FunctionId function_id, const void* sender_key,
             int slot_priority, std::weak_ptr<const void> tracked_object, bool is_tracked,
             bool owns_a_callable = false) noexcept
        : uid_(std::move(dispatch_uid)), function_(function_id), sender_(sender_key),
          priority_(slot_priority), owns_callable_(owns_a_callable),
          track_(std::move(tracked_object)) {
        if (is_tracked) {
            state.store(slot_state::tracked, std::memory_order_relaxed);
        }
    }
    SlotNode(const SlotNode&) = delete;
    SlotNode& operator=(const SlotNode&) = delete;
    virtual ~SlotNode() = default;

    /// Gives a node made without a key (a CallableNode), or a reclaimed one that its signal
    /// reuses, its key and options, and a fresh state. Only while no one else can reach it.
    /// Moves from `dispatch_uid` only when either uid is non-empty (a reused node usually had
    /// none, and gets none).
    AUTHEVENTS_DETAIL_INLINE void set_key(std::string&& dispatch_uid, FunctionId function_id,
                                          const void* sender_key, int slot_priority,
                                          std::weak_ptr<const void> tracked_object,
                                          bool is_tracked) noexcept {
        if (!dispatch_uid.empty() || !uid_.empty()) {
            uid_ = std::move(dispatch_uid);
        }
        function_ = function_id;
        sender_ = sender_key;
        priority_ = slot_priority;
        track_ = std::move(tracked_object);
        state.store(is_tracked ? slot_state::tracked : 0U, std::memory_order_relaxed);
        running_calls.store(0, std::memory_order_relaxed);
    }

    /// Destroys the callable, if this node owns it. Called once no emission can reach it.
    virtual void release_callable() noexcept {}
    /// True when the node owns a callable whose destruction may matter (captures, queues):
    /// disconnecting it then drops it from the signal at once rather than lazily.
    [[nodiscard]] bool owns_callable() const noexcept { return owns_callable_; }

    std::atomic<std::uint32_t> state{0};
    /// Queued calls of this slot running now (queued slots only).
    std::atomic<std::uint32_t> running_calls{0};
    std::weak_ptr<SlotOwner> owner;
    /// Where the slot's entry was last put in its signal's current snapshot: a hint that
    /// lets a writer find it without a scan (checked before use). Writers only, under their
    /// lock.
    std::size_t position_hint = 0;

    [[nodiscard]] const std::string& uid() const noexcept { return uid_; }
    [[nodiscard]] FunctionId function() const noexcept { return function_; }
    [[nodiscard]] const void* sender() const noexcept { return sender_; }
    [[nodiscard]] int priority() const noexcept { return priority_; }
    [[nodiscard]] const std::weak_ptr<const void>& track() const noexcept { return track_; }

    /// True while the slot may still be called: not disconnected, not expired.
    [[nodiscard]] bool alive() const noexcept {
        const std::uint32_t bits = state.load(std::memory_order_acquire);
        return (bits & slot_state::gone) == 0 && track_alive(bits);
    }

    /// True when an emission reaching the slot now would call it.
    [[nodiscard]] bool callable_now() const noexcept {
        const std::uint32_t bits = state.load(std::memory_order_acquire);
        return (bits & slot_state::skip) == 0 && track_alive(bits);
    }

    /// Applies `change` to the state (seq_cst) and returns the old state. A slot that may be
    /// called unchecked (`listed`) is changed by its signal, under the writers' lock (see
    /// SlotOwner::disturb_listed()); any other with one compare-exchange, which fails if a
    /// writer lists the slot meanwhile: a writer lists only slots it finds callable. Never call
    /// it while holding the signal's writer lock: writers use apply() and unlist themselves.
    std::uint32_t disturb(StateChange change) noexcept { return disturb(change, nullptr); }

    /// disturb() for a caller that already holds the node's signal (`signal`, the object
    /// `owner` names): no second reference is taken (two locked instructions). Null: the
    /// caller holds none, and one is taken if needed.
    AUTHEVENTS_DETAIL_INLINE std::uint32_t disturb(StateChange change, SlotOwner* signal) noexcept {
        std::uint32_t previous = state.load(std::memory_order_seq_cst);
        while ((previous & slot_state::listed) == 0) {
            if (state.compare_exchange_weak(previous, change.applied_to(previous),
                                            std::memory_order_seq_cst)) {
                return previous;
            }
        }
        return disturb_listed_slot(change, signal);
    }

    /// disturb() of a listed slot: through its signal, under the writers' lock. Out of line,
    /// so that the common disturb() (one compare-exchange) saves no registers for it.
    AUTHEVENTS_DETAIL_NOINLINE std::uint32_t disturb_listed_slot(StateChange change,
                                                                 SlotOwner* signal) noexcept {
        if (signal != nullptr) {
            return signal->disturb_listed(*this, change);
        }
        if (const auto held = owner.lock()) {
            return held->disturb_listed(*this, change);
        }
        return apply(change); // the signal is gone: no emission can call the slot
    }

    /// Applies `change` to the state (seq_cst) and returns the old state, nothing else.
    std::uint32_t apply(StateChange change) noexcept {
        std::uint32_t previous = state.load(std::memory_order_relaxed);
        while (!state.compare_exchange_weak(previous, change.applied_to(previous),
                                            std::memory_order_seq_cst)) {
        }
        return previous;
    }

    /// Clears the `blocked` bit; if that makes the slot callable again, lets its signal call it
    /// unchecked again (see SlotOwner::relist()).
    void unblock() noexcept {
        relist_if_callable(state.fetch_and(~slot_state::blocked, std::memory_order_seq_cst));
    }

    /// Like unblock(), but removes one ConnectionBlocker from the state.
    void remove_blocker() noexcept {
        relist_if_callable(state.fetch_sub(slot_state::blocker_unit, std::memory_order_seq_cst));
    }

    /// Same dedup key: (uid, sender) when a uid is given, else (function identity, sender).
    [[nodiscard]] bool same_key(const SlotNode& other) const noexcept {
        return has_key(other.uid_, other.function_, other.sender_);
    }

    /// True when a slot connected with this uid, function identity and sender has this node's
    /// dedup key (see same_key()).
    [[nodiscard]] bool has_key(const std::string& dispatch_uid, FunctionId function_id,
                               const void* sender_key) const noexcept {
        if (sender_ != sender_key) {
            return false;
        }
        if (!uid_.empty() || !dispatch_uid.empty()) {
            return uid_ == dispatch_uid;
        }
        return function_ != nullptr && function_ == function_id;
    }

private:
    void relist_if_callable(std::uint32_t previous) noexcept {
        if ((previous & slot_state::listed) != 0 && callable_now()) {
            if (const auto signal = owner.lock()) {
                signal->relist();
            }
        }
    }

    bool track_alive(std::uint32_t bits) const noexcept {
        return (bits & slot_state::tracked) == 0 || !track_.expired();
    }

    std::string uid_;
    FunctionId function_;
    const void* sender_;
    int priority_;
    bool owns_callable_; // a plain member, not a virtual call: writers ask it per dropped slot
    std::weak_ptr<const void> track_;
};

/// A node that owns a callable too large, or not trivially copyable, for the inline buffer.
/// Made without a key (see SlotNode::set_key()), so that only this constructor depends on F.
template <class F> class CallableNode final : public SlotNode {
public:
    template <class G>
    explicit CallableNode(G&& callable)
        : SlotNode(std::string(), nullptr, nullptr, 0, std::weak_ptr<const void>(), false, true),
          callable_(std::in_place, std::forward<G>(callable)) {}

    void release_callable() noexcept override { callable_.reset(); }

    [[nodiscard]] F* callable() noexcept { return &*callable_; }

private:
    std::optional<F> callable_;
};

} // namespace authevents::detail
