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
        if (current_.load(std::memory_order_acquire) == nullptr ||
            blocked_.load(std::memory_order_relaxed)) {
            return 0;
        }
        bool saw_expired = false;
        std::size_t called = 0;
        {
            EmissionScope scope;
            const EntrySnapshot* snapshot = scope.pin(current_);
            if (snapshot == nullptr) {
                return 0;
            }
            const std::size_t count = snapshot->size();
            for (std::size_t index = 0; index < count; ++index) {
                const Entry& entry = (*snapshot)[index];
                if (entry.sender != nullptr && entry.sender != sender) {
                    continue;
                }
                // seq_cst: pairs with wait_until_idle(), which marks then scans frames.
                if (entry.node->state.load(std::memory_order_seq_cst) != 0 ||
                    blocked_.load(std::memory_order_relaxed)) {
                    continue;
                }
                if (entry.tracked) {
                    // Keeps the tracked object alive while the slot runs.
                    std::shared_ptr<const void> keep_alive = entry.node->track().lock();
                    if (!keep_alive) {
                        entry.node->state.fetch_or(slot_state::expired,
                                                   std::memory_order_acq_rel);
                        saw_expired = true;
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
        if (saw_expired) {
            remove_inactive();
        }
        return called;
    }

    /// Publishes `node` (with its `entry`) unless a live slot has the same key; returns the
    /// node now connected under that key. Strong guarantee: throws std::bad_alloc and changes
    /// nothing if memory runs out.
    std::shared_ptr<SlotNode> insert(std::shared_ptr<SlotNode> node, const Entry& entry) {
        std::vector<std::shared_ptr<SlotNode>> released;
        std::shared_ptr<SlotNode> result;
        {
            std::lock_guard<std::mutex> lock(writer_);
            const EntrySnapshot* current = current_.load(std::memory_order_relaxed);
            const std::size_t count = current != nullptr ? current->size() : 0;
            std::size_t position = count;
            for (std::size_t index = 0; index < count; ++index) {
                const SlotNode& existing = *live_[index];
                if (existing.alive() && existing.same_key(*node)) {
                    return live_[index];
                }
                if (position == count && existing.priority() < node->priority()) {
                    position = index;
                }
            }
            rebuild(&entry, position, node);
            result = std::move(node);
            released = reclaim();
        }
        release(released);
        return result;
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

    void wait_until_idle(const SlotNode& node) override {
        struct Watch {
            const EmissionFrame* frame;
            const void* snapshot;
            std::size_t index;
        };
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
                    if (snapshot == nullptr) {
                        return;
                    }
                    const std::size_t index = snapshot->find(&node);
                    if (index != snapshot->size()) {
                        watches.push_back(Watch{&frame, pinned, index});
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
                   watch.frame->next_slot.load(std::memory_order_acquire) <= watch.index) {
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
    [[nodiscard]] bool blocked() const noexcept {
        return blocked_.load(std::memory_order_relaxed);
    }

private:
    struct Retired {
        const EntrySnapshot* snapshot;
        std::uint64_t generation;
    };
    struct Doomed {
        std::shared_ptr<SlotNode> node;
        std::uint64_t generation; // last generation of snapshots that may still contain it
    };

    static bool mark_disconnected(SlotNode& node) noexcept {
        const std::uint32_t previous =
            node.state.fetch_or(slot_state::disconnected, std::memory_order_seq_cst);
        return (previous & slot_state::gone) == 0;
    }

    /// Publishes a copy of the current snapshot without inactive slots, with `added` inserted
    /// at `position` (an index into the current snapshot) when given. Strong guarantee.
    void rebuild(const Entry* added, std::size_t position, std::shared_ptr<SlotNode> added_node) {
        const EntrySnapshot* current = current_.load(std::memory_order_relaxed);
        const std::size_t count = current != nullptr ? current->size() : 0;
        std::vector<std::size_t> kept;
        kept.reserve(count);
        for (std::size_t index = 0; index < count; ++index) {
            if (live_[index]->alive()) {
                kept.push_back(index);
            }
        }
        const std::size_t dead = count - kept.size();
        if (dead == 0 && added == nullptr) {
            return;
        }
        std::size_t insert_at = kept.size();
        for (std::size_t slot = 0; slot < kept.size(); ++slot) {
            if (kept[slot] >= position) {
                insert_at = slot;
                break;
            }
        }
        const std::size_t next_size = kept.size() + (added != nullptr ? 1 : 0);

        // Everything that may throw happens before anything changes.
        std::vector<std::shared_ptr<SlotNode>> next_live;
        next_live.reserve(next_size);
        doomed_.reserve(doomed_.size() + dead);
        retired_.reserve(retired_.size() + 1);
        EntrySnapshot* next = nullptr;
        if (next_size != 0) {
            next = EntrySnapshot::create(next_size, [&](std::size_t slot) -> const Entry& {
                if (added != nullptr && slot == insert_at) {
                    return *added;
                }
                const std::size_t from = added != nullptr && slot > insert_at ? slot - 1 : slot;
                return (*current)[kept[from]];
            });
        }

        const std::uint64_t generation = ++generation_;
        std::size_t next_kept = 0;
        for (std::size_t index = 0; index < count; ++index) {
            if (added != nullptr && next_live.size() == insert_at) {
                next_live.push_back(added_node);
            }
            if (next_kept < kept.size() && kept[next_kept] == index) {
                next_live.push_back(std::move(live_[index]));
                ++next_kept;
            } else {
                doomed_.push_back(Doomed{std::move(live_[index]), generation});
            }
        }
        if (added != nullptr && next_live.size() == insert_at) {
            next_live.push_back(std::move(added_node));
        }
        live_ = std::move(next_live);
        const EntrySnapshot* previous = current_.exchange(next, std::memory_order_seq_cst);
        if (previous != nullptr) {
            retired_.push_back(Retired{previous, generation});
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
        released.reserve(doomed_.size()); // the only step that may throw comes first
        std::size_t kept = 0;
        std::uint64_t oldest_kept = std::numeric_limits<std::uint64_t>::max();
        for (const Retired& retired : retired_) {
            if (is_pinned(retired.snapshot)) {
                retired_[kept++] = retired;
                oldest_kept = std::min(oldest_kept, retired.generation);
            } else {
                EntrySnapshot::destroy(retired.snapshot);
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
    std::vector<Retired> retired_;
    std::vector<Doomed> doomed_;
    std::uint64_t generation_ = 0;
    std::size_t waiters_ = 0;
    FailureHandler queued_failure_handler_;
};

} // namespace authevents::detail
