#include "analytics.hpp"

#include <algorithm>
#include <tuple>
#include <type_traits>
#include <utility>

namespace authsvc::handlers {
namespace {

using Properties = std::map<std::string, std::string>;
using namespace authevents;

std::string yes_no(bool value) { return value ? "true" : "false"; }
std::string join(const std::vector<std::string>& words) {
    std::string joined;
    for (const std::string& word : words) {
        joined += (joined.empty() ? "" : ",") + word;
    }
    return joined;
}

// The user id and properties tracked for each event.
std::pair<std::int64_t, Properties> describe(const UserRegistered& e) {
    return {e.user.id,
            {{"email_sent", yes_no(e.email_sent)},
             {"signup_method", "email"},
             {"language", e.user.language}}};
}
std::pair<std::int64_t, Properties> describe(const UserEmailVerified& e) {
    return {e.user.id, {{"funnel_step", "email_verified"}}};
}
std::pair<std::int64_t, Properties> describe(const UserLoginSuccessful& e) {
    return {e.user.id, {{"required_2fa", yes_no(e.required_2fa)}}};
}
std::pair<std::int64_t, Properties> describe(const UserLoginFailed& e) {
    return {0, {{"reason", to_string(e.reason)}}};
}
std::pair<std::int64_t, Properties> describe(const User2faEnabled& e) { return {e.user.id, {}}; }
std::pair<std::int64_t, Properties> describe(const User2faDisabled& e) { return {e.user.id, {}}; }
std::pair<std::int64_t, Properties> describe(const SellerApplicationSubmitted& e) {
    return {e.application.applicant.id,
            {{"seller_type", e.application.seller_type},
             {"is_resubmission", yes_no(e.is_resubmission)}}};
}
std::pair<std::int64_t, Properties> describe(const SellerApplicationApproved& e) {
    return {e.new_seller.id,
            {{"seller_type", e.application.seller_type},
             {"approved_by", std::to_string(e.admin_user.id)}}};
}
std::pair<std::int64_t, Properties> describe(const SellerApplicationRejected& e) {
    return {e.application.applicant.id,
            {{"seller_type", e.application.seller_type},
             {"rejected_by", std::to_string(e.admin_user.id)}}};
}
std::pair<std::int64_t, Properties> describe(const ProfileUpdated& e) {
    return {e.user.id,
            {{"fields", join(e.updated_fields)},
             {"profile_completion", std::to_string(e.profile_completion)}}};
}
std::pair<std::int64_t, Properties> describe(const ProfilePictureUploaded& e) {
    return {e.user.id, {}};
}
std::pair<std::int64_t, Properties> describe(const ProfilePictureDeleted& e) {
    return {e.user.id, {}};
}

} // namespace

AnalyticsTracker::AnalyticsTracker(Activity activity) : activity_(std::move(activity)) {}

template <class Event> void AnalyticsTracker::on(const Event& event) {
    auto [user_id, properties] = describe(event);
    track(std::string(Event::name), user_id, std::move(properties));
}

template <class Event> Connection AnalyticsTracker::connect_one(EventDispatcher& dispatcher) {
    return dispatcher.connect<Event>(
        [this](const Event& event) { on(event); },
        handler_options("analytics." + std::string(Event::name), analytics_priority));
}

std::vector<authevents::Connection> AnalyticsTracker::connect(EventDispatcher& dispatcher) {
    std::vector<Connection> connections;
    std::apply( // one connect_one<Event>() per built-in event
        [&](const auto&... events) {
            (connections.push_back(connect_one<std::decay_t<decltype(events)>>(dispatcher)), ...);
        },
        BuiltinEvents{});
    return connections;
}

void AnalyticsTracker::track(std::string name, std::int64_t user_id, Properties properties) {
    std::string line = name + (user_id != 0 ? " user=" + std::to_string(user_id) : "");
    for (const auto& [key, value] : properties) {
        line += " " + key + "=" + value;
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        events_.push_back(AnalyticsEvent{std::move(name), user_id, std::move(properties)});
    }
    report(activity_, "analytics", "tracked " + line);
}

std::vector<AnalyticsEvent> AnalyticsTracker::events() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return events_;
}

std::size_t AnalyticsTracker::count(std::string_view name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(events_.begin(), events_.end(),
                      [name](const AnalyticsEvent& event) { return event.name == name; }));
}

} // namespace authsvc::handlers
