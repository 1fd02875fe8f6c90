// Tests for authevents/bus/signing.hpp: keys, the signing input, signing and every way a
// signature check can fail. Built into the cloudevent_test executable (no Redis needed; the
// consumer's use of it is tested against redis-server in consumer_signing_test.cpp).
#include <authevents/bus/signing.hpp>

#include "catch_compat.hpp"
#include "event_samples.hpp"

#include <authevents/bus/cloudevent.hpp>

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace authevents::bus;

namespace {

const std::string secret_a(32, 'a');
const std::string secret_b = "0123456789abcdef0123456789abcdef0123456789";

CloudEvent sample_event() {
    return EventTypeRegistry{}.encode(samples::seller_application_approved());
}

/// `text` with the first `from` replaced by `to` (which must be there).
std::string replaced(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

SignatureCheck check_text(const std::string& text, const std::vector<SigningKey>& keys) {
    return check_signature(text, parse_cloud_event(text), keys);
}

/// The message of the std::invalid_argument `make` throws.
template <class Make> std::string invalid_argument_of(Make make) {
    try {
        make();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    FAIL("no std::invalid_argument thrown");
    return {};
}

} // namespace

TEST_CASE("signing: keys need an id of safe characters and at least 32 bytes of secret") {
    CHECK(SigningKey("2026-12", secret_a).id() == "2026-12");
    const std::string short_secret = "0123456789abcdef0123456789abcde"; // 31 bytes
    const std::string too_short =
        invalid_argument_of([&] { return SigningKey("k1", short_secret); });
    CHECK_THAT(too_short, Catch::Matchers::Contains("31 bytes, at least 32"));
    CHECK_THAT(too_short, Catch::Matchers::Contains("'k1'"));
    CHECK(too_short.find(short_secret) == std::string::npos); // never the secret
    CHECK_THAT(invalid_argument_of([] { return SigningKey("", secret_a); }),
               Catch::Matchers::Contains("invalid"));
    CHECK_THAT(invalid_argument_of([] { return SigningKey("a b\n", secret_a); }),
               Catch::Matchers::Contains("a b\\n is invalid"));
    CHECK_THROWS_AS(SigningKey(std::string(65, 'k'), secret_a), std::invalid_argument);
    CHECK_NOTHROW(SigningKey(std::string(64, 'k'), secret_a));
}

TEST_CASE("signing: from_hex reads `openssl rand -hex 32` output and names bad input") {
    const std::string hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
    const SigningKey key = SigningKey::from_hex("k1", hex + "\n");
    const SigningKey same("k1", std::string("\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb"
                                            "\xcc\xdd\xee\xff\x00\x11\x22\x33\x44\x55\x66\x77"
                                            "\x88\x99\xaa\xbb\xcc\xdd\xee\xff",
                                            32));
    CHECK(key.mac("message") == same.mac("message"));
    const std::string bad_digit = hex.substr(0, 63) + "g";
    const std::string message =
        invalid_argument_of([&] { return SigningKey::from_hex("k1", bad_digit); });
    CHECK_THAT(message, Catch::Matchers::Contains("hex digits"));
    CHECK(message.find(bad_digit) == std::string::npos);
    CHECK_THROWS_AS(SigningKey::from_hex("k1", hex.substr(0, 63)), std::invalid_argument);
    CHECK_THAT(invalid_argument_of([&] { return SigningKey::from_hex("k1", hex.substr(0, 62)); }),
               Catch::Matchers::Contains("31 bytes"));
}

TEST_CASE("signing: copies and assignment keep the key; a moved-from key refuses to sign") {
    SigningKey a("a", secret_a);
    const SigningKey copy = a; // NOLINT(performance-unnecessary-copy-initialization)
    CHECK(copy.mac("x") == a.mac("x"));
    SigningKey b("b", secret_b);
    b = copy;
    CHECK(b.id() == "a");
    CHECK(b.mac("x") == a.mac("x"));
    SigningKey moved = std::move(a);
    CHECK(moved.mac("x") == copy.mac("x"));
    CHECK_THROWS_AS(a.mac("x"), std::logic_error); // NOLINT(bugprone-use-after-move)
}

TEST_CASE("signing: HMAC-SHA256 matches RFC 4231 test case 6 (a key longer than a block)") {
    // RFC 4231 test case 6: a 131-byte key of 0xaa (longer than a block: hashed first).
    const SigningKey key("rfc4231", std::string(131, '\xaa'));
    const auto tag = key.mac("Test Using Larger Than Block-Size Key - Hash Key First");
    std::string hex(tag.size() * 2 + 1, '\0');
    sodium_bin2hex(hex.data(), hex.size(), tag.data(), tag.size());
    hex.pop_back();
    CHECK(hex == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST_CASE("signing: the signing input is a JSON array of the version, key id and attributes") {
    CloudEvent event;
    event.id = "id-1";
    event.source = "/auth";
    event.type = "authevents.user_registered.v1";
    event.time = "2026-11-24T10:54:10.123Z";
    event.data = nlohmann::json{{"b", 1}, {"a", "x"}};
    CHECK(signing_input(event, "k1") ==
          R"(["authevents-hmac-sha256-v1","k1","1.0","id-1","/auth",)"
          R"("authevents.user_registered.v1",null,"2026-11-24T10:54:10.123Z",)"
          R"("application/json",{"a":"x","b":1}])");
    event.subject = "user/42";
    CHECK_THAT(signing_input(event, "k1"), Catch::Matchers::Contains(R"(,"user/42",)"));
}

TEST_CASE("signing: a signed event verifies, whatever the member order and spacing") {
    const SigningKey key("k1", secret_a);
    const CloudEvent event = sample_event();
    const std::string text = to_signed_json_text(event, key);
    const nlohmann::json wire = nlohmann::json::parse(text);
    CHECK(wire.at("authkeyid") == "k1");
    CHECK(wire.at("authsignature").get<std::string>().size() == 64);
    CHECK(wire.at("authsignature") == signature_of(event, key));
    const SignatureCheck check = check_text(text, {key});
    CHECK(check.ok());
    CHECK(check.key_id == "k1");
    CHECK(check.reason.empty());
    // nlohmann::json sorts members and dump(2) adds whitespace: same event, still valid.
    CHECK(check_text(wire.dump(2), {key}).ok());
    // The parsed event is what the handlers get, and it equals what was signed.
    CHECK(parse_cloud_event(text) == event);
}

TEST_CASE("signing: forged, tampered, unsigned and unknown-key events are refused by reason") {
    const SigningKey key("k1", secret_a);
    const CloudEvent event = sample_event();
    const std::string text = to_signed_json_text(event, key);
    const std::vector<SigningKey> accepted = {key};

    SECTION("forged: signed with another secret under the accepted key id") {
        const SigningKey forger("k1", secret_b);
        const SignatureCheck check = check_text(to_signed_json_text(event, forger), accepted);
        CHECK(check.status == SignatureStatus::bad_signature);
        CHECK_THAT(check.reason, Catch::Matchers::Contains("bad signature for key id 'k1'"));
    }
    SECTION("tampered: data changed after signing") {
        const SignatureCheck check = check_text(
            replaced(text, "\"new_seller\":{\"email\":\"ana@", "\"new_seller\":{\"email\":\"eve@"),
            accepted);
        CHECK(check.status == SignatureStatus::bad_signature);
    }
    SECTION("tampered: an attribute changed after signing") {
        for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
                 {"\"source\":\"", "\"source\":\"/x"},
                 {"\"id\":\"", "\"id\":\"0"},
                 {"\"time\":\"2", "\"time\":\"1"},
                 {"\"subject\":\"", "\"subject\":\"x"},
                 {"seller_application_approved.v1", "seller_application_rejected.v1"}}) {
            INFO(from);
            CHECK(check_text(replaced(text, from, to), accepted).status ==
                  SignatureStatus::bad_signature);
        }
    }
    SECTION("tampered: the key id changed to another accepted key") {
        const SigningKey other("k2", secret_a); // same secret, other id: the id is signed too
        const SignatureCheck check = check_text(
            replaced(text, "\"authkeyid\":\"k1\"", "\"authkeyid\":\"k2\""), {key, other});
        CHECK(check.status == SignatureStatus::bad_signature);
    }
    SECTION("unsigned") {
        const SignatureCheck check = check_text(to_json_text(event), accepted);
        CHECK(check.status == SignatureStatus::unsigned_event);
        CHECK_THAT(check.reason, Catch::Matchers::Contains("unsigned event"));
    }
    SECTION("unknown key id") {
        const SigningKey stranger("intruder", secret_a);
        const SignatureCheck check = check_text(to_signed_json_text(event, stranger), accepted);
        CHECK(check.status == SignatureStatus::unknown_key);
        CHECK_THAT(check.reason,
                   Catch::Matchers::Contains("unknown key id 'intruder' (accepted: k1)"));
        // A hostile key id is escaped in the reason.
        const SignatureCheck hostile = check_text(
            replaced(text, "\"authkeyid\":\"k1\"", "\"authkeyid\":\"k\\u2028\\n1\""), accepted);
        CHECK(hostile.status == SignatureStatus::unknown_key);
        CHECK_THAT(hostile.reason, Catch::Matchers::Contains("'k\\u{2028}\\n1'"));
        CHECK(hostile.key_id == "k\\u{2028}\\n1");
    }
    SECTION("malformed: one attribute without the other, repeated, not a string, not hex") {
        nlohmann::ordered_json wire = nlohmann::ordered_json::parse(text);
        nlohmann::ordered_json only_id = wire;
        only_id.erase("authsignature");
        CHECK(check_text(only_id.dump(), accepted).status == SignatureStatus::malformed);
        nlohmann::ordered_json number = wire;
        number["authkeyid"] = 1;
        CHECK(check_text(number.dump(), accepted).status == SignatureStatus::malformed);
        nlohmann::ordered_json object = wire;
        object["authsignature"] = nlohmann::ordered_json::object();
        CHECK(check_text(object.dump(), accepted).status == SignatureStatus::malformed);
        nlohmann::ordered_json short_hex = wire;
        short_hex["authsignature"] = std::string(62, 'a');
        CHECK(check_text(short_hex.dump(), accepted).status == SignatureStatus::malformed);
        nlohmann::ordered_json not_hex = wire;
        not_hex["authsignature"] = std::string(64, 'z');
        CHECK(check_text(not_hex.dump(), accepted).status == SignatureStatus::malformed);
        // A repeated attribute (the first could be checked, the second read by someone else).
        const std::string repeated =
            replaced(text, "\"authkeyid\":\"k1\"", "\"authkeyid\":\"k1\",\"authkeyid\":\"k1\"");
        CHECK(check_signature(repeated, event, accepted).status == SignatureStatus::malformed);
    }
    SECTION("the same names inside data are not the signature") {
        CloudEvent inner = event;
        inner.data["authsignature"] = signature_of(event, key);
        inner.data["authkeyid"] = "k1";
        CHECK(check_text(to_json_text(inner), accepted).status == SignatureStatus::unsigned_event);
    }
}

TEST_CASE("signing: a consumer listing the old and the new key accepts both (rotation)") {
    const SigningKey old_key("2026-11", secret_a);
    const SigningKey new_key("2026-12", secret_b);
    const CloudEvent event = sample_event();
    const std::vector<SigningKey> both = {old_key, new_key};
    CHECK(check_text(to_signed_json_text(event, old_key), both).ok());
    CHECK(check_text(to_signed_json_text(event, new_key), both).ok());
    // After the rotation the old key is dropped: its events are refused as unknown.
    CHECK(check_text(to_signed_json_text(event, old_key), {new_key}).status ==
          SignatureStatus::unknown_key);
    // Two keys with one id are a configuration error.
    CHECK_THAT(invalid_argument_of([&] {
                   check_signing_keys({old_key, SigningKey("2026-11", secret_b)}, "consumer");
               }),
               Catch::Matchers::Contains("consumer: two signing keys have the id '2026-11'"));
}
