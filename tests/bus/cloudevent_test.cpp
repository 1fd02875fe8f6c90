// Tests for authevents/bus/cloudevent.hpp: the CloudEvents codec, its strictness, the built-in
// and custom EventCodecs, the RFC 3339 and id helpers, and EventTypeRegistry.
#include <authevents/bus/cloudevent.hpp>

#include "catch_compat.hpp"
#include "connect_options.hpp"
#include "event_samples.hpp"

#include <authevents/dispatcher.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

using namespace authevents;
using namespace authevents::bus;
using nlohmann::json;

// A custom event with its own codec, as a user would write it.
struct PasswordChanged {
    static constexpr std::string_view name = "password_changed";

    std::int64_t user_id = 0;
    bool forced = false;
    std::optional<std::string> note{};

    friend bool operator==(const PasswordChanged& a, const PasswordChanged& b) {
        return a.user_id == b.user_id && a.forced == b.forced && a.note == b.note;
    }
};

// Another custom event whose CloudEvent type collides with PasswordChanged's.
struct PasswordChangedAgain {
    static constexpr std::string_view name = "password_changed";

    std::int64_t user_id = 0;
};

namespace authevents::bus {

template <> struct EventCodec<PasswordChanged> {
    static constexpr int version = 2;
    static json to_data(const PasswordChanged& e) {
        json data = {{"user_id", e.user_id}, {"forced", e.forced}};
        if (e.note) {
            data["note"] = *e.note;
        }
        return data;
    }
    static PasswordChanged from_data(const DataReader& data) {
        data.reject_unknown({"user_id", "forced", "note"});
        return {data.int64("user_id"), data.boolean("forced"), data.optional_string("note")};
    }
    static std::optional<std::string> subject(const PasswordChanged& e) {
        return "user/" + std::to_string(e.user_id);
    }
};

template <> struct EventCodec<PasswordChangedAgain> {
    static constexpr int version = 2;
    static json to_data(const PasswordChangedAgain& e) { return {{"user_id", e.user_id}}; }
    static PasswordChangedAgain from_data(const DataReader& data) {
        return {data.int64("user_id")};
    }
    static std::optional<std::string> subject(const PasswordChangedAgain& /*e*/) {
        return std::nullopt;
    }
};

} // namespace authevents::bus

namespace {

constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();

// Users with non-ASCII text, JSON metacharacters, empty fields and extreme ids.
User unusual_user() {
    return {int64_max, "zoë+tag@exämple.com", "Zoë 李 🚀", "O'Brien \"Q\" \\ / \n\t\x01", "pt-BR"};
}
User minimal_user() { return {int64_min, "", "", "", ""}; }

SellerApplication unusual_application() { return {int64_max, unusual_user(), "empresa ñ"}; }
SellerApplication minimal_application() { return {0, minimal_user(), ""}; }

// Values of each built-in event besides the shared sample: optional fields unset, unusual text
// and extreme ids.
void add_cases(std::vector<UserRegistered>& out) {
    out.push_back({unusual_user(), false, std::nullopt});
    out.push_back({minimal_user(), true, "2001:db8::1"});
}
void add_cases(std::vector<UserEmailVerified>& out) {
    out.push_back({unusual_user(), std::nullopt});
    out.push_back({minimal_user(), ""});
}
void add_cases(std::vector<UserLoginSuccessful>& out) {
    out.push_back({unusual_user(), std::nullopt, false});
    out.push_back({minimal_user(), "2001:db8::1", true});
}
void add_cases(std::vector<UserLoginFailed>& out) {
    for (const LoginFailureReason reason : login_failure_reasons) {
        out.push_back({"ünïcode@example.com", reason, std::nullopt});
    }
    out.push_back({"", LoginFailureReason::rate_limited, "198.51.100.2"});
}
template <class E> void add_user_only_cases(std::vector<E>& out) {
    out.push_back({unusual_user()});
    out.push_back({minimal_user()});
}
void add_cases(std::vector<User2faEnabled>& out) { add_user_only_cases(out); }
void add_cases(std::vector<User2faDisabled>& out) { add_user_only_cases(out); }
void add_cases(std::vector<ProfilePictureDeleted>& out) { add_user_only_cases(out); }
void add_cases(std::vector<SellerApplicationSubmitted>& out) {
    out.push_back({unusual_application(), false});
    out.push_back({minimal_application(), true});
}
void add_cases(std::vector<SellerApplicationApproved>& out) {
    out.push_back({unusual_application(), minimal_user(), unusual_user()});
}
void add_cases(std::vector<SellerApplicationRejected>& out) {
    out.push_back({unusual_application(), unusual_user(), "Fehlende Unterlagen — 税务"});
    out.push_back({minimal_application(), minimal_user(), ""});
}
void add_cases(std::vector<ProfileUpdated>& out) {
    out.push_back({unusual_user(), {}, 0});
    out.push_back({minimal_user(), {"名前", "", "a\"b"}, 100}); // 0..100: a percentage
    out.push_back({unusual_user(), {"x"}, 37});
}
void add_cases(std::vector<ProfilePictureUploaded>& out) {
    out.push_back({unusual_user(), "avatars/ü 1.png"});
    out.push_back({minimal_user(), ""});
}

// The sample of E and the values add_cases() adds.
template <class E> std::vector<E> cases() {
    std::vector<E> result{samples::sample<E>()};
    add_cases(result);
    return result;
}

// Runs `action`, which must throw CloudEventError about `field` with `needle` in what().
template <class F>
void check_error(F&& action, const std::string& field, const std::string& needle) {
    try {
        action();
        FAIL("no CloudEventError thrown; expected one about '" << field << "'");
    } catch (const CloudEventError& error) {
        INFO("what(): " << error.what());
        CHECK(error.field() == field);
        CHECK_THAT(error.what(), Catch::Contains(needle));
        if (field.empty()) {
            CHECK_THAT(error.what(), Catch::StartsWith("CloudEvent: "));
        } else {
            CHECK_THAT(error.what(), Catch::StartsWith("CloudEvent field '" + field + "': "));
        }
    }
}

// The structured-mode JSON of an encoded sample of E.
template <class E> json sample_json() { return to_json(to_cloud_event(samples::sample<E>())); }

// Parsing `envelope` (after a change) must fail naming `field`.
void check_envelope_error(const json& envelope, const std::string& field,
                          const std::string& needle) {
    INFO("envelope: " << envelope.dump());
    check_error([&] { parse_cloud_event(envelope.dump()); }, field, needle);
    check_error([&] { cloud_event_from_json(envelope); }, field, needle);
}

// Decoding `envelope` as an E must fail naming `field` (the envelope itself is fine).
template <class E>
void check_data_error(const json& envelope, const std::string& field, const std::string& needle) {
    INFO("envelope: " << envelope.dump());
    const CloudEvent event = parse_cloud_event(envelope.dump());
    check_error([&] { from_cloud_event<E>(event); }, field, needle);
    EventDispatcher dispatcher;
    dispatcher.set_logger({});
    check_error([&] { EventTypeRegistry().dispatch(event, dispatcher); }, field, needle);
}

SysMilliseconds now_ms() {
    return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

bool is_uuid_v4(const std::string& text) {
    static const std::regex pattern(
        "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
    return std::regex_match(text, pattern);
}

} // namespace

static_assert(std::is_nothrow_copy_constructible_v<CloudEventError>);
static_assert(std::is_base_of_v<std::runtime_error, CloudEventError>);

// --- Round trips ------------------------------------------------------------------------------

TEMPLATE_LIST_TEST_CASE("every built-in event round-trips through CloudEvent JSON text",
                        "[cloudevent]", BuiltinEvents) {
    for (const TestType& original : cases<TestType>()) {
        const CloudEvent encoded = to_cloud_event(original);
        const std::string text = to_json_text(encoded);
        INFO("text: " << text);
        const CloudEvent parsed = parse_cloud_event(text);
        CHECK(parsed == encoded);
        CHECK(from_cloud_event<TestType>(parsed) == original);
    }
}

TEMPLATE_LIST_TEST_CASE("every built-in event round-trips through the registry and a dispatcher",
                        "[cloudevent]", BuiltinEvents) {
    const EventTypeRegistry registry;
    EventDispatcher producer;
    producer.set_logger({});
    std::vector<std::string> texts;
    const ScopedConnection observer = producer.observers().connect([&](const EventView& view) {
        const std::optional<CloudEvent> encoded = registry.encode(view);
        REQUIRE(encoded);
        texts.push_back(to_json_text(*encoded));
    });

    EventDispatcher consumer;
    consumer.set_logger({});
    std::vector<TestType> received;
    consumer.connect<TestType>([&](const TestType& event) { received.push_back(event); });

    const std::vector<TestType> originals = cases<TestType>();
    for (const TestType& original : originals) {
        producer.dispatch(original);
    }
    REQUIRE(texts.size() == originals.size());
    for (const std::string& text : texts) {
        const CloudEvent parsed = parse_cloud_event(text);
        CHECK(registry.knows(parsed.type));
        const DispatchReport report = registry.dispatch(parsed, consumer);
        CHECK(report.handlers_called == 1);
        CHECK(report.ok());
    }
    CHECK(received == originals);
}

TEST_CASE("registry dispatch sends from the event's default sender", "[cloudevent]") {
    const EventTypeRegistry registry;
    EventDispatcher dispatcher;
    dispatcher.set_logger({});
    int from_user_class = 0;
    int from_application_class = 0;
    dispatcher.connect<UserRegistered>([&](const UserRegistered&) { ++from_user_class; },
                                       with_sender(SenderId::type<User>()));
    dispatcher.connect<UserRegistered>([&](const UserRegistered&) { ++from_application_class; },
                                       with_sender(SenderId::type<SellerApplication>()));
    registry.dispatch(registry.encode(samples::user_registered()), dispatcher);
    CHECK(from_user_class == 1);
    CHECK(from_application_class == 0);
}

// --- Envelope ---------------------------------------------------------------------------------

TEST_CASE("to_cloud_event fills the envelope", "[cloudevent]") {
    const SysMilliseconds before = now_ms();
    const CloudEvent event = to_cloud_event(samples::user_registered());
    const SysMilliseconds after = now_ms();

    CHECK(event.specversion == "1.0");
    CHECK(is_uuid_v4(event.id));
    CHECK(event.source == "/auth-service");
    CHECK(event.type == "authevents.user_registered.v1");
    CHECK(event.subject == std::optional<std::string>("user/42"));
    CHECK(event.datacontenttype == "application/json");
    REQUIRE(is_rfc3339(event.time));
    CHECK(event.time.size() == 24); // YYYY-MM-DDTHH:MM:SS.mmmZ
    CHECK(event.time.back() == 'Z');
    const std::optional<SysMilliseconds> time = parse_rfc3339(event.time);
    REQUIRE(time);
    CHECK(before <= *time);
    CHECK(*time <= after);
    CHECK(to_cloud_event(samples::user_registered()).id != event.id);
}

TEST_CASE("the type, source and subject follow the options and the codec", "[cloudevent]") {
    CHECK(cloud_event_type<UserRegistered>("authevents") == "authevents.user_registered.v1");
    CHECK(cloud_event_type<UserRegistered>("com.example.auth") ==
          "com.example.auth.user_registered.v1");
    CHECK(cloud_event_type<PasswordChanged>("authevents") == "authevents.password_changed.v2");
    CHECK(cloud_event_type<ProfileUpdated>("") == "profile_updated.v1");

    const CloudEventOptions options{"https://auth.example.com/eu-1", "com.example.auth"};
    const CloudEvent event = to_cloud_event(samples::profile_updated(), options);
    CHECK(event.source == "https://auth.example.com/eu-1");
    CHECK(event.type == "com.example.auth.profile_updated.v1");
    CHECK(from_cloud_event<ProfileUpdated>(event, "com.example.auth") ==
          samples::profile_updated());
    check_error([&] { from_cloud_event<ProfileUpdated>(event); }, "type",
                "expected authevents.profile_updated.v1, got \"com.example.auth.");

    const EventTypeRegistry registry(options);
    CHECK(registry.options().type_prefix == "com.example.auth");
    CHECK(registry.encode(samples::user_2fa_enabled()).type ==
          "com.example.auth.user_2fa_enabled.v1");
    CHECK(registry.knows("com.example.auth.user_login_failed.v1"));
    CHECK_FALSE(registry.knows("authevents.user_login_failed.v1"));

    CHECK(to_cloud_event(samples::user_email_verified()).subject == "user/42");
    CHECK(to_cloud_event(samples::seller_application_submitted()).subject ==
          "seller_application/7");
    CHECK(to_cloud_event(samples::seller_application_approved()).subject == "seller_application/7");
    CHECK(to_cloud_event(samples::seller_application_rejected()).subject == "seller_application/7");
    CHECK(to_cloud_event(samples::profile_picture_deleted()).subject == "user/42");
    CHECK_FALSE(to_cloud_event(samples::user_login_failed()).subject.has_value());

    check_error(
        [] {
            to_cloud_event(samples::user_registered(), CloudEventOptions{"", "x"});
        },
        "source", "must not be empty");
    CHECK_THROWS_AS(EventTypeRegistry(CloudEventOptions{"", "x"}), std::invalid_argument);
}

TEST_CASE("the structured-mode JSON has the attributes and the data layout", "[cloudevent]") {
    const CloudEvent registered =
        to_cloud_event(UserRegistered{samples::ana(), true, std::nullopt});
    const json object = to_json(registered);
    CHECK(object == json::parse(R"({
        "specversion": "1.0", "id": ")" +
                                registered.id + R"(", "source": "/auth-service",
        "type": "authevents.user_registered.v1", "subject": "user/42",
        "time": ")" + registered.time +
                                R"(", "datacontenttype": "application/json",
        "data": {"user": {"id": 42, "email": "ana@example.com", "first_name": "Ana",
                          "last_name": "Lima", "language": "es"},
                 "email_sent": true}})"));

    const json failed = to_json(to_cloud_event(samples::user_login_failed()));
    CHECK_FALSE(failed.contains("subject"));
    CHECK(failed["data"] == json::parse(R"({"email": "ana@example.com",
        "reason": "wrong_password", "ip_address": "198.51.100.1"})"));

    CHECK(json(to_json(to_cloud_event(samples::seller_application_approved())))["data"] ==
          json::parse(R"({
        "application": {"id": 7, "seller_type": "individual",
                        "applicant": {"id": 42, "email": "ana@example.com", "first_name": "Ana",
                                      "last_name": "Lima", "language": "es"}},
        "admin_user": {"id": 1, "email": "admin@example.com", "first_name": "Ada",
                       "last_name": "Min", "language": "en"},
        "new_seller": {"id": 42, "email": "ana@example.com", "first_name": "Ana",
                       "last_name": "Lima", "language": "es"}})"));
    CHECK(json(to_json(to_cloud_event(samples::profile_updated())))["data"]["updated_fields"] ==
          json::parse(R"(["first_name", "language"])"));
    const json profile = to_json(to_cloud_event(samples::profile_updated()));
    CHECK(profile.at("data").at("profile_completion") == 80);
}

TEST_CASE("to_json_text is compact UTF-8 and never throws on invalid UTF-8", "[cloudevent]") {
    CloudEvent event;
    event.id = "1";
    event.source = "/s";
    event.type = "t";
    event.time = "2026-11-24T10:54:10.123Z";
    event.data = {{"name", "Zoë"}};
    CHECK(to_json_text(event) ==
          R"({"specversion":"1.0","id":"1","source":"/s","type":"t",)"
          R"("time":"2026-11-24T10:54:10.123Z","datacontenttype":"application/json",)"
          R"("data":{"name":"Zoë"}})");

    const UserLoginFailed garbage{"ana\xff@example.com", LoginFailureReason::user_not_found, {}};
    const std::string text = to_json_text(to_cloud_event(garbage));
    const UserLoginFailed decoded = from_cloud_event<UserLoginFailed>(parse_cloud_event(text));
    CHECK(decoded.email == "ana\xEF\xBF\xBD@example.com"); // U+FFFD
}

TEST_CASE("encoding a LoginFailureReason that is not an enumerator fails", "[cloudevent]") {
    const UserLoginFailed event{"a@example.com", static_cast<LoginFailureReason>(99), {}};
    check_error([&] { to_cloud_event(event); }, "data.reason", "not a LoginFailureReason");
}

TEST_CASE("parsing tolerates extensions, nulls for optional attributes and no content type",
          "[cloudevent]") {
    json envelope = sample_json<UserRegistered>();
    envelope["comexampleextension"] = "value";
    envelope["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    envelope["unsetextension"] = nullptr;
    envelope["subject"] = nullptr;
    envelope.erase("datacontenttype");
    const CloudEvent event = parse_cloud_event(envelope.dump());
    CHECK_FALSE(event.subject.has_value());
    CHECK(event.datacontenttype == "application/json");
    CHECK(from_cloud_event<UserRegistered>(event) == samples::user_registered());

    envelope["datacontenttype"] = nullptr;
    CHECK(parse_cloud_event(envelope.dump()).datacontenttype == "application/json");

    json with_null_ip = sample_json<UserRegistered>();
    with_null_ip["data"]["ip_address"] = nullptr;
    CHECK_FALSE(from_cloud_event<UserRegistered>(cloud_event_from_json(with_null_ip)).ip_address);
}

// --- Ids and timestamps -----------------------------------------------------------------------

TEST_CASE("new_event_id gives distinct UUID v4 texts", "[cloudevent]") {
    std::set<std::string> ids;
    for (int i = 0; i < 10000; ++i) {
        const std::string id = new_event_id();
        REQUIRE(is_uuid_v4(id));
        ids.insert(id);
    }
    CHECK(ids.size() == 10000);

    // Per-thread generators: threads do not repeat each other's ids.
    std::vector<std::vector<std::string>> per_thread(4);
    std::vector<std::thread> threads;
    for (auto& list : per_thread) {
        threads.emplace_back([&list] {
            for (int i = 0; i < 1000; ++i) {
                list.push_back(new_event_id());
            }
        });
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    for (const auto& list : per_thread) {
        ids.insert(list.begin(), list.end());
    }
    CHECK(ids.size() == 14000);
}

TEST_CASE("is_rfc3339 accepts valid timestamps only", "[cloudevent]") {
    const std::vector<std::string> valid = {
        "2026-11-24T10:54:10.123Z",       "2026-11-24T10:54:10Z", "2026-11-24T10:54:10.1Z",
        "2026-11-24T10:54:10.123456789Z", "2026-11-24t10:54:10z", "2026-11-24T10:54:10+05:30",
        "2026-11-24T10:54:10.5-08:00",    "2024-02-29T00:00:00Z", "2000-02-29T23:59:59Z",
        "2026-12-31T23:59:60Z",           "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z",
        "2026-01-31T00:00:00-23:59",
    };
    for (const std::string& text : valid) {
        INFO(text);
        CHECK(is_rfc3339(text));
    }
    const std::vector<std::string> invalid = {
        "",
        "yesterday",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-24T10:54:10",
        "2026-11-24T10:54:10.123",
        "2026-11-24 10:54:10Z",
        "2026-11-24",
        "2026-11-24T24:00:00Z",
        "2026-11-24T10:60:00Z",
        "2026-11-24T10:54:61Z",
        "2026-11-24T10:54:10.Z",
        "2026-11-24T10:54:10+24:00",
        "2026-11-24T10:54:10+05:60",
        "2026-11-24T10:54:10+0530",
        "2026-11-24T10:54:10+05",
        "2026-11-24T10:54:10ZZ",
        "2026-11-24T10:54:10Z ",
        " 2026-11-24T10:54:10Z",
        "2026-1-24T10:54:10Z",
        "26-11-24T10:54:10Z",
        "+2026-11-24T10:54:10Z",
        "2026-11-24T1:54:10Z",
        "2026/11/24T10:54:10Z",
        "2026-11-24T10:54:10.12a3Z",
        "2026-11-24T10:54:10UTC",
    };
    for (const std::string& text : invalid) {
        INFO(text);
        CHECK_FALSE(is_rfc3339(text));
    }
}

TEST_CASE("parse_rfc3339 and format_rfc3339 convert both ways", "[cloudevent]") {
    using std::chrono::milliseconds;
    CHECK(parse_rfc3339("1970-01-01T00:00:00Z") == SysMilliseconds(milliseconds(0)));
    CHECK(parse_rfc3339("1970-01-01T01:00:00.5+01:00") == SysMilliseconds(milliseconds(500)));
    CHECK(parse_rfc3339("1969-12-31T23:59:59.9999Z") == SysMilliseconds(milliseconds(-1)));
    CHECK(parse_rfc3339("2000-03-01T00:00:00-00:30") ==
          SysMilliseconds(milliseconds(951'868'800'000 + 1'800'000)));
    CHECK(parse_rfc3339("2026-11-24T10:54:10.123Z") ==
          parse_rfc3339("2026-11-24T11:54:10.123+01:00"));
    CHECK_FALSE(parse_rfc3339("2026-02-29T00:00:00Z"));

    CHECK(format_rfc3339(SysMilliseconds(milliseconds(0))) == "1970-01-01T00:00:00.000Z");
    CHECK(format_rfc3339(SysMilliseconds(milliseconds(-1))) == "1969-12-31T23:59:59.999Z");
    CHECK(format_rfc3339(SysMilliseconds(milliseconds(951'782'400'000))) ==
          "2000-02-29T00:00:00.000Z");
    CHECK(format_rfc3339(SysMilliseconds(milliseconds(253'402'300'799'999))) ==
          "9999-12-31T23:59:59.999Z");
    CHECK_THROWS_AS(format_rfc3339(SysMilliseconds(milliseconds(253'402'300'800'000))),
                    std::out_of_range);

    // Every day from 1600 to 2500, at an odd time of day, round-trips.
    const std::int64_t day_ms = 86'400'000;
    for (std::int64_t day = -135'140; day <= 193'000; day += 1) {
        const SysMilliseconds time(milliseconds(day * day_ms + 45'296'789));
        const std::string text = format_rfc3339(time);
        REQUIRE(parse_rfc3339(text) == time);
    }
    CHECK(is_rfc3339(rfc3339_now()));
}

// --- Strictness -------------------------------------------------------------------------------

TEST_CASE("parse_cloud_event rejects bad envelopes, naming the attribute", "[cloudevent]") {
    check_error([] { parse_cloud_event(R"({"specversion": "1.0")"); }, "", "invalid JSON text");
    check_error([] { parse_cloud_event(""); }, "", "invalid JSON text");
    check_error([] { parse_cloud_event("[1, 2]"); }, "", "expected a JSON object, got an array");
    check_error([] { cloud_event_from_json(json("text")); }, "",
                "expected a JSON object, got a string");

    const json valid = sample_json<UserRegistered>();
    const auto without = [&](const char* key) {
        json copy = valid;
        copy.erase(key);
        return copy;
    };
    const auto with = [&](const char* key, const json& value) {
        json copy = valid;
        copy[key] = value;
        return copy;
    };
    check_envelope_error(without("id"), "id", "required attribute is missing");
    check_envelope_error(with("id", 42), "id", "expected a string, got a number");
    check_envelope_error(with("id", ""), "id", "must not be empty");
    check_envelope_error(with("id", nullptr), "id", "expected a string, got null");
    check_envelope_error(without("specversion"), "specversion", "required attribute is missing");
    check_envelope_error(with("specversion", "0.3"), "specversion", R"(expected "1.0", got "0.3")");
    check_envelope_error(with("specversion", 1.0), "specversion", "expected a string");
    check_envelope_error(without("source"), "source", "missing");
    check_envelope_error(with("source", ""), "source", "must not be empty");
    check_envelope_error(without("type"), "type", "missing");
    check_envelope_error(with("type", json::array()), "type", "expected a string, got an array");
    for (const char* bad :
         {"2026-13-01T00:00:00Z", "2026-02-30T10:00:00Z", "yesterday", "2026-11-24T10:54:10"}) {
        check_envelope_error(with("time", bad), "time",
                             std::string("expected an RFC 3339 timestamp") +
                                 " such as \"2026-11-24T10:54:10.123Z\", got \"" + bad + "\"");
    }
    check_envelope_error(with("time", 1700000000), "time", "expected a string, got a number");
    check_envelope_error(with("datacontenttype", "text/plain"), "datacontenttype",
                         R"(or a "+json" type, got "text/plain")");
    check_envelope_error(with("subject", 42), "subject", "expected a string, got a number");
    check_envelope_error(without("data"), "data", "required member is missing");

    // Long values are cut in messages.
    check_envelope_error(with("specversion", std::string(1000, 'x')), "specversion",
                         std::string(80, 'x') + "\"...");
}

TEST_CASE("unknown types are rejected by the registry and from_cloud_event", "[cloudevent]") {
    json envelope = sample_json<UserRegistered>();
    envelope["type"] = "authevents.user_deleted.v1";
    const CloudEvent event = parse_cloud_event(envelope.dump());
    const EventTypeRegistry registry;
    CHECK_FALSE(registry.knows(event.type));
    EventDispatcher dispatcher;
    dispatcher.set_logger({});
    check_error([&] { registry.dispatch(event, dispatcher); }, "type",
                "unknown event type \"authevents.user_deleted.v1\" (known: "
                "authevents.user_registered.v1, authevents.user_email_verified.v1, ");
    check_error([&] { from_cloud_event<UserRegistered>(event); }, "type",
                "expected authevents.user_registered.v1, got \"authevents.user_deleted.v1\"");

    envelope["type"] = "authevents.user_registered.v2"; // a version this build does not know
    check_error([&] { registry.dispatch(parse_cloud_event(envelope.dump()), dispatcher); }, "type",
                "unknown event type");
}

TEST_CASE("bad data is rejected, naming the field", "[cloudevent]") {
    const json registered = sample_json<UserRegistered>();
    const auto change = [](json envelope, const json::json_pointer& pointer, const json& value) {
        envelope[pointer] = value;
        return envelope;
    };
    const auto remove = [](json envelope, const json::json_pointer& parent, const char* key) {
        envelope[parent].erase(key);
        return envelope;
    };

    check_data_error<UserRegistered>(remove(registered, json::json_pointer("/data/user"), "email"),
                                     "data.user.email", "required field is missing");
    check_data_error<UserRegistered>(change(registered, json::json_pointer("/data/user/email"), 5),
                                     "data.user.email", "expected a string, got a number");
    check_data_error<UserRegistered>(change(registered, json::json_pointer("/data/user/id"), "42"),
                                     "data.user.id", "expected an integer, got a string");
    check_data_error<UserRegistered>(change(registered, json::json_pointer("/data/user/id"), 1.5),
                                     "data.user.id", "expected an integer, got 1.5");
    check_data_error<UserRegistered>(change(registered, json::json_pointer("/data/user/id"), true),
                                     "data.user.id", "expected an integer, got a boolean");
    check_data_error<UserRegistered>(
        change(registered, json::json_pointer("/data/user/id"), std::uint64_t{1} << 63U),
        "data.user.id", "9223372036854775808 is out of range for 64-bit integer");
    check_data_error<UserRegistered>(
        change(registered, json::json_pointer("/data/email_sent"), "yes"), "data.email_sent",
        "expected a boolean, got a string");
    check_data_error<UserRegistered>(change(registered, json::json_pointer("/data/email_sent"), 1),
                                     "data.email_sent", "expected a boolean, got a number");
    check_data_error<UserRegistered>(change(registered, json::json_pointer("/data/ip_address"), 7),
                                     "data.ip_address", "expected a string or null, got a number");
    check_data_error<UserRegistered>(change(registered, json::json_pointer("/data/extra"), 1),
                                     "data.extra",
                                     "unknown field (expected only: user, email_sent, ip_address)");
    check_data_error<UserRegistered>(
        change(registered, json::json_pointer("/data/user/nickname"), "ana"), "data.user.nickname",
        "unknown field");
    check_data_error<UserRegistered>(change(registered, json::json_pointer("/data/user"), "ana"),
                                     "data.user", "expected an object, got a string");
    check_data_error<UserRegistered>(change(registered, json::json_pointer("/data"), json::array()),
                                     "data", "expected an object, got an array");
    check_data_error<UserRegistered>(change(registered, json::json_pointer("/data"), nullptr),
                                     "data", "expected an object, got null");

    const json failed = sample_json<UserLoginFailed>();
    check_data_error<UserLoginFailed>(
        change(failed, json::json_pointer("/data/reason"), "bad_pin"), "data.reason",
        "unknown login failure reason \"bad_pin\" (expected one of: wrong_password, "
        "user_not_found, account_inactive, email_not_verified, invalid_2fa_code, rate_limited)");
    check_data_error<UserLoginFailed>(
        change(failed, json::json_pointer("/data/reason"), "Wrong_Password"), "data.reason",
        "unknown login failure reason");
    check_data_error<UserLoginFailed>(change(failed, json::json_pointer("/data/reason"), 0),
                                      "data.reason", "expected a string, got a number");

    const json profile = sample_json<ProfileUpdated>();
    check_data_error<ProfileUpdated>(
        change(profile, json::json_pointer("/data/updated_fields"), json::parse(R"(["a","b",3])")),
        "data.updated_fields[2]", "expected a string, got a number");
    check_data_error<ProfileUpdated>(
        change(profile, json::json_pointer("/data/updated_fields"), "first_name"),
        "data.updated_fields", "expected an array of strings, got a string");
    check_data_error<ProfileUpdated>(
        change(profile, json::json_pointer("/data/profile_completion"), 3'000'000'000LL),
        "data.profile_completion", "3000000000 is out of range for int (-2147483648..2147483647)");
    check_data_error<ProfileUpdated>(
        change(profile, json::json_pointer("/data/profile_completion"), -3'000'000'000LL),
        "data.profile_completion", "-3000000000 is out of range for int");
    check_data_error<ProfileUpdated>(
        change(profile, json::json_pointer("/data/profile_completion"), 80.0),
        "data.profile_completion", "expected an integer, got 80.0");

    const json approved = sample_json<SellerApplicationApproved>();
    check_data_error<SellerApplicationApproved>(
        remove(approved, json::json_pointer("/data/application/applicant"), "language"),
        "data.application.applicant.language", "required field is missing");
    check_data_error<SellerApplicationApproved>(
        remove(approved, json::json_pointer("/data"), "new_seller"), "data.new_seller",
        "required field is missing");
}

TEST_CASE("large integers from JSON text are read exactly or rejected", "[cloudevent]") {
    json envelope = sample_json<User2faEnabled>();
    envelope.erase("subject"); // it names the user id this test changes
    const auto with_id = [&](const std::string& id) {
        std::string text = envelope.dump();
        const std::string from = "\"id\":42";
        text.replace(text.find(from), from.size(), "\"id\":" + id);
        return parse_cloud_event(text);
    };
    CHECK(from_cloud_event<User2faEnabled>(with_id("9223372036854775807")).user.id == int64_max);
    CHECK(from_cloud_event<User2faEnabled>(with_id("-9223372036854775808")).user.id == int64_min);
    check_error([&] { from_cloud_event<User2faEnabled>(with_id("9223372036854775808")); },
                "data.user.id", "out of range");
    check_error([&] { from_cloud_event<User2faEnabled>(with_id("99999999999999999999")); },
                "data.user.id", "is out of range for 64-bit integer");
    check_error([&] { from_cloud_event<User2faEnabled>(with_id("-99999999999999999999")); },
                "data.user.id", "is out of range for 64-bit integer");
    check_error([&] { from_cloud_event<User2faEnabled>(with_id("1e3")); }, "data.user.id",
                "expected an integer");
}

TEST_CASE("DataReader reads strictly and names paths", "[cloudevent]") {
    const json object = json::parse(R"({"s": "x", "n": null, "b": false, "i": -7,
        "list": ["a"], "o": {"deep": 1}})");
    const DataReader reader(object, "data");
    CHECK(reader.path() == "data");
    CHECK(reader.string("s") == "x");
    CHECK(reader.optional_string("s") == "x");
    CHECK_FALSE(reader.optional_string("n"));
    CHECK_FALSE(reader.optional_string("absent"));
    CHECK_FALSE(reader.boolean("b"));
    CHECK(reader.int64("i") == -7);
    CHECK(reader.integer("i") == -7);
    CHECK(reader.string_list("list") == std::vector<std::string>{"a"});
    CHECK(reader.object("o").path() == "data.o");
    CHECK(reader.object("o").int64("deep") == 1);
    CHECK(reader.raw("n").is_null());
    CHECK(reader.contains("n"));
    CHECK_FALSE(reader.contains("absent"));
    CHECK_NOTHROW(reader.reject_unknown({"s", "n", "b", "i", "list", "o"}));
    check_error(
        [&] {
            reader.reject_unknown({"s", "n", "b", "i", "o"});
        },
        "data.list", "unknown field");
    check_error([&] { (void)reader.string("n"); }, "data.n", "expected a string, got null");
    check_error([&] { (void)reader.object("o").string("deep"); }, "data.o.deep",
                "expected a string, got a number");
    check_error([&] { (void)reader.raw("absent"); }, "data.absent", "required field is missing");
    check_error([] { DataReader(json(3), "data.x"); }, "data.x",
                "expected an object, got a number");
}

// --- Custom events and the registry -----------------------------------------------------------

TEST_CASE("a custom event with its own EventCodec round-trips through the registry",
          "[cloudevent]") {
    EventTypeRegistry registry;
    CHECK(registry.types().size() == 12);
    CHECK_FALSE(registry.knows("authevents.password_changed.v2"));
    registry.add<PasswordChanged>().add<PasswordChanged>(); // the second add does nothing
    CHECK(registry.knows("authevents.password_changed.v2"));
    const std::vector<std::string> types = registry.types();
    REQUIRE(types.size() == 13);
    CHECK(types.front() == "authevents.user_registered.v1");
    CHECK(types.back() == "authevents.password_changed.v2");

    EventDispatcher producer;
    producer.set_logger({});
    std::vector<CloudEvent> published;
    const ScopedConnection observer = producer.observers().connect([&](const EventView& view) {
        if (auto event = registry.encode(view)) {
            published.push_back(*event);
        }
    });
    const PasswordChanged with_note{int64_max, true, "réinitialisé par l'admin"};
    const PasswordChanged without_note{5, false, std::nullopt};
    producer.dispatch(with_note);
    producer.dispatch(without_note);
    REQUIRE(published.size() == 2);
    CHECK(published[0].type == "authevents.password_changed.v2");
    CHECK(published[0].subject == "user/9223372036854775807");

    EventDispatcher consumer;
    consumer.set_logger({});
    std::vector<PasswordChanged> received;
    consumer.connect<PasswordChanged>([&](const PasswordChanged& e) { received.push_back(e); });
    for (const CloudEvent& event : published) {
        CHECK(registry.dispatch(parse_cloud_event(to_json_text(event)), consumer).handlers_called ==
              1);
    }
    CHECK(received == std::vector<PasswordChanged>{with_note, without_note});

    // A registry without the custom event neither encodes nor decodes it.
    const EventTypeRegistry builtin_only;
    CHECK_FALSE(builtin_only.encode(EventView(with_note, SenderId::any(), true)));
    check_error([&] { builtin_only.dispatch(published[0], consumer); }, "type",
                "unknown event type \"authevents.password_changed.v2\"");
    // encode(const Event&) works without registration.
    CHECK(builtin_only.encode(with_note).type == "authevents.password_changed.v2");
}

TEST_CASE("registering two event types with the same CloudEvent type throws", "[cloudevent]") {
    EventTypeRegistry registry;
    registry.add<PasswordChanged>();
    try {
        registry.add<PasswordChangedAgain>();
        FAIL("no exception");
    } catch (const std::invalid_argument& error) {
        CHECK_THAT(error.what(), Catch::Contains("'authevents.password_changed.v2'"));
    }
    CHECK(registry.types().size() == 13);
    CHECK(registry.encode(EventView(PasswordChanged{1, false, {}}, SenderId::any(), true)));
    CHECK_FALSE(registry.encode(EventView(PasswordChangedAgain{1}, SenderId::any(), true)));

    // With another prefix each registry is consistent on its own.
    EventTypeRegistry other(CloudEventOptions{"/auth-service", "com.example"});
    other.add<PasswordChangedAgain>();
    CHECK(other.knows("com.example.password_changed.v2"));
    CHECK_THROWS_AS(other.add<PasswordChanged>(), std::invalid_argument);
}

TEST_CASE("a registry is copyable and the copy is independent", "[cloudevent]") {
    EventTypeRegistry original;
    EventTypeRegistry copy = original;
    copy.add<PasswordChanged>();
    CHECK(copy.knows("authevents.password_changed.v2"));
    CHECK_FALSE(original.knows("authevents.password_changed.v2"));
    CHECK(copy.encode(EventView(samples::user_2fa_disabled(), SenderId::any(), true))->type ==
          "authevents.user_2fa_disabled.v1");
}

TEST_CASE("an EventTypeRegistry parameter accepts {} (the default registry)", "[cloudevent]") {
    const auto knows_user_registered = [](const EventTypeRegistry& registry) {
        return registry.knows("authevents.user_registered.v1");
    };
    CHECK(knows_user_registered({}));
    const EventTypeRegistry copy_initialised = {};
    CHECK(copy_initialised.knows("authevents.user_login_failed.v1"));
}

// ---- Codecs derived from descriptions ------------------------------------------------------

enum class Plan { free, pro };
inline const std::string& to_string(Plan plan) {
    static const std::string words[] = {"free", "pro", "unknown"};
    const auto index = static_cast<std::size_t>(plan);
    return words[index < 2 ? index : 2];
}
template <> struct authevents::EnumDescription<Plan> {
    static constexpr std::array<Plan, 2> values = {Plan::free, Plan::pro};
    static constexpr std::string_view what = "plan";
    static constexpr std::string_view type_name = "Plan";
};

struct Seat {
    std::string holder;
    bool admin = false;
    static constexpr auto fields =
        std::make_tuple(authevents::field("holder", &Seat::holder, FieldKind::email),
                        authevents::field("admin", &Seat::admin));
};

// A custom event with a description and nothing else: it reaches the bus through the derived
// codec (version 2 from its `version`, subject from its User).
struct PlanChanged {
    static constexpr std::string_view name = "plan_changed";
    static constexpr int version = 2;
    User user;
    Plan plan = Plan::free;
    std::vector<Seat> seats;
    std::optional<int> seat_limit;
    double price = 0;
    static constexpr auto fields = std::make_tuple(
        authevents::field("user", &PlanChanged::user),
        authevents::field("plan", &PlanChanged::plan),
        authevents::field("seats", &PlanChanged::seats),
        authevents::field("seat_limit", &PlanChanged::seat_limit).in_range(1, 500, "a seat limit"),
        authevents::field("price", &PlanChanged::price));
};

// A described event whose explicit EventCodec overrides the derived one.
struct Overridden {
    static constexpr std::string_view name = "overridden";
    std::int64_t id = 0;
    static constexpr auto fields = std::make_tuple(authevents::field("id", &Overridden::id));
};
template <> struct authevents::bus::EventCodec<Overridden> {
    static constexpr int version = 7;
    static nlohmann::json to_data(const Overridden& e) { return {{"legacy_id", e.id}}; }
    static Overridden from_data(const DataReader& data) {
        data.reject_unknown({"legacy_id"});
        return {data.int64("legacy_id")};
    }
    static std::optional<std::string> subject(const Overridden&) { return std::nullopt; }
};

TEST_CASE("a described custom event round-trips through its derived codec, strictly",
          "[cloudevent][describe]") {
    const PlanChanged event{
        samples::ana(), Plan::pro, {{"ana@example.com", true}, {"bo@x.org", false}}, 10, 9.5};
    const CloudEvent cloud = to_cloud_event(event);
    CHECK(cloud.type == "authevents.plan_changed.v2");
    CHECK(cloud.subject == std::optional<std::string>("user/42"));
    CHECK(cloud.data.at("plan") == "pro");
    CHECK(cloud.data.at("seats").at(1).at("holder") == "bo@x.org");
    const PlanChanged back = from_cloud_event<PlanChanged>(parse_cloud_event(to_json_text(cloud)));
    CHECK(authevents::equal(back, event));

    PlanChanged no_limit = event;
    no_limit.seat_limit.reset();
    const CloudEvent without = to_cloud_event(no_limit);
    CHECK_FALSE(without.data.contains("seat_limit"));
    CHECK_FALSE(from_cloud_event<PlanChanged>(without).seat_limit.has_value());

    const auto decode = [&](json data) {
        CloudEvent changed = cloud;
        changed.data = std::move(data);
        return from_cloud_event<PlanChanged>(changed);
    };
    json data = cloud.data;
    data["extra"] = 1;
    check_error([&] { decode(data); }, "data.extra",
                "unknown field (expected only: user, plan, seats, seat_limit, price)");
    data = cloud.data;
    data["plan"] = "gold";
    check_error([&] { decode(data); }, "data.plan",
                "unknown plan \"gold\" (expected one of: free, pro)");
    data = cloud.data;
    data["seats"][0]["admin"] = "yes";
    check_error([&] { decode(data); }, "data.seats[0].admin", "expected a boolean, got a string");
    data = cloud.data;
    data["seats"][1]["boss"] = true;
    check_error([&] { decode(data); }, "data.seats[1].boss", "unknown field");
    data = cloud.data;
    data["seat_limit"] = 900;
    check_error([&] { decode(data); }, "data.seat_limit",
                "900 is out of range for a seat limit (1..500)");
    data = cloud.data;
    data["seat_limit"] = nullptr;
    CHECK_FALSE(decode(data).seat_limit.has_value());
    data = cloud.data;
    data.erase("price");
    check_error([&] { decode(data); }, "data.price", "required field is missing");

    PlanChanged bad = event;
    bad.plan = static_cast<Plan>(5);
    check_error([&] { to_cloud_event(bad); }, "data.plan", "not a Plan enumerator (value 5)");
    bad = event;
    bad.seat_limit = 0;
    check_error([&] { to_cloud_event(bad); }, "data.seat_limit", "out of range for a seat limit");
}

TEST_CASE("an explicit EventCodec overrides the one derived from a description; a registry "
          "takes described custom events with add<E>() alone",
          "[cloudevent][describe]") {
    const CloudEvent cloud = to_cloud_event(Overridden{5});
    CHECK(cloud.type == "authevents.overridden.v7");
    CHECK(cloud.data == json{{"legacy_id", 5}});
    CHECK(from_cloud_event<Overridden>(cloud).id == 5);

    EventTypeRegistry registry;
    registry.add<PlanChanged>();
    CHECK(registry.knows("authevents.plan_changed.v2"));
    EventDispatcher dispatcher;
    dispatcher.set_logger({});
    std::vector<PlanChanged> received;
    dispatcher.connect<PlanChanged>([&](const PlanChanged& e) { received.push_back(e); });
    registry.dispatch(to_cloud_event(PlanChanged{samples::ana(), Plan::free, {}, {}, 0}),
                      dispatcher);
    REQUIRE(received.size() == 1);
    CHECK(received.front().user == samples::ana());
}

// ---- Events the registry was never given: encoded from their descriptions ----------------

// Two described events and one that is not, none of them registered anywhere.
struct AdminActed {
    static constexpr std::string_view name = "admin_acted";
    std::optional<User> admin;     // optional: never the subject
    std::vector<User> targets;     // in an array: never the subject
    SellerApplication application; // the first non-optional User/SellerApplication field
    User user;
    std::uint16_t count = 0;
    static constexpr auto fields = std::make_tuple(
        authevents::field("admin", &AdminActed::admin),
        authevents::field("targets", &AdminActed::targets),
        authevents::field("application", &AdminActed::application),
        authevents::field("user", &AdminActed::user),
        authevents::field("count", &AdminActed::count).in_range(1, 10, "a batch size"));
};

struct ClashesWithBuiltin { // same CloudEvent type as the built-in user_registered
    static constexpr std::string_view name = "user_registered";
    std::int64_t id = 0;
    static constexpr auto fields =
        std::make_tuple(authevents::field("id", &ClashesWithBuiltin::id));
};

struct Opaque { // a field type a FieldSink cannot receive
    static constexpr std::string_view name = "opaque";
    std::string_view view;
    static constexpr auto fields = std::make_tuple(authevents::field("view", &Opaque::view));
};
static_assert(!authevents::is_visitable_v<Opaque>);
static_assert(authevents::is_visitable_v<AdminActed>);

template <class Event> EventView view_of(const Event& event) {
    return EventView(event, SenderId::any(), true);
}

TEMPLATE_LIST_TEST_CASE("DataWriter writes every built-in event as its codec does",
                        "[cloudevent][describe]", BuiltinEvents) {
    for (const TestType& event : cases<TestType>()) {
        DataWriter writer;
        view_of(event).write_fields(writer);
        CHECK(writer.subject() == EventCodec<TestType>::subject(event));
        CHECK(writer.take() == EventCodec<TestType>::to_data(event));
    }
}

TEST_CASE("an event the registry was never given is encoded from its description, as its "
          "derived codec would encode it",
          "[cloudevent][describe]") {
    const EventTypeRegistry registry; // the built-in events only
    const PlanChanged plan{
        samples::ana(), Plan::pro, {{"ana@example.com", true}, {"bo@x.org", false}}, 10, 9.5};
    const std::optional<CloudEvent> encoded = registry.encode(view_of(plan));
    REQUIRE(encoded.has_value());
    const CloudEvent derived = to_cloud_event(plan);
    CHECK(encoded->type == "authevents.plan_changed.v2");
    CHECK(encoded->type == derived.type);
    CHECK(encoded->subject == derived.subject);
    CHECK(encoded->data == derived.data);
    CHECK(encoded->source == "/auth-service");
    CHECK(is_rfc3339(encoded->time));
    CHECK(encoded->id != derived.id);

    // A consumer names the type once, to decode it.
    EventTypeRegistry consumer;
    consumer.add<PlanChanged>();
    EventDispatcher dispatcher;
    dispatcher.set_logger({});
    std::vector<PlanChanged> received;
    dispatcher.connect<PlanChanged>([&](const PlanChanged& e) { received.push_back(e); });
    consumer.dispatch(parse_cloud_event(to_json_text(*encoded)), dispatcher);
    REQUIRE(received.size() == 1);
    CHECK(authevents::equal(received.front(), plan));

    // The subject rule: the first top-level, non-optional User or SellerApplication field.
    const AdminActed acted{
        samples::admin(), {samples::admin()}, samples::application(), samples::ana(), 3};
    const std::optional<CloudEvent> acted_cloud = registry.encode(view_of(acted));
    REQUIRE(acted_cloud.has_value());
    CHECK(acted_cloud->subject == std::optional<std::string>("seller_application/7"));
    CHECK(acted_cloud->subject == to_cloud_event(acted).subject);
    CHECK(acted_cloud->data == to_cloud_event(acted).data);
    CHECK(acted_cloud->data.at("targets").at(0).at("id") == 1);
    CHECK(acted_cloud->data.at("count") == 3);

    // With another prefix, the type follows it.
    CloudEventOptions options;
    options.type_prefix = "com.example";
    CHECK(EventTypeRegistry(options).encode(view_of(plan))->type == "com.example.plan_changed.v2");
}

TEST_CASE("encoding an unregistered event from its description fails clearly",
          "[cloudevent][describe]") {
    const EventTypeRegistry registry;
    PlanChanged plan{samples::ana(), Plan::pro, {}, 0, 1};
    check_error([&] { (void)registry.encode(view_of(plan)); }, "data.seat_limit",
                "0 is out of range for a seat limit (1..500)");
    plan.seat_limit = 2;
    plan.plan = static_cast<Plan>(9);
    check_error([&] { (void)registry.encode(view_of(plan)); }, "data.plan",
                "not a Plan enumerator (value 9)");
    AdminActed acted{std::nullopt, {}, samples::application(), samples::ana(), 11};
    check_error([&] { (void)registry.encode(view_of(acted)); }, "data.count",
                "11 is out of range for a batch size (1..10)");
    check_error([&] { (void)registry.encode(view_of(ClashesWithBuiltin{1})); }, "type",
                "'authevents.user_registered.v1' is registered for another event type (named "
                "'user_registered')");

    // No description, or one a FieldSink cannot walk: nothing to encode from.
    CHECK_FALSE(registry.encode(view_of(PasswordChanged{1, false, {}})).has_value());
    const Opaque opaque{"x"};
    CHECK_FALSE(view_of(opaque).has_fields());
    CHECK_FALSE(registry.encode(view_of(opaque)).has_value());
    DataWriter writer;
    CHECK_THROWS_AS(view_of(opaque).write_fields(writer), std::logic_error);
}

TEST_CASE("parse_cloud_event_type splits what cloud_event_type makes, and nothing else",
          "[cloudevent]") {
    using authevents::bus::parse_cloud_event_type;
    const auto full = parse_cloud_event_type("com.example.auth.user_registered.v12");
    REQUIRE(full.has_value());
    CHECK(full->prefix == "com.example.auth");
    CHECK(full->name == "user_registered");
    CHECK(full->version == 12);
    const auto bare = parse_cloud_event_type("user_registered.v1"); // an empty prefix
    REQUIRE(bare.has_value());
    CHECK(bare->prefix.empty());
    CHECK(bare->name == "user_registered");
    CHECK(bare->version == 1);
    for (const char* bad : {"", ".v1", "auth..v1", "auth.user_registered", "auth.user.v",
                            "auth.user.v1x", "auth.user.v1234567"}) {
        INFO(bad);
        CHECK_FALSE(parse_cloud_event_type(bad).has_value());
    }
}
