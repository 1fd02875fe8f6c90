// Use case 2, email automation, registered the declarative way: email_automation.cpp holds
// authevents::Receiver objects at namespace scope, the C++ counterpart of Django's
// @receiver-decorated functions in signals.py. They register themselves in
// authevents::HandlerRegistry::global() when the program starts; the application connects
// them with HandlerRegistry::global().connect_all(dispatcher) (Django's AppConfig.ready()).
//
// Link email_automation.cpp into the program itself or through an OBJECT library: in a static
// library the linker drops an object file nothing refers to, and its handlers with it.
//
// The welcome emails are background handlers instead (the reference's first best practice:
// "keep handlers lightweight, queue background tasks"): connect_welcome_emails() connects them
// with an executor, so registration returns without waiting for the mail server.
//
// Registered handlers (dispatch_uid: event: what it sends):
//   email.welcome            user_registered               welcome email, unless language "es"
//                                                           (background, connected manually)
//   email.welcome_es         user_registered               Spanish welcome, only if "es"
//                                                           (background, connected manually)
//   email.two_factor_notice  user_2fa_enabled/disabled     security notice to the user
//   email.seller_submitted   seller_application_submitted  confirmation; admins on new ones
//   email.seller_approved    seller_application_approved   approval + onboarding series
//   email.seller_rejected    seller_application_rejected   rejection with the reason
#pragma once

#include <authevents/dispatcher.hpp>
#include <authevents/executor.hpp>

#include <vector>

namespace authsvc::handlers::email {

/// Where notices for admins go.
inline constexpr const char* admins_address = "admins@shop.example";

/// The handlers, callable directly in tests. Each sends through mail::send().
void send_welcome_email(const authevents::UserRegistered& event);
void send_spanish_welcome_email(const authevents::UserRegistered& event);
void send_seller_application_emails(const authevents::SellerApplicationSubmitted& event);
void send_seller_onboarding(const authevents::SellerApplicationApproved& event);
void send_seller_rejection(const authevents::SellerApplicationRejected& event);

/// Connects both welcome emails to user_registered as queued handlers running on `background`
/// (e.g. a ThreadPool's executor), and returns the connections.
std::vector<authevents::Connection> connect_welcome_emails(authevents::EventDispatcher& dispatcher,
                                                           const authevents::Executor& background);

} // namespace authsvc::handlers::email
