// Tests for authevents/testing.hpp: EventRecorder and SignalsDisabled.
#include <authevents/testing.hpp>

#include "catch_compat.hpp"
#include "event_samples.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

using namespace authevents;
using authevents::testing::EventRecorder;
using authevents::testing::SignalsDisabled;
using samples::ana;

namespace {

struct UserPasswordChanged {
    static constexpr std::string_view name = "user_password_changed";
    User user;
};

struct Unique {
    static constexpr std::string_view name = "unique";
    std::unique_ptr<int> value;
};

} // namespace

TEST_CASE("EventRecorder records every dispatch in order, with or without handlers",
          "[testing][recorder]") {
    EventDispatcher d;
    d.set_logger({});
    EventRecorder recorder(d);
    CHECK(recorder.empty());

    d.dispatch_user_registered(ana(), true, "203.0.113.7");
    d.connect<UserLoginFailed>([](const UserLoginFailed&) {});
    d.dispatch_user_login_failed("ana@example.com", LoginFailureReason::wrong_password,
                                 "198.51.100.1");
    d.dispatch(UserPasswordChanged{ana()});
    d.dispatch_user_registered(samples::admin(), false);

    CHECK(recorder.names() == std::vector<std::string>{"user_registered", "user_login_failed",
                                                       "user_password_changed", "user_registered"});
    CHECK(recorder.size() == 4);
    CHECK(recorder.count<UserRegistered>() == 2);
    CHECK(recorder.count<UserLoginFailed>() == 1);
    CHECK(recorder.count<UserPasswordChanged>() == 1);
    CHECK(recorder.count<ProfileUpdated>() == 0);
    CHECK(recorder.count("user_registered") == 2);
    CHECK(recorder.events<UserRegistered>() ==
          std::vector<UserRegistered>{samples::user_registered(),
                                      {samples::admin(), false, std::nullopt}});
    CHECK(recorder.events<UserLoginFailed>() ==
          std::vector<UserLoginFailed>{samples::user_login_failed()});
    REQUIRE(recorder.events<UserPasswordChanged>().size() == 1);
    CHECK(recorder.events<UserPasswordChanged>().front().user == ana());
    CHECK(recorder.last<UserRegistered>()->user == samples::admin());
    CHECK_FALSE(recorder.last<ProfileUpdated>().has_value());
    CHECK(recorder.events<ProfileUpdated>().empty());
}

TEST_CASE("EventRecorder records only while it lives and can be cleared", "[testing][recorder]") {
    EventDispatcher d;
    d.set_logger({});
    d.dispatch_user_2fa_enabled(ana());
    {
        EventRecorder recorder(d);
        d.dispatch_user_2fa_disabled(ana());
        CHECK(recorder.names() == std::vector<std::string>{"user_2fa_disabled"});
        recorder.clear();
        CHECK(recorder.empty());
        d.dispatch_user_2fa_enabled(ana());
        CHECK(recorder.count<User2faEnabled>() == 1);
    }
    CHECK(d.observers().size() == 0); // the recorder unregistered itself
    CHECK_NOTHROW(d.dispatch_user_2fa_enabled(ana()));
}

TEST_CASE("two recorders on one dispatcher see the same events", "[testing][recorder]") {
    EventDispatcher d;
    d.set_logger({});
    EventRecorder a(d);
    EventRecorder b(d);
    d.dispatch_profile_picture_deleted(ana());
    CHECK(a.names() == b.names());
    CHECK(a.count<ProfilePictureDeleted>() == 1);
}

TEST_CASE("EventRecorder counts non-copyable custom events", "[testing][recorder]") {
    EventDispatcher d;
    d.set_logger({});
    EventRecorder recorder(d);
    d.dispatch(Unique{std::make_unique<int>(1)});
    CHECK(recorder.count<Unique>() == 1);
    CHECK(recorder.names() == std::vector<std::string>{"unique"});
}

TEST_CASE("EventRecorder records re-entrant dispatches after the event that caused them",
          "[testing][recorder]") {
    EventDispatcher d;
    d.set_logger({});
    EventRecorder recorder(d);
    d.connect<SellerApplicationApproved>([&](const SellerApplicationApproved& event) {
        d.dispatch_profile_updated(event.new_seller, {"is_seller"}, 90);
    });
    d.dispatch_seller_application_approved(samples::application(), samples::admin(), ana());
    CHECK(recorder.names() ==
          std::vector<std::string>{"seller_application_approved", "profile_updated"});
}

TEST_CASE("SignalsDisabled disables the dispatcher and restores the previous state",
          "[testing][disabled]") {
    EventDispatcher d;
    d.set_logger({});
    int calls = 0;
    d.connect<UserRegistered>([&](const UserRegistered&) { ++calls; });
    {
        const SignalsDisabled disabled(d);
        CHECK_FALSE(d.enabled());
        const DispatchReport report = d.dispatch_user_registered(ana(), true);
        CHECK(report.handlers_called == 0);
        CHECK(report.failures.empty());
    }
    CHECK(d.enabled());
    d.dispatch_user_registered(ana(), true);
    CHECK(calls == 1);

    STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<SignalsDisabled>);
}

TEST_CASE("SignalsDisabled scopes nest", "[testing][disabled]") {
    EventDispatcher d;
    {
        const SignalsDisabled outer(d);
        {
            const SignalsDisabled inner(d);
            CHECK_FALSE(d.enabled());
        }
        CHECK_FALSE(d.enabled()); // the inner scope restored "disabled"
    }
    CHECK(d.enabled());

    d.set_enabled(false);
    { const SignalsDisabled scope(d); }
    CHECK_FALSE(d.enabled()); // was disabled before: stays disabled

    {
        const SignalsDisabled scope(d);
        d.set_enabled(true); // an explicit change inside the scope lasts until its end...
        CHECK(d.enabled());
    }
    CHECK_FALSE(d.enabled()); // ...which restores the state found at construction
}

TEST_CASE("EventRecorder still records while SignalsDisabled is active", "[testing]") {
    EventDispatcher d;
    d.set_logger({});
    int emails_sent = 0;
    d.connect<UserRegistered>([&](const UserRegistered&) { ++emails_sent; });
    EventRecorder recorder(d);
    {
        const SignalsDisabled disabled(d);
        d.dispatch_user_registered(ana(), true); // what the service under test would do
    }
    CHECK(emails_sent == 0);
    CHECK(recorder.count<UserRegistered>() == 1);
    CHECK(recorder.events<UserRegistered>().front().email_sent);
}
