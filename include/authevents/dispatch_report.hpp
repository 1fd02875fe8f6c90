/// @file
/// What a dispatch reports: DispatchReport, DispatchAborted and the per-event counters
/// EventStats. Standard headers and signal.hpp (SlotError) only.
#pragma once

#include <authevents/signal.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace authevents {

/// What one dispatch did: how many handlers ran and which of them threw, and which
/// observers threw.
struct DispatchReport {
    /// Handlers that ran, failing ones included (blocked and sender-filtered ones not).
    std::size_t handlers_called = 0;
    /// One entry per handler that threw, in the order they ran.
    std::vector<SlotError> failures;
    /// One entry per observer (EventDispatcher::observers()) that threw, in the order they ran,
    /// also when handlers are disabled: e.g. a bus publisher whose outbox append failed, so
    /// the event was not published. Not looked at by ok().
    std::vector<SlotError> observer_failures;

    /// True when no handler threw.
    [[nodiscard]] bool ok() const noexcept { return failures.empty(); }
};

/// Thrown by an observer (or derived from) to stop a dispatch before any handler runs:
/// EventDispatcher::dispatch() lets the other observers run, then rethrows the first one to
/// its caller instead of calling handlers (e.g. a bus publisher that could not append the
/// event and was configured to fail the dispatch). Thread-safe as any immutable value.
class DispatchAborted : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {
/// True when `error` holds a DispatchAborted (or derived) exception.
inline bool is_dispatch_aborted(const std::exception_ptr& error) noexcept {
    if (!error) {
        return false;
    }
    try {
        std::rethrow_exception(error);
    } catch (const DispatchAborted&) {
        return true;
    } catch (...) {
        return false;
    }
}
} // namespace detail

/// A snapshot of one event type's counters (see EventDispatcher::stats()).
struct EventStats {
    std::string_view name;              ///< The event's `name`.
    std::uint64_t dispatched = 0;       ///< Dispatches while enabled.
    std::uint64_t suppressed = 0;       ///< Dispatches while disabled (no handler called).
    std::uint64_t handlers_called = 0;  ///< Handler calls, failing ones included.
    std::uint64_t handler_failures = 0; ///< Handler calls that threw.
};
} // namespace authevents
