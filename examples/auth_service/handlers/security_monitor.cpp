#include "security_monitor.hpp"

#include "../mail.hpp"
#include "../validation.hpp"

#include <algorithm>
#include <utility>

namespace authsvc::handlers {

const char* to_string(SecurityAlert::Kind kind) noexcept {
    switch (kind) {
    case SecurityAlert::Kind::brute_force_email:
        return "brute_force_email";
    case SecurityAlert::Kind::brute_force_ip:
        return "brute_force_ip";
    case SecurityAlert::Kind::new_sign_in_ip:
        return "new_sign_in_ip";
    }
    return "unknown";
}

SecurityMonitor::SecurityMonitor(Clock clock, SecurityMonitorOptions options, Activity activity)
    : clock_(std::move(clock)), options_(std::move(options)), activity_(std::move(activity)) {}

std::vector<authevents::Connection>
SecurityMonitor::connect(authevents::EventDispatcher& dispatcher) {
    return {
        dispatcher.user_login_failed.connect(
            [this](const authevents::UserLoginFailed& event) { on_login_failed(event); },
            handler_options("security.failed_logins", security_priority)),
        dispatcher.user_login_successful.connect(
            [this](const authevents::UserLoginSuccessful& event) { on_login_successful(event); },
            handler_options("security.new_sign_in", security_priority)),
    };
}

void SecurityMonitor::count_failure(std::map<std::string, Window>& windows, const std::string& key,
                                    SecurityAlert::Kind kind, TimePoint now,
                                    std::vector<SecurityAlert>& raised) {
    Window& window = windows[key];
    window.failures.push_back(now);
    while (window.failures.front() <= now - options_.window) { // slide: drop expired failures
        window.failures.pop_front();
    }
    if (window.failures.size() <= options_.threshold) {
        window.alerted = false; // the burst is over: a new one alerts again
    } else if (!window.alerted) {
        window.alerted = true;
        raised.push_back(SecurityAlert{kind, key, window.failures.size(), now});
    }
}

void SecurityMonitor::on_login_failed(const authevents::UserLoginFailed& event) {
    const TimePoint now = clock_();
    const std::string email = normalize_email(event.email);
    const std::string ip = event.ip_address.value_or("");
    std::vector<SecurityAlert> raised;
    std::size_t email_failures = 0;
    std::size_t ip_failures = 0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        count_failure(by_email_, email, SecurityAlert::Kind::brute_force_email, now, raised);
        email_failures = by_email_[email].failures.size();
        if (!ip.empty()) {
            count_failure(by_ip_, ip, SecurityAlert::Kind::brute_force_ip, now, raised);
            ip_failures = by_ip_[ip].failures.size();
        }
        alerts_.insert(alerts_.end(), raised.begin(), raised.end());
    }
    const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(options_.window);
    report(activity_, "security",
           "failures in the last " + std::to_string(minutes.count()) +
               " min: " + std::to_string(email_failures) + " for " + email +
               (ip.empty() ? "" : ", " + std::to_string(ip_failures) + " from " + ip) +
               " (alert above " + std::to_string(options_.threshold) + ")");
    for (const SecurityAlert& alert : raised) {
        raise(alert, ip.empty() ? "unknown" : ip);
    }
}

void SecurityMonitor::on_login_successful(const authevents::UserLoginSuccessful& event) {
    if (!event.ip_address) {
        return;
    }
    bool new_ip = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        std::set<std::string>& known = known_ips_[event.user.id];
        new_ip = !known.empty() && known.find(*event.ip_address) == known.end();
        known.insert(*event.ip_address);
        if (new_ip) {
            alerts_.push_back(
                SecurityAlert{SecurityAlert::Kind::new_sign_in_ip, event.user.email, 0, clock_()});
        }
    }
    if (new_ip) {
        report(activity_, "security",
               "new sign-in IP " + *event.ip_address + " for " + event.user.email);
        mail::send(mail::Message{event.user.email, "New sign-in to your account",
                                 "We noticed a sign-in from " + *event.ip_address +
                                     ". If this was not you, change your password now.",
                                 "new_sign_in"});
    }
}

void SecurityMonitor::raise(const SecurityAlert& alert, const std::string& ip_address) {
    const std::string what = std::string("ALERT ") + to_string(alert.kind) + ": " +
                             std::to_string(alert.failures) + " failed logins for " +
                             alert.subject + " within the window (last from " + ip_address + ")";
    report(activity_, "security", what);
    mail::send(mail::Message{options_.security_team, "Brute force detected: " + alert.subject, what,
                             "security_alert"});
}

std::vector<SecurityAlert> SecurityMonitor::alerts() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return alerts_;
}

std::size_t SecurityMonitor::recent_failures_for_email(const std::string& email) const {
    const TimePoint oldest_counted = clock_() - options_.window;
    std::lock_guard<std::mutex> lock(mutex_);
    const auto found = by_email_.find(normalize_email(email));
    if (found == by_email_.end()) {
        return 0;
    }
    const std::deque<TimePoint>& failures = found->second.failures;
    return static_cast<std::size_t>(std::count_if(
        failures.begin(), failures.end(), [&](TimePoint at) { return at > oldest_counted; }));
}

} // namespace authsvc::handlers
