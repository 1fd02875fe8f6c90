// The three ways of listening to an event: declarative, manual, conditional.
#include <authevents/receiver.hpp>

#include <iostream>
#include <string_view>

using namespace authevents;

// 1. Declarative (Django's @receiver): a Receiver at namespace scope registers the handler;
//    main() connects every registered handler with connect_all().
int tracked = 0;
void track_registration(const UserRegistered& event) {
    ++tracked;
    std::cout << "  analytics: tracked user_registered for user " << event.user.id << '\n';
}
const Receiver<UserRegistered> tracking{&track_registration};

int main() {
    EventDispatcher dispatcher;
    dispatcher.set_logger([](LogLevel, std::string_view line) { std::cout << line << '\n'; });
    HandlerRegistry::global().connect_all(dispatcher); // Django's AppConfig.ready()

    // 2. Manual (Django's user_registered.connect(handler)): on the named signal.
    int welcome_emails = 0;
    dispatcher.user_registered.connect([&](const UserRegistered& event) {
        ++welcome_emails;
        std::cout << "  email: welcome sent to " << event.user.email << '\n';
    });

    // 3. Conditional: the handler decides whether the event concerns it.
    int spanish_emails = 0;
    dispatcher.connect<UserRegistered>([&](const UserRegistered& event) {
        if (event.user.language == "es") {
            ++spanish_emails;
            std::cout << "  email: bienvenida sent to " << event.user.email << '\n';
        }
    });

    // A service would do this in register(); every handler above reacts.
    dispatcher.dispatch_user_registered({1, "ana@example.com", "Ana", "Silva", "en"}, true,
                                        "203.0.113.7");
    dispatcher.dispatch_user_registered({2, "luis@example.es", "Luis", "Garcia", "es"}, true);

    const bool ok = tracked == 2 && welcome_emails == 2 && spanish_emails == 1;
    std::cout << (ok ? "basic_example: ok\n" : "basic_example: FAILED\n");
    return ok ? 0 : 1;
}
