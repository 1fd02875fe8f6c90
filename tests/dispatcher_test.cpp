// Tests for authevents/dispatcher.hpp: EventDispatcher, its log lines, enable switch,
// custom events, observers and counters.
#include <authevents/dispatcher.hpp>

#include "catch_compat.hpp"
#include "connect_options.hpp"
#include "event_samples.hpp"
#include "log_capture.hpp"

#include <fmt/format.h>

#include <unistd.h> // dup, dup2: capturing stderr

#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

using namespace authevents;
using samples::ana;

namespace {

// A custom event without a formatter, following the reference's four steps.
struct UserPasswordChanged {
    static constexpr std::string_view name = "user_password_changed";
    using sender_type = User;
    User user;
};

// A custom event whose formatter prints only its fields.
struct ApiKeyCreated {
    static constexpr std::string_view name = "api_key_created";
    std::int64_t user_id = 0;
    std::string key_prefix;
};

// A custom event whose formatter starts with the name, like the built-in ones.
struct SessionRevoked {
    static constexpr std::string_view name = "session_revoked";
    std::int64_t session_id = 0;
};

// A custom event that is not copyable.
struct Unique {
    static constexpr std::string_view name = "unique";
    std::unique_ptr<int> value;
};

// A custom event with an object as sender, through the EventSender customisation point.
struct TenantEvent {
    static constexpr std::string_view name = "tenant_event";
    const int* tenant = nullptr;
};

// A custom event whose formatter counts how often it runs.
struct Counted {
    static constexpr std::string_view name = "counted";
    int* formatted = nullptr;
};

// A custom event with a description and nothing else: its log line comes from the description.
struct PasswordReset {
    static constexpr std::string_view name = "password_reset";
    User user;
    std::optional<std::string> ip_address;
    std::string note;

    static constexpr auto fields =
        std::make_tuple(field("user", &PasswordReset::user),
                        field("ip_address", &PasswordReset::ip_address, FieldKind::ip_address),
                        field("note", &PasswordReset::note, FieldKind::free_text));
};

// Records the events a handler receives.
template <class E> struct Received {
    std::vector<E> events;
    Connection connect(EventDispatcher& dispatcher, ConnectOptions options = {}) {
        return dispatcher.connect<E>([this](const E& event) { events.push_back(event); },
                                     std::move(options));
    }
};

LogCapture& capture_into(EventDispatcher& dispatcher, LogCapture& capture) {
    dispatcher.set_logger(capture.logger());
    return capture;
}

} // namespace

template <> struct fmt::formatter<ApiKeyCreated> : fmt::formatter<std::string_view> {
    template <class Context> auto format(const ApiKeyCreated& e, Context& ctx) const {
        return fmt::format_to(ctx.out(), "user_id={} key_prefix={}", e.user_id, e.key_prefix);
    }
};

template <> struct fmt::formatter<SessionRevoked> : fmt::formatter<std::string_view> {
    template <class Context> auto format(const SessionRevoked& e, Context& ctx) const {
        return fmt::format_to(ctx.out(), "session_revoked session_id={}", e.session_id);
    }
};

template <> struct fmt::formatter<Counted> : fmt::formatter<std::string_view> {
    template <class Context> auto format(const Counted& e, Context& ctx) const {
        ++*e.formatted;
        return fmt::format_to(ctx.out(), "counted");
    }
};

template <> struct authevents::EventSender<TenantEvent> {
    static SenderId get(const TenantEvent& event) noexcept { return SenderId::of(event.tenant); }
};

TEST_CASE("each named member views the same signal as signal<Event>()", "[dispatcher]") {
    EventDispatcher d;
    CHECK(&d.user_registered.signal() == &d.signal<UserRegistered>());
    CHECK(&d.user_email_verified.signal() == &d.signal<UserEmailVerified>());
    CHECK(&d.user_login_successful.signal() == &d.signal<UserLoginSuccessful>());
    CHECK(&d.user_login_failed.signal() == &d.signal<UserLoginFailed>());
    CHECK(&d.user_2fa_enabled.signal() == &d.signal<User2faEnabled>());
    CHECK(&d.user_2fa_disabled.signal() == &d.signal<User2faDisabled>());
    CHECK(&d.seller_application_submitted.signal() == &d.signal<SellerApplicationSubmitted>());
    CHECK(&d.seller_application_approved.signal() == &d.signal<SellerApplicationApproved>());
    CHECK(&d.seller_application_rejected.signal() == &d.signal<SellerApplicationRejected>());
    CHECK(&d.profile_updated.signal() == &d.signal<ProfileUpdated>());
    CHECK(&d.profile_picture_uploaded.signal() == &d.signal<ProfilePictureUploaded>());
    CHECK(&d.profile_picture_deleted.signal() == &d.signal<ProfilePictureDeleted>());
    STATIC_REQUIRE(std::is_same_v<decltype(d.user_registered), SignalView<UserRegistered>>);
    STATIC_REQUIRE(
        std::is_same_v<decltype(d.user_registered.signal()), Signal<const UserRegistered&>&>);
    STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<SignalView<UserRegistered>>);
    // Connected through the view, counted and disconnected by the signal, and the other way.
    const Connection c = d.user_registered.connect([](const UserRegistered&) {});
    CHECK(d.signal<UserRegistered>().size() == 1);
    const SignalView<UserRegistered> copy = d.user_registered;
    CHECK(&copy.signal() == &d.signal<UserRegistered>());
    d.signal<UserRegistered>().disconnect_all();
    CHECK(d.user_registered.size() == 0);
    CHECK_FALSE(c.connected());
    STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<EventDispatcher>);
    STATIC_REQUIRE_FALSE(std::is_move_constructible_v<EventDispatcher>);
}

TEMPLATE_LIST_TEST_CASE("dispatch delivers the very event to handlers and reports them",
                        "[dispatcher]", BuiltinEvents) {
    EventDispatcher d;
    d.set_logger({});
    const TestType sent = samples::sample<TestType>();
    std::vector<const TestType*> addresses;
    Received<TestType> first;
    first.connect(d);
    d.signal<TestType>().connect([&](const TestType& event) { addresses.push_back(&event); });

    const DispatchReport report = d.dispatch(sent);

    REQUIRE(first.events.size() == 1);
    CHECK(first.events.front() == sent);
    CHECK(addresses == std::vector<const TestType*>{&sent});
    CHECK(report.handlers_called == 2);
    CHECK(report.failures.empty());
    CHECK(report.ok());
}

TEMPLATE_LIST_TEST_CASE("every built-in event gives the dispatcher its named view and dispatch_ "
                        "method, from its one DispatcherEntryPoints specialisation",
                        "[dispatcher]", BuiltinEvents) {
    STATIC_REQUIRE(
        std::is_base_of_v<DispatcherEntryPoints<TestType, SignalView<TestType>>, EventDispatcher>);
}

TEST_CASE("dispatch_ methods take braced lists for their struct parameters", "[dispatcher]") {
    EventDispatcher d;
    d.set_logger({});
    Received<UserRegistered> registered;
    Received<SellerApplicationApproved> approved;
    Received<ProfileUpdated> updated;
    registered.connect(d);
    approved.connect(d);
    updated.connect(d);

    d.dispatch_user_registered({42, "ana@example.com", "Ana", "Lima", "es"}, true);
    d.dispatch_seller_application_approved({7, {42, "ana@example.com", "", "", "es"}, "individual"},
                                           {1, "admin@example.com", "", "", "en"},
                                           {42, "ana@example.com", "", "", "es"});
    d.dispatch_profile_updated({42, "ana@example.com", "", "", "es"}, {"first_name"}, 60);

    REQUIRE(registered.events.size() == 1);
    CHECK(registered.events[0].user == User{42, "ana@example.com", "Ana", "Lima", "es"});
    CHECK(registered.events[0].email_sent);
    REQUIRE(approved.events.size() == 1);
    CHECK(approved.events[0].application.applicant.id == 42);
    CHECK(approved.events[0].admin_user.email == "admin@example.com");
    REQUIRE(updated.events.size() == 1);
    CHECK(updated.events[0].updated_fields == std::vector<std::string>{"first_name"});
    CHECK(updated.events[0].profile_completion == 60);
}

TEST_CASE("every dispatch_ method delivers a correctly filled event", "[dispatcher]") {
    EventDispatcher d;
    d.set_logger({});

    SECTION("user_registered") {
        Received<UserRegistered> r;
        r.connect(d);
        d.dispatch_user_registered(ana(), true, "203.0.113.7");
        d.dispatch_user_registered(ana(), false);
        CHECK(r.events == std::vector<UserRegistered>{samples::user_registered(),
                                                      {ana(), false, std::nullopt}});
    }
    SECTION("user_email_verified") {
        Received<UserEmailVerified> r;
        r.connect(d);
        d.dispatch_user_email_verified(ana(), "203.0.113.8");
        d.dispatch_user_email_verified(ana());
        CHECK(r.events == std::vector<UserEmailVerified>{samples::user_email_verified(),
                                                         {ana(), std::nullopt}});
    }
    SECTION("user_login_successful") {
        Received<UserLoginSuccessful> r;
        r.connect(d);
        d.dispatch_user_login_successful(ana(), "203.0.113.9", true);
        d.dispatch_user_login_successful(ana());
        CHECK(r.events == std::vector<UserLoginSuccessful>{samples::user_login_successful(),
                                                           {ana(), std::nullopt, false}});
    }
    SECTION("user_login_failed") {
        Received<UserLoginFailed> r;
        r.connect(d);
        d.dispatch_user_login_failed("ana@example.com", LoginFailureReason::wrong_password,
                                     "198.51.100.1");
        d.dispatch_user_login_failed("bob@example.com", LoginFailureReason::user_not_found);
        CHECK(r.events == std::vector<UserLoginFailed>{
                              samples::user_login_failed(),
                              {"bob@example.com", LoginFailureReason::user_not_found, {}}});
    }
    SECTION("user_2fa_enabled and user_2fa_disabled") {
        Received<User2faEnabled> on;
        Received<User2faDisabled> off;
        on.connect(d);
        off.connect(d);
        d.dispatch_user_2fa_enabled(ana());
        d.dispatch_user_2fa_disabled(samples::admin());
        CHECK(on.events == std::vector<User2faEnabled>{{ana()}});
        CHECK(off.events == std::vector<User2faDisabled>{{samples::admin()}});
    }
    SECTION("seller_application_submitted") {
        Received<SellerApplicationSubmitted> r;
        r.connect(d);
        d.dispatch_seller_application_submitted(samples::application(), true);
        d.dispatch_seller_application_submitted(samples::application());
        CHECK(r.events ==
              std::vector<SellerApplicationSubmitted>{samples::seller_application_submitted(),
                                                      {samples::application(), false}});
    }
    SECTION("seller_application_approved") {
        Received<SellerApplicationApproved> r;
        r.connect(d);
        d.dispatch_seller_application_approved(samples::application(), samples::admin(), ana());
        CHECK(r.events ==
              std::vector<SellerApplicationApproved>{samples::seller_application_approved()});
    }
    SECTION("seller_application_rejected") {
        Received<SellerApplicationRejected> r;
        r.connect(d);
        d.dispatch_seller_application_rejected(samples::application(), samples::admin(),
                                               "Missing tax documents");
        CHECK(r.events ==
              std::vector<SellerApplicationRejected>{samples::seller_application_rejected()});
    }
    SECTION("profile_updated") {
        Received<ProfileUpdated> r;
        r.connect(d);
        d.dispatch_profile_updated(ana(), {"first_name", "language"}, 80);
        CHECK(r.events == std::vector<ProfileUpdated>{samples::profile_updated()});
    }
    SECTION("profile_picture_uploaded") {
        Received<ProfilePictureUploaded> r;
        r.connect(d);
        d.dispatch_profile_picture_uploaded(ana(), "avatars/42.png");
        CHECK(r.events == std::vector<ProfilePictureUploaded>{samples::profile_picture_uploaded()});
    }
    SECTION("profile_picture_deleted") {
        Received<ProfilePictureDeleted> r;
        r.connect(d);
        d.dispatch_profile_picture_deleted(ana());
        CHECK(r.events == std::vector<ProfilePictureDeleted>{samples::profile_picture_deleted()});
    }
}

TEST_CASE("each event reaches only the handlers of its own type", "[dispatcher]") {
    EventDispatcher d;
    d.set_logger({});
    Received<User2faEnabled> enabled;
    Received<User2faDisabled> disabled;
    enabled.connect(d);
    disabled.connect(d);
    d.dispatch_user_2fa_disabled(ana());
    CHECK(enabled.events.empty());
    CHECK(disabled.events.size() == 1);
}

TEST_CASE("events are sent from Django's sender: the User or SellerApplication class, or none",
          "[dispatcher][sender]") {
    EventDispatcher d;
    d.set_logger({});
    int user_class = 0;
    int application_class = 0;
    int any_sender = 0;
    d.connect<UserRegistered>([&](const UserRegistered&) { ++user_class; },
                              options("", SenderId::type<User>()));
    d.connect<UserLoginFailed>([&](const UserLoginFailed&) { ++user_class; },
                               options("", SenderId::type<User>()));
    d.connect<SellerApplicationApproved>([&](const SellerApplicationApproved&) { ++user_class; },
                                         options("", SenderId::type<User>()));
    d.connect<SellerApplicationApproved>(
        [&](const SellerApplicationApproved&) { ++application_class; },
        options("", SenderId::type<SellerApplication>()));
    d.connect<UserLoginFailed>([&](const UserLoginFailed&) { ++any_sender; });

    d.dispatch_user_registered(ana(), true);
    d.dispatch_user_login_failed("x@example.com", LoginFailureReason::rate_limited);
    d.dispatch_seller_application_approved(samples::application(), samples::admin(), ana());

    CHECK(user_class == 1);        // user_registered only: login_failed has no sender
    CHECK(application_class == 1); // seller events come from the SellerApplication class
    CHECK(any_sender == 1);
    CHECK(EventSender<UserLoginFailed>::get(samples::user_login_failed()).is_any());
    CHECK(EventSender<UserPasswordChanged>::get({ana()}) == SenderId::type<User>());
    CHECK(EventSender<ApiKeyCreated>::get({}).is_any());
}

TEST_CASE("dispatch with an explicit sender reaches that sender's handlers and any-sender ones",
          "[dispatcher][sender]") {
    EventDispatcher d;
    d.set_logger({});
    const int admin_panel = 0;
    const int api = 0;
    std::vector<std::string> calls;
    d.connect<ProfileUpdated>([&](const ProfileUpdated&) { calls.emplace_back("panel"); },
                              options("", SenderId::of(&admin_panel)));
    d.connect<ProfileUpdated>([&](const ProfileUpdated&) { calls.emplace_back("api"); },
                              options("", SenderId::of(&api)));
    d.connect<ProfileUpdated>([&](const ProfileUpdated&) { calls.emplace_back("all"); });

    const DispatchReport report = d.dispatch(samples::profile_updated(), SenderId::of(&api));

    CHECK(calls == std::vector<std::string>{"api", "all"});
    CHECK(report.handlers_called == 2);
}

TEST_CASE("EventSender can be specialised to send a custom event from an object",
          "[dispatcher][sender][custom]") {
    EventDispatcher d;
    d.set_logger({});
    const int tenant_a = 0;
    const int tenant_b = 0;
    int calls = 0;
    d.connect<TenantEvent>([&](const TenantEvent&) { ++calls; },
                           options("", SenderId::of(&tenant_a)));
    d.dispatch(TenantEvent{&tenant_b});
    CHECK(calls == 0);
    d.dispatch(TenantEvent{&tenant_a});
    CHECK(calls == 1);
}

TEST_CASE("handlers run by priority, then connection order", "[dispatcher]") {
    EventDispatcher d;
    d.set_logger({});
    std::vector<std::string> order;
    d.connect<User2faEnabled>([&](const User2faEnabled&) { order.emplace_back("audit"); });
    d.connect<User2faEnabled>([&](const User2faEnabled&) { order.emplace_back("security"); },
                              options("security", SenderId::any(), 10));
    d.connect<User2faEnabled>([&](const User2faEnabled&) { order.emplace_back("email"); });
    d.dispatch_user_2fa_enabled(ana());
    CHECK(order == std::vector<std::string>{"security", "audit", "email"});
}

TEST_CASE("a dispatch_uid connects a handler once", "[dispatcher]") {
    EventDispatcher d;
    d.set_logger({});
    int calls = 0;
    const auto handler = [&](const UserEmailVerified&) { ++calls; };
    const Connection first = d.connect<UserEmailVerified>(handler, options("welcome"));
    const Connection second = d.connect<UserEmailVerified>(handler, options("welcome"));
    CHECK(first == second);
    CHECK(d.user_email_verified.size() == 1);
    d.dispatch_user_email_verified(ana());
    CHECK(calls == 1);
    CHECK(first.dispatch_uid() == "welcome");
}

TEST_CASE("handlers take the event by const reference or by value", "[dispatcher]") {
    EventDispatcher d;
    d.set_logger({});
    int calls = 0;
    d.connect<ProfilePictureDeleted>(
        [&](ProfilePictureDeleted event) { calls += event.user.id > 0; });
    d.connect<ProfilePictureDeleted>([&](const auto&) { ++calls; });
    d.connect<ProfilePictureDeleted>([&](const ProfilePictureDeleted&) { return 42; });
    CHECK(d.dispatch_profile_picture_deleted(ana()).handlers_called == 3);
    CHECK(calls == 2);
}

TEST_CASE("a throwing handler is isolated, logged and reported", "[dispatcher][errors]") {
    EventDispatcher d;
    LogCapture log;
    capture_into(d, log);
    std::vector<std::string> ran;
    d.connect<UserRegistered>([&](const UserRegistered&) { ran.emplace_back("first"); });
    const Connection failing = d.connect<UserRegistered>(
        [&](const UserRegistered&) {
            ran.emplace_back("crm");
            throw std::runtime_error("CRM unreachable");
        },
        options("crm_sync"));
    d.connect<UserRegistered>([&](const UserRegistered&) {
        ran.emplace_back("anonymous");
        throw std::logic_error("bad state");
    });
    d.connect<UserRegistered>([&](const UserRegistered&) {
        ran.emplace_back("odd");
        throw 42;
    });
    d.connect<UserRegistered>([&](const UserRegistered&) { ran.emplace_back("last"); });

    DispatchReport report;
    REQUIRE_NOTHROW(report = d.dispatch_user_registered(ana(), true));

    CHECK(ran == std::vector<std::string>{"first", "crm", "anonymous", "odd", "last"});
    CHECK(report.handlers_called == 5);
    REQUIRE(report.failures.size() == 3);
    CHECK_FALSE(report.ok());
    CHECK(report.failures[0].connection == failing);
    CHECK_THROWS_WITH(std::rethrow_exception(report.failures[0].error), "CRM unreachable");
    CHECK(log.texts(LogLevel::error) ==
          std::vector<std::string>{
              "[EVENT] user_registered handler 'crm_sync' failed: CRM unreachable",
              "[EVENT] user_registered handler failed: bad state",
              "[EVENT] user_registered handler failed: non-standard exception (not derived from "
              "std::exception)",
          });
    // The info line comes first, then one error line per failure, nothing else.
    REQUIRE(log.size() == 4);
    CHECK(log.lines().front().level == LogLevel::info);
}

TEST_CASE("every dispatch logs exactly one info line with the event's key fields",
          "[dispatcher][log]") {
    EventDispatcher d;
    LogCapture log;
    capture_into(d, log);
    d.set_redaction(RedactionPolicy::none()); // every field, verbatim (the default redacts)

    d.dispatch_user_registered(ana(), true, "203.0.113.7");
    d.dispatch_user_email_verified(ana());
    d.dispatch_user_login_successful(ana(), "203.0.113.9", true);
    d.dispatch_user_login_failed("ana@example.com", LoginFailureReason::invalid_2fa_code);
    d.dispatch_user_2fa_enabled(ana());
    d.dispatch_user_2fa_disabled(ana());
    d.dispatch_seller_application_submitted(samples::application(), false);
    d.dispatch_seller_application_approved(samples::application(), samples::admin(), ana());
    d.dispatch_seller_application_rejected(samples::application(), samples::admin(), "Blurry");
    d.dispatch_profile_updated(ana(), {"language"}, 100);
    d.dispatch_profile_picture_uploaded(ana(), "avatars/42.png");
    d.dispatch_profile_picture_deleted(ana());

    const std::string user = "user=42 <ana@example.com>";
    const std::string application =
        "application=7 seller_type=individual applicant=42 <ana@example.com>";
    CHECK(
        log.texts(LogLevel::info) ==
        std::vector<std::string>{
            "[EVENT] user_registered " + user + " email_sent=true ip_address=203.0.113.7",
            "[EVENT] user_email_verified " + user,
            "[EVENT] user_login_successful " + user + " ip_address=203.0.113.9 required_2fa=true",
            "[EVENT] user_login_failed email=ana@example.com reason=invalid_2fa_code",
            "[EVENT] user_2fa_enabled " + user,
            "[EVENT] user_2fa_disabled " + user,
            "[EVENT] seller_application_submitted " + application + " is_resubmission=false",
            "[EVENT] seller_application_approved " + application +
                " admin_user=1 <admin@example.com> new_seller=42 <ana@example.com>",
            "[EVENT] seller_application_rejected " + application +
                " admin_user=1 <admin@example.com> reason=Blurry",
            "[EVENT] profile_updated " + user + " updated_fields=[language] profile_completion=100",
            "[EVENT] profile_picture_uploaded " + user + " file_key=avatars/42.png",
            "[EVENT] profile_picture_deleted " + user,
        });
    CHECK(log.size() == 12); // exactly one line each, no handler connected
}

TEST_CASE("custom events: created on first use, connected, dispatched and logged",
          "[dispatcher][custom]") {
    EventDispatcher d;
    LogCapture log;
    capture_into(d, log);

    Signal<const UserPasswordChanged&>& signal = d.signal<UserPasswordChanged>();
    CHECK(&signal == &d.signal<UserPasswordChanged>());
    CHECK(signal.size() == 0);
    Received<UserPasswordChanged> received;
    received.connect(d);
    CHECK(signal.size() == 1);

    const DispatchReport report = d.dispatch(UserPasswordChanged{ana()});
    CHECK(report.handlers_called == 1);
    REQUIRE(received.events.size() == 1);
    CHECK(received.events.front().user == ana());

    d.dispatch(ApiKeyCreated{42, "ak_live_3f"});
    d.dispatch(SessionRevoked{9});
    d.dispatch(Unique{std::make_unique<int>(1)});
    CHECK(log.texts(LogLevel::info) ==
          std::vector<std::string>{
              "[EVENT] user_password_changed",
              "[EVENT] api_key_created user_id=42 key_prefix=ak_live_3f",
              "[EVENT] session_revoked session_id=9",
              "[EVENT] unique",
          });
}

TEST_CASE("the info line comes before handlers run, also for re-entrant dispatches",
          "[dispatcher][log]") {
    EventDispatcher d;
    LogCapture log;
    capture_into(d, log);
    d.connect<UserEmailVerified>(
        [&](const UserEmailVerified& event) { d.dispatch_user_2fa_enabled(event.user); });
    d.dispatch_user_email_verified(ana());
    const auto lines = log.texts(LogLevel::info);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].rfind("[EVENT] user_email_verified", 0) == 0);
    CHECK(lines[1].rfind("[EVENT] user_2fa_enabled", 0) == 0);
}

TEST_CASE("an empty logger silences the dispatcher; set_logger replaces it", "[dispatcher][log]") {
    EventDispatcher d;
    LogCapture first;
    LogCapture second;
    d.set_logger(first.logger());
    d.dispatch_user_2fa_enabled(ana());
    d.set_logger(second.logger());
    d.dispatch_user_2fa_enabled(ana());
    d.set_logger({});
    d.connect<User2faEnabled>([](const User2faEnabled&) { throw std::runtime_error("x"); });
    CHECK(d.dispatch_user_2fa_enabled(ana()).failures.size() == 1);
    CHECK(first.size() == 1);
    CHECK(second.size() == 1);
}

TEST_CASE("a logger declared with a level gets only lines at that level or above, and lines "
          "below it are never formatted",
          "[dispatcher][log]") {
    EventDispatcher d;
    LogCapture capture;
    int formatted = 0;
    d.set_logger(capture.logger(), LogLevel::warning);
    CHECK(d.log_level() == LogLevel::warning);
    d.dispatch(Counted{&formatted});
    CHECK(formatted == 0); // the [EVENT] line is an info line: not even built
    CHECK(capture.size() == 0);
    d.connect<Counted>([](const Counted&) { throw std::runtime_error("boom"); });
    CHECK(d.dispatch(Counted{&formatted}).failures.size() == 1);
    CHECK(formatted == 0);
    REQUIRE(capture.texts(LogLevel::error).size() == 1); // the failure, at error, still comes
    CHECK(capture.size() == 1);

    d.set_logger(capture.logger()); // no level: the logger gets everything
    CHECK(d.log_level() == LogLevel::debug);
    capture.clear();
    d.dispatch(Counted{&formatted});
    CHECK(formatted == 1);
    REQUIRE(capture.texts(LogLevel::info).size() == 1);
    CHECK(capture.texts(LogLevel::info)[0] == "[EVENT] counted");

    d.set_logger({}, LogLevel::debug); // an empty logger silences, whatever the level
    CHECK(d.log_level() > LogLevel::error);
    d.dispatch(Counted{&formatted});
    CHECK(formatted == 1);
}

TEST_CASE("counters are summed over the threads that dispatched, and reset to zero",
          "[dispatcher][stats]") {
    EventDispatcher d;
    d.set_logger({});
    d.connect<User2faEnabled>([](const User2faEnabled&) {});
    d.dispatch_user_2fa_enabled(ana());
    std::thread other([&d] {
        d.dispatch_user_2fa_enabled(ana());
        d.dispatch_user_2fa_enabled(ana());
    });
    other.join();
    CHECK(d.stats<User2faEnabled>().dispatched == 3);
    CHECK(d.stats<User2faEnabled>().handlers_called == 3);
    d.reset_stats();
    CHECK(d.stats<User2faEnabled>().dispatched == 0);
    d.set_enabled(false);
    d.dispatch_user_2fa_enabled(ana());
    CHECK(d.stats<User2faEnabled>().suppressed == 1);
    CHECK(d.stats<User2faEnabled>().dispatched == 0);
    CHECK(d.stats<User2faEnabled>().handlers_called == 0);
}

TEST_CASE("a throwing logger never reaches the service", "[dispatcher][log]") {
    EventDispatcher d;
    d.set_logger([](LogLevel, std::string_view) { throw std::runtime_error("disk full"); });
    int calls = 0;
    d.connect<User2faEnabled>([&](const User2faEnabled&) {
        ++calls;
        throw std::runtime_error("x");
    });
    DispatchReport report;
    REQUIRE_NOTHROW(report = d.dispatch_user_2fa_enabled(ana()));
    CHECK(calls == 1);
    CHECK(report.failures.size() == 1);
}

namespace {

// What `body` writes to the standard error stream (file descriptor 2, redirected to a
// temporary file meanwhile).
template <class Body> std::string captured_stderr(Body body) {
    std::fflush(stderr);
    std::FILE* file = std::tmpfile();
    REQUIRE(file != nullptr);
    const int saved = ::dup(2);
    REQUIRE(saved >= 0);
    REQUIRE(::dup2(::fileno(file), 2) >= 0);
    body();
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    std::rewind(file);
    std::string text;
    for (int c = std::fgetc(file); c != EOF; c = std::fgetc(file)) {
        text += static_cast<char>(c);
    }
    std::fclose(file);
    return text;
}

} // namespace

TEST_CASE("stderr_logger keeps lines at or above its level", "[dispatcher][log]") {
    const auto log_every_level = [](const Logger& logger) {
        return captured_stderr([&] {
            logger(LogLevel::debug, "d");
            logger(LogLevel::info, "i");
            logger(LogLevel::warning, "w");
            logger(LogLevel::error, "e");
        });
    };
    CHECK(log_every_level(stderr_logger(LogLevel::error)) == "authevents error: e\n");
    CHECK(log_every_level(stderr_logger()) == // warning by default
          "authevents warning: w\nauthevents error: e\n");
    CHECK(log_every_level(stderr_logger(LogLevel::debug)) ==
          "authevents debug: d\nauthevents info: i\nauthevents warning: w\n"
          "authevents error: e\n");
    CHECK(to_string(LogLevel::warning) == "warning");
    CHECK(to_string(LogLevel::debug) == "debug");
}

TEST_CASE("a dispatcher is enabled by default; disabled it calls no handler",
          "[dispatcher][enabled]") {
    EventDispatcher d;
    LogCapture log;
    capture_into(d, log);
    d.set_redaction(RedactionPolicy::none());
    CHECK(d.enabled());
    int calls = 0;
    d.connect<User2faDisabled>([&](const User2faDisabled&) { ++calls; });

    d.set_enabled(false);
    CHECK_FALSE(d.enabled());
    const DispatchReport report = d.dispatch_user_2fa_disabled(ana());
    CHECK(calls == 0);
    CHECK(report.handlers_called == 0);
    CHECK(report.failures.empty());
    CHECK(log.texts(LogLevel::info) ==
          std::vector<std::string>{
              "[EVENT] user_2fa_disabled user=42 <ana@example.com> (handlers disabled)"});

    d.set_enabled(true);
    CHECK(d.dispatch_user_2fa_disabled(ana()).handlers_called == 1);
    CHECK(calls == 1);
}

TEST_CASE("blocked handlers and a blocked signal are not called nor counted", "[dispatcher]") {
    EventDispatcher d;
    d.set_logger({});
    int calls = 0;
    Connection c = d.connect<User2faEnabled>([&](const User2faEnabled&) { ++calls; });
    d.connect<User2faEnabled>([&](const User2faEnabled&) { ++calls; });
    c.block();
    CHECK(d.dispatch_user_2fa_enabled(ana()).handlers_called == 1);
    d.user_2fa_enabled.block();
    CHECK(d.dispatch_user_2fa_enabled(ana()).handlers_called == 0);
    CHECK(calls == 1);
}

TEST_CASE("per-event counters count dispatches, handler calls and failures",
          "[dispatcher][stats]") {
    EventDispatcher d;
    d.set_logger({});
    d.connect<UserLoginFailed>([](const UserLoginFailed&) {});
    d.connect<UserLoginFailed>([](const UserLoginFailed& e) {
        if (e.reason == LoginFailureReason::rate_limited) {
            throw std::runtime_error("limiter down");
        }
    });
    d.dispatch_user_login_failed("a@example.com", LoginFailureReason::wrong_password);
    d.dispatch_user_login_failed("a@example.com", LoginFailureReason::rate_limited);
    d.dispatch_user_2fa_enabled(ana());
    d.set_enabled(false);
    d.dispatch_user_login_failed("a@example.com", LoginFailureReason::rate_limited);
    d.set_enabled(true);
    d.dispatch(UserPasswordChanged{ana()});

    const EventStats failed = d.stats<UserLoginFailed>();
    CHECK(failed.name == "user_login_failed");
    CHECK(failed.dispatched == 2);
    CHECK(failed.suppressed == 1);
    CHECK(failed.handlers_called == 4);
    CHECK(failed.handler_failures == 1);
    CHECK(d.stats<User2faEnabled>().dispatched == 1);
    CHECK(d.stats<User2faEnabled>().handlers_called == 0);
    CHECK(d.stats<UserPasswordChanged>().dispatched == 1);
    CHECK(d.stats<ApiKeyCreated>().dispatched == 0); // never used: not created by stats()
    CHECK(d.stats<ApiKeyCreated>().name == "api_key_created");

    const std::vector<EventStats> all = d.all_stats();
    REQUIRE(all.size() == 13);
    CHECK(all.front().name == "user_registered");
    CHECK(all[3].name == "user_login_failed");
    CHECK(all[3].dispatched == 2);
    CHECK(all[11].name == "profile_picture_deleted");
    CHECK(all.back().name == "user_password_changed");

    d.reset_stats();
    CHECK(d.stats<UserLoginFailed>().dispatched == 0);
    CHECK(d.stats<UserLoginFailed>().handler_failures == 0);
    CHECK(d.stats<UserPasswordChanged>().dispatched == 0);
}

TEST_CASE("the common path (no flag set) reports and counts failures, also of custom events",
          "[dispatcher][stats][custom]") {
    // A logger that keeps warnings and errors only: no flag is set, so every dispatch here
    // takes the common path, whose failure receiver finds the channel again.
    EventDispatcher d;
    LogCapture log;
    d.set_logger(log.logger(), LogLevel::warning);

    CHECK(d.dispatch(ApiKeyCreated{7, "ak"}).handlers_called == 0); // no handler yet
    int calls = 0;
    d.connect<ApiKeyCreated>([&calls](const ApiKeyCreated&) { ++calls; });
    d.connect<ApiKeyCreated>([](const ApiKeyCreated&) { throw std::runtime_error("boom"); },
                             ConnectOptions{"thrower"});
    d.connect<ApiKeyCreated>([&calls](const ApiKeyCreated&) { ++calls; });
    d.connect<UserRegistered>([](const UserRegistered&) { throw std::runtime_error("bang"); });

    const DispatchReport custom = d.dispatch(ApiKeyCreated{42, "ak_live"});
    CHECK(custom.handlers_called == 3);
    CHECK(calls == 2);
    REQUIRE(custom.failures.size() == 1);
    CHECK(custom.failures.front().connection.dispatch_uid() == "thrower");
    CHECK(custom.observer_failures.empty());

    const DispatchReport builtin = d.dispatch(samples::user_registered());
    CHECK(builtin.handlers_called == 1);
    CHECK(builtin.failures.size() == 1);

    const EventStats custom_stats = d.stats<ApiKeyCreated>();
    CHECK(custom_stats.dispatched == 2);
    CHECK(custom_stats.handlers_called == 3);
    CHECK(custom_stats.handler_failures == 1);
    const EventStats builtin_stats = d.stats<UserRegistered>();
    CHECK(builtin_stats.dispatched == 1);
    CHECK(builtin_stats.handlers_called == 1);
    CHECK(builtin_stats.handler_failures == 1);
    CHECK(log.texts(LogLevel::info).empty());
    CHECK(log.texts(LogLevel::error) ==
          std::vector<std::string>{"[EVENT] api_key_created handler 'thrower' failed: boom",
                                   "[EVENT] user_registered handler failed: bang"});
}

TEST_CASE("observers see every dispatch first, enabled or not, and are not handlers",
          "[dispatcher][observers]") {
    EventDispatcher d;
    LogCapture log;
    capture_into(d, log);
    std::vector<std::string> seen;
    d.observers().connect([&](const EventView& event) {
        seen.push_back(std::string(event.name()) + (event.enabled() ? "" : " (disabled)"));
        if (const auto* registered = event.get_if<UserRegistered>()) {
            CHECK(registered->user == ana());
            CHECK(event.sender() == SenderId::type<User>());
            CHECK(event.is<UserRegistered>());
            CHECK_FALSE(event.is<UserLoginFailed>());
            CHECK(event.get_if<UserLoginFailed>() == nullptr);
            const std::any copy = event.copy();
            CHECK(std::any_cast<UserRegistered>(copy) == samples::user_registered());
        }
    });
    d.observers().connect([](const EventView&) { throw std::runtime_error("audit down"); });
    d.connect<UserRegistered>([&](const UserRegistered&) { seen.emplace_back("handler"); });

    const DispatchReport report = d.dispatch(samples::user_registered());
    d.set_enabled(false);
    d.dispatch(UserPasswordChanged{ana()});

    CHECK(seen == std::vector<std::string>{"user_registered", "handler",
                                           "user_password_changed (disabled)"});
    CHECK(report.handlers_called == 1);
    CHECK(report.failures.empty());
    CHECK(d.stats<UserRegistered>().handler_failures == 0);
    CHECK(log.texts(LogLevel::error) ==
          std::vector<std::string>{"[EVENT] user_registered observer failed: audit down",
                                   "[EVENT] user_password_changed observer failed: audit down"});
}

TEST_CASE("observer failures are in the report; a DispatchAborted stops the dispatch before "
          "the handlers",
          "[dispatcher][observers]") {
    EventDispatcher d;
    LogCapture log;
    capture_into(d, log);
    bool abort = false;
    int observed = 0;
    int handled = 0;
    d.observers().connect([&](const EventView&) {
        if (abort) {
            throw authevents::DispatchAborted("outbox full");
        }
        throw std::runtime_error("audit down");
    });
    d.observers().connect([&](const EventView&) { ++observed; });
    d.connect<UserRegistered>([&](const UserRegistered&) { ++handled; });

    const DispatchReport report = d.dispatch(samples::user_registered());
    CHECK(report.ok()); // handlers only
    CHECK(handled == 1);
    REQUIRE(report.observer_failures.size() == 1);
    CHECK_THROWS_WITH(std::rethrow_exception(report.observer_failures[0].error), "audit down");

    abort = true;
    CHECK_THROWS_AS(d.dispatch(samples::user_registered()), authevents::DispatchAborted);
    CHECK(observed == 2); // the other observers still ran
    CHECK(handled == 1);  // no handler did
    CHECK(d.stats<UserRegistered>().dispatched == 1);
    CHECK(log.texts(LogLevel::error) ==
          std::vector<std::string>{"[EVENT] user_registered observer failed: audit down",
                                   "[EVENT] user_registered observer failed: outbox full"});
}

TEST_CASE("observer_failures is a SlotErrorList: empty without allocating, a list like a vector",
          "[dispatcher][errors]") {
    static_assert(sizeof(SlotErrorList) == sizeof(void*), "one pointer wide");
    SlotErrorList list;
    CHECK(list.empty());
    CHECK(list.size() == 0U); // NOLINT(readability-container-size-empty): size() is tested
    CHECK(list.begin() == list.end());
    CHECK(list.to_vector().empty());
    CHECK_THROWS_WITH(list[0], "authevents::SlotErrorList: index 0 is not below the size 0");

    Signal<> signal;
    const Connection first = signal.connect([] {});
    const Connection second = signal.connect([] {});
    list.push_back(SlotError{first, std::make_exception_ptr(std::runtime_error("one"))});
    list.push_back(SlotError{second, std::make_exception_ptr(std::runtime_error("two"))});
    REQUIRE(list.size() == 2);
    CHECK_FALSE(list.empty());
    CHECK(list[0].connection == first);
    CHECK(list.at(1).connection == second);
    CHECK_THROWS_AS(list.at(2), std::out_of_range);
    const SlotError copied_in{first, std::make_exception_ptr(std::runtime_error("three"))};
    list.push_back(copied_in);
    REQUIRE(list.size() == 3);
    CHECK(list[2].connection == first);
    std::vector<Connection> seen;
    for (const SlotError& failure : list) {
        seen.push_back(failure.connection);
    }
    CHECK(seen == std::vector<Connection>{first, second, first});

    SlotErrorList copy = list; // deep: the copy outlives the original's entries
    list.clear();
    CHECK(list.empty());
    REQUIRE(copy.size() == 3);
    CHECK_THROWS_WITH(std::rethrow_exception(copy[1].error), "two");
    const std::vector<SlotError> as_vector = copy.to_vector();
    REQUIRE(as_vector.size() == 3);
    CHECK(as_vector[0].connection == first);

    SlotErrorList moved = std::move(copy);
    CHECK(moved.size() == 3);
    CHECK(copy.empty()); // NOLINT(bugprone-use-after-move): a moved-from list is empty
    copy = moved;
    CHECK(copy.size() == 3);
    moved = SlotErrorList();
    CHECK(moved.empty());

    DispatchReport report;
    report.observer_failures = copy;
    const DispatchReport copied_report = report; // a report stays a copyable value
    CHECK(copied_report.observer_failures.size() == 3);
    CHECK(copied_report.ok()); // observer failures are not handler failures
}

TEST_CASE("an EventView of a non-copyable event copies to an empty any", "[dispatcher]") {
    const Unique event{std::make_unique<int>(3)};
    const EventView view(event, SenderId::any(), true);
    CHECK(view.name() == "unique");
    CHECK_FALSE(view.copy().has_value());
    CHECK(view.get_if<Unique>() == &event);
    CHECK(view.type_key() == EventView::key_of<Unique>());
}

TEST_CASE("a handler may connect and disconnect handlers and dispatch again", "[dispatcher]") {
    EventDispatcher d;
    d.set_logger({});
    int late_calls = 0;
    Connection self;
    self = d.connect<ProfileUpdated>([&](const ProfileUpdated& event) {
        self.disconnect();
        d.connect<ProfileUpdated>([&](const ProfileUpdated&) { ++late_calls; });
        if (event.profile_completion < 100) {
            d.dispatch_profile_updated(event.user, {}, 100);
        }
    });
    CHECK(d.dispatch_profile_updated(ana(), {"bio"}, 50).handlers_called == 1);
    CHECK(late_calls == 1); // connected during the outer dispatch, called by the inner one
    CHECK_FALSE(self.connected());
}

TEST_CASE("send on a named member goes through the dispatcher: log, switch, counters, observers",
          "[dispatcher][view]") {
    EventDispatcher d;
    LogCapture log;
    d.set_logger(log.logger());
    int calls = 0;
    d.user_registered.connect([&calls](const UserRegistered&) { ++calls; });
    int observed = 0;
    d.observers().connect([&observed](const EventView&) { ++observed; });
    const UserRegistered event{ana(), true, std::nullopt};

    const DispatchReport report = d.user_registered.send(event);
    CHECK(report.handlers_called == 1);
    CHECK(calls == 1);
    CHECK(observed == 1);
    CHECK(d.stats<UserRegistered>().dispatched == 1);
    REQUIRE(log.texts(LogLevel::info).size() == 1);
    CHECK(log.texts(LogLevel::info)[0].rfind("[EVENT] user_registered ", 0) == 0);

    d.set_enabled(false);
    CHECK(d.user_registered.send(event).handlers_called == 0);
    CHECK(calls == 1);
    CHECK(observed == 2);
    CHECK(d.stats<UserRegistered>().suppressed == 1);
    d.set_enabled(true);

    // send_from filters by sender like dispatch(event, sender).
    int admin_calls = 0;
    const int admin_panel = 0;
    d.user_registered.connect([&admin_calls](const UserRegistered&) { ++admin_calls; },
                              with_sender(SenderId::of(&admin_panel)));
    d.user_registered.send_from(SenderId::of(&admin_panel), event);
    CHECK(admin_calls == 1);
    CHECK(calls == 2);
    CHECK(d.stats<UserRegistered>().dispatched == 2);

    // A throwing handler is reported, not rethrown.
    d.user_registered.connect([](const UserRegistered&) { throw std::runtime_error("crm down"); });
    CHECK(d.user_registered.send(event).failures.size() == 1);
}

TEST_CASE("a named member blocks, disconnects and queries the event's signal",
          "[dispatcher][view]") {
    EventDispatcher d;
    int calls = 0;
    d.user_login_failed.connect([&calls](const UserLoginFailed&) { ++calls; }, with_uid("alert"));
    CHECK(d.user_login_failed.has_listeners());
    d.user_login_failed.block();
    CHECK(d.user_login_failed.blocked());
    CHECK(d.signal<UserLoginFailed>().blocked());
    d.dispatch(UserLoginFailed{"a@example.com", LoginFailureReason::wrong_password, {}});
    CHECK(calls == 0);
    d.user_login_failed.unblock();
    CHECK(d.user_login_failed.disconnect("alert"));
    CHECK_FALSE(d.user_login_failed.has_listeners());
}

TEST_CASE("the [EVENT] line is redacted by the dispatcher's policy, by default the OWASP-minded "
          "one",
          "[dispatcher][log][redaction]") {
    EventDispatcher d;
    LogCapture log;
    capture_into(d, log);
    const RedactionPolicy initial = d.redaction();
    CHECK(initial.mask_email);
    CHECK(initial.ip == RedactionPolicy::Ip::truncate);
    CHECK_FALSE(initial.keep_free_text);

    d.dispatch_user_registered(ana(), true, "203.0.113.7");
    d.dispatch_user_login_failed("ana@example.com", LoginFailureReason::wrong_password,
                                 "2001:db8:1:2::7");
    d.dispatch_seller_application_rejected(samples::application(), samples::admin(), "Blurry");
    d.dispatch_profile_picture_uploaded(ana(), "avatars/42.png");
    CHECK(log.texts(LogLevel::info) ==
          std::vector<std::string>{
              "[EVENT] user_registered user=42 <a***@example.com> email_sent=true "
              "ip_address=203.0.113.0/24",
              "[EVENT] user_login_failed email=a***@example.com reason=wrong_password "
              "ip_address=2001:db8:1::/48",
              "[EVENT] seller_application_rejected application=7 seller_type=individual "
              "applicant=42 <a***@example.com> admin_user=1 <a***@example.com>",
              "[EVENT] profile_picture_uploaded user=42 <a***@example.com>",
          });

    log.clear();
    RedactionPolicy drop_ips;
    drop_ips.ip = RedactionPolicy::Ip::drop;
    drop_ips.keep_free_text = true;
    d.set_redaction(drop_ips);
    CHECK(d.redaction().ip == RedactionPolicy::Ip::drop);
    d.dispatch_user_registered(ana(), false, "203.0.113.7");
    d.dispatch_seller_application_rejected(samples::application(), samples::admin(),
                                           "Photo of ana@example.com is blurry");
    CHECK(log.texts(LogLevel::info) ==
          std::vector<std::string>{
              "[EVENT] user_registered user=42 <a***@example.com> email_sent=false",
              "[EVENT] seller_application_rejected application=7 seller_type=individual "
              "applicant=42 <a***@example.com> admin_user=1 <a***@example.com> "
              "reason=\"Photo of a***@example.com is blurry\"",
          });
}

TEST_CASE("fmt::format of an event stays verbatim (escaped, not redacted)",
          "[dispatcher][log][redaction]") {
    const UserRegistered event{ana(), true, "203.0.113.7"};
    CHECK(fmt::format("{}", event) ==
          "user_registered user=42 <ana@example.com> email_sent=true ip_address=203.0.113.7");
}

TEST_CASE("a custom event with a description is logged, redacted, from its description alone",
          "[dispatcher][log][custom]") {
    EventDispatcher d;
    LogCapture log;
    capture_into(d, log);
    d.dispatch(PasswordReset{ana(), std::string("203.0.113.7"), "asked by phone"});
    d.dispatch(PasswordReset{ana(), std::nullopt, "line\nbreak"});
    d.set_redaction(RedactionPolicy::none());
    d.dispatch(PasswordReset{ana(), std::nullopt, "line\nbreak \"quoted\""});
    CHECK(log.texts(LogLevel::info) ==
          std::vector<std::string>{
              "[EVENT] password_reset user=42 <a***@example.com> ip_address=203.0.113.0/24",
              "[EVENT] password_reset user=42 <a***@example.com>",
              "[EVENT] password_reset user=42 <ana@example.com> "
              "note=\"line\\nbreak \\\"quoted\\\"\"",
          });
    CHECK(fmt::format("{}", PasswordReset{ana(), std::nullopt, "x"}) ==
          "password_reset user=42 <ana@example.com> note=x");
    CHECK(equal(PasswordReset{ana(), std::nullopt, "x"}, PasswordReset{ana(), std::nullopt, "x"}));
    CHECK_FALSE(
        equal(PasswordReset{ana(), std::nullopt, "x"}, PasswordReset{ana(), std::nullopt, "y"}));
}

TEST_CASE("a custom formatter's text and a handler's exception text are redacted by the policy",
          "[dispatcher][log][redaction]") {
    EventDispatcher d;
    LogCapture log;
    capture_into(d, log);
    d.dispatch(ApiKeyCreated{42, "ana@example.com"});
    d.connect<ApiKeyCreated>([](const ApiKeyCreated&) {
        throw std::runtime_error("no account for ana@example.com from 203.0.113.7");
    });
    d.dispatch(ApiKeyCreated{42, "ak_live_3f"});
    CHECK(log.texts(LogLevel::info) ==
          std::vector<std::string>{
              "[EVENT] api_key_created user_id=42 key_prefix=a***@example.com",
              "[EVENT] api_key_created user_id=42 key_prefix=ak_live_3f",
          });
    CHECK(log.texts(LogLevel::error) ==
          std::vector<std::string>{"[EVENT] api_key_created handler failed: no account for "
                                   "a***@example.com from 203.0.113.0/24"});
}

TEST_CASE("each mix of enable switch, info logging and observers gives the same report, "
          "counters, log lines and observer calls, before and after each setting changes back",
          "[dispatcher][stats]") {
    // Every one of the eight mixes, each turned on, then off again: a dispatch of the common
    // path (all off) must count and report as one of the others.
    for (int mix = 0; mix < 8; ++mix) {
        const bool disabled = (mix & 1) != 0;
        const bool logs_info = (mix & 2) != 0;
        const bool observed = (mix & 4) != 0;
        CAPTURE(disabled, logs_info, observed);
        EventDispatcher d;
        LogCapture log;
        d.set_logger(log.logger(), logs_info ? LogLevel::info : LogLevel::warning);
        int calls = 0;
        d.connect<User2faEnabled>([&](const User2faEnabled&) { ++calls; });
        d.connect<User2faEnabled>([&](const User2faEnabled&) {
            ++calls;
            throw std::runtime_error("down");
        });
        int observer_calls = 0;
        Connection observer;
        if (observed) {
            observer = d.observers().connect([&](const EventView&) { ++observer_calls; });
        }
        d.set_enabled(!disabled);

        const DispatchReport first = d.dispatch_user_2fa_enabled(ana());
        CHECK(first.handlers_called == (disabled ? 0U : 2U));
        CHECK(first.failures.size() == (disabled ? 0U : 1U));
        CHECK(calls == (disabled ? 0 : 2));
        CHECK(observer_calls == (observed ? 1 : 0));
        CHECK(log.texts(LogLevel::info).size() == (logs_info ? 1U : 0U));
        CHECK(log.texts(LogLevel::error).size() == (disabled ? 0U : 1U));

        // Everything back to the common path: enabled, info lines dropped, no observer.
        d.set_enabled(true);
        d.set_logger(log.logger(), LogLevel::warning);
        observer.disconnect();
        const DispatchReport second = d.dispatch_user_2fa_enabled(ana());
        CHECK(second.handlers_called == 2);
        REQUIRE(second.failures.size() == 1);
        CHECK_THROWS_WITH(std::rethrow_exception(second.failures[0].error), "down");
        CHECK(observer_calls == (observed ? 1 : 0));
        CHECK(log.texts(LogLevel::info).size() == (logs_info ? 1U : 0U));

        const EventStats stats = d.stats<User2faEnabled>();
        CHECK(stats.dispatched == (disabled ? 1U : 2U));
        CHECK(stats.suppressed == (disabled ? 1U : 0U));
        CHECK(stats.handlers_called == (disabled ? 2U : 4U));
        CHECK(stats.handler_failures == (disabled ? 1U : 2U));
    }
}

TEST_CASE("turning the switch, the log level or observers on takes effect for the next dispatch",
          "[dispatcher][enabled]") {
    EventDispatcher d;
    LogCapture log;
    d.set_logger(log.logger(), LogLevel::warning);
    int calls = 0;
    d.connect<User2faEnabled>([&](const User2faEnabled&) { ++calls; });
    d.dispatch_user_2fa_enabled(ana()); // the common path first
    d.set_enabled(false);
    CHECK(d.dispatch_user_2fa_enabled(ana()).handlers_called == 0);
    CHECK(calls == 1);
    d.set_enabled(true);
    d.set_logger(log.logger(), LogLevel::info);
    d.dispatch_user_2fa_enabled(ana());
    CHECK(log.texts(LogLevel::info).size() == 1);
    d.set_logger(log.logger(), LogLevel::warning);
    int observed = 0;
    d.observers().connect([&](const EventView&) { ++observed; });
    d.dispatch_user_2fa_enabled(ana());
    CHECK(observed == 1);
    CHECK(log.texts(LogLevel::info).size() == 1);
    CHECK(calls == 3);
}
