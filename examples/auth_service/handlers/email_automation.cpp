#include "email_automation.hpp"

#include "../mail.hpp"
#include "activity.hpp"

#include <authevents/receiver.hpp>

#include <string>
#include <type_traits>

namespace authsvc::handlers::email {

using namespace authevents;

void send_welcome_email(const UserRegistered& event) {
    if (event.user.language == "es") {
        return; // send_spanish_welcome_email covers it
    }
    mail::send({event.user.email, "Welcome to Shop, " + event.user.first_name + "!",
                "Thanks for joining. Verify your email address to start buying and selling.",
                "welcome"});
}

void send_spanish_welcome_email(const UserRegistered& event) {
    if (event.user.language != "es") { // a conditional handler: only Spanish speakers
        return;
    }
    mail::send({event.user.email, "¡Bienvenido a Shop, " + event.user.first_name + "!",
                "Gracias por registrarte. Verifica tu correo para empezar a comprar y vender.",
                "welcome_es"});
}

void send_seller_application_emails(const SellerApplicationSubmitted& event) {
    const User& applicant = event.application.applicant;
    mail::send({applicant.email, "We received your seller application",
                std::string(event.is_resubmission ? "Thanks for resubmitting. " : "") +
                    "We review applications within two working days.",
                "seller_application_received"});
    if (!event.is_resubmission) { // resubmissions go back to the admin who reviewed them
        mail::send({admins_address,
                    "New seller application #" + std::to_string(event.application.id),
                    applicant.email + " applied as a " + event.application.seller_type + " seller.",
                    "admin_new_application"});
    }
}

void send_seller_onboarding(const SellerApplicationApproved& event) {
    mail::send({event.new_seller.email, "You are now a seller on Shop",
                "Your " + event.application.seller_type + " seller account is ready.",
                "seller_approved"});
    // Enrol in the onboarding series; its first message goes out now.
    mail::send({event.new_seller.email, "Seller onboarding 1/3: set up your shop",
                "Add a logo, a description and your first product.", "seller_onboarding"});
}

void send_seller_rejection(const SellerApplicationRejected& event) {
    mail::send({event.application.applicant.email, "About your seller application",
                "We could not approve your application: " + event.reason +
                    " You can fix this and resubmit at any time.",
                "seller_rejected"});
}

std::vector<Connection> connect_welcome_emails(EventDispatcher& dispatcher,
                                               const Executor& background) {
    ConnectOptions welcome = handler_options("email.welcome");
    welcome.executor = background; // a queued connection: runs on the pool, later
    ConnectOptions welcome_es = handler_options("email.welcome_es");
    welcome_es.executor = background;
    return {dispatcher.connect<UserRegistered>(&send_welcome_email, welcome),
            dispatcher.connect<UserRegistered>(&send_spanish_welcome_email, welcome_es)};
}

namespace {

// One handler for two events: a generic lambda, told apart with if constexpr.
const auto two_factor_notice = [](const auto& event) {
    constexpr bool enabled = std::is_same_v<std::decay_t<decltype(event)>, User2faEnabled>;
    mail::send({event.user.email,
                enabled ? "Two-factor login is on" : "Two-factor login was turned off",
                enabled ? "From now on we will email you a code each time you sign in."
                        : "If you did not do this, change your password and turn it back on.",
                enabled ? "two_factor_enabled" : "two_factor_disabled"});
};

// The declarative registrations: @receiver(signal, dispatch_uid=...) in C++.
const Receiver<User2faEnabled, User2faDisabled> two_factor{
    two_factor_notice, handler_options("email.two_factor_notice")};
const Receiver<SellerApplicationSubmitted> seller_submitted{
    &send_seller_application_emails, handler_options("email.seller_submitted")};
const Receiver<SellerApplicationApproved> seller_approved{&send_seller_onboarding,
                                                          handler_options("email.seller_approved")};
const Receiver<SellerApplicationRejected> seller_rejected{&send_seller_rejection,
                                                          handler_options("email.seller_rejected")};

} // namespace
} // namespace authsvc::handlers::email
