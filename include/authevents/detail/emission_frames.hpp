// Per-thread records of the emissions in progress: the reader side of the slot snapshots.
//
// Every thread that emits owns one ThreadRecord. An emission takes the next free frame of its
// thread's record, pins the snapshot it reads there (one store to a cache line only this thread
// writes, then a re-check) and advances the frame's cursor after each slot it calls. Writers scan
// all records to learn which snapshots are still being read (so they can free the others) and
// which slot calls are in flight (so disconnect_and_wait() knows whom to wait for). Emitters
// never write memory another thread writes.
#pragma once

#include <authevents/detail/asymmetric_fence.hpp>
#include <authevents/detail/hints.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

// PollBackoff's yield and sleep: the POSIX calls where they exist (<thread> and <chrono> cost a
// unit that includes signal.hpp more than all of this file), else the standard ones.
#if defined(__unix__) || defined(__APPLE__)
#include <sched.h>
#include <time.h>
#else
#include <chrono>
#include <thread>
#endif

namespace authevents::detail {

/// One emission in progress: the snapshot it pinned and how far it got.
struct EmissionFrame {
    /// The snapshot this emission reads, or nullptr when the frame is unused.
    std::atomic<const void*> pinned{nullptr};
    /// An entry address of `pinned`: every slot before it has returned (or was skipped) in this
    /// emission. Published before each call but the first, so nullptr until then.
    std::atomic<const void*> passed{nullptr};
    /// The emission's sender key (nullptr: any): it calls only slots of that sender or any.
    /// Written by every emission, also one from any sender: a stale key could make a
    /// disconnect_and_wait() wait for an emission that never calls its slot.
    std::atomic<const void*> sender{nullptr};
};

/// A fixed group of frames; a thread whose emissions nest deeper chains another chunk.
struct FrameChunk {
    static constexpr std::size_t size = 8;
    std::array<EmissionFrame, size> frames{};
    std::atomic<FrameChunk*> next{nullptr};
};

/// The emission frames of one thread. Records are pooled and never freed, so a writer may read
/// any record at any time; a record is reused by a new thread once its owner thread has exited.
/// A frame is in use while it pins a snapshot; an emission that does not nest uses the first one.
struct alignas(64) ThreadRecord {
    FrameChunk first;
    std::atomic<bool> in_use{false};
    /// Non-zero while this thread waits in disconnect_and_wait(): its emissions are parked.
    std::atomic<std::uint32_t> waiting{0};
    /// The slot (its SlotNode) this thread waits for while `waiting` is non-zero; written
    /// before `waiting` is raised.
    std::atomic<const void*> waiting_for{nullptr};
    ThreadRecord* next_record = nullptr; // immutable once the record is published
    /// Dense and unique: 0 for the first record made, 1 for the next... A record (so its
    /// index) belongs to one live thread at a time; per-thread tables index by it.
    std::size_t index = 0; // immutable once the record is published

    ThreadRecord() = default;
    ThreadRecord(const ThreadRecord&) = delete;
    ThreadRecord& operator=(const ThreadRecord&) = delete;
    ~ThreadRecord() {
        FrameChunk* chunk = first.next.load(std::memory_order_acquire);
        while (chunk != nullptr) {
            FrameChunk* next = chunk->next.load(std::memory_order_acquire);
            delete chunk;
            chunk = next;
        }
    }

    /// A free frame for a new emission: the first of the record unless emissions nest. Owner
    /// thread only.
    /// @throws std::bad_alloc only when nesting exceeds every chunk allocated so far and a new
    /// one cannot be allocated.
    EmissionFrame& free_frame() {
        FrameChunk* chunk = &first;
        for (;;) {
            for (EmissionFrame& frame : chunk->frames) {
                if (frame.pinned.load(std::memory_order_relaxed) == nullptr) {
                    return frame;
                }
            }
            FrameChunk* next = chunk->next.load(std::memory_order_acquire);
            if (next == nullptr) {
                next = new FrameChunk();
                chunk->next.store(next, std::memory_order_release);
            }
            chunk = next;
        }
    }

    /// True when no emission of the owner thread is in progress. Owner thread only.
    [[nodiscard]] bool idle() const noexcept {
        bool idle = true;
        for_each_frame([&idle](const EmissionFrame& frame) {
            idle = idle && frame.pinned.load(std::memory_order_relaxed) == nullptr;
        });
        return idle;
    }

    /// Calls `visit(const EmissionFrame&)` for every frame of this record. Any thread may call it.
    template <class Visit> void for_each_frame(Visit&& visit) const {
        for (const FrameChunk* chunk = &first; chunk != nullptr;
             chunk = chunk->next.load(std::memory_order_acquire)) {
            for (const EmissionFrame& frame : chunk->frames) {
                visit(frame);
            }
        }
    }
};

/// The process-wide list of thread records (constant-initialised, push-only).
struct ThreadRegistry {
    std::atomic<ThreadRecord*> head{nullptr};
    std::atomic<std::size_t> made{0}; // records made so far: the next record's index

    ThreadRecord& acquire() {
        for (ThreadRecord* record = head.load(std::memory_order_acquire); record != nullptr;
             record = record->next_record) {
            bool expected = false;
            if (!record->in_use.load(std::memory_order_relaxed) &&
                record->in_use.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
                return *record;
            }
        }
        auto* record = new ThreadRecord();
        record->in_use.store(true, std::memory_order_relaxed);
        record->index = made.fetch_add(1, std::memory_order_relaxed);
        ThreadRecord* old_head = head.load(std::memory_order_relaxed);
        do {
            record->next_record = old_head;
        } while (!head.compare_exchange_weak(old_head, record, std::memory_order_release,
                                             std::memory_order_relaxed));
        return *record;
    }

    template <class Visit> void for_each_record(Visit&& visit) const {
        for (const ThreadRecord* record = head.load(std::memory_order_acquire); record != nullptr;
             record = record->next_record) {
            visit(*record);
        }
    }
};

inline ThreadRegistry thread_registry;

/// This thread's record, or nullptr before its first emission. Trivially destructible, so
/// reading it costs a plain thread-local load.
inline thread_local ThreadRecord* this_thread_record_ptr = nullptr;

/// The index of this thread's record (this_thread_record_ptr->index) while it has one, else
/// SIZE_MAX: one thread-local load, no pointer to follow (per-thread counters index by it).
inline thread_local std::size_t this_thread_record_index = SIZE_MAX;

/// Set once this thread's ThreadRecordReturner has been destroyed (the thread is exiting).
inline thread_local bool this_thread_exiting = false;

/// Hands this thread's record back to the pool when the thread exits.
struct ThreadRecordReturner {
    ThreadRecord* record = nullptr;
    ThreadRecordReturner() = default;
    ThreadRecordReturner(const ThreadRecordReturner&) = delete;
    ThreadRecordReturner& operator=(const ThreadRecordReturner&) = delete;
    ~ThreadRecordReturner() {
        this_thread_exiting = true;
        if (record != nullptr && record->idle()) {
            this_thread_record_ptr = nullptr;
            this_thread_record_index = SIZE_MAX;
            record->in_use.store(false, std::memory_order_release);
        }
    }
};

inline ThreadRecord& register_this_thread() {
    asymmetric_fence::choose(); // before this thread's first pin reads the mode
    ThreadRecord& record = thread_registry.acquire();
    this_thread_record_ptr = &record;
    this_thread_record_index = record.index;
    if (!this_thread_exiting) {
        thread_local ThreadRecordReturner returner;
        returner.record = &record;
    }
    // else: a thread_local destroyed after the returner emits while the thread exits; its
    // record stays reserved, which is safe and happens at most once per exiting thread.
    return record;
}

inline ThreadRecord& this_thread_record() {
    ThreadRecord* record = this_thread_record_ptr;
    return record != nullptr ? *record : register_this_thread();
}

/// One emission's frame: enter() takes a free frame of this thread's record and pin() pins a
/// snapshot there; the scope then records progress, and unpins (so frees) the frame on exit,
/// also when a slot throws. The common case (thread registered, not nested) is a few plain
/// loads and plain stores: no locked instruction, no fence (see asymmetric_fence.hpp).
class EmissionScope {
public:
    /// Takes the frame for a new emission from `sender`.
    /// @throws std::bad_alloc only on this thread's first emission or on deep nesting; nothing
    /// needs undoing then.
    static EmissionFrame& enter(const void* sender) {
        ThreadRecord* record = this_thread_record_ptr;
        EmissionFrame* frame = record != nullptr ? &record->first.frames[0] : nullptr;
        // The hint keeps the common case (registered, not nested) on the straight path.
        if (!AUTHEVENTS_DETAIL_LIKELY(frame != nullptr &&
                                      frame->pinned.load(std::memory_order_relaxed) == nullptr)) {
            frame = &enter_nested();
        }
        // Becomes visible with the pin (a release store), which also marks the frame in use;
        // `passed` is already null (see leave()). One plain store to the thread's own line
        // measured cheaper than comparing first.
        frame->sender.store(sender, std::memory_order_relaxed);
        return *frame;
    }

    /// Pins `seen`, the snapshot `source` published a moment ago, in `frame` and returns the
    /// snapshot now pinned (nullptr if none is published any more). The pin, then the re-load
    /// (and every later load of the emission: clean prefix, slot states), pairs with a
    /// writer's store (a new snapshot, a lowered prefix, a slot's state), then its
    /// asymmetric_fence::heavy(), then its scan of the pins: either the writer sees this pin,
    /// or this emission sees the writer's change. The re-load is also the acquire that makes
    /// the snapshot's contents visible.
    template <class Snapshot>
    static const Snapshot* pin(EmissionFrame& frame, const std::atomic<Snapshot*>& source,
                               const Snapshot* seen) {
        store_pin(frame, seen);
        const Snapshot* again = source.load(std::memory_order_seq_cst);
        if (AUTHEVENTS_DETAIL_LIKELY(again == seen)) {
            return seen;
        }
        return pin_again(frame, source, again);
    }

    /// pin() once the snapshot changed under it.
    template <class Snapshot>
    AUTHEVENTS_DETAIL_NOINLINE static const Snapshot*
    pin_again(EmissionFrame& frame, const std::atomic<Snapshot*>& source, const Snapshot* seen) {
        const Snapshot* snapshot = seen;
        while (snapshot != nullptr) {
            store_pin(frame, snapshot);
            const Snapshot* again = source.load(std::memory_order_seq_cst);
            if (again == snapshot) {
                break;
            }
            snapshot = again;
        }
        return snapshot;
    }

    /// The pin's store, ordered before the loads that follow it: by the compiler only when
    /// writers pay a process-wide barrier, else by a sequentially consistent store.
    static void store_pin(EmissionFrame& frame, const void* snapshot) noexcept {
        if (AUTHEVENTS_DETAIL_LIKELY(asymmetric_fence::senders_light())) {
            frame.pinned.store(snapshot, std::memory_order_release);
            std::atomic_signal_fence(std::memory_order_seq_cst);
        } else {
            frame.pinned.store(snapshot, std::memory_order_seq_cst);
        }
    }

    /// Takes charge of a frame from enter(): unpins and frees it when destroyed.
    explicit EmissionScope(EmissionFrame& frame) noexcept : frame_(frame) {}
    EmissionScope(const EmissionScope&) = delete;
    EmissionScope& operator=(const EmissionScope&) = delete;
    /// Unpins (see leave()).
    ~EmissionScope() { leave(frame_); }

    /// Ends the emission that owns `frame`: leaves `passed` null for the frame's next emission,
    /// then unpins, which frees the frame. (One plain store to this thread's own line: cheaper
    /// than loading `passed` to see whether it needs one.)
    static void leave(EmissionFrame& frame) noexcept {
        frame.passed.store(nullptr, std::memory_order_relaxed);
        frame.pinned.store(nullptr, std::memory_order_release);
    }

    /// The snapshot this emission pinned.
    [[nodiscard]] const void* pinned() const noexcept {
        return frame_.pinned.load(std::memory_order_relaxed);
    }

    /// Publishes that every slot before `end` (an entry address in the pinned snapshot) has
    /// returned or was skipped. An emission publishes it before calling the slot at `end`: a
    /// slot that waits for another thread then never makes it wait for slots already behind.
    void passed(const void* end) const noexcept { passed(frame_, end); }

    /// passed() for the emission that owns `frame` (for code that has no scope at hand).
    static void passed(EmissionFrame& frame, const void* end) noexcept {
        frame.passed.store(end, std::memory_order_release);
    }

private:
    /// enter() for this thread's first emission or a nested one.
    AUTHEVENTS_DETAIL_NOINLINE static EmissionFrame& enter_nested() {
        return this_thread_record().free_frame();
    }

    EmissionFrame& frame_;
};

class SlotNode;

/// The queued calls running on this thread, innermost first (a stack linked through the
/// calls' own stack frames): disconnect_and_wait() never waits for its own thread.
struct QueuedCallFrame {
    const SlotNode* node;
    const void* queue;
    const QueuedCallFrame* outer;
};
inline thread_local const QueuedCallFrame* this_thread_queued_calls = nullptr;

/// Marks this thread as waiting (see ThreadRecord::waiting) for the scope's lifetime.
class WaitingScope {
public:
    /// Marks this thread as waiting for the slot `node` (its SlotNode).
    explicit WaitingScope(const void* node)
        : record_(this_thread_record()),
          outer_(record_.waiting_for.load(std::memory_order_relaxed)) {
        record_.waiting_for.store(node, std::memory_order_seq_cst);
        record_.waiting.fetch_add(1, std::memory_order_seq_cst);
    }
    WaitingScope(const WaitingScope&) = delete;
    WaitingScope& operator=(const WaitingScope&) = delete;
    ~WaitingScope() {
        record_.waiting.fetch_sub(1, std::memory_order_seq_cst);
        record_.waiting_for.store(outer_, std::memory_order_seq_cst);
    }

private:
    ThreadRecord& record_;
    const void* outer_;
};

/// Waits politely: spins with yields first, then sleeps up to a millisecond between polls.
class PollBackoff {
public:
    void pause() {
        if (rounds_ < 64) {
            ++rounds_;
            yield();
            return;
        }
        sleep(sleep_us_);
        if (sleep_us_ < 1000) {
            sleep_us_ *= 2;
        }
    }

private:
#if defined(__unix__) || defined(__APPLE__)
    static void yield() noexcept { sched_yield(); }
    static void sleep(long microseconds) noexcept {
        timespec duration{};
        duration.tv_nsec = microseconds * 1000;
        nanosleep(&duration, nullptr);
    }
#else
    static void yield() { std::this_thread::yield(); }
    static void sleep(long microseconds) {
        std::this_thread::sleep_for(std::chrono::microseconds(microseconds));
    }
#endif

    int rounds_ = 0;
    long sleep_us_ = 20;
};

} // namespace authevents::detail
