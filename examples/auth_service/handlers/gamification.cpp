#include "gamification.hpp"

#include "../mail.hpp"

#include <authevents/receiver.hpp>

namespace authsvc::handlers {
namespace {

struct Badge {
    int threshold;
    const char* id;
    const char* title;
};

constexpr Badge profile_badges[] = {
    {50, "profile_50", "Profile Halfway There!"},
    {100, "profile_100", "Profile Complete!"},
};

} // namespace

BadgeAwards::BadgeAwards(Activity activity) : activity_(std::move(activity)) {}

std::vector<authevents::Connection> BadgeAwards::connect(authevents::EventDispatcher& dispatcher) {
    return authevents::receiver<authevents::ProfileUpdated>(
        dispatcher, [this](const authevents::ProfileUpdated& event) { on_profile_updated(event); },
        handler_options("gamification.profile_badges"));
}

void BadgeAwards::on_profile_updated(const authevents::ProfileUpdated& event) {
    for (const Badge& badge : profile_badges) {
        if (event.profile_completion < badge.threshold) {
            continue;
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!held_.emplace(event.user.id, badge.id).second) {
                continue; // already awarded: once only
            }
            awards_.emplace_back(event.user.id, badge.id);
        }
        report(activity_, "gamification",
               std::string("badge ") + badge.id + " awarded to " + event.user.email + " at " +
                   std::to_string(event.profile_completion) + "%");
        mail::send(mail::Message{event.user.email, std::string("Badge earned: ") + badge.title,
                                 "You earned the \"" + std::string(badge.title) +
                                     "\" badge for filling in your profile.",
                                 "badge_earned"});
    }
}

bool BadgeAwards::has_badge(std::int64_t user_id, const std::string& badge) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return held_.find({user_id, badge}) != held_.end();
}

std::vector<std::pair<std::int64_t, std::string>> BadgeAwards::awards() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return awards_;
}

} // namespace authsvc::handlers
