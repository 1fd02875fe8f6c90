// Unit tests of the example auth service and its handlers.
#include "catch_compat.hpp"

#include "auth_service.hpp"
#include "errors.hpp"
#include "handlers/crm_sync.hpp"
#include "handlers/gamification.hpp"
#include "handlers/security_monitor.hpp"
#include "validation.hpp"

#include <chrono>
#include <string>
#include <vector>

using namespace authsvc;
using namespace authevents;
using namespace std::chrono_literals;

namespace {

UserLoginFailed failure(const std::string& email, const std::string& ip) {
    return UserLoginFailed{email, LoginFailureReason::wrong_password, ip};
}

// Records every event of type E dispatched through a dispatcher.
template <class E> struct Seen {
    explicit Seen(EventDispatcher& dispatcher) {
        dispatcher.connect<E>([this](const E& event) { events.push_back(event); });
    }
    std::vector<E> events;
};

// A dispatcher, a clock and a service sending mail to the process outbox, which is cleared.
struct Fixture {
    Fixture() { mail::outbox().clear(); }
    ManualClock clock;
    EventDispatcher dispatcher;
    AuthService auth{dispatcher, &mail::send, clock.clock()};

    User registered_and_verified(const std::string& email, const std::string& password) {
        const User user = auth.register_user({email, password, "Test", "User", "en"});
        const std::string body = mail::outbox().last_to(user.email).body;
        auth.verify_email(body.substr(body.find("token=") + 6));
        return user;
    }
};

} // namespace

TEST_CASE("profile completion counts six items in steps of a sixth") {
    UserRecord record;
    CHECK(profile_completion(record) == 0);
    record.first_name = "Ana";
    record.last_name = "Silva";
    CHECK(profile_completion(record) == 33);
    record.phone = "+351 912 345 678";
    CHECK(profile_completion(record) == 50);
    record.bio = "Ceramics";
    record.city = "Lisbon";
    CHECK(profile_completion(record) == 83);
    record.picture_key = "profile-pictures/1/a.jpg";
    CHECK(profile_completion(record) == 100);
}

TEST_CASE("validation rejects bad emails, weak passwords and bad phones with the field named") {
    CHECK_NOTHROW(validate_email("ana@example.com"));
    for (const char* bad : {"not-an-email", "a@b", "a b@example.com", "@example.com",
                            "ana@@example.com", "ana@example..com", "ana@example.c"}) {
        INFO(bad);
        CHECK_THROWS_AS(validate_email(bad), ValidationError);
    }
    CHECK(normalize_email("  Ana@Example.COM ") == "ana@example.com");
    CHECK_THROWS_AS(validate_password("short1", "ana@example.com"), ValidationError);
    CHECK_THROWS_AS(validate_password("onlyletters", "ana@example.com"), ValidationError);
    CHECK_THROWS_AS(validate_password("ana-is-great-1", "ana@example.com"), ValidationError);
    CHECK_NOTHROW(validate_password("correct-horse-42", "ana@example.com"));
    CHECK_NOTHROW(validate_phone("+34 600 123 456"));
    CHECK_THROWS_AS(validate_phone("call me"), ValidationError);
    try {
        validate_password("x", "ana@example.com");
    } catch (const ValidationError& e) {
        CHECK(e.field() == "password");
    }
}

TEST_CASE("password hashes are argon2id strings that verify only the right password") {
    const PasswordHasher hasher;
    const std::string hash = hasher.hash("correct-horse-42");
    CHECK(hash.rfind("$argon2id$", 0) == 0);
    CHECK(hash.find("correct-horse-42") == std::string::npos);
    CHECK(hasher.verify(hash, "correct-horse-42"));
    CHECK_FALSE(hasher.verify(hash, "correct-horse-43"));
    CHECK(hasher.hash("correct-horse-42") != hash); // salted
}

TEST_CASE("security monitor alerts on the 6th failure within the window, once per burst") {
    ManualClock clock;
    handlers::SecurityMonitor monitor(clock.clock());
    for (int i = 0; i < 5; ++i) {
        monitor.on_login_failed(failure("ana@example.com", "192.0.2." + std::to_string(i)));
        clock.advance(1min);
    }
    CHECK(monitor.alerts().empty());
    monitor.on_login_failed(failure("ANA@example.com", "192.0.2.9"));
    REQUIRE(monitor.alerts().size() == 1);
    CHECK(monitor.alerts()[0].kind == handlers::SecurityAlert::Kind::brute_force_email);
    CHECK(monitor.alerts()[0].failures == 6);
    monitor.on_login_failed(failure("ana@example.com", "192.0.2.10"));
    CHECK(monitor.alerts().size() == 1); // same burst: no second alert

    clock.advance(20min); // the burst leaves the window; a new burst alerts again
    for (int i = 0; i < 6; ++i) {
        monitor.on_login_failed(failure("ana@example.com", "192.0.2.20"));
    }
    CHECK(monitor.alerts().size() == 3); // email burst, plus the IP 192.0.2.20
}

TEST_CASE("security monitor's window slides: failures spread out never alert") {
    ManualClock clock;
    handlers::SecurityMonitorOptions options;
    options.window = 15min;
    handlers::SecurityMonitor monitor(clock.clock(), options);
    for (int i = 0; i < 20; ++i) {
        monitor.on_login_failed(failure("ana@example.com", "192.0.2.1"));
        clock.advance(3min + 1s); // at most 5 failures within any 15 minutes
    }
    CHECK(monitor.alerts().empty());
    CHECK(monitor.recent_failures_for_email("ana@example.com") <= 5);
}

TEST_CASE("security monitor counts one IP address across many emails") {
    ManualClock clock;
    handlers::SecurityMonitor monitor(clock.clock());
    for (int i = 0; i < 6; ++i) {
        monitor.on_login_failed(
            failure("user" + std::to_string(i) + "@example.net", "198.51.100.23"));
    }
    REQUIRE(monitor.alerts().size() == 1);
    CHECK(monitor.alerts()[0].kind == handlers::SecurityAlert::Kind::brute_force_ip);
    CHECK(monitor.alerts()[0].subject == "198.51.100.23");
}

TEST_CASE("badges are awarded once each, at 50% and 100%") {
    mail::outbox().clear();
    handlers::BadgeAwards badges;
    const User ana{1, "ana@example.com", "Ana", "Silva", "en"};
    badges.on_profile_updated({ana, {"phone"}, 33});
    CHECK(badges.awards().empty());
    badges.on_profile_updated({ana, {"phone"}, 50});
    badges.on_profile_updated({ana, {"city"}, 66});
    CHECK(badges.awards().size() == 1);
    badges.on_profile_updated({ana, {"bio"}, 100});
    badges.on_profile_updated({ana, {"bio"}, 100});
    CHECK(badges.awards().size() == 2);
    CHECK(badges.has_badge(1, "profile_50"));
    CHECK(badges.has_badge(1, "profile_100"));
    CHECK(mail::outbox().with_template("badge_earned").size() == 2);
}

TEST_CASE("a failing CRM handler is reported by the dispatcher and other handlers still run") {
    EventDispatcher dispatcher;
    dispatcher.set_logger({});
    handlers::FakeCrmClient crm(3);
    handlers::CrmSync sync(crm);
    sync.connect(dispatcher);
    int after = 0;
    dispatcher.user_registered.connect([&](const UserRegistered&) { ++after; });
    std::size_t failures = 0;
    for (std::int64_t id = 1; id <= 6; ++id) {
        const User user{id, "u" + std::to_string(id) + "@example.com", "U", "S", "en"};
        failures += dispatcher.dispatch_user_registered(user, true).failures.size();
    }
    CHECK(failures == 2);
    CHECK(after == 6);
    CHECK(crm.failed_emails() == std::vector<std::string>{"u3@example.com", "u6@example.com"});
    CHECK(crm.contact("u1@example.com").has_value());
}

TEST_CASE("registration validates, stores and dispatches user_registered") {
    Fixture f;
    Seen<UserRegistered> registered(f.dispatcher);
    const User ana = f.auth.register_user(
        {" Ana@Example.com", "correct-horse-42", "Ana", "Silva", "es"}, std::string("203.0.113.7"));
    REQUIRE(registered.events.size() == 1);
    CHECK(registered.events[0].user == ana);
    CHECK(ana.email == "ana@example.com");
    CHECK(ana.language == "es");
    CHECK(registered.events[0].email_sent);
    CHECK(registered.events[0].ip_address == std::optional<std::string>("203.0.113.7"));

    CHECK_THROWS_AS(f.auth.register_user({"ana@example.com", "another-pass-9", "A", "S", "en"}),
                    ConflictError);
    CHECK_THROWS_AS(f.auth.register_user({"bad", "another-pass-9", "A", "S", "en"}),
                    ValidationError);
    CHECK_THROWS_AS(f.auth.register_user({"bo@example.com", "weak", "B", "S", "en"}),
                    ValidationError);
    CHECK(registered.events.size() == 1);
}

TEST_CASE("login failures carry their reason; a failing mailer gives email_sent=false") {
    Fixture f;
    Seen<UserLoginFailed> failed(f.dispatcher);
    Seen<UserLoginSuccessful> succeeded(f.dispatcher);
    f.registered_and_verified("ana@example.com", "correct-horse-42");
    f.auth.register_user({"dave@example.com", "river-stone-31", "Dave", "B", "en"});

    CHECK(f.auth.login("nobody@example.com", "x").failure == LoginFailureReason::user_not_found);
    CHECK(f.auth.login("ana@example.com", "wrong-pass-1").failure ==
          LoginFailureReason::wrong_password);
    CHECK(f.auth.login("dave@example.com", "river-stone-31").failure ==
          LoginFailureReason::email_not_verified);
    REQUIRE(failed.events.size() == 3);
    CHECK(failed.events[1] ==
          UserLoginFailed{"ana@example.com", LoginFailureReason::wrong_password, std::nullopt});

    const LoginResult ok = f.auth.login("ANA@example.com", "correct-horse-42");
    CHECK(ok.ok());
    REQUIRE(succeeded.events.size() == 1);
    CHECK_FALSE(succeeded.events[0].required_2fa);

    EventDispatcher quiet;
    AuthService broken_mail(quiet, [](const mail::Message&) { throw std::runtime_error("down"); });
    Seen<UserRegistered> registered(quiet);
    broken_mail.register_user({"eve@example.com", "tulip-garden-88", "Eve", "E", "en"});
    REQUIRE(registered.events.size() == 1);
    CHECK_FALSE(registered.events[0].email_sent);
}

TEST_CASE("two-factor login: code check, invalid_2fa_code, required_2fa, rate limit") {
    Fixture f;
    Seen<UserLoginFailed> failed(f.dispatcher);
    Seen<UserLoginSuccessful> succeeded(f.dispatcher);
    const User ana = f.registered_and_verified("ana@example.com", "correct-horse-42");
    f.auth.enable_2fa(ana.id);
    CHECK_THROWS_AS(f.auth.enable_2fa(ana.id), ConflictError);

    const LoginResult step1 = f.auth.login("ana@example.com", "correct-horse-42");
    REQUIRE(step1.status == LoginStatus::two_factor_required);
    CHECK(succeeded.events.empty());
    CHECK(f.auth.verify_2fa(step1.challenge_id, "not-the-code").failure ==
          LoginFailureReason::invalid_2fa_code);
    const std::string body = mail::outbox().last_to("ana@example.com").body;
    const std::string code = body.substr(body.find("code is ") + 8, 6);
    CHECK(f.auth.verify_2fa(step1.challenge_id, code).ok());
    REQUIRE(succeeded.events.size() == 1);
    CHECK(succeeded.events[0].required_2fa);
    CHECK_THROWS_AS(f.auth.verify_2fa(step1.challenge_id, code), NotFoundError); // used up

    // Eight failures (the one above included) within 15 minutes: rate limited.
    for (int i = 0; i < 7; ++i) {
        f.auth.login("ana@example.com", "wrong-pass-1");
    }
    CHECK(f.auth.login("ana@example.com", "correct-horse-42").failure ==
          LoginFailureReason::rate_limited);
    f.clock.advance(16min);
    CHECK(f.auth.login("ana@example.com", "correct-horse-42").status ==
          LoginStatus::two_factor_required);
}

TEST_CASE("seller applications: resubmission flag, admin check, approval makes a seller") {
    Fixture f;
    Seen<SellerApplicationSubmitted> submitted(f.dispatcher);
    Seen<SellerApplicationApproved> approved(f.dispatcher);
    const User admin = f.registered_and_verified("grace@shop.example", "admin-pass-2024");
    f.auth.grant_admin(admin.id);
    const User ana = f.registered_and_verified("ana@example.com", "correct-horse-42");

    const SellerApplication application = f.auth.submit_seller_application(ana.id, "individual");
    CHECK_THROWS_AS(f.auth.submit_seller_application(ana.id, "individual"), ConflictError);
    CHECK_THROWS_AS(f.auth.approve_seller_application(application.id, ana.id),
                    PermissionDeniedError);
    CHECK_THROWS_AS(f.auth.reject_seller_application(application.id, admin.id, " "),
                    ValidationError);
    f.auth.reject_seller_application(application.id, admin.id, "Add a tax ID.");
    f.auth.submit_seller_application(ana.id, "business");
    REQUIRE(submitted.events.size() == 2);
    CHECK_FALSE(submitted.events[0].is_resubmission);
    CHECK(submitted.events[1].is_resubmission);
    CHECK(submitted.events[1].application.seller_type == "business");

    f.auth.approve_seller_application(application.id, admin.id);
    REQUIRE(approved.events.size() == 1);
    CHECK(approved.events[0].admin_user.id == admin.id);
    CHECK(approved.events[0].new_seller.id == ana.id);
    CHECK(f.auth.account(ana.id).is_seller);
    CHECK(f.auth.application_status(application.id) == ApplicationStatus::approved);
}

TEST_CASE("profile updates dispatch the changed fields and completion; pictures too") {
    Fixture f;
    Seen<ProfileUpdated> updated(f.dispatcher);
    Seen<ProfilePictureUploaded> uploaded(f.dispatcher);
    Seen<ProfilePictureDeleted> deleted(f.dispatcher);
    const User ana = f.auth.register_user({"ana@example.com", "correct-horse-42", "Ana", "", "en"});

    ProfileChanges changes;
    changes.first_name = "Ana"; // unchanged: not listed
    changes.last_name = "Silva";
    changes.city = "Lisbon";
    const ProfileUpdateResult result = f.auth.update_profile(ana.id, changes);
    CHECK(result.updated_fields == std::vector<std::string>{"last_name", "city"});
    CHECK(result.profile_completion == 50);
    REQUIRE(updated.events.size() == 1);
    CHECK(updated.events[0].profile_completion == 50);

    f.auth.update_profile(ana.id, changes); // nothing changes: no event
    CHECK(updated.events.size() == 1);

    CHECK_THROWS_AS(f.auth.upload_profile_picture(ana.id, "image/gif", 10), ValidationError);
    CHECK_THROWS_AS(f.auth.upload_profile_picture(ana.id, "image/png", 0), ValidationError);
    const std::string key = f.auth.upload_profile_picture(ana.id, "image/png", 2048);
    REQUIRE(uploaded.events.size() == 1);
    CHECK(uploaded.events[0].file_key == key);
    CHECK(f.auth.account(ana.id).profile_completion == 66);
    f.auth.delete_profile_picture(ana.id);
    CHECK(deleted.events.size() == 1);
    CHECK_THROWS_AS(f.auth.delete_profile_picture(ana.id), NotFoundError);
}
