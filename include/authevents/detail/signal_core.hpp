// The shared state behind one Signal: the published snapshot, the writers' side, reclamation.
#pragma once

#include "emission_frames.hpp"
#include "slot_entry.hpp"
#include "slot_node.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace authevents::detail {

/// The state of one Signal<Args...>. Emitters read the published snapshot without locking;
/// connect, disconnect and reclamation serialise on `writer_`, which is never held while user
/// code (a slot, or a callable's destructor) runs. Owned by a shared_ptr so that Connection
/// handles can outlive the Signal.
template <class... Args> class SignalCore final : public SlotOwner {
public:
    using Entry = SlotEntry<Args...>;
    using EntrySnapshot = Snapshot<Entry>;

    SignalCore() = default;
    ~SignalCore() override {
        for (const auto& node : live_) {
            mark_disconnected(*node);
        }
        EntrySnapshot::destroy(current_.load(std::memory_order_relaxed));
        EntrySnapshot::destroy(spare_);
        for (const Retired& retired : retired_) {
            EntrySnapshot::destroy(retired.snapshot);
        }
        for (const auto& node : live_) {
            node->release_callable();
        }
        for (const Doomed& doomed : doomed_) {
            doomed.node->release_callable();
        }
    }

    /// Runs `call(entry)` for each slot that an emission from `sender` reaches, in order, and
    /// returns how many ran. Exceptions from `call` propagate; the emission then ends.
    template <class Call> std::size_t emit(const void* sender, Call&& call) {
        if (current_.load(std::memory_order_relaxed) == nullptr ||
            blocked_.load(std::memory_order_relaxed)) {
            return 0; // an empty or blocked signal costs two loads
        }
        return emit_pinned(sender, call);
    }

    template <class Call> std::size_t emit_pinned(const void* sender, Call& call) {
        std::size_t called = 0;
        std::size_t inactive = 0; // disconnected or expired entries met: time to compact?
        std::size_t count = 0;
        {
            EmissionScope scope(sender);
            const EntrySnapshot* snapshot = scope.pin(current_);
            if (snapshot == nullptr) {
                return 0;
            }
            count = snapshot->size();
            for (std::size_t index = 0; index < count; ++index) {
                const Entry& entry = (*snapshot)[index];
                if (entry.sender != nullptr && entry.sender != sender) {
                    continue;
                }
                // seq_cst: pairs with wait_until_idle(), which marks then scans frames.
                const std::uint32_t state = entry.node->state.load(std::memory_order_seq_cst);
                if ((state & slot_state::skip) != 0 || blocked_.load(std::memory_order_relaxed)) {
                    inactive += (state & slot_state::gone) != 0 ? 1 : 0;
                    continue;
                }
                if ((state & slot_state::tracked) != 0) {
                    // Keeps the tracked object alive while the slot runs.
                    const std::shared_ptr<const void> keep_alive = entry.node->track().lock();
                    if (!keep_alive) {
                        entry.node->state.fetch_or(slot_state::expired, std::memory_order_acq_rel);
                        ++inactive;
                        continue;
                    }
                    ++called;
                    call(entry);
                } else {
                    ++called;
                    call(entry);
                }
                scope.finished(index);
            }
        }
        // Writers drop inactive entries whenever they copy the list; an emission compacts only
        // when they make up two thirds of it, i.e. when no connect has come for a while.
        if (inactive >= 4 && inactive * 3 > count * 2) {
            remove_inactive();
        }
        return called;
    }

    /// Publishes `node` (with its `entry`) unless a live slot has the same key; returns the
    /// node now connected under that key. Strong guarantee: throws std::bad_alloc and changes
    /// nothing if memory runs out.
    std::shared_ptr<SlotNode> insert(std::shared_ptr<SlotNode> node, const Entry& entry) {
        std::vector<std::shared_ptr<SlotNode>> released;
        {
            std::lock_guard<std::mutex> lock(writer_);
            if (!node->uid().empty() || node->function() != nullptr) {
                for (const auto& existing : live_) {
                    if (existing->same_key(*node) && existing->alive()) {
                        return existing;
                    }
                }
            }
            // Entries are sorted by priority, highest first: insert after the last one whose
            // priority is at least ours.
            const std::size_t count = live_.size();
            std::size_t position = count;
            while (position > 0 && live_[position - 1]->priority() < node->priority()) {
                --position;
            }
            EntrySnapshot* current = current_.load(std::memory_order_relaxed);
            if (position == count && current != nullptr && count < current->capacity()) {
                live_.push_back(node);     // may throw: nothing has changed yet
                current->push_back(entry); // in place: emissions under way keep their size
                return node;
            }
            rebuild(&entry, position, node);
            released = reclaim();
        }
        release(released);
        return node;
    }

    /// Disconnects the live slots matching `match(node)`; returns how many.
    template <class Match> std::size_t disconnect_matching(Match&& match) {
        std::vector<std::shared_ptr<SlotNode>> released;
        std::size_t disconnected = 0;
        {
            std::lock_guard<std::mutex> lock(writer_);
            for (const auto& node : live_) {
                if (node->alive() && match(*node) && mark_disconnected(*node)) {
                    ++disconnected;
                }
            }
            if (disconnected != 0) {
                compact_or_defer();
                released = reclaim();
            }
        }
        release(released);
        return disconnected;
    }

    void remove_inactive() noexcept override {
        std::vector<std::shared_ptr<SlotNode>> released;
        {
            std::lock_guard<std::mutex> lock(writer_);
            compact_or_defer();
            released = reclaim_or_defer();
        }
        release(released);
    }

    /// Waits for every emission on another thread that runs `node` now or may still reach it:
    /// one whose pinned snapshot holds it, sent from a matching sender, that has not yet passed
    /// its position. An emission parked because its thread is itself waiting here is not
    /// waited for: it will see the disconnect when it resumes, and two threads waiting for each
    /// other would never return (this covers a slot disconnecting itself on two threads).
    void wait_until_idle(const SlotNode& node) override {
        struct Watch {
            const ThreadRecord* record;
            const EmissionFrame* frame;
            const void* snapshot;
            std::size_t index;
        };
        const WaitingScope waiting;
        std::vector<Watch> watches;
        {
            std::lock_guard<std::mutex> lock(writer_);
            compact_or_defer(); // so that no emission starting now pins a snapshot holding it
            const ThreadRecord* self = this_thread_record_ptr;
            thread_registry.for_each_record([&](const ThreadRecord& record) {
                if (&record == self) {
                    return; // never wait for this thread: it may be inside the slot itself
                }
                record.for_each_frame([&](const EmissionFrame& frame) {
                    const void* pinned = frame.pinned.load(std::memory_order_seq_cst);
                    const EntrySnapshot* snapshot = owned_snapshot(pinned);
                    if (snapshot == nullptr ||
                        (node.sender() != nullptr &&
                         frame.sender.load(std::memory_order_relaxed) != node.sender())) {
                        return;
                    }
                    const std::size_t index = snapshot->find(&node);
                    if (index != snapshot->size()) {
                        watches.push_back(Watch{&record, &frame, pinned, index});
                    }
                });
            });
            if (watches.empty()) {
                return;
            }
            ++waiters_; // keeps watched snapshots (and so their addresses) from being reused
        }
        for (const Watch& watch : watches) {
            Backoff backoff;
            while (watch.frame->pinned.load(std::memory_order_acquire) == watch.snapshot &&
                   watch.frame->next_slot.load(std::memory_order_acquire) <= watch.index &&
                   watch.record->waiting.load(std::memory_order_seq_cst) == 0) {
                backoff.pause();
            }
        }
        std::vector<std::shared_ptr<SlotNode>> released;
        {
            std::lock_guard<std::mutex> lock(writer_);
            --waiters_;
            released = reclaim_or_defer();
        }
        release(released);
    }

    using FailureHandler = std::function<void(SlotNode&, std::exception_ptr)>;

    void set_queued_failure_handler(FailureHandler handler) {
        std::lock_guard<std::mutex> lock(writer_);
        queued_failure_handler_ = std::move(handler);
    }

    void report_queued_failure(SlotNode& node, std::exception_ptr error) noexcept override {
        try {
            FailureHandler handler;
            {
                std::lock_guard<std::mutex> lock(writer_);
                handler = queued_failure_handler_;
            }
            if (handler) {
                handler(node, std::move(error));
            }
        } catch (...) {
            // A failing failure handler has nobody left to report to; the executor still sees
            // the original exception.
        }
    }

    /// Disconnects every slot; used by disconnect_all() and by ~Signal.
    void disconnect_all() {
        std::vector<std::shared_ptr<SlotNode>> released;
        {
            std::lock_guard<std::mutex> lock(writer_);
            for (const auto& node : live_) {
                mark_disconnected(*node);
            }
            compact_or_defer();
            released = reclaim_or_defer();
        }
        release(released);
    }

    /// Calls `visit(const SlotNode&)` for every slot still in the published list.
    template <class Visit> void for_each_node(Visit&& visit) const {
        std::lock_guard<std::mutex> lock(writer_);
        for (const auto& node : live_) {
            visit(*node);
        }
    }

    void block(bool blocked) noexcept { blocked_.store(blocked, std::memory_order_relaxed); }
    [[nodiscard]] bool blocked() const noexcept { return blocked_.load(std::memory_order_relaxed); }

private:
    struct Retired {
        const EntrySnapshot* snapshot = nullptr;
        std::uint64_t generation = 0;
    };
    struct Doomed {
        std::shared_ptr<SlotNode> node;
        std::uint64_t generation = 0; // last generation of snapshots that may still contain it
    };

    static bool mark_disconnected(SlotNode& node) noexcept {
        const std::uint32_t previous =
            node.state.fetch_or(slot_state::disconnected, std::memory_order_seq_cst);
        return (previous & slot_state::gone) == 0;
    }

    /// Publishes a copy of the current snapshot without its inactive slots, with `added`
    /// inserted before index `position` of the current one when given. Does nothing when there
    /// is nothing to add or drop. Strong guarantee: only allocation can throw, and it happens
    /// before anything changes.
    void rebuild(const Entry* added, std::size_t position, const std::shared_ptr<SlotNode>& node) {
        const EntrySnapshot* current = current_.load(std::memory_order_relaxed);
        const std::size_t count = live_.size();
        // Slots only ever die, so this count bounds the slots kept below.
        const auto alive = static_cast<std::size_t>(std::count_if(
            live_.begin(), live_.end(), [](const auto& slot) { return slot->alive(); }));
        if (added == nullptr && alive == count) {
            return;
        }
        doomed_.reserve(doomed_.size() + count);
        retired_.reserve(retired_.size() + 1);
        live_.reserve(count + 1);
        // Room to grow: connects append in place until it is full, so a rebuild happens about
        // once per `alive` connects, whatever the number of disconnects in between.
        EntrySnapshot* next = take_snapshot(std::max<std::size_t>(4, 2 * (alive + 1)));

        // From here on nothing throws. Each slot is judged alive or not exactly once, so a
        // concurrent disconnect cannot make the live list and the snapshot disagree.
        const std::uint64_t generation = ++generation_;
        std::size_t kept = 0;
        std::size_t insert_at = 0;
        for (std::size_t index = 0; index < count; ++index) {
            if (added != nullptr && index == position) {
                insert_at = kept;
                next->push_back(*added);
            }
            if (live_[index]->alive()) {
                next->push_back((*current)[index]);
                if (kept != index) {
                    live_[kept] = std::move(live_[index]);
                }
                ++kept;
            } else {
                doomed_.push_back(Doomed{std::move(live_[index]), generation});
            }
        }
        live_.resize(kept);
        if (added != nullptr) {
            if (position >= count) {
                insert_at = kept;
                next->push_back(*added);
            }
            live_.insert(live_.begin() + static_cast<std::ptrdiff_t>(insert_at), node);
        }
        if (next->size() == 0) {
            give_back(next);
            next = nullptr;
        }
        const EntrySnapshot* previous = current_.exchange(next, std::memory_order_seq_cst);
        if (previous != nullptr) {
            retired_.push_back(Retired{previous, generation});
        }
    }

    /// An empty snapshot with room for `capacity` entries: the spare one if big enough.
    EntrySnapshot* take_snapshot(std::size_t capacity) {
        if (spare_ != nullptr && spare_->capacity() >= capacity) {
            EntrySnapshot* snapshot = std::exchange(spare_, nullptr);
            snapshot->clear();
            return snapshot;
        }
        return EntrySnapshot::create(capacity);
    }

    /// Keeps an unused snapshot for reuse (the larger of it and the spare), frees the other.
    void give_back(const EntrySnapshot* snapshot) noexcept {
        if (spare_ == nullptr || spare_->capacity() < snapshot->capacity()) {
            EntrySnapshot::destroy(std::exchange(spare_, const_cast<EntrySnapshot*>(snapshot)));
        } else {
            EntrySnapshot::destroy(snapshot);
        }
    }

    void compact_or_defer() noexcept {
        try {
            rebuild(nullptr, 0, nullptr);
        } catch (...) {
            // Out of memory: the inactive slots stay published, but emissions skip them; the
            // next successful write drops them.
        }
    }

    /// Frees retired snapshots no emission pins, and hands back the nodes no snapshot can
    /// reach any more (their callables are released outside the lock).
    std::vector<std::shared_ptr<SlotNode>> reclaim() {
        std::vector<std::shared_ptr<SlotNode>> released;
        if (waiters_ != 0 || retired_.empty()) {
            return released;
        }
        if (!doomed_.empty()) {
            released.reserve(doomed_.size()); // the only step that may throw comes first
        }
        std::size_t kept = 0;
        std::uint64_t oldest_kept = std::numeric_limits<std::uint64_t>::max();
        for (const Retired& retired : retired_) {
            if (is_pinned(retired.snapshot)) {
                retired_[kept++] = retired;
                oldest_kept = std::min(oldest_kept, retired.generation);
            } else {
                give_back(retired.snapshot);
            }
        }
        retired_.resize(kept);
        std::size_t still_doomed = 0;
        for (Doomed& doomed : doomed_) {
            if (doomed.generation < oldest_kept) {
                released.push_back(std::move(doomed.node));
            } else {
                doomed_[still_doomed++] = std::move(doomed);
            }
        }
        doomed_.resize(still_doomed);
        return released;
    }

    std::vector<std::shared_ptr<SlotNode>> reclaim_or_defer() noexcept {
        try {
            return reclaim();
        } catch (...) {
            return {}; // out of memory: the next write reclaims
        }
    }

    static void release(std::vector<std::shared_ptr<SlotNode>>& nodes) noexcept {
        for (const auto& node : nodes) {
            node->release_callable();
        }
        nodes.clear();
    }

    static bool is_pinned(const void* snapshot) noexcept {
        bool pinned = false;
        thread_registry.for_each_record([&](const ThreadRecord& record) {
            record.for_each_frame([&](const EmissionFrame& frame) {
                pinned = pinned || frame.pinned.load(std::memory_order_seq_cst) == snapshot;
            });
        });
        return pinned;
    }

    /// `pinned` as one of this signal's snapshots, or nullptr if it belongs to another signal.
    const EntrySnapshot* owned_snapshot(const void* pinned) const noexcept {
        if (pinned == nullptr) {
            return nullptr;
        }
        if (pinned == current_.load(std::memory_order_relaxed)) {
            return static_cast<const EntrySnapshot*>(pinned);
        }
        for (const Retired& retired : retired_) {
            if (retired.snapshot == pinned) {
                return retired.snapshot;
            }
        }
        return nullptr;
    }

    std::atomic<EntrySnapshot*> current_{nullptr};
    std::atomic<bool> blocked_{false};
    mutable std::mutex writer_;
    std::vector<std::shared_ptr<SlotNode>> live_; // parallel to *current_
    EntrySnapshot* spare_ = nullptr;              // a reclaimed snapshot, kept for reuse
    std::vector<Retired> retired_;
    std::vector<Doomed> doomed_;
    std::uint64_t generation_ = 0;
    std::size_t waiters_ = 0;
    FailureHandler queued_failure_handler_;
};

} // namespace authevents::detail
