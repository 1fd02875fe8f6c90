// Must not compile: a UserRegistered handler connected to UserLoginFailed.
#include <authevents/dispatcher.hpp>

int main() {
    authevents::EventDispatcher dispatcher;
    dispatcher.connect<authevents::UserLoginFailed>([](const authevents::UserRegistered&) {});
}
