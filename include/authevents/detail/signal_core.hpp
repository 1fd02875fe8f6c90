// The shared state behind one Signal: the published snapshot and the writers' side.
#pragma once

#include <authevents/detail/emission_frames.hpp>
#include <authevents/detail/function.hpp>
#include <authevents/detail/reclamation.hpp>
#include <authevents/detail/slot_entry.hpp>
#include <authevents/detail/slot_node.hpp>
#include <authevents/detail/writer_lock.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace authevents::detail {

/// The state of one Signal<Args...>, whatever its Args (so compiled once, not per signature:
/// only the emission functions are templates, on the call of one entry). Emitters read the
/// published snapshot without locking; connect, disconnect and reclamation serialise on `writer_`,
/// which is never held while user code (a slot, or a callable's destructor) runs. Owned by a
/// shared_ptr so that Connection handles can outlive the Signal.
///
/// Used as SignalCore, its one instance. It is a template only so that a unit compiles the
/// members it uses and nothing else: a unit that includes the header without connecting (most
/// units that include the dispatcher) then compiles none of the writers' code, nor the
/// standard templates it instantiates (node allocation, vector growth, std::function).
template <class Unused = void> class BasicSignalCore final : public SlotOwner {
public:
    using Entry = SlotEntry;
    using EntrySnapshot = Snapshot<Entry>;
    using Reclaimer = Reclamation<Entry>;
    using Doomed = typename Reclaimer::Doomed;

    /// Appends a snapshot has room for, at least, once its signal has churned (see rebuild()).
    static constexpr std::size_t churn_room = 128;

    BasicSignalCore() = default;
    BasicSignalCore(const BasicSignalCore&) = delete;
    BasicSignalCore& operator=(const BasicSignalCore&) = delete;
    ~BasicSignalCore() override {
        for (const auto& node : live_) {
            node->apply({slot_state::disconnected, 0}); // no emission can run: nothing to unlist
        }
        EntrySnapshot::destroy(current_.load(std::memory_order_relaxed));
        for (const auto& node : live_) {
            node->release_callable();
        }
    } // then reclamation_ frees the retired snapshots and the doomed nodes' callables

    /// Runs `call(entry)` for each slot that an emission from `sender` reaches, in order, and
    /// returns how many ran. Exceptions from `call` propagate; the emission then ends.
    template <class Call>
    AUTHEVENTS_DETAIL_INLINE std::size_t emit(const void* sender, Call& call) {
        const EntrySnapshot* seen = current_.load(std::memory_order_relaxed);
        if (seen == nullptr) {
            return 0; // an empty signal costs one load
        }
        return emit_seen(seen, sender, call);
    }

    /// emit() once a snapshot has been `seen`. Inlined into the sending function, as the rest of
    /// the emission: an empty send still costs one load and a branch, which jumps over it.
    template <class Call>
    AUTHEVENTS_DETAIL_INLINE std::size_t emit_seen(const EntrySnapshot* seen, const void* sender,
                                                   Call& call) {
        const auto run = [&](EmissionFrame& frame, const EntrySnapshot& snapshot)
                             AUTHEVENTS_DETAIL_INLINE_LAMBDA {
                                 return run_slots(frame, snapshot, snapshot.end(), sender, call);
                             };
        return emit_pinned(seen, sender, run);
    }

    /// The step every emission takes once it has `seen` a published snapshot: takes this
    /// thread's frame, pins a snapshot and returns `run(frame, snapshot)` (0 if none is
    /// published any more), unpinning when it returns or throws. The pin comes before anything
    /// `run` stores (spilled registers included): it waits for them.
    template <class Run>
    AUTHEVENTS_DETAIL_INLINE std::size_t emit_pinned(const EntrySnapshot* seen, const void* sender,
                                                     const Run& run) {
        EmissionFrame& frame = EmissionScope::enter(sender);
        const EmissionScope scope(frame);
        const EntrySnapshot* snapshot = EmissionScope::pin(frame, current_, seen);
        if (snapshot == nullptr) {
            return 0;
        }
        return run(frame, *snapshot);
    }

    /// emit(), but an exception from a slot's call is handed to `failed(entry)` (inside the
    /// catch, so std::current_exception() is the slot's) and the emission goes on with the
    /// next slot; an exception from `failed` propagates. Returns how many slots ran, failing
    /// ones included. The clean prefix runs send()'s loop inside a single try: no landing pad
    /// inside the loop, so nothing the loop changes (its cursor) is live on an exception
    /// edge, which would keep it in memory. The rare paths guard each call instead.
    /// `seen` is the published snapshot as the caller loaded it (peek(); nullptr: no slot, and
    /// nothing runs): a caller that looks before deciding to emit loads it once.
    template <class Call, class Failed>
    AUTHEVENTS_DETAIL_INLINE std::size_t emit_robust_seen(const EntrySnapshot* seen,
                                                          const void* sender, const Call& call,
                                                          const Failed& failed) {
        const auto run = [&](EmissionFrame& frame,
                             const EntrySnapshot& snapshot) AUTHEVENTS_DETAIL_INLINE_LAMBDA {
            const Entry* const end = snapshot.end();
            const Entry* stopped = nullptr;
            try {
                stopped = run_clean(frame, snapshot, end, call);
            } catch (...) {
                const typename Guarded<Call, Failed>::Target target{call, failed};
                return owner_of(snapshot).template resume_robust<Call, Failed>(frame, snapshot, end,
                                                                               target);
            }
            if (stopped == end) { // every slot ran: the common case builds no target
                return static_cast<std::size_t>(end - snapshot.begin());
            }
            const typename Guarded<Call, Failed>::Target target{call, failed};
            return run_rest(frame, snapshot, stopped, end, sender, Guarded<Call, Failed>{&target});
        };
        return seen == nullptr ? 0 : emit_pinned(seen, sender, run);
    }

    /// The slots of a pinned `snapshot` up to `end` (its end as the emission read it): the
    /// clean prefix (run_clean()), then the rest checked (run_rest()). Returns how many ran.
    template <class Call>
    std::size_t run_slots(EmissionFrame& frame, const EntrySnapshot& snapshot,
                          const Entry* const end, const void* sender, Call& call) {
        return run_rest(frame, snapshot, run_clean(frame, snapshot, end, call), end, sender, call);
    }

    /// Every emission's tail: the slots from `from` (where the clean prefix stopped, or after a
    /// failing slot) up to `end`, checked (emit_checked()), none when `from` is `end`. Returns
    /// how many slots of the emission ran in all: every one before `from`, and those.
    template <class Call>
    AUTHEVENTS_DETAIL_INLINE std::size_t
    run_rest(EmissionFrame& frame, const EntrySnapshot& snapshot, const Entry* const from,
             const Entry* const end, const void* sender, Call&& call) {
        const auto called = static_cast<std::size_t>(from - snapshot.begin());
        return from == end
                   ? called
                   : called + owner_of(snapshot).emit_checked(from, end, sender, call, frame);
    }

    /// The state `snapshot` belongs to: this one, found through the snapshot, so that an
    /// emission's code after its slot loop, and its exception path, need no register for it.
    static BasicSignalCore& owner_of(const EntrySnapshot& snapshot) noexcept {
        return *static_cast<BasicSignalCore*>(snapshot.owner());
    }

    /// Calls the slots of `snapshot`'s clean prefix, up to `end`; returns the entry where it
    /// stopped (`end` once every slot ran). Small, so that it can be inlined into the sending
    /// function. The loop keeps its cursor, the end, the snapshot and the frame in registers,
    /// and per slot adds to the call only a compare with the clean prefix's end and a store of
    /// the progress.
    template <class Call>
    static const Entry* run_clean(EmissionFrame& frame, const EntrySnapshot& snapshot,
                                  const Entry* const end, Call& call) {
        // Entries in the clean prefix are called without reading their slot's state: a slot
        // that becomes uncallable is first unlisted, which lowers clean_end() below it, and
        // this re-reads clean_end() before each call. The end read once bounds the entries even
        // if the prefix grows (an append), so slots connected from now on are not called.
        // (Never empty: empty snapshots are not published.)
        const Entry* entry = snapshot.begin();
        // Progress is published before each call but the first (see EmissionScope::passed()):
        // one store fewer than slots, none for a single slot. Through `frame`, not the scope,
        // which lives in memory (for its destructor) and would be reloaded before each store.
        if (entry < snapshot.clean_end()) {
            // The cursor is an address held as an integer: clang turns the atomic store of a
            // pointer into a store of an integer, and with a pointer cursor kept both, one more
            // register and one more add per slot (in a dispatch, the frame then went to the
            // stack and was reloaded before each store). g++ makes the same code either way.
            auto at = reinterpret_cast<std::uintptr_t>(entry);
            const auto stop = reinterpret_cast<std::uintptr_t>(end);
            for (;;) { // one call site, so that `call` is inlined once
                call(*reinterpret_cast<const Entry*>(at));
                at += sizeof(Entry);
                if (at == stop || at >= reinterpret_cast<std::uintptr_t>(snapshot.clean_end())) {
                    break;
                }
                EmissionScope::passed(frame, reinterpret_cast<const void*>(at));
            }
            entry = reinterpret_cast<const Entry*>(at);
        }
        return entry;
    }

    /// A call that hands its slot's exception to `failed(entry)` (emit_robust()'s rare paths).
    /// One pointer, so that the call of emit_checked() passes every argument in a register.
    /// Its target holds copies of the emission's `call` and `failed` (lambdas holding
    /// references), built only on those paths: the common path takes neither's address, so
    /// the compiler keeps what they refer to in registers or spills as it sees fit.
    template <class Call, class Failed> struct Guarded {
        struct Target {
            Call call;
            Failed failed;
        };
        const Target* target;
        void operator()(const Entry& entry) const {
            try {
                target->call(entry);
            } catch (...) {
                target->failed(entry);
            }
        }
    };

    /// emit_robust() once a slot of the clean prefix threw (called inside the catch): reports
    /// the slot (the one at the frame's progress, the first while there is none: see
    /// EmissionScope::passed(); every slot before it ran) to `target.failed`, then runs the
    /// rest checked, each call guarded. Returns how many slots ran in all. The emission's
    /// sender is read back from `frame` (EmissionScope::enter() stored it there): five
    /// arguments, all in registers, so that its caller needs no frame pointer.
    template <class Call, class Failed>
    AUTHEVENTS_DETAIL_NOINLINE std::size_t
    resume_robust(EmissionFrame& frame, const EntrySnapshot& snapshot, const Entry* end,
                  const typename Guarded<Call, Failed>::Target& target) {
        const void* passed = frame.passed.load(std::memory_order_relaxed);
        const Entry* failing =
            passed != nullptr ? static_cast<const Entry*>(passed) : snapshot.begin();
        target.failed(*failing);
        return run_rest(frame, snapshot, failing + 1, end,
                        frame.sender.load(std::memory_order_relaxed),
                        Guarded<Call, Failed>{&target});
    }

    /// Publishes `node` (with its `entry`) unless a live slot has the same key; returns the
    /// node now connected under that key. Strong guarantee.
    /// @throws std::bad_alloc if memory runs out, changing nothing.
    std::shared_ptr<SlotNode> insert(std::shared_ptr<SlotNode> node, const Entry& entry) {
        std::vector<std::shared_ptr<SlotNode>> released;
        std::shared_ptr<SlotNode> freed; // freed after the unlock
        {
            const std::lock_guard<WriterLock> lock(writer_);
            if (const auto* existing =
                    find_key_locked(node->uid(), node->function(), node->sender())) {
                return *existing;
            }
            freed = reclamation_.take_unfreed();
            insert_locked(node, entry, released);
        }
        Reclaimer::release(released);
        return node;
    }

    /// insert() for a slot whose callable lives in its entries: its node is made here, or a
    /// reclaimed one that no Connection holds any more is reused (no allocation, no locked
    /// instruction to free one and make another). Sets `entry.node`. `self` owns this core.
    /// Strong guarantee.
    /// @throws std::bad_alloc if memory runs out, changing nothing.
    std::shared_ptr<SlotNode> insert_plain(const std::shared_ptr<BasicSignalCore>& self,
                                           Entry& entry, std::string&& uid, FunctionId function,
                                           const void* sender, int priority,
                                           std::weak_ptr<const void> track, bool tracked) {
        std::vector<std::shared_ptr<SlotNode>> released;
        std::shared_ptr<SlotNode> dropped; // a reclaimed node not reused: freed after the unlock
        std::shared_ptr<SlotNode> node;    // the one object returned (no copy on return)
        {
            const std::lock_guard<WriterLock> lock(writer_);
            if (const auto* existing = find_key_locked(uid, function, sender)) {
                node = *existing;
                return node;
            }
            // The reclaimed node is taken into `node` itself: reusing it (the common case)
            // then moves no reference count between two variables.
            node = reclamation_.take_unfreed();
            const bool reused = sole_owner(node);
            if (reused) {
                node->set_key(std::move(uid), function, sender, priority, std::move(track),
                              tracked);
            } else {
                dropped = std::move(node);
                node = std::make_shared<SlotNode>(std::move(uid), function, sender, priority,
                                                  std::move(track), tracked);
                node->owner = self;
            }
            entry.node = node.get();
            try {
                insert_locked(node, entry, released);
            } catch (...) {
                if (reused) {
                    reclamation_.put_back(std::move(node));
                }
                throw;
            }
        }
        Reclaimer::release(released);
        return node;
    }

    /// Disconnects the live slots matching `match(node)`; returns how many.
    template <class Match> std::size_t disconnect_matching(Match&& match) {
        std::vector<std::shared_ptr<SlotNode>> released;
        std::vector<Doomed> unfreed; // freed after the unlock
        std::size_t disconnected = 0;
        {
            const std::lock_guard<WriterLock> lock(writer_);
            for (const auto& node : live_) {
                if (node->alive() && match(*node) && mark_disconnected(*node)) {
                    ++disconnected;
                }
            }
            if (disconnected != 0) {
                compact_or_defer();
                released = reclamation_.reclaim();
                unfreed = reclamation_.take_all_unfreed();
            }
        }
        Reclaimer::release(released);
        return disconnected;
    }

    void remove_inactive() noexcept override {
        std::unique_lock<WriterLock> lock(writer_);
        compact_and_unlock(lock);
    }

    /// remove_inactive(), unless a writer holds the lock (then its write, or a later one,
    /// drops the inactive slots): for emissions, which never wait for writers.
    void remove_inactive_if_idle() noexcept {
        std::unique_lock<WriterLock> lock(writer_, std::try_to_lock);
        if (lock.owns_lock()) {
            compact_and_unlock(lock);
        }
    }

    std::uint32_t disturb_listed(SlotNode& node, StateChange change) noexcept override {
        const std::lock_guard<WriterLock> lock(writer_);
        return disturb_locked(node, change);
    }

    void relist() noexcept override {
        const std::lock_guard<WriterLock> lock(writer_);
        relist_locked();
    }

    /// Waits for every emission on another thread that runs `node` now or may still reach it:
    /// one whose pinned snapshot holds it, sent from a matching sender, that has not yet passed
    /// its position. An emission whose thread is itself waiting in a disconnect_and_wait() is
    /// parked: it is waited for only while it may be inside `node` (its progress is at `node`'s
    /// entry), since one parked before the entry will see the disconnect when it resumes. A
    /// thread waiting for `node` too is never waited for: two threads inside one slot that
    /// both disconnect it and wait would otherwise wait for each other forever.
    void wait_until_idle(const SlotNode& node) override {
        struct Watch {
            const ThreadRecord* record;
            const EmissionFrame* frame;
            const void* snapshot;
            const void* entry; // the slot's entry in `snapshot`
            bool first;        // the entry is the snapshot's first
        };
        const WaitingScope waiting(&node);
        std::vector<Watch> watches;
        const std::vector<const void*> running_here = slots_running_on_this_thread();
        {
            const std::lock_guard<WriterLock> lock(writer_);
            compact_or_defer(); // so that no emission starting now pins a snapshot holding it
            // The slot's disconnect (its state, its unlisting) and this compaction, then the
            // barrier, then the scan: an emission whose pin this scan misses sees them all.
            reclamation_.fence();
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
                        watches.push_back(
                            Watch{&record, &frame, pinned, snapshot->begin() + index, index == 0});
                    }
                });
            });
            if (watches.empty()) {
                return; // (the retired snapshots are fenced: the next reclaim() is cheap)
            }
            reclamation_.pause(); // keeps watched snapshots (and so their addresses) from reuse
        }
        // An emission has not passed the slot while `passed` is null or at most its entry.
        const auto not_passed = [](const Watch& watch) {
            const void* passed = watch.frame->passed.load(std::memory_order_acquire);
            return passed == nullptr || !std::less<const void*>()(watch.entry, passed);
        };
        // A thread parked in a disconnect_and_wait() of its own runs no slot but the one its
        // progress names: the entry `passed` points at, or the first entry while it is null
        // (the first call publishes no progress). One that waits for a slot this thread runs
        // (this one, for two threads inside one slot) may be waiting for this thread: it is
        // not waited for, so that the two never wait for each other.
        const auto parked_outside = [&running_here](const Watch& watch) {
            if (watch.record->waiting.load(std::memory_order_seq_cst) == 0) {
                return false;
            }
            const void* awaited = watch.record->waiting_for.load(std::memory_order_seq_cst);
            if (std::find(running_here.begin(), running_here.end(), awaited) !=
                running_here.end()) {
                return true;
            }
            const void* passed = watch.frame->passed.load(std::memory_order_acquire);
            return passed == nullptr ? !watch.first : passed != watch.entry;
        };
        for (const Watch& watch : watches) {
            PollBackoff backoff;
            while (watch.frame->pinned.load(std::memory_order_acquire) == watch.snapshot &&
                   not_passed(watch) && !parked_outside(watch)) {
                backoff.pause();
            }
        }
        std::vector<std::shared_ptr<SlotNode>> released;
        {
            const std::lock_guard<WriterLock> lock(writer_);
            reclamation_.resume();
            released = reclamation_.reclaim_or_defer();
        }
        Reclaimer::release(released);
    }

    /// The slots (their SlotNodes) this thread is inside now, of any signal: in each of its
    /// emission frames the slot at its progress (the first one while there is none), and its
    /// queued calls. Called by a thread running no emission step, so each frame is in a call.
    static std::vector<const void*> slots_running_on_this_thread() {
        std::vector<const void*> running;
        if (const ThreadRecord* self = this_thread_record_ptr) {
            self->for_each_frame([&running](const EmissionFrame& frame) {
                const auto* snapshot =
                    static_cast<const EntrySnapshot*>(frame.pinned.load(std::memory_order_relaxed));
                if (snapshot == nullptr || snapshot->size() == 0) {
                    return;
                }
                const void* passed = frame.passed.load(std::memory_order_relaxed);
                const Entry* entry =
                    passed != nullptr ? static_cast<const Entry*>(passed) : snapshot->begin();
                running.push_back(entry->node);
            });
        }
        for (const QueuedCallFrame* frame = this_thread_queued_calls; frame != nullptr;
             frame = frame->outer) {
            running.push_back(frame->node);
        }
        return running;
    }

    using FailureHandler =
        std::function<void(const std::shared_ptr<SlotNode>&, std::exception_ptr)>;

    void set_queued_failure_handler(FailureHandler handler) {
        const std::lock_guard<WriterLock> lock(writer_);
        queued_failure_handler_ = std::move(handler);
    }

    void report_queued_failure(const std::shared_ptr<SlotNode>& node,
                               std::exception_ptr error) noexcept override {
        try {
            FailureHandler handler;
            {
                const std::lock_guard<WriterLock> lock(writer_);
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

    /// The shared_ptr that owns `node`, a slot of a snapshot an emission of this thread pins
    /// (so the signal still holds it: live, doomed or waiting to be freed). For the rare paths
    /// that hand out a Connection for a slot they reach through its entry (a failing slot):
    /// nodes have no enable_shared_from_this, which would cost every connect and every free
    /// of a node two locked instructions. Empty if not found (cannot happen for such a node).
    std::shared_ptr<SlotNode> share(const SlotNode& node) const noexcept {
        const std::lock_guard<WriterLock> lock(writer_);
        const auto same = [&node](const std::shared_ptr<SlotNode>& held) {
            return held.get() == &node;
        };
        auto found = std::find_if(live_.begin(), live_.end(), same);
        if (found != live_.end()) {
            return *found;
        }
        return reclamation_.share(node);
    }

    /// Disconnects every slot; used by disconnect_all() and by ~Signal.
    void disconnect_all() {
        std::vector<std::shared_ptr<SlotNode>> released;
        std::vector<Doomed> unfreed; // freed after the unlock
        {
            const std::lock_guard<WriterLock> lock(writer_);
            // Unlisted first: once a slot reads as disconnected, no emission calls it unchecked.
            unlist_all_locked();
            for (const auto& node : live_) {
                node->apply({slot_state::disconnected, 0});
            }
            compact_or_defer();
            released = reclamation_.reclaim_or_defer();
            unfreed = reclamation_.take_all_unfreed();
        }
        Reclaimer::release(released);
    }

    /// Calls `visit(const SlotNode&)` for every slot still in the published list.
    template <class Visit> void for_each_node(Visit&& visit) const {
        const std::lock_guard<WriterLock> lock(writer_);
        for (const auto& node : live_) {
            visit(*node);
        }
    }

    /// Blocking empties every clean prefix before the store, so that emissions take the
    /// checked path, which reads blocked_; unblocking lets them call the current snapshot
    /// unchecked again.
    void block(bool blocked) noexcept {
        const std::lock_guard<WriterLock> lock(writer_);
        if (blocked) {
            unlist_all_locked();
        }
        blocked_.store(blocked ? 1U : 0U, std::memory_order_seq_cst);
        if (!blocked) {
            relist_locked();
        }
    }

    /// False when the signal has no slot (an emission would return at once).
    [[nodiscard]] bool published() const noexcept { return peek() != nullptr; }

    /// The published snapshot (nullptr when the signal has no slot), as an emission first
    /// reads it: a relaxed load, valid only to hand to an emission, which pins it.
    [[nodiscard]] const EntrySnapshot* peek() const noexcept {
        return current_.load(std::memory_order_relaxed);
    }

    [[nodiscard]] bool blocked() const noexcept {
        return blocked_.load(std::memory_order_relaxed) != 0;
    }

private:
    /// The live slot connected under this key (its entry in the live list), or null. Writers
    /// only. A pointer, not a copy: the common connect, which finds none, then builds and
    /// destroys no empty `std::shared_ptr`. A slot connected without a dispatch_uid or a
    /// function's identity has no key: the common connect returns at once, without a call
    /// (clang++ called this function for it).
    AUTHEVENTS_DETAIL_INLINE const std::shared_ptr<SlotNode>*
    find_key_locked(const std::string& uid, FunctionId function,
                    const void* sender) const noexcept {
        if (uid.empty() && function == nullptr) {
            return nullptr;
        }
        return find_keyed_locked(uid, function, sender);
    }

    /// find_key_locked() for a slot that has a key.
    const std::shared_ptr<SlotNode>* find_keyed_locked(const std::string& uid, FunctionId function,
                                                       const void* sender) const noexcept {
        for (const auto& existing : live_) {
            if (existing->has_key(uid, function, sender) && existing->alive()) {
                return &existing;
            }
        }
        return nullptr;
    }

    /// True when `node` (a reclaimed one: no snapshot holds it, and nothing makes new owners
    /// of it but a copy of an owner) has no owner but `node`, so that it may be reused; then
    /// the last other owner's accesses to it happen before the caller's (an acquire fence after
    /// the count). Under ThreadSanitizer, which does not model fences, always false.
    static bool sole_owner(const std::shared_ptr<SlotNode>& node) noexcept {
#if defined(AUTHEVENTS_DETAIL_TSAN)
        static_cast<void>(node);
        return false;
#else
        if (node == nullptr || node.use_count() != 1) {
            return false;
        }
        std::atomic_thread_fence(std::memory_order_acquire);
        return true;
#endif
    }

    /// insert() once the key is known to be new: appends in place or rebuilds, then reclaims
    /// into `released`. Strong guarantee. Writers only.
    /// @throws std::bad_alloc if memory runs out, changing nothing.
    void insert_locked(const std::shared_ptr<SlotNode>& node, const Entry& entry,
                       std::vector<std::shared_ptr<SlotNode>>& released) {
        // Entries are sorted by priority, highest first: insert after the last one whose
        // priority is at least ours.
        const std::size_t count = live_.size();
        std::size_t position = count;
        while (position > 0 && live_[position - 1]->priority() < node->priority()) {
            --position;
        }
        EntrySnapshot* current = current_.load(std::memory_order_relaxed);
        if (position == count && current != nullptr && count < current->capacity()) {
            live_.push_back(node); // may throw: nothing has changed yet
            // The node is not shared yet, so it is listed with a plain store. The clean
            // prefix grows only while it spans the whole snapshot (so the signal is not
            // blocked); an appended slot that needs checks ends it.
            const bool extend = current->clean_count() == count && entry.sender == nullptr &&
                                node->state.load(std::memory_order_relaxed) == 0;
            if (extend) {
                node->state.store(slot_state::listed, std::memory_order_relaxed);
            }
            // A slot that is not listed is disconnected without the lock (one compare-exchange
            // on its state), so its entry joins the dead run here, at the next append: the
            // tombstones of a signal connected and disconnected nonstop stay one run.
            if (count != 0 && ((*current)[count - 1].node->state.load(std::memory_order_relaxed) &
                               slot_state::gone) != 0) {
                extend_dead_run_locked(*current, count - 1);
            }
            node->position_hint = count;
            current->push_back(entry); // in place: emissions under way keep their size
            if (!current->appended()) {
                current->mark_appended(); // once: the line emissions read changes once per append
            }
            if (extend) {
                current->set_clean_count(count + 1);
            }
            return;
        }
        rebuild(&entry, position, node);
        // Published: from here on nothing may throw (reclamation that cannot allocate waits
        // for the next write).
        released = reclamation_.reclaim_or_defer();
    }

    /// The rest of an emission from `sender`, from `entry` on, past the clean prefix or once it
    /// was lowered: checks each slot's sender filter and state and the signal's block, and
    /// holds a tracked slot's object while it runs (or marks the slot expired). Returns how
    /// many slots it called. `call` (a lambda holding references) is taken by value, and the
    /// emission's `frame` rather than its scope (whose address would then escape), so that
    /// the inlined part of the emission can keep both in registers.
    template <class Call>
    AUTHEVENTS_DETAIL_NOINLINE std::size_t emit_checked(const Entry* entry, const Entry* end,
                                                        const void* sender, Call call,
                                                        EmissionFrame& frame) {
        const auto* const pinned =
            static_cast<const EntrySnapshot*>(frame.pinned.load(std::memory_order_relaxed));
        if (const SlotNode* newest = pinned->newest_node()) {
            AUTHEVENTS_DETAIL_PREFETCH(&newest->state); // see Snapshot::newest_node()
        }
        // The snapshot's size as the emission read it.
        const auto count = static_cast<std::size_t>(end - pinned->begin());
        std::size_t called = 0;
        std::size_t inactive = 0; // disconnected or expired entries met: time to compact?
        // The dead run as it is now: gone slots whose entries are skipped in one step, not
        // read (the tombstones of a signal connected and disconnected nonstop, whose lines the
        // writer has just written). One that joins the run later is skipped on its state.
        const auto [dead_first, dead_last] = pinned->dead_run();
        const Entry* const dead = pinned->begin() + dead_first;
        const std::size_t dead_count = dead_last - dead_first;
        for (; entry != end; ++entry) {
            if (static_cast<std::size_t>(entry - dead) < dead_count) { // entry in the run
                const Entry* const after = std::min(dead + dead_count, end);
                inactive += static_cast<std::size_t>(after - entry);
                entry = after - 1;
                continue;
            }
            if (entry->sender != nullptr && entry->sender != sender) {
                continue;
            }
            // seq_cst: pairs with wait_until_idle(), which marks then scans frames.
            const std::uint32_t state = entry->node->state.load(std::memory_order_seq_cst);
            if ((state & slot_state::skip) != 0 || blocked_.load(std::memory_order_seq_cst) != 0) {
                inactive += (state & slot_state::gone) != 0 ? 1 : 0;
                continue;
            }
            EmissionScope::passed(frame, entry);
            if ((state & slot_state::tracked) != 0) {
                // Keeps the tracked object alive while the slot runs. Liveness is ownership
                // (use_count), not the pointer: an aliasing track may own through a null pointer.
                const std::shared_ptr<const void> keep_alive = entry->node->track().lock();
                if (keep_alive.use_count() == 0) {
                    entry->node->state.fetch_or(slot_state::expired, std::memory_order_acq_rel);
                    ++inactive;
                    continue;
                }
                call(*entry);
            } else {
                call(*entry);
            }
            ++called;
        }
        // Writers drop inactive entries whenever they copy the list; an emission compacts only
        // when they make up two thirds of it and no connect has appended to the snapshot (the
        // slots were disconnected, and no write may come to drop them). While connects append
        // (a signal connected and disconnected nonstop), the writer copies the snapshot once it
        // is full: an emission doing it too would turn every sender into a writer. Never waits
        // for the writers' lock. (Its own pin only delays freeing the old snapshot.)
        if (inactive >= 4 && inactive * 3 > count * 2 && !pinned->appended()) {
            remove_inactive_if_idle();
        }
        return called;
    }

    /// Drops the inactive slots and reclaims what it can under `lock` (held on writer_), then
    /// unlocks and releases the callables of the reclaimed slots. Never throws.
    void compact_and_unlock(std::unique_lock<WriterLock>& lock) noexcept {
        compact_or_defer();
        std::vector<std::shared_ptr<SlotNode>> released = reclamation_.reclaim_or_defer();
        const std::vector<Doomed> unfreed = reclamation_.take_all_unfreed();
        lock.unlock();
        Reclaimer::release(released);
    } // the reclaimed nodes that own nothing are freed here, after the unlock

    /// disturb_listed() for a writer that holds the lock: unlists `node` if it is listed,
    /// applies `change`, and adds the node's entry to the dead run if that made the slot gone.
    /// Returns the old state. Writers only.
    std::uint32_t disturb_locked(SlotNode& node, StateChange change) const noexcept {
        if ((node.state.load(std::memory_order_relaxed) & slot_state::listed) != 0) {
            unlist_locked(node); // `listed` is set only under the lock held here
        }
        const std::uint32_t previous = node.apply(change);
        if ((previous & slot_state::gone) == 0 && (change.set & slot_state::gone) != 0) {
            add_to_dead_run_locked(node);
        }
        return previous;
    }

    /// Marks `node` disconnected, unlisting it first; true if this call did. Writers only.
    bool mark_disconnected(SlotNode& node) noexcept {
        return (disturb_locked(node, {slot_state::disconnected, 0}) & slot_state::gone) == 0;
    }

    /// Adds the entry of `node`, whose slot has just gone (disconnected or expired), to the
    /// dead run of the current snapshot when it lies next to it (or there is none), together
    /// with the gone slots around it: a signal connected and disconnected nonstop has its
    /// tombstones in one run, which emissions skip in one step. Otherwise leaves the run as
    /// it is: the entry is then skipped on its slot's state. Only a hint (see
    /// Snapshot::dead_run()): no ordering, and wait_until_idle() still scans for the slot.
    /// Writers only.
    void add_to_dead_run_locked(const SlotNode& node) const noexcept {
        EntrySnapshot* current = current_.load(std::memory_order_relaxed);
        if (current == nullptr) {
            return;
        }
        const std::size_t count = current->size();
        const std::size_t index = current->find(&node, count);
        if (index != count) { // else dropped already
            extend_dead_run_locked(*current, index);
        }
    }

    /// add_to_dead_run_locked() for the entry at `index` of the current snapshot `current`
    /// (a gone slot's), when the caller knows where it is. Writers only.
    static void extend_dead_run_locked(EntrySnapshot& current, std::size_t index) noexcept {
        const std::size_t count = current.size();
        auto [first, last] = current.dead_run();
        if (first == last) {
            first = index;
            last = index + 1;
        } else if (index == last) {
            ++last;
        } else if (index + 1 == first) {
            first = index;
        } else {
            return; // inside the run already, or apart from it
        }
        const auto gone = [&current](std::size_t at) {
            return (current[at].node->state.load(std::memory_order_relaxed) & slot_state::gone) !=
                   0;
        };
        while (last < count && gone(last)) {
            ++last;
        }
        while (first > 0 && gone(first - 1)) {
            --first;
        }
        current.set_dead_run(first, last);
    }

    /// Calls `visit(EntrySnapshot&)` for every snapshot an emission may read. Writers only.
    template <class Visit> void for_each_snapshot(Visit&& visit) const {
        if (EntrySnapshot* current = current_.load(std::memory_order_relaxed)) {
            visit(*current);
        }
        reclamation_.for_each_retired(visit);
    }

    /// Empties the clean prefix of every snapshot: sends read every slot's state (see
    /// unlist_locked()). Writers only.
    void unlist_all_locked() const noexcept {
        for_each_snapshot([](EntrySnapshot& snapshot) { snapshot.set_clean_count(0); });
    }

    /// Ends the clean prefix of every snapshot before `node`'s entry. The store, then the
    /// barrier and scan of wait_until_idle(), pairs with an emission's pin, then its loads of
    /// clean_count(): either the emission sees the lower count (and reads the slot's state) or
    /// the scan sees the emission. Writers only.
    void unlist_locked(const SlotNode& node) const noexcept {
        for_each_snapshot([&node](EntrySnapshot& snapshot) {
            const std::size_t clean = std::min(snapshot.clean_count(), snapshot.size());
            const std::size_t index = snapshot.find(&node, clean); // the current one: no scan
            if (index != clean) {
                snapshot.set_clean_count(index);
            }
        });
    }

    /// Lengthens the current snapshot's clean prefix over the entries whose slots are callable
    /// now, listing them. Writers only.
    void relist_locked() const noexcept {
        EntrySnapshot* current = current_.load(std::memory_order_relaxed);
        if (current == nullptr || blocked_.load(std::memory_order_seq_cst) != 0) {
            return;
        }
        const std::size_t count = current->size();
        std::size_t clean = current->clean_count();
        while (clean < count && list_if_clean(*(*current)[clean].node, (*current)[clean])) {
            ++clean;
        }
        if (clean > current->clean_count()) {
            current->set_clean_count(clean);
        }
    }

    /// True when `node` may be called unchecked until it is unlisted, marking it `listed` so
    /// that a later change unlists it. Writers only.
    static bool list_if_clean(SlotNode& node, const Entry& entry) noexcept {
        if (entry.sender != nullptr) {
            return false;
        }
        std::uint32_t state = node.state.load(std::memory_order_seq_cst);
        if (state == 0) {
            state = node.state.fetch_or(slot_state::listed, std::memory_order_seq_cst);
        }
        return (state & ~slot_state::listed) == 0;
    }

    /// Publishes a copy of the current snapshot without its inactive slots, with `added`
    /// inserted before index `position` of the current one when given. Does nothing when there
    /// is nothing to add or drop. Strong guarantee.
    /// @throws std::bad_alloc only, before anything changes.
    void rebuild(const Entry* added, std::size_t position, const std::shared_ptr<SlotNode>& node) {
        const EntrySnapshot* current = current_.load(std::memory_order_relaxed);
        const std::size_t count = live_.size();
        // Slots only ever die, so this count bounds the slots kept below.
        const auto alive = static_cast<std::size_t>(std::count_if(
            live_.begin(), live_.end(), [](const auto& slot) { return slot->alive(); }));
        if (added == nullptr && alive == count) {
            return;
        }
        reclamation_.reserve(count);
        reserve_geometric(live_, count + 1);
        // Room to grow: connects append in place until it is full, so a rebuild happens about
        // once per `alive` connects, whatever the number of disconnects in between. A signal
        // whose snapshot filled up with tombstones (slots connected and disconnected again)
        // gets twice that room, and at least churn_room appends, from then on: a copy costs the
        // writer every live entry and its emitters a cache miss per line, far more than
        // skipping the tombstones does, so a churning signal copies once per 2 * `alive` pairs,
        // or per churn_room. (With room for 32, the lines of each new copy were, by estimate,
        // a tenth of the lines a churned send waited for; the reclamation bounds what the
        // larger copies hold.)
        const bool churning =
            added != nullptr && current != nullptr && count == current->capacity() && alive < count;
        churned_ = churned_ || churning;
        const std::size_t room = churned_ ? std::max(2 * (alive + 1), churn_room) : alive + 1;
        EntrySnapshot* next =
            reclamation_.take_snapshot(std::max<std::size_t>(4, alive + 1 + room), this);

        // From here on nothing throws. Each slot is judged alive or not exactly once, so a
        // concurrent disconnect cannot make the live list and the snapshot disagree.
        const std::uint64_t generation = reclamation_.next_generation();
        bool clean = blocked_.load(std::memory_order_seq_cst) == 0;
        std::size_t clean_count = 0; // the longest prefix of slots callable unchecked
        const auto add = [&](const Entry& entry, SlotNode& slot) {
            slot.position_hint = next->size();
            next->push_back(entry);
            clean = clean && list_if_clean(slot, entry);
            clean_count += clean ? 1 : 0;
        };
        std::size_t kept = 0;
        std::size_t insert_at = 0;
        for (std::size_t index = 0; index < count; ++index) {
            if (added != nullptr && index == position) {
                insert_at = kept;
                add(*added, *node);
            }
            if (live_[index]->alive()) {
                add((*current)[index], *live_[index]);
                if (kept != index) {
                    live_[kept] = std::move(live_[index]);
                }
                ++kept;
            } else {
                reclamation_.doom(std::move(live_[index]), generation);
            }
        }
        live_.resize(kept);
        if (added != nullptr) {
            if (position >= count) {
                insert_at = kept;
                add(*added, *node);
            }
            live_.insert(live_.begin() + static_cast<std::ptrdiff_t>(insert_at), node);
        }
        if (next->size() == 0) {
            reclamation_.give_back(next);
            next = nullptr;
        } else {
            next->set_clean_count(clean_count);
        }
        EntrySnapshot* previous = current_.exchange(next, std::memory_order_seq_cst);
        if (previous != nullptr) {
            // Emissions that pinned it before the exchange read every slot's state from here
            // on, so that unlisting a slot (unlist_locked()) never has to scan it again.
            previous->set_clean_count(0);
            reclamation_.retire(previous, generation);
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

    /// `pinned` as one of this signal's snapshots, or nullptr if it belongs to another signal.
    const EntrySnapshot* owned_snapshot(const void* pinned) const noexcept {
        if (pinned == nullptr) {
            return nullptr;
        }
        if (pinned == current_.load(std::memory_order_relaxed)) {
            return static_cast<const EntrySnapshot*>(pinned);
        }
        return reclamation_.find_retired(pinned);
    }

    // What emissions read, on a cache line of its own: writers change it only to publish a
    // snapshot or (un)block. The writers' own state starts on the next line.
    alignas(64) std::atomic<EntrySnapshot*> current_{nullptr};
    std::atomic<std::uint32_t> blocked_{0}; // 0 or 1
    alignas(64) mutable WriterLock writer_;
    std::vector<std::shared_ptr<SlotNode>> live_; // parallel to *current_
    Reclaimer reclamation_; // what writers replaced or dropped, until no emission reaches it
    bool churned_ = false;  // see rebuild()
    FailureHandler queued_failure_handler_;
};

/// The signal core of every signature (see BasicSignalCore).
using SignalCore = BasicSignalCore<>;

} // namespace authevents::detail
