// Login alerts: a failed attempt on an existing account warns its owner; attempts on unknown
// accounts go to the security team's digest; every successful sign-in gets a notice naming
// the IP address.
#include "handlers.hpp"

#include <fmt/format.h>

#include <optional>
#include <string>

namespace notifications::handlers {

namespace {

std::string where(const std::optional<std::string>& ip_address) {
    return ip_address ? *ip_address : std::string("an unknown address");
}

} // namespace

std::vector<authevents::Connection> connect_security_alerts(authevents::EventDispatcher& dispatcher,
                                                            Notifier& notifier) {
    return {
        dispatcher.user_login_failed.connect(
            [&notifier](const authevents::UserLoginFailed& event) {
                if (event.reason == authevents::LoginFailureReason::user_not_found) {
                    notifier.send({"email", security_team,
                                   fmt::format("Sign-in attempt for unknown account {} from {}",
                                               event.email, where(event.ip_address)),
                                   "security_digest"});
                    return;
                }
                notifier.send({"email", event.email,
                               fmt::format("Failed sign-in from {} ({})", where(event.ip_address),
                                           authevents::to_string(event.reason)),
                               "login_failed_alert"});
            },
            uid("login_failed_alert")),
        dispatcher.user_login_successful.connect(
            [&notifier](const authevents::UserLoginSuccessful& event) {
                notifier.send({"email", event.user.email,
                               fmt::format("New sign-in from {}{}", where(event.ip_address),
                                           event.required_2fa ? " with your second factor" : ""),
                               "new_sign_in"});
            },
            uid("new_sign_in")),
    };
}

} // namespace notifications::handlers
