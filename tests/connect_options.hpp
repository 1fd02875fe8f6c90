// ConnectOptions in one expression without -Wmissing-field-initializers (C++17 has no
// designated initializers).
#pragma once

#include <authevents/signal.hpp>

#include <string>
#include <utility>

inline authevents::ConnectOptions options(std::string dispatch_uid,
                                          authevents::SenderId sender = authevents::SenderId::any(),
                                          int priority = 0) {
    authevents::ConnectOptions result;
    result.dispatch_uid = std::move(dispatch_uid);
    result.sender = sender;
    result.priority = priority;
    return result;
}

inline authevents::ConnectOptions
with_uid(std::string uid, authevents::SenderId sender = authevents::SenderId::any()) {
    return options(std::move(uid), sender);
}

inline authevents::ConnectOptions with_sender(authevents::SenderId sender) {
    return options("", sender);
}

inline authevents::ConnectOptions with_priority(int priority) {
    return options("", authevents::SenderId::any(), priority);
}
