// Use case 1, analytics tracking: every event becomes an analytics record (conversion funnel,
// login issues, seller approvals, profile fields). Connected the manual way, with
// dispatcher.connect<Event>(...), one handler per built-in event, at the lowest priority.
#pragma once

#include "activity.hpp"

#include <authevents/dispatcher.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace authsvc::handlers {

/// One tracked analytics event, like `analytics.track(name, user_id, properties)`.
struct AnalyticsEvent {
    std::string name;
    std::int64_t user_id = 0; ///< 0 when there is no user (failed logins).
    std::map<std::string, std::string> properties;
};

/// An in-memory analytics client plus the handlers that feed it. Thread-safe.
class AnalyticsTracker {
public:
    explicit AnalyticsTracker(Activity activity = {});

    /// Connects a handler to each of the twelve built-in events (dispatch_uid
    /// "analytics.<event name>", priority analytics_priority) and returns the connections.
    std::vector<authevents::Connection> connect(authevents::EventDispatcher& dispatcher);

    /// Records one analytics event.
    void track(std::string name, std::int64_t user_id,
               std::map<std::string, std::string> properties);

    /// Every event tracked, in order.
    [[nodiscard]] std::vector<AnalyticsEvent> events() const;
    /// How many events named `name` were tracked.
    [[nodiscard]] std::size_t count(std::string_view name) const;

private:
    template <class Event> void on(const Event& event);
    template <class Event>
    authevents::Connection connect_one(authevents::EventDispatcher& dispatcher);

    Activity activity_;
    mutable std::mutex mutex_;
    std::vector<AnalyticsEvent> events_;
};

} // namespace authsvc::handlers
