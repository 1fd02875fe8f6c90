// Tests for authevents/receiver.hpp: receiver(), HandlerRegistry, Receiver and Overloaded.
#include <authevents/receiver.hpp>

#include "catch_compat.hpp"
#include "connect_options.hpp"
#include "event_samples.hpp"

#include <atomic>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace authevents;
using samples::ana;

namespace {

std::atomic<int> welcome_emails{0};

void send_welcome_email(const UserRegistered& /*event*/) { ++welcome_emails; }

// A handler file registers itself in one line per handler, at namespace scope. The tests
// use their own registry; real handler files use the global one (the default argument).
HandlerRegistry& test_registry() {
    static HandlerRegistry registry;
    return registry;
}

std::atomic<int> security_events{0};

const Receiver<UserRegistered> welcome{&send_welcome_email, {}, test_registry()};
const Receiver<UserLoginFailed, User2faDisabled> security_monitor{
    [](const auto& /*event*/) { ++security_events; }, options("security_monitor"), test_registry()};

// Registered in the global registry, as a handler file would.
std::atomic<int> global_calls{0};
const Receiver<ProfilePictureDeleted> cdn_cleanup{
    [](const ProfilePictureDeleted&) { ++global_calls; }, options("cdn_cleanup")};

} // namespace

TEST_CASE("receiver connects one generic handler to several events", "[receiver]") {
    EventDispatcher d;
    d.set_logger({});
    std::vector<std::string> seen;
    const std::vector<Connection> connections = receiver<UserLoginSuccessful, UserLoginFailed>(
        d, [&](const auto& event) { seen.emplace_back(event.name); });

    REQUIRE(connections.size() == 2);
    CHECK(connections[0].connected());
    CHECK(d.user_login_successful.size() == 1);
    CHECK(d.user_login_failed.size() == 1);
    d.dispatch_user_login_successful(ana());
    d.dispatch_user_login_failed("x@example.com", LoginFailureReason::account_inactive);
    d.dispatch_user_registered(ana(), true);
    CHECK(seen == std::vector<std::string>{"user_login_successful", "user_login_failed"});
}

TEST_CASE("receiver shares one handler object between the events", "[receiver]") {
    EventDispatcher d;
    d.set_logger({});
    struct Counter {
        int calls = 0;
        std::shared_ptr<int> report = std::make_shared<int>(0);
        void operator()(const User2faEnabled&) { *report = ++calls; }
        void operator()(const User2faDisabled&) { *report = ++calls; }
    };
    Counter counter;
    const std::shared_ptr<int> report = counter.report;
    receiver<User2faEnabled, User2faDisabled>(d, counter);
    d.dispatch_user_2fa_enabled(ana());
    d.dispatch_user_2fa_disabled(ana());
    CHECK(*report == 2); // one object saw both events
}

TEST_CASE("receiver takes an Overloaded set and connection options", "[receiver]") {
    EventDispatcher d;
    d.set_logger({});
    std::vector<std::string> order;
    d.connect<ProfileUpdated>([&](const ProfileUpdated&) { order.emplace_back("plain"); });
    const auto connections = receiver<ProfileUpdated, ProfilePictureUploaded>(
        d,
        Overloaded{
            [&](const ProfileUpdated& e) { order.push_back(std::to_string(e.profile_completion)); },
            [&](const ProfilePictureUploaded& e) { order.push_back(e.file_key); },
        },
        options("profile_search_index", SenderId::any(), 5));
    CHECK(connections[0].dispatch_uid() == "profile_search_index");
    CHECK(connections[1].dispatch_uid() == "profile_search_index");
    d.dispatch_profile_updated(ana(), {"bio"}, 60);
    d.dispatch_profile_picture_uploaded(ana(), "avatars/42.png");
    CHECK(order == std::vector<std::string>{"60", "plain", "avatars/42.png"});

    // The same uid connects nothing new.
    const auto again = receiver<ProfileUpdated>(
        d, [](const ProfileUpdated&) {}, options("profile_search_index"));
    CHECK(again[0] == connections[0]);
    CHECK(d.profile_updated.size() == 2);
}

TEST_CASE("Receiver objects register their handler files; connect_all connects them",
          "[receiver][registry]") {
    EventDispatcher d;
    d.set_logger({});
    CHECK(test_registry().size() == 2);
    const std::vector<Connection> connections = test_registry().connect_all(d);
    CHECK(connections.size() == 3); // welcome: one event; security_monitor: two

    welcome_emails = 0;
    security_events = 0;
    d.dispatch_user_registered(ana(), true);
    d.dispatch_user_login_failed("x@example.com", LoginFailureReason::rate_limited);
    d.dispatch_user_2fa_disabled(ana());
    CHECK(welcome_emails == 1);
    CHECK(security_events == 2);

    SECTION("connect_all again: function pointers and uids deduplicate") {
        const auto second = test_registry().connect_all(d);
        CHECK(second == connections);
        d.dispatch_user_registered(ana(), true);
        CHECK(welcome_emails == 2);
    }
    SECTION("each dispatcher gets its own connections") {
        EventDispatcher other;
        other.set_logger({});
        test_registry().connect_all(other);
        other.dispatch_user_2fa_disabled(ana());
        CHECK(security_events == 3);
        for (Connection c : connections) {
            c.disconnect();
        }
        d.dispatch_user_2fa_disabled(ana());
        CHECK(security_events == 3);
    }
}

TEST_CASE("the global registry holds handlers registered without naming a registry",
          "[receiver][registry]") {
    EventDispatcher d;
    d.set_logger({});
    CHECK(HandlerRegistry::global().size() >= 1);
    HandlerRegistry::global().connect_all(d);
    global_calls = 0;
    d.dispatch_profile_picture_deleted(ana());
    CHECK(global_calls == 1);
}

TEST_CASE("registrations made after connect_all are not connected by it", "[receiver][registry]") {
    HandlerRegistry registry;
    EventDispatcher d;
    d.set_logger({});
    int calls = 0;
    registry.add<UserEmailVerified>([&](const UserEmailVerified&) { ++calls; });
    registry.connect_all(d);
    registry.add<UserEmailVerified>([&](const UserEmailVerified&) { calls += 10; });
    d.dispatch_user_email_verified(ana());
    CHECK(calls == 1);
    CHECK(registry.size() == 2);
    registry.clear();
    CHECK(registry.size() == 0);
}

TEST_CASE("registering a null handler fails at once", "[receiver][registry]") {
    HandlerRegistry registry;
    void (*none)(const UserRegistered&) = nullptr;
    CHECK_THROWS_AS(registry.add<UserRegistered>(none), std::invalid_argument);
    CHECK_THROWS_AS(registry.add<UserRegistered>(std::function<void(const UserRegistered&)>()),
                    std::invalid_argument);
    CHECK(registry.size() == 0);
}
