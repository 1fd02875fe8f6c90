// The writers' lock of a signal: a spinning lock released with a plain store.
#pragma once

#include <authevents/detail/emission_frames.hpp> // PollBackoff, AUTHEVENTS_DETAIL_NOINLINE

#include <atomic>

namespace authevents::detail {

/// The writers' lock of one signal: an exchange takes it, a plain release store gives it back
/// (std::mutex's unlock is a second locked instruction, about 9 ns on some machines, paid by
/// every connect and disconnect). Writers hold it briefly and never while user code runs, so a
/// writer that finds it taken spins a little, then yields and sleeps (PollBackoff) until it is
/// free. Not fair; never throws. Satisfies Lockable (std::lock_guard, std::unique_lock).
class WriterLock {
public:
    WriterLock() = default;
    WriterLock(const WriterLock&) = delete;
    WriterLock& operator=(const WriterLock&) = delete;

    void lock() noexcept {
        if (locked_.exchange(true, std::memory_order_acquire)) {
            lock_contended();
        }
    }

    [[nodiscard]] bool try_lock() noexcept {
        return !locked_.load(std::memory_order_relaxed) &&
               !locked_.exchange(true, std::memory_order_acquire);
    }

    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

private:
    AUTHEVENTS_DETAIL_NOINLINE void lock_contended() noexcept {
        PollBackoff backoff;
        for (int spins = 0; !try_lock(); ++spins) {
            if (spins >= 100) {
                backoff.pause(); // the holder may be waiting for this CPU
            }
        }
    }

    std::atomic<bool> locked_{false};
};

} // namespace authevents::detail
