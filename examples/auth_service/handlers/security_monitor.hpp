// Use case 4, security monitoring: more than `threshold` failed logins for one email or from
// one IP address within a sliding time window raise a brute-force alert (to the security
// team's mailbox), once per burst; a successful login from an IP address the user never
// used before sends the user a "new sign-in" notice. Connected the manual way on the named
// signals, at the highest priority. The clock is injected, so the window is testable.
#pragma once

#include "../clock.hpp"
#include "activity.hpp"

#include <authevents/dispatcher.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace authsvc::handlers {

/// Tunables of SecurityMonitor.
struct SecurityMonitorOptions {
    std::size_t threshold = 5; ///< More failures than this within `window` raise an alert.
    std::chrono::system_clock::duration window = std::chrono::minutes(15);
    std::string security_team = "security@shop.example"; ///< Where alerts are mailed.
};

/// A raised alert.
struct SecurityAlert {
    enum class Kind { brute_force_email, brute_force_ip, new_sign_in_ip };
    Kind kind = Kind::brute_force_email;
    std::string subject;      ///< The email or IP address attacked, or the user's email.
    std::size_t failures = 0; ///< Failures in the window when raised (brute force only).
    TimePoint at;
};

/// The handlers watching logins, and the alerts they raised. Thread-safe.
class SecurityMonitor {
public:
    explicit SecurityMonitor(Clock clock, SecurityMonitorOptions options = {},
                             Activity activity = {});

    /// Connects "security.failed_logins" to user_login_failed and "security.new_sign_in" to
    /// user_login_successful (priority security_priority) and returns the connections.
    std::vector<authevents::Connection> connect(authevents::EventDispatcher& dispatcher);

    /// user_login_failed: counts the failure for its email and its IP address.
    void on_login_failed(const authevents::UserLoginFailed& event);
    /// user_login_successful: notices sign-ins from IP addresses new for the user.
    void on_login_successful(const authevents::UserLoginSuccessful& event);

    /// Every alert raised, in order.
    [[nodiscard]] std::vector<SecurityAlert> alerts() const;
    /// Failures counted for `email` within the window ending now.
    [[nodiscard]] std::size_t recent_failures_for_email(const std::string& email) const;

private:
    struct Window {
        std::deque<TimePoint> failures;
        bool alerted = false; ///< An alert was raised for the burst still in the window.
    };

    void count_failure(std::map<std::string, Window>& windows, const std::string& key,
                       SecurityAlert::Kind kind, TimePoint now, std::vector<SecurityAlert>& raised);
    void raise(const SecurityAlert& alert, const std::string& ip_address);

    Clock clock_;
    SecurityMonitorOptions options_;
    Activity activity_;
    mutable std::mutex mutex_;
    std::map<std::string, Window> by_email_;
    std::map<std::string, Window> by_ip_;
    std::map<std::int64_t, std::set<std::string>> known_ips_;
    std::vector<SecurityAlert> alerts_;
};

/// "brute_force_email", "brute_force_ip" or "new_sign_in_ip".
const char* to_string(SecurityAlert::Kind kind) noexcept;

} // namespace authsvc::handlers
