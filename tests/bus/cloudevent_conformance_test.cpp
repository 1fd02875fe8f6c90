// CloudEvents 1.0 conformance of <authevents/bus/cloudevent.hpp>. Each test names the part of
// the specification it follows: "spec" is the CloudEvents core specification, version 1.0.2
// (cloudevents/spec.md), "JSON format" its JSON Event Format (cloudevents/formats/
// json-format.md), both published by the CNCF CloudEvents project; RFC 3986 (URIs), RFC 6839
// (+json media types) and RFC 8259 (JSON) are the IETF documents they refer to. Rules that
// are ours, not the specification's (the data schema of the built-in events), say so.
// Part of the cloudevent_test executable.
#include <authevents/bus/cloudevent.hpp>

#include "catch_compat.hpp"
#include "event_samples.hpp"

#include <authevents/dispatcher.hpp>

#include <nlohmann/json.hpp>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace authevents;
using namespace authevents::bus;
using nlohmann::json;

namespace {

// `action` must throw a CloudEventError about `field` whose message contains `needle`.
void expect_cloud_event_error(const std::function<void()>& action, const std::string& field,
                              const std::string& needle) {
    try {
        action();
        FAIL("no CloudEventError; expected one about '" << field << "': " << needle);
    } catch (const CloudEventError& error) {
        INFO("what(): " << error.what());
        CHECK(error.field() == field);
        CHECK_THAT(error.what(), Catch::Contains(needle));
    }
}

json encoded_sample() { return to_json(to_cloud_event(samples::user_registered())); }

// The third example of the JSON format, section 3.2 (JSON data, an extension of each type).
const char* const spec_json_example = R"({
    "specversion" : "1.0",
    "type" : "com.example.someevent",
    "source" : "/mycontext",
    "id" : "C234-1234-1234",
    "time" : "2018-04-05T17:31:00Z",
    "comexampleextension1" : "value",
    "comexampleothervalue" : 5,
    "datacontenttype" : "application/json",
    "data" : {
        "appinfoA" : "abc",
        "appinfoB" : 123,
        "appinfoC" : true
    }
})";

} // namespace

TEST_CASE("spec 'Context Attributes / OPTIONAL Attributes / time': an event without time is "
          "accepted, and to_json omits an empty time",
          "[cloudevent][conformance]") {
    json envelope = encoded_sample();
    envelope.erase("time");
    const CloudEvent event = parse_cloud_event(envelope.dump());
    CHECK(event.time.empty());
    CHECK(from_cloud_event<UserRegistered>(event) == samples::user_registered());
    CHECK_FALSE(json(to_json(event)).contains("time"));
    CHECK(parse_cloud_event(to_json_text(event)) == event);

    envelope["time"] = nullptr; // JSON format 2.2 / spec: null is the same as absent
    CHECK(parse_cloud_event(envelope.dump()).time.empty());

    envelope["time"] = ""; // present, so it must be a timestamp
    expect_cloud_event_error([&] { parse_cloud_event(envelope.dump()); }, "time",
                             "expected an RFC 3339 timestamp");
}

TEST_CASE("JSON format 3.2: the specification's JSON example parses", "[cloudevent][conformance]") {
    const CloudEvent event = parse_cloud_event(spec_json_example);
    CHECK(event.id == "C234-1234-1234");
    CHECK(event.source == "/mycontext");
    CHECK(event.type == "com.example.someevent");
    CHECK(event.time == "2018-04-05T17:31:00Z");
    CHECK(event.data == json::parse(R"({"appinfoA": "abc", "appinfoB": 123, "appinfoC": true})"));
}

TEST_CASE("JSON format 3 (Envelope) and RFC 8259 section 4: an object with a duplicated member "
          "name is rejected, at any depth",
          "[cloudevent][conformance]") {
    std::string text = encoded_sample().dump();
    const std::string top = text;
    text.insert(1, R"("id":"another-id",)");
    expect_cloud_event_error([&] { parse_cloud_event(text); }, "id", "duplicate member name");

    std::string nested = top;
    const std::string user = R"("user":{)";
    nested.insert(nested.find(user) + user.size(), R"("id":7,)");
    expect_cloud_event_error([&] { parse_cloud_event(nested); }, "data.user.id",
                             "duplicate member name");

    // The same name in different objects is fine.
    CHECK_NOTHROW(parse_cloud_event(top));
}

TEST_CASE("spec 'datacontenttype' (an RFC 2046 media type) and JSON format 3.1: JSON media "
          "types with parameters, in any case, or with a +json suffix are accepted; others are "
          "rejected with a clear message",
          "[cloudevent][conformance]") {
    json envelope = encoded_sample();
    for (const char* accepted :
         {"application/json", "application/json; charset=utf-8", "Application/JSON",
          "APPLICATION/JSON;charset=UTF-8", " application/json ; charset=utf-8",
          "application/ld+json", "application/vnd.example.user+JSON; v=1"}) {
        INFO(accepted);
        envelope["datacontenttype"] = accepted;
        const CloudEvent event = parse_cloud_event(envelope.dump());
        CHECK(event.datacontenttype == accepted); // kept as received
        CHECK(from_cloud_event<UserRegistered>(event) == samples::user_registered());
        CHECK(is_json_media_type(accepted));
    }
    for (const char* rejected :
         {"text/xml", "text/plain", "application/octet-stream", "application/jsonx", "text/json",
          "json", "application/+json", "application/vnd.apache.thrift.binary", ""}) {
        INFO(rejected);
        envelope["datacontenttype"] = rejected;
        expect_cloud_event_error(
            [&] { parse_cloud_event(envelope.dump()); }, "datacontenttype",
            R"(authevents events carry JSON data: expected "application/json" (parameters )"
            R"(allowed) or a "+json" type, got ")" +
                std::string(rejected) + "\"");
        CHECK_FALSE(is_json_media_type(rejected));
    }
}

TEST_CASE("JSON format 3.1 (Handling of data): data and data_base64 are mutually exclusive, and "
          "binary data is refused with a clear message",
          "[cloudevent][conformance]") {
    json envelope = encoded_sample();
    envelope["data_base64"] = "aGVsbG8=";
    expect_cloud_event_error([&] { parse_cloud_event(envelope.dump()); }, "data_base64",
                             "data and data_base64 are mutually exclusive");
    envelope.erase("data");
    expect_cloud_event_error([&] { parse_cloud_event(envelope.dump()); }, "data_base64",
                             "binary data is not supported");
}

TEST_CASE("spec 'Context Attributes / REQUIRED Attributes / source': a URI-reference (RFC 3986 "
          "section 4.1); anything else is rejected when parsing and when encoding",
          "[cloudevent][conformance]") {
    for (const char* valid :
         {"/auth-service", "auth-service", "https://example.com/auth?region=eu#main",
          "urn:example:auth", "mailto:ops@example.com", "//example.com:8080/auth",
          "http://[2001:db8::1]:80/auth", "/caf%C3%A9", "./a/../b", "?query", "#fragment"}) {
        INFO(valid);
        CHECK(is_uri_reference(valid));
        json envelope = encoded_sample();
        envelope["source"] = valid;
        CHECK(parse_cloud_event(envelope.dump()).source == valid);
    }
    for (const char* invalid : {"", "auth service", "/auth service", "1http://example.com", ":auth",
                                "/a#b#c", "/caf%C3%A", "/100%", "/caf\xC3\xA9", "/a[1]", "<auth>",
                                "/a\\b", "/a\"b", "/a{b}", "ht tp://x", "-scheme:x"}) {
        INFO(invalid);
        CHECK_FALSE(is_uri_reference(invalid));
        if (*invalid == '\0') {
            continue; // the empty source has its own message ("must not be empty")
        }
        json envelope = encoded_sample();
        envelope["source"] = invalid;
        expect_cloud_event_error([&] { parse_cloud_event(envelope.dump()); }, "source",
                                 "expected a URI-reference (RFC 3986)");
        expect_cloud_event_error(
            [&] {
                to_cloud_event(samples::user_registered(), CloudEventOptions{invalid, "x"});
            },
            "source", "expected a URI-reference");
        CHECK_THROWS_AS(EventTypeRegistry(CloudEventOptions{invalid, "x"}), std::invalid_argument);
    }
}

TEST_CASE("spec 'Context Attributes / OPTIONAL Attributes / subject': a subject that "
          "contradicts the data of a built-in event is rejected; one that agrees or is absent "
          "is accepted",
          "[cloudevent][conformance]") {
    json envelope = encoded_sample();
    REQUIRE(envelope["subject"] == "user/42");
    envelope["subject"] = "user/43";
    const CloudEvent contradicting = parse_cloud_event(envelope.dump());
    expect_cloud_event_error([&] { from_cloud_event<UserRegistered>(contradicting); }, "subject",
                             R"(contradicts the data: the data gives "user/42", the envelope )"
                             R"("user/43")");
    EventDispatcher dispatcher;
    dispatcher.set_logger({});
    int handled = 0;
    dispatcher.connect<UserRegistered>([&handled](const UserRegistered&) { ++handled; });
    expect_cloud_event_error([&] { EventTypeRegistry().dispatch(contradicting, dispatcher); },
                             "subject", "contradicts the data");
    CHECK(handled == 0);

    envelope.erase("subject");
    CHECK(EventTypeRegistry()
              .dispatch(parse_cloud_event(envelope.dump()), dispatcher)
              .handlers_called == 1);

    // An event whose codec derives no subject (UserLoginFailed) accepts any subject.
    json failed = to_json(to_cloud_event(samples::user_login_failed()));
    failed["subject"] = "login/ana";
    CHECK(from_cloud_event<UserLoginFailed>(parse_cloud_event(failed.dump())) ==
          samples::user_login_failed());
}

TEST_CASE("our schema (docs/events.md): profile_completion is a percentage, 0..100, when "
          "decoding and when encoding",
          "[cloudevent][conformance]") {
    json envelope = to_json(to_cloud_event(samples::profile_updated()));
    for (const int good : {0, 100}) {
        envelope["data"]["profile_completion"] = good;
        CHECK(from_cloud_event<ProfileUpdated>(parse_cloud_event(envelope.dump()))
                  .profile_completion == good);
    }
    for (const int bad : {-1, 101, 1000}) {
        envelope["data"]["profile_completion"] = bad;
        const CloudEvent event = parse_cloud_event(envelope.dump());
        expect_cloud_event_error([&] { from_cloud_event<ProfileUpdated>(event); },
                                 "data.profile_completion",
                                 std::to_string(bad) + " is out of range for a percentage");
        ProfileUpdated wrong = samples::profile_updated();
        wrong.profile_completion = bad;
        expect_cloud_event_error([&] { to_cloud_event(wrong); }, "data.profile_completion",
                                 "out of range for a percentage (0..100)");
    }
}

TEST_CASE("JSON format 2.2 (Integer: the int component only) applied to our data: an integer "
          "too large for 64 bits is reported as out of range, not as a non-integer",
          "[cloudevent][conformance]") {
    const std::string text = encoded_sample().dump();
    const std::string from = R"("id":42)";
    for (const char* huge :
         {"18446744073709551616", "-9223372036854775809", "123456789012345678901234567890"}) {
        std::string changed = text;
        changed.replace(changed.find(from), from.size(), std::string(R"("id":)") + huge);
        const CloudEvent event = parse_cloud_event(changed);
        expect_cloud_event_error([&] { from_cloud_event<UserRegistered>(event); }, "data.user.id",
                                 "is out of range for 64-bit integer");
    }
    std::string fraction = text;
    fraction.replace(fraction.find(from), from.size(), R"("id":4.5)");
    expect_cloud_event_error([&] { from_cloud_event<UserRegistered>(parse_cloud_event(fraction)); },
                             "data.user.id", "expected an integer");
}

TEST_CASE("to_json and to_json_text keep the documented attribute order (specversion, id, "
          "source, type, subject, time, datacontenttype, data; JSON format 3 allows any)",
          "[cloudevent][conformance]") {
    const CloudEvent event = to_cloud_event(samples::user_registered());
    std::vector<std::string> names;
    const nlohmann::ordered_json object = to_json(event);
    for (const auto& member : object.items()) {
        names.push_back(member.key());
    }
    CHECK(names == std::vector<std::string>{"specversion", "id", "source", "type", "subject",
                                            "time", "datacontenttype", "data"});
    const std::string text = to_json_text(event);
    CHECK(text.rfind(R"({"specversion":"1.0","id":")" + event.id + R"(","source":")", 0) == 0);
    CHECK(text.find(R"("datacontenttype":"application/json","data":{)") != std::string::npos);
}
