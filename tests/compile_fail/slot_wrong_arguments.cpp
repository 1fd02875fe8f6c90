// Must not compile: the slot takes a std::string, the signal sends an int.
#include <authevents/signal.hpp>

#include <string>

int main() {
    authevents::Signal<int> signal;
    signal.connect([](const std::string&) {});
}
