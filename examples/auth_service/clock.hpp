// Time for the auth service and its handlers, injected so that tests (and the demo's
// scripted transcript) control it instead of the wall clock.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>

namespace authsvc {

using TimePoint = std::chrono::system_clock::time_point;

/// Returns the current time. Must be thread-safe: handlers call it from any thread.
using Clock = std::function<TimePoint()>;

/// The wall clock.
inline Clock system_clock() {
    return [] { return std::chrono::system_clock::now(); };
}

/// A clock that moves only when told to: for tests and reproducible demos. Thread-safe.
class ManualClock {
public:
    /// Starts at `start` (default: 2024-01-01T00:00:00Z).
    explicit ManualClock(TimePoint start = TimePoint{std::chrono::seconds{1704067200}})
        : ticks_(start.time_since_epoch().count()) {}

    /// The current time.
    [[nodiscard]] TimePoint now() const noexcept {
        return TimePoint{TimePoint::duration{ticks_.load()}};
    }

    /// Moves the clock forward by `step`.
    void advance(std::chrono::system_clock::duration step) noexcept { ticks_ += step.count(); }

    /// A Clock reading this one; this object must outlive it.
    [[nodiscard]] Clock clock() const {
        return [this] { return now(); };
    }

private:
    std::atomic<TimePoint::duration::rep> ticks_;
};

} // namespace authsvc
