// An asymmetric fence: senders pay a compiler barrier, the rare writer a process-wide barrier.
//
// A send publishes its pin (a store) and then reads the signal's state (loads); a writer that
// must know about every pin publishes its change (a store) and then reads the pins (loads).
// Each side needs its store ordered before its loads, which on most CPUs takes a full fence
// (x86: a locked instruction or mfence, 5-15 ns on some machines). Instead, the sender only
// keeps the compiler from reordering (light()) and the writer, before reading the pins, makes
// every other running thread of the process execute a full barrier (heavy()): Linux's
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), Windows' FlushProcessWriteBuffers. A sender is
// then either wholly before that barrier (its pin is visible to the writer's reads) or its
// loads come after it (they see the writer's change). Where neither exists, or under
// ThreadSanitizer (which cannot see the kernel's barrier), both sides use ordinary
// sequentially consistent operations: the symmetric mode, chosen at run time.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__SANITIZE_THREAD__)
#define AUTHEVENTS_DETAIL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define AUTHEVENTS_DETAIL_TSAN 1
#endif
#endif

#if defined(_WIN32) && !defined(AUTHEVENTS_DETAIL_TSAN)
// Declared here rather than through <windows.h> (matches its declaration exactly).
extern "C" __declspec(dllimport) void __stdcall FlushProcessWriteBuffers(void);
#endif

namespace authevents::detail {

/// How senders and writers order a pin against what they read next.
enum class FenceMode : std::uint8_t {
    /// Not chosen yet: senders use the symmetric (always correct) path.
    unknown,
    /// Senders: a compiler barrier; writers: a process-wide barrier.
    asymmetric,
    /// Both sides: sequentially consistent operations (a sender's pin is a full fence).
    symmetric,
};

/// The mode every sender reads, on a cache line of its own (written once, read per send).
struct alignas(64) FenceModeCell {
    std::atomic<FenceMode> mode{FenceMode::unknown};
    /// What the machine supports (asymmetric or symmetric); set once by choose().
    std::atomic<FenceMode> supported{FenceMode::unknown};
};
inline FenceModeCell fence_mode_cell;

namespace asymmetric_fence {

#if defined(__linux__) && defined(SYS_membarrier) && !defined(AUTHEVENTS_DETAIL_TSAN)
// The values of <linux/membarrier.h>, which older C libraries do not ship.
inline constexpr int membarrier_query = 0;
inline constexpr int membarrier_private_expedited = 1 << 3;
inline constexpr int membarrier_register_private_expedited = 1 << 4;

inline long membarrier(int command) noexcept { return syscall(SYS_membarrier, command, 0U, 0); }

/// True when this process can use membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) (registers it).
inline bool register_process() noexcept {
    const long supported = membarrier(membarrier_query);
    return supported > 0 && (supported & membarrier_private_expedited) != 0 &&
           membarrier(membarrier_register_private_expedited) == 0;
}

/// The process-wide barrier. A registration is lost in a forked child: registers again once.
inline void process_barrier() noexcept {
    if (membarrier(membarrier_private_expedited) == 0) {
        return;
    }
    if (register_process() && membarrier(membarrier_private_expedited) == 0) {
        return;
    }
    // Senders already skip their fence: without the barrier their pins could go unseen and a
    // snapshot or callable still in use be freed. The kernel documents no such failure once
    // registered; stop rather than corrupt memory.
    std::terminate();
}
#define AUTHEVENTS_DETAIL_HAS_PROCESS_BARRIER 1
#elif defined(_WIN32) && !defined(AUTHEVENTS_DETAIL_TSAN)
inline bool register_process() noexcept { return true; }
inline void process_barrier() noexcept { FlushProcessWriteBuffers(); }
#define AUTHEVENTS_DETAIL_HAS_PROCESS_BARRIER 1
#endif

/// Chooses the mode once per process (idempotent, thread-safe) and returns it. Senders call it
/// before their first pin (when their thread registers), writers before every heavy().
inline FenceMode choose() noexcept {
    FenceMode mode = fence_mode_cell.mode.load(std::memory_order_acquire);
    if (mode != FenceMode::unknown) {
        return mode;
    }
    static const FenceMode chosen = [] {
#ifdef AUTHEVENTS_DETAIL_HAS_PROCESS_BARRIER
        const FenceMode supported =
            register_process() ? FenceMode::asymmetric : FenceMode::symmetric;
#else
        const FenceMode supported = FenceMode::symmetric;
#endif
        fence_mode_cell.supported.store(supported, std::memory_order_relaxed);
        FenceMode expected = FenceMode::unknown;
        fence_mode_cell.mode.compare_exchange_strong(expected, supported,
                                                     std::memory_order_acq_rel);
        return supported;
    }();
    static_cast<void>(chosen);
    return fence_mode_cell.mode.load(std::memory_order_acquire);
}

/// True when senders may skip their fence (read on every send, so relaxed and inline).
[[nodiscard]] inline bool senders_light() noexcept {
    return fence_mode_cell.mode.load(std::memory_order_relaxed) == FenceMode::asymmetric;
}

/// The writer's side: after its store, before reading any sender's pin or progress. Orders
/// every sender's earlier stores before the writer's later loads, and the writer's earlier
/// stores before every sender's later loads. Costs a system call (about 0.1 us alone, a few
/// microseconds when other threads of the process are running) in the asymmetric mode, nothing
/// in the symmetric one: there the senders' pins and the writers' stores and scans are all
/// sequentially consistent operations, which are ordered among themselves. Thread-safe; never
/// throws.
inline void heavy() noexcept {
#ifdef AUTHEVENTS_DETAIL_HAS_PROCESS_BARRIER
    if (choose() == FenceMode::asymmetric) {
        process_barrier();
    }
#endif
}

/// For tests: forces the symmetric mode (true) or restores what the machine supports (false),
/// and returns the mode now in force. Call it only while no other thread is sending or
/// writing a signal, and before such threads next do (e.g. between joined test threads): a
/// sender and a writer must read the same mode.
inline FenceMode force_symmetric(bool force) noexcept {
    choose();
    const FenceMode mode =
        force ? FenceMode::symmetric : fence_mode_cell.supported.load(std::memory_order_relaxed);
    fence_mode_cell.mode.store(mode, std::memory_order_seq_cst);
    return mode;
}

} // namespace asymmetric_fence
} // namespace authevents::detail
