// Must not compile: every slot receives the argument as an lvalue, so T&& does not fit.
#include <authevents/signal.hpp>

#include <string>

int main() {
    authevents::Signal<std::string> signal;
    signal.connect([](std::string&&) {});
}
