#include "handlers.hpp"

#include <string>

namespace notifications::handlers {

authevents::ConnectOptions uid(const char* name) {
    authevents::ConnectOptions options;
    options.dispatch_uid = std::string("notifications.") + name;
    return options;
}

std::vector<authevents::Connection> connect_all(authevents::EventDispatcher& dispatcher,
                                                Notifier& notifier) {
    std::vector<authevents::Connection> all;
    for (auto connect : {&connect_welcome, &connect_security_alerts, &connect_two_factor,
                         &connect_seller_decisions, &connect_profile_notices}) {
        for (authevents::Connection& connection : connect(dispatcher, notifier)) {
            all.push_back(std::move(connection));
        }
    }
    return all;
}

} // namespace notifications::handlers
