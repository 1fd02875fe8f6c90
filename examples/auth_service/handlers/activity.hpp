// What the handlers share: a sink to report what they did, and ConnectOptions shorthand.
#pragma once

#include <authevents/signal.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace authsvc::handlers {

/// Where a handler reports what it did, e.g. `("crm", "contact created: ana@example.com")`.
/// The demo prints it; tests may leave it empty. Must be thread-safe.
using Activity = std::function<void(std::string_view handler, std::string_view what)>;

/// Calls `activity` if it is set.
inline void report(const Activity& activity, std::string_view handler, std::string_view what) {
    if (activity) {
        activity(handler, what);
    }
}

/// ConnectOptions with a dispatch_uid (so a second connect is a no-op, as with Django's
/// dispatch_uid) and a priority (higher runs first).
inline authevents::ConnectOptions handler_options(std::string dispatch_uid, int priority = 0) {
    authevents::ConnectOptions options;
    options.dispatch_uid = std::move(dispatch_uid);
    options.priority = priority;
    return options;
}

/// Priorities used by this service's handlers: security checks first, analytics last (so it
/// sees every other handler's work done), everything else in between.
inline constexpr int security_priority = 100;
inline constexpr int default_priority = 0;
inline constexpr int integration_priority = -10;
inline constexpr int analytics_priority = -100;

} // namespace authsvc::handlers
