// The notifications service's handlers: plain typed authevents handlers, written exactly as
// they would be in the auth service itself; the bus brings the events to this process. One
// file per concern:
//
//   welcome.cpp           user_registered, user_email_verified   welcome (English or Spanish),
//                                                                address confirmed
//   security_alerts.cpp   user_login_failed, user_login_successful
//                                                                failed attempt alerts, unknown
//                                                                accounts to the security team,
//                                                                new sign-in notices
//   two_factor.cpp        user_2fa_enabled, user_2fa_disabled    2FA change notices (email and
//                                                                SMS for "disabled")
//   seller_decisions.cpp  seller_application_submitted/approved/rejected
//                                                                receipt, decision emails, admin
//                                                                queue notice
//   profile_notices.cpp   profile_updated, profile_picture_uploaded/deleted
//                                                                change confirmations
//
// Every handler has a dispatch_uid "notifications.<name>", so connecting twice adds nothing.
#pragma once

#include "../notifier.hpp"

#include <authevents/dispatcher.hpp>

#include <vector>

namespace notifications::handlers {

/// Where security digests go.
inline constexpr const char* security_team = "security@shop.example";
/// Where the seller application queue notices go.
inline constexpr const char* seller_team = "sellers@shop.example";

/// Connects the welcome handlers; `notifier` must outlive the connections.
std::vector<authevents::Connection> connect_welcome(authevents::EventDispatcher& dispatcher,
                                                    Notifier& notifier);
/// Connects the login alert handlers; `notifier` must outlive the connections.
std::vector<authevents::Connection> connect_security_alerts(authevents::EventDispatcher& dispatcher,
                                                            Notifier& notifier);
/// Connects the two-factor notice handlers; `notifier` must outlive the connections.
std::vector<authevents::Connection> connect_two_factor(authevents::EventDispatcher& dispatcher,
                                                       Notifier& notifier);
/// Connects the seller application handlers; `notifier` must outlive the connections.
std::vector<authevents::Connection>
connect_seller_decisions(authevents::EventDispatcher& dispatcher, Notifier& notifier);
/// Connects the profile change handlers; `notifier` must outlive the connections.
std::vector<authevents::Connection> connect_profile_notices(authevents::EventDispatcher& dispatcher,
                                                            Notifier& notifier);

/// Connects every handler above and returns all the connections.
std::vector<authevents::Connection> connect_all(authevents::EventDispatcher& dispatcher,
                                                Notifier& notifier);

/// ConnectOptions with the dispatch_uid "notifications.<name>".
authevents::ConnectOptions uid(const char* name);

} // namespace notifications::handlers
