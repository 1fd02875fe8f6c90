// Tests for authevents/events.hpp: the event value structs, User, SellerApplication and
// LoginFailureReason.
#include <authevents/event_view.hpp>
#include <authevents/events.hpp>
#include <authevents/field_sink.hpp>

#include "catch_compat.hpp"
#include "event_samples.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

using namespace authevents;

namespace {

// Field types, in table order, checked through aggregate initialisation.
template <class E, class... Fields> constexpr bool brace_initialisable_with() {
    return std::is_aggregate_v<E> && std::is_same_v<decltype(E{std::declval<Fields>()...}), E>;
}

// Applies each mutation to a copy of `original` and checks that the copy then differs.
template <class E>
void check_every_field_compared(const E& original, std::vector<std::function<void(E&)>> mutations) {
    for (std::size_t i = 0; i < mutations.size(); ++i) {
        INFO("mutation " << i);
        E changed = original;
        mutations[i](changed);
        CHECK_FALSE(changed == original);
        CHECK(changed != original);
    }
}

} // namespace

static_assert(brace_initialisable_with<User, std::int64_t, std::string, std::string, std::string,
                                       std::string>());
static_assert(brace_initialisable_with<SellerApplication, std::int64_t, User, std::string>());
static_assert(brace_initialisable_with<UserRegistered, User, bool, std::optional<std::string>>());
static_assert(brace_initialisable_with<UserEmailVerified, User, std::optional<std::string>>());
static_assert(
    brace_initialisable_with<UserLoginSuccessful, User, std::optional<std::string>, bool>());
static_assert(brace_initialisable_with<UserLoginFailed, std::string, LoginFailureReason,
                                       std::optional<std::string>>());
static_assert(brace_initialisable_with<User2faEnabled, User>());
static_assert(brace_initialisable_with<User2faDisabled, User>());
static_assert(brace_initialisable_with<SellerApplicationSubmitted, SellerApplication, bool>());
static_assert(brace_initialisable_with<SellerApplicationApproved, SellerApplication, User, User>());
static_assert(
    brace_initialisable_with<SellerApplicationRejected, SellerApplication, User, std::string>());
static_assert(brace_initialisable_with<ProfileUpdated, User, std::vector<std::string>, int>());
static_assert(brace_initialisable_with<ProfilePictureUploaded, User, std::string>());
static_assert(brace_initialisable_with<ProfilePictureDeleted, User>());

static_assert(std::is_same_v<decltype(UserRegistered::name), const std::string_view>);
static_assert(UserRegistered::name == "user_registered");
static_assert(UserEmailVerified::name == "user_email_verified");
static_assert(UserLoginSuccessful::name == "user_login_successful");
static_assert(UserLoginFailed::name == "user_login_failed");
static_assert(User2faEnabled::name == "user_2fa_enabled");
static_assert(User2faDisabled::name == "user_2fa_disabled");
static_assert(SellerApplicationSubmitted::name == "seller_application_submitted");
static_assert(SellerApplicationApproved::name == "seller_application_approved");
static_assert(SellerApplicationRejected::name == "seller_application_rejected");
static_assert(ProfileUpdated::name == "profile_updated");
static_assert(ProfilePictureUploaded::name == "profile_picture_uploaded");
static_assert(ProfilePictureDeleted::name == "profile_picture_deleted");

// Django's senders: the CustomUser class, the SellerApplication class, or None.
static_assert(std::is_same_v<UserRegistered::sender_type, User>);
static_assert(std::is_same_v<UserLoginFailed::sender_type, void>);
static_assert(std::is_same_v<SellerApplicationApproved::sender_type, SellerApplication>);
static_assert(std::is_same_v<ProfilePictureDeleted::sender_type, User>);
static_assert(std::tuple_size_v<BuiltinEvents> == 12);

TEMPLATE_LIST_TEST_CASE("every event is a copyable, comparable, default-constructible value",
                        "[events]", BuiltinEvents) {
    STATIC_REQUIRE(std::is_default_constructible_v<TestType>);
    STATIC_REQUIRE(std::is_copy_constructible_v<TestType>);
    STATIC_REQUIRE(std::is_copy_assignable_v<TestType>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<TestType>);

    const TestType original = samples::sample<TestType>();
    TestType copy = original;
    CHECK(copy == original);
    CHECK_FALSE(copy != original);
    TestType assigned;
    CHECK(assigned == TestType{});
    assigned = original;
    CHECK(assigned == original);
    CHECK_FALSE(TestType{} == original);
}

TEST_CASE("a default-constructed event has zero, false and empty fields", "[events]") {
    const UserRegistered registered;
    CHECK(registered.user.id == 0);
    CHECK(registered.user.email.empty());
    CHECK_FALSE(registered.email_sent);
    CHECK_FALSE(registered.ip_address.has_value());

    const UserLoginFailed failed;
    CHECK(failed.reason == LoginFailureReason::wrong_password);
    CHECK_FALSE(UserLoginSuccessful{}.required_2fa);
    CHECK_FALSE(SellerApplicationSubmitted{}.is_resubmission);
    CHECK(ProfileUpdated{}.profile_completion == 0);
    CHECK(SellerApplication{}.id == 0);
}

TEST_CASE("brace initialisation fills the fields in table order", "[events]") {
    const UserLoginSuccessful login{samples::ana(), "203.0.113.9", true};
    CHECK(login.user == samples::ana());
    CHECK(login.ip_address == std::optional<std::string>("203.0.113.9"));
    CHECK(login.required_2fa);

    const SellerApplicationApproved approved{samples::application(), samples::admin(),
                                             samples::ana()};
    CHECK(approved.application.id == 7);
    CHECK(approved.admin_user.id == 1);
    CHECK(approved.new_seller.id == 42);

    const ProfileUpdated updated{samples::ana(), {"first_name"}, 55};
    CHECK(updated.updated_fields == std::vector<std::string>{"first_name"});
    CHECK(updated.profile_completion == 55);
}

TEST_CASE("equality compares every field of User and SellerApplication", "[events]") {
    check_every_field_compared<User>(samples::ana(), {
                                                         [](User& u) { u.id = 43; },
                                                         [](User& u) { u.email = "x@y.z"; },
                                                         [](User& u) { u.first_name = "X"; },
                                                         [](User& u) { u.last_name = "X"; },
                                                         [](User& u) { u.language = "en"; },
                                                     });
    check_every_field_compared<SellerApplication>(
        samples::application(), {
                                    [](SellerApplication& a) { a.id = 8; },
                                    [](SellerApplication& a) { a.applicant.id = 1; },
                                    [](SellerApplication& a) { a.seller_type = "business"; },
                                });
}

TEST_CASE("equality compares every field of every event", "[events]") {
    check_every_field_compared<UserRegistered>(samples::user_registered(),
                                               {
                                                   [](UserRegistered& e) { e.user.id = 1; },
                                                   [](UserRegistered& e) { e.email_sent = false; },
                                                   [](UserRegistered& e) { e.ip_address.reset(); },
                                               });
    check_every_field_compared<UserEmailVerified>(
        samples::user_email_verified(), {
                                            [](UserEmailVerified& e) { e.user.email = ""; },
                                            [](UserEmailVerified& e) { e.ip_address = "::1"; },
                                        });
    check_every_field_compared<UserLoginSuccessful>(
        samples::user_login_successful(),
        {
            [](UserLoginSuccessful& e) { e.user.language = "en"; },
            [](UserLoginSuccessful& e) { e.ip_address.reset(); },
            [](UserLoginSuccessful& e) { e.required_2fa = false; },
        });
    check_every_field_compared<UserLoginFailed>(
        samples::user_login_failed(),
        {
            [](UserLoginFailed& e) { e.email = "bob@example.com"; },
            [](UserLoginFailed& e) { e.reason = LoginFailureReason::rate_limited; },
            [](UserLoginFailed& e) { e.ip_address = "::1"; },
        });
    check_every_field_compared<User2faEnabled>(samples::user_2fa_enabled(),
                                               {[](User2faEnabled& e) { e.user.id = 2; }});
    check_every_field_compared<User2faDisabled>(samples::user_2fa_disabled(),
                                                {[](User2faDisabled& e) { e.user.id = 2; }});
    check_every_field_compared<SellerApplicationSubmitted>(
        samples::seller_application_submitted(),
        {
            [](SellerApplicationSubmitted& e) { e.application.id = 9; },
            [](SellerApplicationSubmitted& e) { e.is_resubmission = false; },
        });
    check_every_field_compared<SellerApplicationApproved>(
        samples::seller_application_approved(),
        {
            [](SellerApplicationApproved& e) { e.application.seller_type = "x"; },
            [](SellerApplicationApproved& e) { e.admin_user.id = 5; },
            [](SellerApplicationApproved& e) { e.new_seller.id = 5; },
        });
    check_every_field_compared<SellerApplicationRejected>(
        samples::seller_application_rejected(),
        {
            [](SellerApplicationRejected& e) { e.application.applicant.id = 3; },
            [](SellerApplicationRejected& e) { e.admin_user.first_name = "Z"; },
            [](SellerApplicationRejected& e) { e.reason = "other"; },
        });
    check_every_field_compared<ProfileUpdated>(
        samples::profile_updated(), {
                                        [](ProfileUpdated& e) { e.user.last_name = "Z"; },
                                        [](ProfileUpdated& e) { e.updated_fields.pop_back(); },
                                        [](ProfileUpdated& e) { e.profile_completion = 81; },
                                    });
    check_every_field_compared<ProfilePictureUploaded>(
        samples::profile_picture_uploaded(),
        {
            [](ProfilePictureUploaded& e) { e.user.id = 3; },
            [](ProfilePictureUploaded& e) { e.file_key = "avatars/43.png"; },
        });
    check_every_field_compared<ProfilePictureDeleted>(
        samples::profile_picture_deleted(), {[](ProfilePictureDeleted& e) { e.user.id = 3; }});
}

TEST_CASE("to_string gives the snake_case word of each reason", "[events][reason]") {
    CHECK(to_string(LoginFailureReason::wrong_password) == "wrong_password");
    CHECK(to_string(LoginFailureReason::user_not_found) == "user_not_found");
    CHECK(to_string(LoginFailureReason::account_inactive) == "account_inactive");
    CHECK(to_string(LoginFailureReason::email_not_verified) == "email_not_verified");
    CHECK(to_string(LoginFailureReason::invalid_2fa_code) == "invalid_2fa_code");
    CHECK(to_string(LoginFailureReason::rate_limited) == "rate_limited");

    // The result converts to both string types without dangling.
    const std::string owned = to_string(LoginFailureReason::rate_limited);
    const std::string_view view = to_string(LoginFailureReason::rate_limited);
    CHECK(owned == view);
}

TEST_CASE("to_string of a value outside the enumerators is \"unknown\"", "[events][reason]") {
    CHECK(to_string(static_cast<LoginFailureReason>(99)) == "unknown");
    CHECK(to_string(static_cast<LoginFailureReason>(-1)) == "unknown");
}

TEST_CASE("parse_login_failure_reason inverts to_string for every reason", "[events][reason]") {
    CHECK(login_failure_reasons.size() == 6);
    for (const LoginFailureReason reason : login_failure_reasons) {
        CHECK(parse_login_failure_reason(to_string(reason)) == reason);
        CHECK(login_failure_reason_from_string(to_string(reason)) == reason);
    }
}

TEST_CASE("parse_login_failure_reason rejects every other word", "[events][reason]") {
    for (const std::string_view word :
         {"", "unknown", "Wrong_Password", "WRONG_PASSWORD", " wrong_password", "wrong_password ",
          "wrong password", "wrong-password", "wrong_passwor", "wrong_passwords", "2fa"}) {
        INFO("word: '" << std::string(word) << "'");
        CHECK_FALSE(parse_login_failure_reason(word).has_value());
        CHECK_THROWS_AS(login_failure_reason_from_string(word), std::invalid_argument);
    }
}

TEST_CASE("login_failure_reason_from_string names the bad word and the valid ones",
          "[events][reason]") {
    try {
        (void)login_failure_reason_from_string("bad_pin");
        FAIL("no exception");
    } catch (const std::invalid_argument& error) {
        CHECK(std::string(error.what()) ==
              "unknown login failure reason \"bad_pin\" (expected one of: wrong_password, "
              "user_not_found, account_inactive, email_not_verified, invalid_2fa_code, "
              "rate_limited)");
    }
}

namespace {

// A custom event described in one line per field, with a nested described type.
struct Address {
    std::string city;
    std::string ip;
    static constexpr auto fields =
        std::make_tuple(authevents::field("city", &Address::city),
                        authevents::field("ip", &Address::ip, authevents::FieldKind::ip_address));
};
struct PlanChanged {
    static constexpr std::string_view name = "plan_changed";
    std::int64_t account = 0;
    std::vector<Address> addresses;
    std::optional<int> seats;
    static constexpr auto fields = std::make_tuple(
        authevents::field("account", &PlanChanged::account),
        authevents::field("addresses", &PlanChanged::addresses),
        authevents::field("seats", &PlanChanged::seats).in_range(1, 500, "a seat count"));
};

} // namespace

TEST_CASE("descriptions: every built-in event and nested type names its fields once, in order",
          "[events][describe]") {
    using namespace authevents;
    STATIC_REQUIRE(is_described_v<User>);
    STATIC_REQUIRE(is_described_v<SellerApplication>);
    STATIC_REQUIRE(!is_described_v<LoginFailureReason>);
    STATIC_REQUIRE(is_described_enum_v<LoginFailureReason>);
    std::apply(
        [](auto*... events) {
            CHECK((... && is_described_v<std::remove_pointer_t<decltype(events)>>));
        },
        std::tuple<UserRegistered*, UserEmailVerified*, UserLoginSuccessful*, UserLoginFailed*,
                   User2faEnabled*, User2faDisabled*, SellerApplicationSubmitted*,
                   SellerApplicationApproved*, SellerApplicationRejected*, ProfileUpdated*,
                   ProfilePictureUploaded*, ProfilePictureDeleted*>{});
    constexpr auto user_names = field_names<User>();
    CHECK(std::vector<std::string_view>(user_names.begin(), user_names.end()) ==
          std::vector<std::string_view>{"id", "email", "first_name", "last_name", "language"});
    constexpr auto registered = field_names<UserRegistered>();
    CHECK(std::vector<std::string_view>(registered.begin(), registered.end()) ==
          std::vector<std::string_view>{"user", "email_sent", "ip_address"});
    STATIC_REQUIRE(field_kind(&User::email) == FieldKind::email);
    STATIC_REQUIRE(field_kind(&UserLoginFailed::ip_address) == FieldKind::ip_address);
    STATIC_REQUIRE(field_kind(&SellerApplicationRejected::reason) == FieldKind::free_text);
    STATIC_REQUIRE(field_kind(&UserRegistered::email_sent) == FieldKind::plain);
    STATIC_REQUIRE(field_count_v<ProfilePictureDeleted> == 1);
}

TEST_CASE("descriptions: visit_fields gives name, value and kind in order (for audit trails)",
          "[events][describe]") {
    using namespace authevents;
    const UserLoginFailed event{"ana@example.com", LoginFailureReason::rate_limited, "203.0.113.7"};
    std::vector<std::string> seen;
    visit_fields(event, [&](std::string_view name, const auto& value, FieldKind kind) {
        using V = std::decay_t<decltype(value)>;
        std::string text(name);
        text += kind == FieldKind::email ? ":email" : kind == FieldKind::ip_address ? ":ip" : "";
        if constexpr (std::is_same_v<V, std::string>) {
            text += "=" + value;
        } else if constexpr (std::is_same_v<V, LoginFailureReason>) {
            text += "=" + to_string(value);
        } else if constexpr (std::is_same_v<V, std::optional<std::string>>) {
            text += "=" + value.value_or("-");
        }
        seen.push_back(text);
    });
    CHECK(seen == std::vector<std::string>{"email:email=ana@example.com", "reason=rate_limited",
                                           "ip_address:ip=203.0.113.7"});
}

TEST_CASE("descriptions: equality compares every described field, custom events included",
          "[events][describe]") {
    using namespace authevents;
    STATIC_REQUIRE(PlanChanged::name == "plan_changed");
    PlanChanged a{7, {{"Lisbon", "203.0.113.7"}}, 3};
    PlanChanged b = a;
    CHECK(equal(a, b));
    b.addresses.front().city = "Porto";
    CHECK_FALSE(equal(a, b));
    b = a;
    b.seats.reset();
    CHECK_FALSE(equal(a, b));
    User changed = samples::ana();
    changed.language = "pt";
    CHECK(changed != samples::ana());
    CHECK(UserRegistered{samples::ana(), true, {}} == UserRegistered{samples::ana(), true, {}});
}

// ---- FieldSink: the type-erased walk of a description ----------------------------------------

namespace {

std::string kind_word(FieldKind kind) {
    switch (kind) {
    case FieldKind::plain:
        return "plain";
    case FieldKind::email:
        return "email";
    case FieldKind::ip_address:
        return "ip";
    case FieldKind::free_text:
        return "free_text";
    }
    return "?";
}

/// Writes every FieldSink call as text, to check the order and the arguments.
class TraceSink final : public FieldSink {
public:
    std::string text;

    void begin_object(ObjectKind kind, std::int64_t id) override {
        text += kind == ObjectKind::user ? "{user#" + std::to_string(id) + " "
                : kind == ObjectKind::seller_application
                    ? "{application#" + std::to_string(id) + " "
                    : std::string("{");
    }
    void field(const FieldInfo& info) override {
        text += std::string(info.name);
        text += info.optional ? "?" : "";
        text += info.kind == FieldKind::plain ? "" : "(" + kind_word(info.kind) + ")";
        if (info.bounded) {
            text += "[" + std::to_string(info.min) + ".." + std::to_string(info.max) + " " +
                    std::string(info.range_name) + "]";
        }
        text += "=";
    }
    void end_object() override { text += "} "; }
    void begin_array(std::size_t size) override { text += "[" + std::to_string(size) + ": "; }
    void end_array() override { text += "] "; }
    void null_value() override { text += "null "; }
    void boolean(bool value) override { text += value ? "true " : "false "; }
    void integer(std::int64_t value) override { text += std::to_string(value) + " "; }
    void unsigned_integer(std::uint64_t value) override { text += std::to_string(value) + "u "; }
    void floating(double value) override { text += std::to_string(value) + " "; }
    void string(std::string_view value, FieldKind kind) override {
        text += "'" + std::string(value) + "'" +
                (kind == FieldKind::plain ? "" : "/" + kind_word(kind)) + " ";
    }
    void enumerator(std::string_view word, std::int64_t value,
                    std::string_view type_name) override {
        text += std::string(type_name) + ":" +
                (word.empty() ? "invalid " + std::to_string(value) : std::string(word)) + " ";
    }
};

enum class Colour { red, green };
enum class Shade : std::uint8_t { light = 1, dark = 2 };

struct Walked {
    static constexpr std::string_view name = "walked";
    static constexpr int version = 4;
    std::optional<User> by;
    std::vector<std::optional<std::string>> tags;
    std::uint32_t count = 0;
    std::optional<int> percent;
    double ratio = 0;
    LoginFailureReason reason = LoginFailureReason::wrong_password;
    Shade shade = Shade::light;
    SellerApplication application;
    static constexpr auto fields = std::make_tuple(
        field("by", &Walked::by), field("tags", &Walked::tags, FieldKind::free_text),
        field("count", &Walked::count),
        field("percent", &Walked::percent).in_range(0, 100, "a percentage"),
        field("ratio", &Walked::ratio), field("reason", &Walked::reason),
        field("shade", &Walked::shade), field("application", &Walked::application));
};

struct Plain { // an event without a description
    static constexpr std::string_view name = "plain";
    int value = 0;
};

} // namespace

TEST_CASE("write_fields walks a description depth first, in order, absent optionals skipped",
          "[events][describe]") {
    Walked walked;
    walked.tags = {std::string("a b"), std::nullopt};
    walked.count = 3;
    walked.ratio = 0.5;
    walked.shade = Shade::dark;
    walked.application = samples::application();
    TraceSink sink;
    write_fields(walked, sink);
    const std::string user42 =
        "{user#42 id=42 email(email)='ana@example.com'/email first_name(free_text)="
        "'Ana'/free_text last_name(free_text)='Lima'/free_text language='es' } ";
    CHECK(sink.text == "{tags(free_text)=[2: 'a b'/free_text null ] count=3u ratio=0.500000 "
                       "reason=LoginFailureReason:wrong_password shade=2 application={"
                       "application#7 id=7 applicant=" +
                           user42 + "seller_type='individual' } } ");

    walked.by = samples::admin();
    walked.percent = 90;
    walked.reason = static_cast<LoginFailureReason>(77);
    sink.text.clear();
    write_fields(walked, sink);
    CHECK(sink.text.rfind("{by?={user#1 id=1 ", 0) == 0);
    CHECK(sink.text.find("percent?[0..100 a percentage]=90 ") != std::string::npos);
    CHECK(sink.text.find("reason=LoginFailureReason:invalid 77 ") != std::string::npos);
    (void)Colour::green;
}

namespace {

// Descriptions written with field_list(): two fields of one type (distinct slots), a nested type
// described with std::make_tuple, and a Describe specialisation; the two spellings mix freely.
struct Badge {
    std::string label;
    std::string owner_email;
    static constexpr auto fields = std::make_tuple(
        field("label", &Badge::label), field("owner_email", &Badge::owner_email, FieldKind::email));
};
struct BadgeIssued {
    std::string first;
    std::string second;
    std::optional<Badge> badge;
    int level = 0;
    static constexpr auto fields =
        field_list(field("first", &BadgeIssued::first),
                   field("second", &BadgeIssued::second, FieldKind::free_text),
                   field("badge", &BadgeIssued::badge),
                   field("level", &BadgeIssued::level).in_range(1, 9, "a level"));
};
struct Sealed { // described from outside, as a type one cannot change
    std::int64_t serial = 0;
    BadgeIssued issued;
};
struct NoFields {
    static constexpr auto fields = field_list();
};

} // namespace

template <> struct authevents::Describe<Sealed> {
    static constexpr auto fields =
        field_list(field("serial", &Sealed::serial), field("issued", &Sealed::issued));
};

TEST_CASE("descriptions written with field_list() behave as std::make_tuple ones do",
          "[events][describe]") {
    STATIC_REQUIRE(
        std::is_same_v<
            std::remove_cv_t<decltype(User::fields)>,
            FieldList<Field<User, std::int64_t>, Field<User, std::string>, Field<User, std::string>,
                      Field<User, std::string>, Field<User, std::string>>>);
    STATIC_REQUIRE(is_described_v<BadgeIssued>);
    STATIC_REQUIRE(is_described_v<Sealed>);
    STATIC_REQUIRE(is_described_v<NoFields>);
    STATIC_REQUIRE(is_visitable_v<BadgeIssued>);
    STATIC_REQUIRE(is_visitable_v<Sealed>);
    STATIC_REQUIRE(field_count_v<BadgeIssued> == 4);
    STATIC_REQUIRE(field_count_v<Sealed> == 2);
    STATIC_REQUIRE(field_count_v<NoFields> == 0);
    STATIC_REQUIRE(field_kind(&BadgeIssued::second) == FieldKind::free_text);
    STATIC_REQUIRE(field_kind(&BadgeIssued::first) == FieldKind::plain);
    constexpr auto names = field_names<BadgeIssued>();
    CHECK(std::vector<std::string_view>(names.begin(), names.end()) ==
          std::vector<std::string_view>{"first", "second", "badge", "level"});

    // Two fields of the same type read their own members.
    BadgeIssued a{"one", "two", Badge{"gold", "ana@example.com"}, 3};
    std::vector<std::string> seen;
    visit_fields(a, [&](std::string_view name, const auto& value, FieldKind kind) {
        using V = std::decay_t<decltype(value)>;
        std::string text(name);
        if constexpr (std::is_same_v<V, std::string>) {
            text += "=" + value;
        }
        text += kind == FieldKind::free_text ? ":free_text" : "";
        seen.push_back(text);
    });
    CHECK(seen == std::vector<std::string>{"first=one", "second=two:free_text", "badge", "level"});

    BadgeIssued b = a;
    CHECK(equal(a, b));
    b.second = "one";
    CHECK_FALSE(equal(a, b));
    b = a;
    b.badge->owner_email = "bo@example.com";
    CHECK_FALSE(equal(a, b));
    CHECK(equal(Sealed{5, a}, Sealed{5, a}));
    CHECK_FALSE(equal(Sealed{5, a}, Sealed{6, a}));
    CHECK(equal(NoFields{}, NoFields{}));

    TraceSink sink;
    write_fields(Sealed{5, a}, sink);
    CHECK(sink.text == "{serial=5 issued={first='one' second(free_text)='two'/free_text "
                       "badge?={label='gold' owner_email(email)='ana@example.com'/email } "
                       "level[1..9 a level]=3 } } ");
}

TEST_CASE("an EventView walks the fields of any described event, and knows its version",
          "[events][describe]") {
    const Walked walked;
    const EventView view(walked, SenderId::any(), true);
    CHECK(view.has_fields());
    CHECK(view.version() == 4);
    TraceSink sink;
    view.write_fields(sink);
    CHECK(sink.text.rfind("{tags(free_text)=[0: ] count=0u ", 0) == 0);

    const UserRegistered registered = samples::user_registered();
    const EventView builtin(registered, SenderId::any(), true);
    CHECK(builtin.version() == 1);
    TraceSink builtin_sink;
    builtin.write_fields(builtin_sink);
    CHECK(builtin_sink.text.rfind("{user={user#42 ", 0) == 0);

    const Plain plain{1};
    const EventView opaque(plain, SenderId::any(), true);
    CHECK_FALSE(opaque.has_fields());
    CHECK_THROWS_WITH(opaque.write_fields(sink),
                      Catch::Matchers::Contains("'plain' has no description"));
}
