// The shared, mutable state of one connected slot: what Connection handles point at.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace authevents::detail {

/// Identity of a plain function, for dispatch_uid-less deduplication.
using FunctionId = void (*)();

class SlotNode;

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
    virtual void report_queued_failure(SlotNode& node, std::exception_ptr error) noexcept = 0;
};

/// The state bits of a slot. Any bit but `tracked` and `listed` means the slot must not be
/// called.
namespace slot_state {
inline constexpr std::uint32_t disconnected = 1U;
inline constexpr std::uint32_t expired = 2U;
inline constexpr std::uint32_t blocked = 4U;
inline constexpr std::uint32_t tracked = 8U; // constant: the slot has a track
/// Sticky: the slot may be in a snapshot that emissions call without reading states, so a
/// change that makes it uncallable must also bump its signal's attention epoch.
inline constexpr std::uint32_t listed = 16U;
inline constexpr std::uint32_t blocker_unit = 32U; // ConnectionBlocker count, in the bits above
inline constexpr std::uint32_t gone = disconnected | expired;
inline constexpr std::uint32_t skip = ~(tracked | listed);
inline constexpr std::uint32_t blocking = ~(gone | tracked | listed);
} // namespace slot_state

/// A signal's attention epoch: bumped whenever a slot that emissions may call unchecked
/// becomes uncallable (disconnect, block) or the signal is blocked. A snapshot records the
/// epoch at which a prefix of its slots was callable; while the epoch still has that value, an
/// emission calls those slots without reading their state. Cells are pooled and never freed, so
/// a slot (or Connection) that outlives its signal may still bump its old cell: at worst a
/// signal that reuses it takes the checked path until its next write.
struct alignas(64) AttentionCell {
    std::atomic<std::uint64_t> epoch{0};
    AttentionCell* next_free = nullptr; // guarded by the pool's mutex

    /// Takes a cell from the pool (or allocates one). Thread-safe; may throw std::bad_alloc.
    static AttentionCell* take() {
        Pool& pool = the_pool();
        {
            std::lock_guard<std::mutex> lock(pool.mutex);
            if (pool.free != nullptr) {
                return std::exchange(pool.free, pool.free->next_free);
            }
        }
        return new AttentionCell();
    }
    /// Returns a cell to the pool. Thread-safe.
    static void give_back(AttentionCell* cell) noexcept {
        Pool& pool = the_pool();
        std::lock_guard<std::mutex> lock(pool.mutex);
        cell->next_free = std::exchange(pool.free, cell);
    }

private:
    struct Pool {
        std::mutex mutex;
        AttentionCell* free = nullptr;
    };
    static Pool& the_pool() {
        static Pool* const pool = new Pool(); // never destroyed: cells outlive static destructors
        return *pool;
    }
};

/// One connected slot. Shared by the signal (while connected) and every Connection handle;
/// a small callable lives inline in the snapshot entries, a larger one in a CallableNode.
class SlotNode : public std::enable_shared_from_this<SlotNode> {
public:
    SlotNode(std::string dispatch_uid, FunctionId function_id, const void* sender_key,
             int slot_priority, std::weak_ptr<const void> tracked_object, bool is_tracked) noexcept
        : uid_(std::move(dispatch_uid)), function_(function_id), sender_(sender_key),
          priority_(slot_priority), track_(std::move(tracked_object)) {
        if (is_tracked) {
            state.store(slot_state::tracked, std::memory_order_relaxed);
        }
    }
    SlotNode(const SlotNode&) = delete;
    SlotNode& operator=(const SlotNode&) = delete;
    virtual ~SlotNode() = default;

    /// Destroys the callable, if this node owns it. Called once no emission can reach it.
    virtual void release_callable() noexcept {}
    /// True when the node owns a callable whose destruction may matter (captures, queues):
    /// disconnecting it then drops it from the signal at once rather than lazily.
    [[nodiscard]] virtual bool owns_callable() const noexcept { return false; }

    std::atomic<std::uint32_t> state{0};
    /// The attention epoch of the signal the slot was connected to; set before it is published.
    std::atomic<std::uint64_t>* attention = nullptr;
    /// Queued calls of this slot running now (queued slots only).
    std::atomic<std::uint32_t> running_calls{0};
    std::weak_ptr<SlotOwner> owner;

    [[nodiscard]] const std::string& uid() const noexcept { return uid_; }
    [[nodiscard]] FunctionId function() const noexcept { return function_; }
    [[nodiscard]] const void* sender() const noexcept { return sender_; }
    [[nodiscard]] int priority() const noexcept { return priority_; }
    [[nodiscard]] bool tracked() const noexcept {
        return (state.load(std::memory_order_relaxed) & slot_state::tracked) != 0;
    }
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

    /// Sets `bits` in the state (seq_cst) and returns the old state; if the slot may be called
    /// unchecked, then bumps its signal's attention epoch so that emissions read the new state.
    std::uint32_t disturb(std::uint32_t bits) noexcept {
        return bump_if_listed(state.fetch_or(bits, std::memory_order_seq_cst));
    }

    /// Like disturb(), but adds one ConnectionBlocker to the state.
    void add_blocker() noexcept {
        bump_if_listed(state.fetch_add(slot_state::blocker_unit, std::memory_order_seq_cst));
    }

    /// Same dedup key: (uid, sender) when a uid is given, else (function identity, sender).
    [[nodiscard]] bool same_key(const SlotNode& other) const noexcept {
        if (sender_ != other.sender_) {
            return false;
        }
        if (!uid_.empty() || !other.uid_.empty()) {
            return uid_ == other.uid_;
        }
        return function_ != nullptr && function_ == other.function_;
    }

private:
    // The one RMW on the state word orders the change against the writer that sets `listed`:
    // either the writer saw the change (and did not call its snapshot clean) or this bump
    // follows the listing, so emissions comparing epochs see it.
    std::uint32_t bump_if_listed(std::uint32_t previous) noexcept {
        if ((previous & slot_state::listed) != 0) {
            attention->fetch_add(1, std::memory_order_seq_cst);
        }
        return previous;
    }

    bool track_alive(std::uint32_t bits) const noexcept {
        return (bits & slot_state::tracked) == 0 || !track_.expired();
    }

    std::string uid_;
    FunctionId function_;
    const void* sender_;
    int priority_;
    std::weak_ptr<const void> track_;
};

/// A node that owns a callable too large, or not trivially copyable, for the inline buffer.
template <class F> class CallableNode final : public SlotNode {
public:
    template <class G>
    CallableNode(G&& callable, std::string dispatch_uid, const void* sender_key, int slot_priority,
                 std::weak_ptr<const void> tracked_object, bool is_tracked)
        : SlotNode(std::move(dispatch_uid), nullptr, sender_key, slot_priority,
                   std::move(tracked_object), is_tracked),
          callable_(std::in_place, std::forward<G>(callable)) {}

    void release_callable() noexcept override { callable_.reset(); }
    [[nodiscard]] bool owns_callable() const noexcept override { return true; }

    [[nodiscard]] F* callable() noexcept { return &*callable_; }

private:
    std::optional<F> callable_;
};

} // namespace authevents::detail
