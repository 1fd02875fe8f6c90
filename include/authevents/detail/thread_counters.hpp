// Counters that threads increment without a locked instruction: each thread adds into a cell
// of its own, and a read sums the cells.
#pragma once

#include <authevents/detail/emission_frames.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>

namespace authevents::detail {

/// `Count` counters, each the sum of per-thread cells. add() is a plain load and store to a
/// cache line only the calling thread writes (a cell belongs to a thread record, which one
/// live thread owns at a time); read() sums every cell and subtracts the baseline set by
/// reset(), so a reset never races with an increment. Every member is thread-safe.
template <std::size_t Count> class ThreadCounters {
public:
    ThreadCounters() = default;
    ThreadCounters(const ThreadCounters&) = delete;
    ThreadCounters& operator=(const ThreadCounters&) = delete;
    ~ThreadCounters() {
        for (auto& chunk : chunks_) {
            delete chunk.load(std::memory_order_relaxed);
        }
    }

    /// Adds `amount` to counter `which` for this thread. Never throws: if no cell can be had
    /// (out of memory, or more than 1024 thread records) the count goes to a shared counter
    /// (one locked add).
    ///
    /// Inline, for the first 16 thread records (whose cells are members) it is one thread-local
    /// load (the record's index), a compare and the cell's load and store: no call, no pointer
    /// to follow. Other threads, and a thread's first count anywhere, take add_slow().
    AUTHEVENTS_DETAIL_INLINE void add(std::size_t which, std::uint64_t amount) noexcept {
        const std::size_t index = this_thread_record_index; // SIZE_MAX: no record yet
        if (AUTHEVENTS_DETAIL_LIKELY(index < chunk_cells)) {
            bump(first_.cells[index].counters[which], amount);
            return;
        }
        add_slow(which, amount);
    }

    /// add(first, first_amount) and add(second, second_amount) in one go.
    void add(std::size_t first, std::uint64_t first_amount, std::size_t second,
             std::uint64_t second_amount) noexcept {
        std::atomic<std::uint64_t>* counters = own_cell();
        if (counters == nullptr) {
            shared_[first].fetch_add(first_amount, std::memory_order_relaxed);
            shared_[second].fetch_add(second_amount, std::memory_order_relaxed);
            return;
        }
        bump(counters[first], first_amount);
        bump(counters[second], second_amount);
    }

    /// Counter `which`: every thread's additions since the last reset().
    [[nodiscard]] std::uint64_t read(std::size_t which) const noexcept {
        std::lock_guard<std::mutex> lock(reset_mutex_);
        return sum(which) - baseline_[which];
    }

    /// Sets every counter to zero (additions that race with it count or not, each entirely).
    void reset() noexcept {
        std::lock_guard<std::mutex> lock(reset_mutex_);
        for (std::size_t which = 0; which < Count; ++which) {
            baseline_[which] = sum(which);
        }
    }

private:
    struct alignas(64) Cell {
        std::array<std::atomic<std::uint64_t>, Count> counters{};
    };
    static constexpr std::size_t chunk_cells = 16;
    static constexpr std::size_t chunk_count = 64; // cells for the first 1024 thread records
    struct Chunk {
        std::array<Cell, chunk_cells> cells{};
    };

    /// Only the owner thread writes the cell: a plain load and store, no locked add.
    static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t amount) noexcept {
        counter.store(counter.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
    }

    /// add() for a thread whose record is not one of the first 16 or that has none yet.
    AUTHEVENTS_DETAIL_NOINLINE void add_slow(std::size_t which, std::uint64_t amount) noexcept {
        std::atomic<std::uint64_t>* counters = own_cell();
        if (counters == nullptr) {
            shared_[which].fetch_add(amount, std::memory_order_relaxed);
            return;
        }
        bump(counters[which], amount);
    }

    /// This thread's cell (its counters), or nullptr if none can be had. The first threads'
    /// cells are members (no pointer to follow, no allocation): a count is then a thread-local
    /// load of the record's index, and the cell's load and store.
    std::atomic<std::uint64_t>* own_cell() noexcept {
        const std::size_t index = this_thread_record_index; // SIZE_MAX: no record yet
        if (index < chunk_cells) {
            return first_.cells[index].counters.data();
        }
        if (index < chunk_cells * chunk_count) {
            if (Chunk* chunk = chunks_[index / chunk_cells].load(std::memory_order_acquire)) {
                return chunk->cells[index % chunk_cells].counters.data();
            }
        }
        return own_cell_slow();
    }

    /// own_cell() on this thread's first count here (or its first emission at all).
    AUTHEVENTS_DETAIL_NOINLINE std::atomic<std::uint64_t>* own_cell_slow() noexcept {
        const ThreadRecord* record = this_thread_record_ptr;
        if (record == nullptr) {
            try {
                record = &this_thread_record();
            } catch (...) {
                return nullptr; // out of memory
            }
        }
        const std::size_t chunk_index = record->index / chunk_cells;
        if (chunk_index == 0) {
            return first_.cells[record->index].counters.data();
        }
        if (chunk_index >= chunk_count) {
            return nullptr;
        }
        Chunk* chunk = chunks_[chunk_index].load(std::memory_order_acquire);
        if (chunk == nullptr) {
            chunk = make_chunk(chunk_index);
            if (chunk == nullptr) {
                return nullptr;
            }
        }
        return chunk->cells[record->index % chunk_cells].counters.data();
    }

    Chunk* make_chunk(std::size_t chunk_index) noexcept {
        auto* made = new (std::nothrow) Chunk();
        if (made == nullptr) {
            return nullptr;
        }
        Chunk* expected = nullptr;
        if (!chunks_[chunk_index].compare_exchange_strong(expected, made,
                                                          std::memory_order_acq_rel)) {
            delete made;
            return expected;
        }
        return made;
    }

    std::uint64_t sum(std::size_t which) const noexcept {
        std::uint64_t total = shared_[which].load(std::memory_order_relaxed);
        for (const Cell& cell : first_.cells) {
            total += cell.counters[which].load(std::memory_order_relaxed);
        }
        for (const auto& slot : chunks_) {
            if (const Chunk* chunk = slot.load(std::memory_order_acquire)) {
                for (const Cell& cell : chunk->cells) {
                    total += cell.counters[which].load(std::memory_order_relaxed);
                }
            }
        }
        return total;
    }

    Chunk first_{};                                         // the cells of records 0 to 15
    std::array<std::atomic<Chunk*>, chunk_count> chunks_{}; // [0] unused: first_ instead
    std::array<std::atomic<std::uint64_t>, Count> shared_{};
    mutable std::mutex reset_mutex_;
    std::array<std::uint64_t, Count> baseline_{};
};

} // namespace authevents::detail
