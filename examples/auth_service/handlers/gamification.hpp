// Use case 5, gamification: profile completion badges. At 50% a user earns "profile_50"
// ("Profile Halfway There!"), at 100% "profile_100" ("Profile Complete!"), each once, with a
// congratulation email. Connected with authevents::receiver<ProfileUpdated>(dispatcher, ...),
// the immediate form of Django's @receiver.
#pragma once

#include "activity.hpp"

#include <authevents/dispatcher.hpp>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace authsvc::handlers {

/// The badge handler and the badges it awarded. Thread-safe.
class BadgeAwards {
public:
    explicit BadgeAwards(Activity activity = {});

    /// Connects "gamification.profile_badges" to profile_updated; returns the connections.
    std::vector<authevents::Connection> connect(authevents::EventDispatcher& dispatcher);

    /// profile_updated: awards the badges the new completion earns and the user lacks.
    void on_profile_updated(const authevents::ProfileUpdated& event);

    /// True when `user_id` holds `badge`.
    [[nodiscard]] bool has_badge(std::int64_t user_id, const std::string& badge) const;
    /// Every award made, in order, as (user id, badge).
    [[nodiscard]] std::vector<std::pair<std::int64_t, std::string>> awards() const;

private:
    Activity activity_;
    mutable std::mutex mutex_;
    std::set<std::pair<std::int64_t, std::string>> held_;
    std::vector<std::pair<std::int64_t, std::string>> awards_;
};

} // namespace authsvc::handlers
