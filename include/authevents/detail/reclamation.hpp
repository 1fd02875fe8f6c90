// What a signal's writers drop: replaced snapshots and dropped slots, freed once no emission
// can reach them.
#pragma once

#include <authevents/detail/asymmetric_fence.hpp>
#include <authevents/detail/emission_frames.hpp>
#include <authevents/detail/slot_entry.hpp>
#include <authevents/detail/slot_node.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

namespace authevents::detail {

/// Makes room for `size` elements in `list`, growing it geometrically: an exact reserve() on
/// every write would copy the whole list each time (the dropped nodes of a churning signal
/// pile up to thousands between two barriers).
/// @throws std::bad_alloc only, changing nothing.
template <class List> void reserve_geometric(List& list, std::size_t size) {
    if (size > list.capacity()) {
        list.reserve(std::max(size, 2 * list.capacity()));
    }
}

/// The reclamation of one signal. Its writers hand over the snapshots they replace (retire())
/// and the nodes of the slots they drop from a copy (doom()), each with the generation of the
/// copy. A retired snapshot is freed, or kept as the spare, once a process-wide barrier has run
/// since it was replaced and no emission pins it; a doomed node is reclaimed once every
/// snapshot that may hold it is freed. Reclaimed nodes that own a callable go back to the
/// caller, to release after the unlock (release()); the others wait for a connect to reuse
/// them (take_unfreed()).
///
/// Not thread-safe: every member is called by a writer that holds its signal's writers' lock.
/// Nothing here runs user code. A template only so that a unit that includes it and does not
/// connect compiles none of it (see BasicSignalCore).
template <class Entry> class Reclamation {
public:
    using EntrySnapshot = Snapshot<Entry>;
    using Nodes = std::vector<std::shared_ptr<SlotNode>>;

    /// Retired snapshots that wait for one process-wide barrier together (see reclaim()), and
    /// the room for entries that they may hold between them before the barrier runs anyway:
    /// large snapshots (a churning signal's) and the slots dropped with them wait in smaller
    /// batches.
    static constexpr std::size_t batch = 32;
    static constexpr std::size_t batch_entries = 1024;

    /// A node dropped from the published list: doomed while a snapshot an emission may read
    /// can hold it, then reclaimed (the generation and `owning` of a reclaimed one no longer
    /// matter: kept as Doomed so that reclaim() can hand over the whole list).
    struct Doomed {
        std::shared_ptr<SlotNode> node;
        std::uint64_t generation = 0; // last generation of snapshots that may still contain it
        bool owning = false;          // node->owns_callable()
    };

    Reclamation() = default;
    Reclamation(const Reclamation&) = delete;
    Reclamation& operator=(const Reclamation&) = delete;

    /// For a signal that is going away: no emission can run any more.
    ~Reclamation() {
        EntrySnapshot::destroy(spare_);
        for (const Retired& retired : retired_) {
            EntrySnapshot::destroy(retired.snapshot);
        }
        for (const Doomed& doomed : doomed_) {
            doomed.node->release_callable();
        }
    }

    /// The generation of the next copy of the published list.
    std::uint64_t next_generation() noexcept { return ++generation_; }

    /// Room for one more retired snapshot and `nodes` more doomed nodes, so that a copy's
    /// retire() and doom() cannot fail once it is published.
    /// @throws std::bad_alloc only, changing nothing.
    void reserve(std::size_t nodes) {
        reserve_geometric(doomed_, doomed_.size() + nodes);
        reserve_geometric(retired_, retired_.size() + 1);
    }

    /// Hands over a node dropped by the copy of generation `generation` (room reserved).
    /// Inline: called once per dropped entry in the copy's loop (clang++ called it).
    AUTHEVENTS_DETAIL_INLINE void doom(std::shared_ptr<SlotNode>&& node,
                                       std::uint64_t generation) noexcept {
        const bool owning = node->owns_callable();
        doomed_owning_ += owning ? std::size_t{1} : 0U;
        doomed_.push_back(Doomed{std::move(node), generation, owning});
    }

    /// Hands over the snapshot that the copy of generation `generation` replaced (room
    /// reserved).
    void retire(EntrySnapshot* snapshot, std::uint64_t generation) noexcept {
        retired_.push_back(Retired{snapshot, generation});
    }

    /// An empty snapshot with room for `capacity` entries, belonging to `owner`: the spare one
    /// if big enough.
    /// @throws std::bad_alloc only.
    EntrySnapshot* take_snapshot(std::size_t capacity, void* owner) {
        if (spare_ != nullptr && spare_->capacity() >= capacity) {
            EntrySnapshot* snapshot = std::exchange(spare_, nullptr);
            snapshot->clear();
            return snapshot;
        }
        return EntrySnapshot::create(capacity, owner);
    }

    /// Keeps an unused snapshot for reuse (the larger of it and the spare), frees the other.
    void give_back(EntrySnapshot* snapshot) noexcept {
        if (spare_ == nullptr || spare_->capacity() < snapshot->capacity()) {
            EntrySnapshot::destroy(std::exchange(spare_, snapshot));
        } else {
            EntrySnapshot::destroy(snapshot);
        }
    }

    /// Takes one reclaimed node that owns nothing, if any: one per connect, so that a signal
    /// connected and disconnected nonstop reuses them or frees them while the allocator's
    /// per-thread cache can hand their memory to the next connect. The caller frees it after
    /// the unlock unless it reuses it (see put_back()).
    std::shared_ptr<SlotNode> take_unfreed() noexcept {
        if (unfreed_.empty()) {
            return nullptr;
        }
        std::shared_ptr<SlotNode> node = std::move(unfreed_.back().node);
        unfreed_.pop_back();
        return node;
    }

    /// Returns the node the last take_unfreed() took, unused: where it was, no reallocation.
    void put_back(std::shared_ptr<SlotNode>&& node) noexcept {
        unfreed_.push_back(Doomed{std::move(node)});
    }

    /// Takes every reclaimed node that owns nothing, for the caller to free after the unlock.
    std::vector<Doomed> take_all_unfreed() noexcept { return std::exchange(unfreed_, {}); }

    /// Runs the process-wide barrier (asymmetric_fence::heavy()) for every retired snapshot:
    /// an emission that pins one of them from now on has a pin that any later scan sees, since
    /// its re-check of the published snapshot comes after the barrier and sees the replacement.
    void fence() noexcept {
        asymmetric_fence::heavy();
        for (Retired& retired : retired_) {
            retired.fenced = true;
        }
    }

    /// While paused (a disconnect_and_wait() watches snapshots by address), reclaim() frees
    /// nothing, so no watched address is reused. Pauses nest.
    void pause() noexcept { ++pauses_; }
    void resume() noexcept { --pauses_; }

    /// Frees retired snapshots no emission pins, and reclaims the doomed nodes no snapshot can
    /// hold any more; returns those that own a callable (to release outside the lock). A
    /// snapshot is judged only once a process-wide barrier has run since it was replaced
    /// (before that, a pin may sit unseen in a sender's store buffer). The barrier costs
    /// microseconds, so it runs for a batch: once `batch` snapshots wait, or snapshots with
    /// room for `batch_entries` entries, or at once when a doomed node owns a callable
    /// (captures are released promptly); until then the snapshots just wait.
    /// @throws std::bad_alloc if memory runs out; the nodes then wait for the next call.
    Nodes reclaim() {
        Nodes released;
        if (pauses_ != 0 || retired_.empty()) {
            return released;
        }
        std::size_t unfenced = 0;
        std::size_t unfenced_room = 0;
        for (const Retired& retired : retired_) {
            if (!retired.fenced) {
                ++unfenced;
                unfenced_room += retired.snapshot->capacity();
            }
        }
        if (unfenced != 0) {
            if (doomed_owning_ != 0 || unfenced >= batch || unfenced_room >= batch_entries) {
                fence();
            } else if (unfenced == retired_.size()) {
                return released; // nothing to judge yet
            }
        }
        std::size_t kept = 0;
        std::uint64_t oldest_kept = std::numeric_limits<std::uint64_t>::max();
        for (const Retired& retired : retired_) {
            if (!retired.fenced || is_pinned(retired.snapshot)) {
                retired_[kept++] = retired;
                oldest_kept = std::min(oldest_kept, retired.generation);
            } else {
                give_back(retired.snapshot);
            }
        }
        retired_.resize(kept);
        if (doomed_.empty()) {
            return released;
        }
        if (kept == 0 && doomed_owning_ == 0 && unfreed_.empty()) {
            // Every doomed node is reclaimed and none owns a callable: the list changes hands
            // whole (a signal connected and disconnected nonstop, whose connects took every
            // node of the last batch, gets here every time).
            unfreed_.swap(doomed_);
            return released;
        }
        // The only steps that may throw. If they do, the doomed nodes wait for the next
        // reclaim(), which finds them reclaimable (their snapshots are freed by now).
        if (doomed_owning_ != 0) {
            released.reserve(doomed_owning_);
        }
        reserve_geometric(unfreed_, unfreed_.size() + doomed_.size() - doomed_owning_);
        std::size_t still_doomed = 0;
        for (Doomed& doomed : doomed_) {
            if (doomed.generation < oldest_kept) {
                // (`owning` is kept beside the node: the node's own line is not read here.)
                if (doomed.owning) {
                    --doomed_owning_;
                    released.push_back(std::move(doomed.node));
                } else {
                    unfreed_.push_back(std::move(doomed));
                }
            } else {
                doomed_[still_doomed++] = std::move(doomed);
            }
        }
        doomed_.resize(still_doomed);
        return released;
    }

    /// reclaim(), or nothing if memory runs out (the next write reclaims).
    Nodes reclaim_or_defer() noexcept {
        try {
            return reclaim();
        } catch (...) {
            return {};
        }
    }

    /// Releases the callables of reclaimed `nodes` (outside the writers' lock: a callable's
    /// destructor is user code) and empties the list.
    static void release(Nodes& nodes) noexcept {
        for (const auto& node : nodes) {
            node->release_callable();
        }
        nodes.clear();
    }

    /// Calls `visit(EntrySnapshot&)` for every retired snapshot.
    template <class Visit> void for_each_retired(Visit&& visit) const {
        for (const Retired& retired : retired_) {
            visit(*retired.snapshot);
        }
    }

    /// `pinned` as one of the retired snapshots, or nullptr.
    const EntrySnapshot* find_retired(const void* pinned) const noexcept {
        for (const Retired& retired : retired_) {
            if (retired.snapshot == pinned) {
                return retired.snapshot;
            }
        }
        return nullptr;
    }

    /// The shared_ptr that owns `node` among the doomed and reclaimed nodes, or empty.
    std::shared_ptr<SlotNode> share(const SlotNode& node) const noexcept {
        for (const std::vector<Doomed>* list : {&doomed_, &unfreed_}) {
            for (const Doomed& doomed : *list) {
                if (doomed.node.get() == &node) {
                    return doomed.node;
                }
            }
        }
        return nullptr;
    }

private:
    struct Retired {
        EntrySnapshot* snapshot = nullptr;
        std::uint64_t generation = 0;
        /// A process-wide barrier has run since it was replaced: every emission that pins it
        /// from now on is visible to a scan (see reclaim()).
        bool fenced = false;
    };

    static bool is_pinned(const void* snapshot) noexcept {
        bool pinned = false;
        thread_registry.for_each_record([&](const ThreadRecord& record) {
            record.for_each_frame([&](const EmissionFrame& frame) {
                pinned = pinned || frame.pinned.load(std::memory_order_seq_cst) == snapshot;
            });
        });
        return pinned;
    }

    EntrySnapshot* spare_ = nullptr; // a freed snapshot, kept for reuse
    std::vector<Retired> retired_;
    std::vector<Doomed> doomed_;
    std::size_t doomed_owning_ = 0; // how many of doomed_ own a callable
    std::vector<Doomed> unfreed_;   // reclaimed nodes that own nothing: to reuse or free
    std::uint64_t generation_ = 0;
    std::size_t pauses_ = 0;
};

} // namespace authevents::detail
