// Per-thread records of the emissions in progress: the reader side of the slot snapshots.
//
// Every thread that emits owns one ThreadRecord. An emission takes the next free frame of its
// thread's record, pins the snapshot it reads there (one store to a cache line only this thread
// writes, then a re-check) and advances the frame's cursor after each slot it calls. Writers scan
// all records to learn which snapshots are still being read (so they can free the others) and
// which slot calls are in flight (so disconnect_and_wait() knows whom to wait for). Emitters
// never write memory another thread writes.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>

namespace authevents::detail {

/// One emission in progress: the snapshot it pinned and the index of the next slot it may call.
struct EmissionFrame {
    /// The snapshot this emission reads, or nullptr when the frame is unused.
    std::atomic<const void*> pinned{nullptr};
    /// Slots of `pinned` with an index below this have finished running in this emission.
    std::atomic<std::size_t> next_slot{0};
    /// The emission's sender key (nullptr: any): it calls only slots of that sender or any.
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
struct alignas(64) ThreadRecord {
    FrameChunk first;
    std::atomic<bool> in_use{false};
    /// Non-zero while this thread waits in disconnect_and_wait(): its emissions are parked.
    std::atomic<std::uint32_t> waiting{0};
    ThreadRecord* next_record = nullptr; // immutable once the record is published
    std::size_t depth = 0;               // owner thread only

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

    /// Takes the frame for a new, possibly nested, emission. Throws std::bad_alloc only when
    /// nesting exceeds every chunk allocated so far and a new one cannot be allocated.
    EmissionFrame& push() {
        if (depth < FrameChunk::size) {
            return first.frames[depth++];
        }
        return push_nested();
    }

    void pop() noexcept { --depth; }

    /// Calls `visit(const EmissionFrame&)` for every frame of this record. Any thread may call it.
    template <class Visit> void for_each_frame(Visit&& visit) const {
        for (const FrameChunk* chunk = &first; chunk != nullptr;
             chunk = chunk->next.load(std::memory_order_acquire)) {
            for (const EmissionFrame& frame : chunk->frames) {
                visit(frame);
            }
        }
    }

private:
    EmissionFrame& push_nested() {
        FrameChunk* chunk = &first;
        std::size_t index = depth;
        while (index >= FrameChunk::size) {
            FrameChunk* next = chunk->next.load(std::memory_order_acquire);
            if (next == nullptr) {
                next = new FrameChunk();
                chunk->next.store(next, std::memory_order_release);
            }
            chunk = next;
            index -= FrameChunk::size;
        }
        ++depth;
        return chunk->frames[index];
    }
};

/// The process-wide list of thread records (constant-initialised, push-only).
struct ThreadRegistry {
    std::atomic<ThreadRecord*> head{nullptr};

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
        if (record != nullptr && record->depth == 0) {
            this_thread_record_ptr = nullptr;
            record->in_use.store(false, std::memory_order_release);
        }
    }
};

inline ThreadRecord& register_this_thread() {
    ThreadRecord& record = thread_registry.acquire();
    this_thread_record_ptr = &record;
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

/// RAII for one emission's frame: pins a snapshot, records progress, unpins on exit.
class EmissionScope {
public:
    explicit EmissionScope(const void* sender)
        : record_(this_thread_record()), frame_(record_.push()) {
        // Both become visible with the pin (a seq_cst store, so also a release).
        frame_.next_slot.store(0, std::memory_order_relaxed);
        frame_.sender.store(sender, std::memory_order_relaxed);
    }
    EmissionScope(const EmissionScope&) = delete;
    EmissionScope& operator=(const EmissionScope&) = delete;
    ~EmissionScope() {
        frame_.pinned.store(nullptr, std::memory_order_release);
        record_.pop();
    }

    /// Pins the snapshot `source` currently publishes and returns it (nullptr if none). The
    /// seq_cst store then re-load pairs with the writers' seq_cst exchange then scan: a writer
    /// that replaced the snapshot either sees this pin or this emission sees the replacement.
    template <class Snapshot> const Snapshot* pin(const std::atomic<Snapshot*>& source) {
        Snapshot* snapshot = source.load(std::memory_order_acquire);
        while (snapshot != nullptr) {
            frame_.pinned.store(snapshot, std::memory_order_seq_cst);
            Snapshot* again = source.load(std::memory_order_seq_cst);
            if (again == snapshot) {
                return snapshot;
            }
            snapshot = again;
        }
        return nullptr;
    }

    /// Publishes that the slot at `index` has returned.
    void finished(std::size_t index) noexcept {
        frame_.next_slot.store(index + 1, std::memory_order_release);
    }

private:
    ThreadRecord& record_;
    EmissionFrame& frame_;
};

/// Marks this thread as waiting (see ThreadRecord::waiting) for the scope's lifetime.
class WaitingScope {
public:
    WaitingScope() : record_(this_thread_record()) {
        record_.waiting.fetch_add(1, std::memory_order_seq_cst);
    }
    WaitingScope(const WaitingScope&) = delete;
    WaitingScope& operator=(const WaitingScope&) = delete;
    ~WaitingScope() { record_.waiting.fetch_sub(1, std::memory_order_seq_cst); }

private:
    ThreadRecord& record_;
};

/// Waits politely: spins with yields first, then sleeps up to a millisecond between polls.
class Backoff {
public:
    void pause() {
        if (rounds_ < 64) {
            ++rounds_;
            std::this_thread::yield();
            return;
        }
        std::this_thread::sleep_for(sleep_);
        if (sleep_ < std::chrono::microseconds(1000)) {
            sleep_ *= 2;
        }
    }

private:
    int rounds_ = 0;
    std::chrono::microseconds sleep_{20};
};

} // namespace authevents::detail
