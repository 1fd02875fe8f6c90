// Must not compile: an event is a class with a static `name`.
#include <authevents/dispatcher.hpp>

struct NoName {
    int value = 0;
};

int main() {
    authevents::EventDispatcher dispatcher;
    dispatcher.dispatch(NoName{});
}
