// Shared by the consumer projects: uses the core header, the version header and fmt, all through
// the authevents::authevents target alone.
#include <authevents/signal.hpp>
#include <authevents/version.hpp>
#if __has_include(<authevents/authevents.hpp>)
#include <authevents/authevents.hpp>
#endif

#include <fmt/format.h>

#include <string>

int main() {
    authevents::Signal<const std::string&> greeted;
    std::string seen;
    greeted.connect([&seen](const std::string& name) { seen = name; });
    greeted.send("consumer");
    if (seen != "consumer") {
        fmt::print(stderr, "the slot did not run\n");
        return 1;
    }
    fmt::print("authevents {}: one slot saw '{}'\n", authevents::version, seen);
    return 0;
}
