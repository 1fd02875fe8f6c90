// Tests of authevents/audit/sealing.hpp (seal/open, blind indexes, KeyRing), entry.hpp (entries
// with personal values sealed) and owasp.hpp (the mapping of the built-in events).
#include <authevents/audit/entry.hpp>
#include <authevents/audit/owasp.hpp>
#include <authevents/audit/sealing.hpp>

#include "audit/audit_test_store.hpp"
#include "catch_compat.hpp"
#include "event_samples.hpp"

#include <nlohmann/json.hpp>

#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

using namespace authevents;
using namespace authevents::audit;
using authevents::audit::testing::make_test_store;

namespace {

std::string key_of_byte(char byte) { return std::string(audit_key_bytes, byte); }

// Every string in an entry, for "no plaintext" checks.
std::string all_text(const AuditEntry& entry) {
    return entry.event_type + '|' + entry.owasp + '|' + entry.actor + '|' + entry.subject + '|' +
           entry.source_ip.value_or("") + '|' + entry.ip_index.value_or("") + '|' + entry.data +
           '|' + entry.cloud_event_id.value_or("") + '|' + entry.key_scope;
}

const std::vector<std::string>& personal_sample_values() {
    static const std::vector<std::string> values = {
        "ana@example.com", "admin@example.com", "Lima",         "203.0.113.7",
        "203.0.113.8",     "203.0.113.9",       "198.51.100.1", "Missing tax documents",
        "avatars/42.png",  "\"Ana\"",           "\"Ada\"",      "\"Min\""};
    return values;
}

template <class... Es> std::tuple<Es*...> pointers(std::tuple<Es...>* /*tag*/) { return {}; }

} // namespace

TEST_CASE("seal and open_sealed round-trip; another key, a changed value or plain text do not "
          "open",
          "[audit][sealing]") {
    const std::string key = key_of_byte('k');
    const std::string sealed = seal("ana@example.com", key);
    CHECK(is_sealed(sealed));
    CHECK(sealed.rfind("sealed:v1:", 0) == 0);
    CHECK(sealed.find("ana") == std::string::npos);
    CHECK(open_sealed(sealed, key) == std::optional<std::string>("ana@example.com"));
    CHECK(seal("ana@example.com", key) != sealed); // a fresh nonce each time
    CHECK_FALSE(open_sealed(sealed, key_of_byte('x')).has_value());
    std::string altered = sealed;
    altered[altered.size() - 3] = altered[altered.size() - 3] == 'A' ? 'B' : 'A';
    CHECK_FALSE(open_sealed(altered, key).has_value());
    CHECK_FALSE(open_sealed("ana@example.com", key).has_value());
    CHECK_FALSE(open_sealed("sealed:v1:!!notbase64", key).has_value());
    CHECK_FALSE(open_sealed("sealed:v1:", key).has_value());
    CHECK(open_sealed(seal("", key), key) == std::optional<std::string>(""));
    CHECK_THROWS_AS(seal("x", "short"), std::invalid_argument);
}

TEST_CASE("normalise_email and normalise_ip give one form per address", "[audit][sealing]") {
    CHECK(normalise_email("  Ana@Example.COM\t") == "ana@example.com");
    CHECK(normalise_ip(" 203.0.113.7 ") == "203.0.113.7");
    CHECK(normalise_ip("2001:DB8:0:0::1") == "2001:db8::1");
    CHECK(normalise_ip("not an ip") == "not an ip");
}

TEST_CASE("KeyRing keeps one key per scope, erases it, and never erases the index key",
          "[audit][sealing]") {
    auto owned = make_test_store();
    AuditStore& store = *owned;
    KeyRing ring(store);
    CHECK_FALSE(ring.find("user:1").has_value());
    const std::string key = ring.find_or_create("user:1");
    CHECK(key.size() == audit_key_bytes);
    CHECK(ring.find_or_create("user:1") == key);
    CHECK(ring.find("user:1") == std::optional<std::string>(key));
    CHECK(ring.find_or_create("user:2") != key);
    // Stored as text, not as the raw key.
    const auto stored = store.find_key("user:1");
    REQUIRE(stored.has_value());
    CHECK(stored->rfind("raw:v1:", 0) == 0);

    CHECK(ring.erase("user:1"));
    CHECK_FALSE(ring.erase("user:1"));
    CHECK_FALSE(ring.find("user:1").has_value());
    CHECK(ring.find_or_create("user:1") != key); // a new key after erasure

    CHECK_THROWS_AS(ring.erase(std::string(index_key_scope)), std::invalid_argument);
}

TEST_CASE("Blind indexes are keyed, stable, normalised and separate e-mail from IP",
          "[audit][sealing]") {
    auto owned = make_test_store();
    AuditStore& store = *owned;
    KeyRing ring(store);
    const std::string index = ring.email_index("ana@example.com");
    CHECK(index.size() == 64);
    CHECK(index.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(ring.email_index(" ANA@example.com") == index);
    CHECK(ring.email_index("bob@example.com") != index);
    CHECK(ring.ip_index("203.0.113.7") == ring.ip_index(" 203.0.113.7"));
    CHECK(ring.ip_index("ana@example.com") != index);
    CHECK(ring.email_scope("ana@example.com") == "email:" + index);
    KeyRing second(store); // another process over the same store: same index key
    CHECK(second.email_index("ana@example.com") == index);
    auto other = make_test_store(); // another store: another index key
    CHECK(KeyRing(*other).email_index("ana@example.com") != index);
}

TEST_CASE("A master key wraps the stored keys; without it (or with another) they do not open",
          "[audit][sealing]") {
    auto owned = make_test_store();
    AuditStore& store = *owned;
    const std::string master = key_of_byte('m');
    std::string key;
    {
        KeyRing ring(store, master);
        key = ring.find_or_create("user:5");
        const auto stored = store.find_key("user:5");
        REQUIRE(stored.has_value());
        CHECK(stored->rfind("wrapped:v1:", 0) == 0);
        CHECK(KeyRing(store, master).find("user:5") == std::optional<std::string>(key));
    }
    KeyRing without(store);
    CHECK_THROWS_WITH(without.find("user:5"),
                      Catch::Contains("user:5") && Catch::Contains("master"));
    KeyRing wrong(store, key_of_byte('w'));
    CHECK_THROWS_WITH(wrong.find("user:5"), Catch::Contains("does not open"));
    CHECK_THROWS_AS(KeyRing(store, std::string("short")), std::invalid_argument);
}

TEST_CASE("Entries of the built-in events: OWASP name, actor, subject and scope as the table "
          "says, personal values sealed",
          "[audit][entry][owasp]") {
    auto owned = make_test_store();
    AuditStore& store = *owned;
    KeyRing ring(store);
    const auto table = owasp_table();
    std::size_t row = 0;
    std::apply(
        [&](auto*... tag) {
            (
                [&](auto* /*tag*/) {
                    using E = std::remove_pointer_t<decltype(tag)>;
                    const E event = samples::sample<E>();
                    const AuditEntry entry = make_entry(event, ring);
                    INFO(E::name);
                    CHECK(entry.event_type == E::name);
                    CHECK(entry.event_version == 1);
                    REQUIRE(row < table.size());
                    CHECK(table[row].event_type == E::name);
                    const std::string owasp_column(table[row].owasp);
                    if (owasp_column == "(none)") {
                        CHECK(entry.owasp.empty());
                    } else {
                        CHECK(owasp_column.rfind(entry.owasp, 0) == 0);
                    }
                    const std::string text = all_text(entry);
                    for (const std::string& personal : personal_sample_values()) {
                        INFO(personal);
                        CHECK(text.find(personal) == std::string::npos);
                    }
                    CHECK(nlohmann::json::parse(entry.data).is_object());
                    ++row;
                }(tag),
                ...);
        },
        pointers(static_cast<BuiltinEvents*>(nullptr)));
    CHECK(row == 12);
    CHECK(table[12].event_type == audit_gap_event_type);
    CHECK(table[12].owasp == owasp::sys_monitor_disabled);
}

TEST_CASE("A user's entry is sealed with the user's key; its IP is sealed and blind-indexed",
          "[audit][entry]") {
    auto owned = make_test_store();
    AuditStore& store = *owned;
    KeyRing ring(store);
    const AuditEntry entry = make_entry(samples::user_login_successful(), ring);
    CHECK(entry.actor == "user:42");
    CHECK(entry.subject == "user:42");
    CHECK(entry.key_scope == "user:42");
    CHECK(entry.owasp == "authn_login_success");
    const std::string key = *ring.find("user:42");
    REQUIRE(entry.source_ip.has_value());
    CHECK(open_sealed(*entry.source_ip, key) == std::optional<std::string>("203.0.113.9"));
    CHECK(entry.ip_index == std::optional<std::string>(ring.ip_index("203.0.113.9")));
    const auto data = nlohmann::json::parse(entry.data);
    CHECK(data["user"]["id"] == 42);
    CHECK(data["user"]["language"] == "es"); // plain fields stay readable
    CHECK(data["required_2fa"] == true);
    CHECK(open_sealed(data["user"]["email"].get<std::string>(), key) ==
          std::optional<std::string>("ana@example.com"));
    CHECK(open_sealed(data["user"]["first_name"].get<std::string>(), key) ==
          std::optional<std::string>("Ana"));
    CHECK(open_sealed(data["ip_address"].get<std::string>(), key) ==
          std::optional<std::string>("203.0.113.9"));
}

TEST_CASE("A failed login is about the address tried: anonymous actor, e-mail scope",
          "[audit][entry]") {
    auto owned = make_test_store();
    AuditStore& store = *owned;
    KeyRing ring(store);
    const AuditEntry entry = make_entry(samples::user_login_failed(), ring);
    const std::string scope = ring.email_scope("ana@example.com");
    CHECK(entry.actor == "anonymous");
    CHECK(entry.subject == scope);
    CHECK(entry.key_scope == scope);
    CHECK(entry.owasp == "authn_login_fail");
    const auto data = nlohmann::json::parse(entry.data);
    CHECK(data["reason"] == "wrong_password");
    CHECK(open_sealed(data["email"].get<std::string>(), *ring.find(scope)) ==
          std::optional<std::string>("ana@example.com"));

    UserLoginFailed limited = samples::user_login_failed();
    limited.reason = LoginFailureReason::rate_limited;
    CHECK(make_entry(limited, ring).owasp == "authn_login_fail_max");
}

TEST_CASE("An admin acting on a user: the admin is the actor and only the admin's id is kept",
          "[audit][entry]") {
    auto owned = make_test_store();
    AuditStore& store = *owned;
    KeyRing ring(store);
    const AuditEntry approved = make_entry(samples::seller_application_approved(), ring);
    CHECK(approved.actor == "user:1");
    CHECK(approved.subject == "user:42");
    CHECK(approved.key_scope == "user:42");
    CHECK(approved.owasp == "authz_change");
    const auto data = nlohmann::json::parse(approved.data);
    CHECK(data["admin_user"] == nlohmann::json({{"id", 1}, {"language", "en"}}));
    CHECK(data["application"]["seller_type"] == "individual");
    CHECK(is_sealed(data["new_seller"]["email"].get<std::string>()));

    const AuditEntry rejected = make_entry(samples::seller_application_rejected(), ring);
    CHECK(rejected.owasp == "authz_admin");
    const auto rejected_data = nlohmann::json::parse(rejected.data);
    CHECK(open_sealed(rejected_data["reason"].get<std::string>(), *ring.find("user:42")) ==
          std::optional<std::string>("Missing tax documents"));
}

namespace {
struct NoUserEvent {
    static constexpr std::string_view name = "api_key_rotated";
    std::string key_id;
    std::string note;
    static constexpr auto fields =
        std::make_tuple(field("key_id", &NoUserEvent::key_id),
                        field("note", &NoUserEvent::note, FieldKind::free_text));
};
struct PasswordChanged {
    static constexpr std::string_view name = "password_changed";
    User user;
    bool forced = false;
    static constexpr auto fields = std::make_tuple(field("user", &PasswordChanged::user),
                                                   field("forced", &PasswordChanged::forced));
};
} // namespace

namespace {
struct Ping {
    static constexpr std::string_view name = "ping";
    std::int64_t count = 0;
    static constexpr auto fields = std::make_tuple(field("count", &Ping::count));
};
} // namespace

template <> struct authevents::audit::AuditTraits<PasswordChanged> {
    static std::string_view owasp(const PasswordChanged&) { return "authn_password_change"; }
};

TEST_CASE("Custom events: AuditTraits names the OWASP term; defaults find the user; an event "
          "without a user gets a scope of its own",
          "[audit][entry][owasp]") {
    auto owned = make_test_store();
    AuditStore& store = *owned;
    KeyRing ring(store);
    const AuditEntry changed = make_entry(PasswordChanged{samples::ana(), true}, ring);
    CHECK(changed.owasp == "authn_password_change");
    CHECK(changed.actor == "user:42");
    CHECK(changed.subject == "user:42");
    CHECK(changed.event_version == 1);

    const AuditEntry rotated = make_entry(NoUserEvent{"k-17", "rotated by the on-call engineer"},
                                          ring, audit_now(), std::string("ce-1"));
    CHECK(rotated.owasp.empty());
    CHECK(rotated.subject == "system");
    CHECK(rotated.key_scope == "event:ce-1");
    CHECK(rotated.data.find("on-call") == std::string::npos);
    CHECK(nlohmann::json::parse(rotated.data)["key_id"] == "k-17");

    // Nothing personal: no key scope, and no key is created for the subject.
    const AuditEntry plain = make_entry(Ping{3}, ring);
    CHECK(plain.key_scope.empty());
    CHECK(plain.data == R"({"count":3})");
}

TEST_CASE("A gap entry states the count and the time range", "[audit][entry]") {
    auto owned = make_test_store();
    AuditStore& store = *owned;
    KeyRing ring(store);
    const AuditTime first = AuditTime(Microseconds(1'700'000'000'000'000));
    const AuditTime last = first + std::chrono::seconds(90);
    ScopeKeys keys(ring);
    const AuditEntry gap = seal_entry(gap_pending_entry(17, first, last, last), keys);
    CHECK(gap.event_type == "audit_gap");
    CHECK(gap.owasp == "sys_monitor_disabled");
    CHECK(gap.actor == "system");
    CHECK(gap.key_scope.empty());
    const auto data = nlohmann::json::parse(gap.data);
    CHECK(data["lost"] == 17);
    CHECK(data["first"] == "2023-11-14T22:13:20.000Z");
    CHECK(data["last"] == "2023-11-14T22:14:50.000Z");
}
