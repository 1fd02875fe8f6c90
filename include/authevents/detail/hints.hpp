/// @file
/// Compiler hints for the hot paths (internal): keep a rare path out of line, force a step
/// inline, mark the likely branch, align a function, fetch a line early. Each falls back to
/// nothing (or plain `inline`) on a compiler that has no such attribute.
#pragma once

/// Keeps a rarely taken path out of the hot function that calls it (internal).
#if defined(_MSC_VER) && !defined(__clang__)
#define AUTHEVENTS_DETAIL_NOINLINE __declspec(noinline)
#elif defined(__GNUC__) || defined(__clang__)
#define AUTHEVENTS_DETAIL_NOINLINE __attribute__((noinline))
#else
#define AUTHEVENTS_DETAIL_NOINLINE
#endif

/// Starts an out-of-line emission function on a cache line of its own (internal): where its slot
/// loop falls relative to line boundaries then depends on the function alone, not on the code
/// the compiler happened to place before it (a loop that straddles two lines runs measurably
/// slower, so otherwise an unrelated change elsewhere moves the timings).
#if defined(__GNUC__) || defined(__clang__)
#define AUTHEVENTS_DETAIL_LINE_ALIGNED __attribute__((aligned(64)))
#else
#define AUTHEVENTS_DETAIL_LINE_ALIGNED
#endif

/// Marks the branch a send takes in the common case, so that the compiler lays it out as the
/// straight path (internal; C++17 has no [[likely]]).
#if defined(__GNUC__) || defined(__clang__)
#define AUTHEVENTS_DETAIL_LIKELY(condition) __builtin_expect(static_cast<bool>(condition), 1)
#else
#define AUTHEVENTS_DETAIL_LIKELY(condition) static_cast<bool>(condition)
#endif

/// Forces a function inline into its caller (internal): a function with a try block, which
/// compilers are reluctant to inline, and each step of send()'s emission, which clang otherwise
/// left as a chain of calls that cost more than the slot loop.
#if defined(_MSC_VER) && !defined(__clang__)
#define AUTHEVENTS_DETAIL_INLINE __forceinline
#elif defined(__GNUC__) || defined(__clang__)
#define AUTHEVENTS_DETAIL_INLINE inline __attribute__((always_inline))
#else
#define AUTHEVENTS_DETAIL_INLINE inline
#endif

/// AUTHEVENTS_DETAIL_INLINE for a lambda, written after its parameter list (internal): for
/// a lambda with a try block that its one caller must inline.
#if defined(__GNUC__) || defined(__clang__)
#define AUTHEVENTS_DETAIL_INLINE_LAMBDA __attribute__((always_inline))
#else
#define AUTHEVENTS_DETAIL_INLINE_LAMBDA
#endif

/// Starts fetching the cache line at `address` for a read that comes later (internal): a hint,
/// no access (never faults), nothing where the compiler has no such builtin.
#if defined(__GNUC__) || defined(__clang__)
#define AUTHEVENTS_DETAIL_PREFETCH(address) __builtin_prefetch(address)
#else
#define AUTHEVENTS_DETAIL_PREFETCH(address) static_cast<void>(address)
#endif
