// Two-factor changes: an email either way, and an SMS as well when it was turned off (the
// riskier change), so the owner hears of it on a second channel.
#include "handlers.hpp"

namespace notifications::handlers {

std::vector<authevents::Connection> connect_two_factor(authevents::EventDispatcher& dispatcher,
                                                       Notifier& notifier) {
    return {
        dispatcher.user_2fa_enabled.connect(
            [&notifier](const authevents::User2faEnabled& event) {
                notifier.send({"email", event.user.email, "Two-factor sign-in is now on",
                               "two_factor_enabled"});
            },
            uid("two_factor_enabled")),
        dispatcher.user_2fa_disabled.connect(
            [&notifier](const authevents::User2faDisabled& event) {
                notifier.send({"email", event.user.email, "Two-factor sign-in was turned off",
                               "two_factor_disabled"});
                notifier.send({"sms", event.user.email,
                               "2FA was turned off on your account. Not you? Reply STOP.",
                               "two_factor_disabled_sms"});
            },
            uid("two_factor_disabled")),
    };
}

} // namespace notifications::handlers
