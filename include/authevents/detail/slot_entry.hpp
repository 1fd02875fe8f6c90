// Slot entries (small delegates) and the immutable snapshots that hold them contiguously.
#pragma once

#include <authevents/detail/function.hpp>
#include <authevents/detail/slot_node.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace authevents::detail {

/// Room for a callable stored inline in an entry: two pointers, e.g. a lambda capturing two
/// references, or a function pointer.
inline constexpr std::size_t inline_callable_size = 16;

/// True when F can live, bitwise copied, inside every snapshot entry: small, trivially copyable
/// (so also trivially destructible) and callable through a const reference (so concurrent
/// calls cannot race on its state).
template <class F, class... Args>
inline constexpr bool
    fits_inline = sizeof(F) <= inline_callable_size && alignof(F) <= alignof(void*) &&
                  std::is_trivially_copyable_v<F>&& std::is_trivially_destructible_v<
                      F>&& std::is_invocable_v<const F&, Args&...>;

/// One slot as an emission sees it: a thunk, the callable (inline or a pointer to it), the node
/// holding its mutable state, and its sender filter. Trivially copyable, so snapshots copy
/// entries with memcpy and never run user code. Not a template: the thunk's type is erased
/// (SlotThunks<Args...> makes it, call<Args...>() restores it), so that everything that stores
/// and copies entries, the whole writers' side of a signal, is compiled once, not once per
/// signature.
struct SlotEntry {
    /// The thunk, as a `void (*)(const SlotEntry&, Args&...)` of the signal's Args.
    using ErasedInvoker = void (*)();

    union Storage {
        void* object;
        alignas(void*) std::array<unsigned char, inline_callable_size> bytes;
    };

    ErasedInvoker invoke = nullptr;
    Storage storage{};
    SlotNode* node = nullptr;
    const void* sender = nullptr; // nullptr: any sender

    /// Calls the slot; Args must be the Args of the SlotThunks that made the entry.
    template <class... Args> void call(Args&... args) const {
        // Converting a function pointer back to its own type is well defined.
        reinterpret_cast<void (*)(const SlotEntry&, Args&...)>(invoke)(*this, args...);
    }
};

/// The typed half of a SlotEntry: the thunks of a signal with parameters Args.
template <class... Args> struct SlotThunks {
    using Invoker = void (*)(const SlotEntry&, Args&...);

    /// An entry whose callable is stored inline (requires fits_inline<F, Args...>); its node
    /// and sender are the caller's to set.
    template <class F> static SlotEntry inline_callable(const F& callable) {
        SlotEntry entry;
        ::new (static_cast<void*>(entry.storage.bytes.data())) F(callable);
        entry.invoke = erase(&call_inline<F>);
        return entry;
    }

    /// An entry that calls the callable owned by `node`; its node and sender are the caller's
    /// to set.
    template <class F> static SlotEntry owned_callable(CallableNode<F>& node) {
        SlotEntry entry;
        entry.storage.object = node.callable();
        entry.invoke = erase(&call_owned<F>);
        return entry;
    }

    /// The thunk of an entry that queues each call on the executor of its node's `Queue`
    /// (the entry's storage holds the queue, its node the queued node).
    template <class Queue> static SlotEntry::ErasedInvoker queued_invoker() noexcept {
        return erase(&call_queued<Queue>);
    }

private:
    static SlotEntry::ErasedInvoker erase(Invoker invoker) noexcept {
        return reinterpret_cast<SlotEntry::ErasedInvoker>(invoker);
    }

    template <class F> static void call_inline(const SlotEntry& entry, Args&... args) {
        const F& callable = *std::launder(reinterpret_cast<const F*>(entry.storage.bytes.data()));
        call_slot(callable, args...);
    }

    template <class Queue> static void call_queued(const SlotEntry& entry, Args&... args) {
        static_cast<Queue*>(entry.storage.object)->template enqueue<Args...>(args...);
    }

    template <class F> static void call_owned(const SlotEntry& entry, Args&... args) {
        F& callable = *static_cast<F*>(entry.storage.object);
        call_slot(callable, args...);
    }
};

/// A contiguous array of entries that emissions read without locking. Once published it only
/// grows at the end (a writer appends an entry, then publishes the new size), so an emission,
/// which reads the size once, sees a fixed list; any other change is made in a new snapshot
/// (copy-on-write). One allocation holds the header and room for `capacity()` entries, so a
/// reclaimed snapshot can be refilled.
///
/// The header keeps apart, on cache lines of their own, what an emission re-reads before every
/// call (the clean prefix's end) and what every append writes (the end, the newest node, the
/// dead run). On one line, each append made on another CPU while a send ran took away the line
/// that send re-reads before every call (see docs/performance.md, round 17).
template <class Entry> class Snapshot {
    static_assert(std::is_trivially_copyable_v<Entry>);

public:
    /// Allocates an empty snapshot with room for `capacity` entries, belonging to `owner` (the
    /// signal state that publishes it, see owner()).
    static Snapshot* create(std::size_t capacity, void* owner) {
        void* memory = ::operator new(sizeof(Snapshot) + capacity * sizeof(Entry));
        return ::new (memory) Snapshot(capacity, owner);
    }

    /// The signal state that made the snapshot and publishes it: an emission's rare paths find
    /// it here rather than keep a register for it through the slot loop. Immutable.
    [[nodiscard]] void* owner() const noexcept { return owner_; }

    static void destroy(const Snapshot* snapshot) noexcept {
        if (snapshot != nullptr) {
            ::operator delete(const_cast<Snapshot*>(snapshot));
        }
    }

    /// Appends an entry; size() < capacity() is required. One writer at a time; emissions
    /// reading concurrently see either the old size or the new entry complete.
    void push_back(const Entry& entry) noexcept {
        Entry* const slot = entries() + size();
        ::new (static_cast<void*>(slot)) Entry(entry);
        newest_node_.store(entry.node, std::memory_order_relaxed);
        end_.store(slot + 1, std::memory_order_release);
    }

    /// The node of the entry appended last (null before the first): a hint, read without
    /// ordering, on the line every append writes. An emission past the clean prefix starts
    /// fetching that node's state with it, rather than after the entry that points to it: on
    /// a signal connected and disconnected nonstop both lines have just been written on
    /// another CPU, and fetched one after the other they cost a send two transfers in a row.
    /// Always the node of one of this snapshot's entries, so alive while the snapshot is pinned.
    [[nodiscard]] const SlotNode* newest_node() const noexcept {
        return newest_node_.load(std::memory_order_relaxed);
    }

    /// Empties an unpublished snapshot for refilling.
    void clear() noexcept {
        end_.store(entries(), std::memory_order_relaxed);
        newest_node_.store(nullptr, std::memory_order_relaxed);
        clean_end_.store(entries(), std::memory_order_relaxed);
        dead_run_.store(0, std::memory_order_relaxed);
        appended_.store(false, std::memory_order_relaxed);
    }

    /// A run of entries whose slots are gone for good: indices [first, second).
    using Run = std::pair<std::size_t, std::size_t>;

    /// The dead run: entries, all of them disconnected or expired slots, that an emission
    /// skips in one step without reading them or their slots' states (see
    /// SignalCore::emit_checked()). Empty ({0, 0}) when none. A hint: read without ordering, as
    /// every slot in it is gone for good and would be skipped anyway; one that is not (yet) in
    /// the run is skipped on its state. It may reach past the end an emission read.
    [[nodiscard]] Run dead_run() const noexcept {
        const std::uint64_t run = dead_run_.load(std::memory_order_relaxed);
        return {static_cast<std::size_t>(run & 0xffffffffU), static_cast<std::size_t>(run >> 32U)};
    }

    /// Sets the dead run to entries [first, last) (first <= last <= size(), all of them gone
    /// slots: a slot's entry never comes back to life within a snapshot). Writers only.
    void set_dead_run(std::size_t first, std::size_t last) noexcept {
        if (static_cast<std::uint64_t>(last) > 0xffffffffU) {
            return; // (four billion slots: no run, emissions read the states)
        }
        dead_run_.store(static_cast<std::uint64_t>(first) |
                            (static_cast<std::uint64_t>(last) << 32U),
                        std::memory_order_relaxed);
    }

    /// Notes that a writer appended to the snapshot after publishing it (see appended()).
    void mark_appended() noexcept { appended_.store(true, std::memory_order_relaxed); }

    /// True once a connect has appended to the published snapshot: its signal is being
    /// connected to, so a writer copies it (dropping its tombstones) when it fills up, and
    /// emissions leave that to the writer. A hint: read without ordering.
    [[nodiscard]] bool appended() const noexcept {
        return appended_.load(std::memory_order_relaxed);
    }

    /// The clean prefix: emissions call the entries below clean_count() without reading their
    /// slot's state (see SignalCore::run_slots()). Writers (one at a time) set it, lower it the
    /// moment one of those slots becomes uncallable, and raise it only over entries whose slot
    /// they have just found callable and listed. It may exceed size() for a moment after an
    /// append, never capacity(). seq_cst: pairs with disconnect_and_wait() (see
    /// SignalCore::unlist_locked()).
    [[nodiscard]] std::size_t clean_count() const noexcept {
        return static_cast<std::size_t>(clean_end() - entries());
    }
    void set_clean_count(std::size_t count) noexcept {
        clean_end_.store(entries() + count, std::memory_order_seq_cst);
    }

    /// The end of the clean prefix as an entry address: what an emission compares its cursor
    /// with before each call (one load and a compare, no index to keep).
    [[nodiscard]] const Entry* clean_end() const noexcept {
        return clean_end_.load(std::memory_order_seq_cst);
    }

    [[nodiscard]] std::size_t size() const noexcept {
        return static_cast<std::size_t>(end() - entries());
    }
    /// The entry after the last: an emission reads it once (so connects appending from then
    /// on add nothing to it), and then needs no index.
    [[nodiscard]] const Entry* end() const noexcept { return end_.load(std::memory_order_acquire); }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    [[nodiscard]] const Entry& operator[](std::size_t index) const noexcept {
        return entries()[index];
    }
    [[nodiscard]] const Entry* begin() const noexcept { return entries(); }

    /// Index of the entry for `node`, or size() when absent.
    [[nodiscard]] std::size_t find(const SlotNode* node) const noexcept {
        return find(node, size());
    }

    /// Index of the entry for `node` among the first `limit` (at most size()), or `limit` when
    /// absent. Looks at `node->position_hint` first (where a writer put the entry: O(1) in the
    /// snapshot it was put in), then scans.
    [[nodiscard]] std::size_t find(const SlotNode* node, std::size_t limit) const noexcept {
        const std::size_t hint = node->position_hint;
        if (hint < limit && entries()[hint].node == node) {
            return hint;
        }
        std::size_t index = 0;
        while (index < limit && entries()[index].node != node) {
            ++index;
        }
        return index;
    }

private:
    Snapshot(std::size_t capacity, void* owner) noexcept : capacity_(capacity), owner_(owner) {
        // The read group with its padding (64 bytes), the write group (24), its padding (64).
        static_assert(sizeof(Snapshot) == 64 + 24 + 64, "the header's groups moved: recheck");
        end_.store(entries(), std::memory_order_relaxed);
        clean_end_.store(entries(), std::memory_order_relaxed);
    }

    Entry* entries() noexcept { return reinterpret_cast<Entry*>(this + 1); }
    const Entry* entries() const noexcept { return reinterpret_cast<const Entry*>(this + 1); }

    // Two groups of fields, padded so that, whatever the allocation's alignment, the clean
    // prefix's end is a cache line (64 bytes) before the write group and the write group a
    // line before the entries: never on one line with them (an aligned allocation cost a
    // connect+disconnect 20 instructions more on a small signal). `appended_`, written once
    // per snapshot, may share the write group's line.
    //
    // The first group: read by every emission, written only when the clean prefix changes.
    // entries() + clean_count(). First, so that its address is the snapshot's: the slot loop,
    // which re-reads it before each call, then needs no register of its own for it.
    alignas(Entry) std::atomic<const Entry*> clean_end_{nullptr};
    std::size_t capacity_;
    void* owner_;
    std::atomic<bool> appended_{false}; // written once per snapshot
    std::array<char, 64 - 3 * sizeof(void*) - sizeof(std::atomic<bool>)> after_read_group_{};
    // The second group: written by every append.
    std::atomic<const Entry*> end_{nullptr}; // entries() + size()
    std::atomic<const SlotNode*> newest_node_{nullptr};
    // dead_run(), packed: first | last << 32 (one load reads both; on the line of end_, which
    // every emission reads anyway).
    std::atomic<std::uint64_t> dead_run_{0};
    std::array<char, 64> after_write_group_{};
};

} // namespace authevents::detail
