// Welcome email on user_registered (in Spanish for language "es"), and a confirmation once
// the address is verified.
#include "handlers.hpp"

#include <fmt/format.h>

namespace notifications::handlers {

std::vector<authevents::Connection> connect_welcome(authevents::EventDispatcher& dispatcher,
                                                    Notifier& notifier) {
    return {
        dispatcher.user_registered.connect(
            [&notifier](const authevents::UserRegistered& event) {
                const bool spanish = event.user.language == "es";
                notifier.send({"email", event.user.email,
                               spanish ? fmt::format("¡Bienvenido, {}!", event.user.first_name)
                                       : fmt::format("Welcome, {}!", event.user.first_name),
                               spanish ? "welcome_es" : "welcome"});
            },
            uid("welcome")),
        dispatcher.user_email_verified.connect(
            [&notifier](const authevents::UserEmailVerified& event) {
                notifier.send({"email", event.user.email, "Your email address is confirmed",
                               "email_confirmed"});
            },
            uid("email_confirmed")),
    };
}

} // namespace notifications::handlers
