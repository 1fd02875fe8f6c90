/// @file
/// The CloudEvent being delivered on the calling thread: a StreamConsumer marks each event it
/// dispatches with a DeliveryScope, so that observers of its dispatcher (the audit log) can
/// learn the CloudEvent behind the typed event they see, and record its id.
///
/// Part of authevents::bus (CMake target authevents::bus).
#pragma once

#include <authevents/bus/envelope.hpp>

namespace authevents::bus {
struct Delivery;
} // namespace authevents::bus

namespace authevents::detail {
inline bus::Delivery*& current_delivery_slot() noexcept {
    thread_local bus::Delivery* slot = nullptr;
    return slot;
}
} // namespace authevents::detail

namespace authevents::bus {

/// One delivery in progress: the CloudEvent and whether an observer has claimed it (taken
/// its id for the typed event it saw). Valid only on its thread, during the dispatch.
struct Delivery {
    const CloudEvent* event = nullptr; ///< The CloudEvent being dispatched.
    /// Set by the first observer that matched the event to it, so that an event a handler
    /// dispatches from inside this delivery is not taken for the delivered one.
    bool claimed = false;
};

/// The delivery the calling thread is dispatching now, or nullptr outside a consumer's
/// dispatch. Thread-safe (a per-thread value); noexcept.
inline Delivery* current_delivery() noexcept { return detail::current_delivery_slot(); }

/// Marks `event` as the calling thread's current delivery for the scope's lifetime, restoring
/// the previous one (deliveries may nest) when it ends. Not copyable or movable; noexcept.
class DeliveryScope {
public:
    /// Makes `event` the current delivery; `event` must outlive the scope.
    explicit DeliveryScope(const CloudEvent& event) noexcept
        : delivery_{&event, false}, previous_(detail::current_delivery_slot()) {
        detail::current_delivery_slot() = &delivery_;
    }
    ~DeliveryScope() { detail::current_delivery_slot() = previous_; }
    DeliveryScope(const DeliveryScope&) = delete;
    DeliveryScope& operator=(const DeliveryScope&) = delete;

private:
    Delivery delivery_;
    Delivery* previous_;
};

} // namespace authevents::bus
