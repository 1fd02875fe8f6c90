// Tests for authevents/redaction.hpp: field redaction, text redaction, escaping and caps.
// Built into the format_test executable.
#include <authevents/redaction.hpp>

#include "catch_compat.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

using namespace authevents;
using namespace std::string_literals;

namespace {

/// True when `text` is valid UTF-8 holding no C0/DEL/C1 control, U+2028 or U+2029.
bool is_safe_line(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        char32_t code = 0;
        const std::size_t length = detail::redaction::decode_utf8(text, i, code);
        if (length == 0 || code < 0x20 || code == 0x7f || (code >= 0x80 && code <= 0x9f) ||
            code == 0x2028 || code == 0x2029) {
            return false;
        }
        i += length;
    }
    return true;
}

RedactionPolicy with_ip(RedactionPolicy::Ip ip) {
    RedactionPolicy policy;
    policy.ip = ip;
    return policy;
}

} // namespace

TEST_CASE("the default policy masks e-mail, truncates IPs and drops free text", "[redaction]") {
    const RedactionPolicy policy;
    CHECK(redact("ana@example.com", FieldKind::email, policy) == "a***@example.com");
    CHECK(redact("203.0.113.7", FieldKind::ip_address, policy) == "203.0.113.0/24");
    CHECK(redact("2001:db8:1:2::7", FieldKind::ip_address, policy) == "2001:db8:1::/48");
    CHECK(redact("Missing tax documents", FieldKind::free_text, policy) == std::nullopt);
    CHECK(redact("user_registered", FieldKind::plain, policy) == "user_registered");
    CHECK(policy.max_value_bytes == 256);
}

TEST_CASE("RedactionPolicy::none keeps values but still escapes and caps them", "[redaction]") {
    const RedactionPolicy none = RedactionPolicy::none();
    CHECK(redact("ana@example.com", FieldKind::email, none) == "ana@example.com");
    CHECK(redact("203.0.113.7", FieldKind::ip_address, none) == "203.0.113.7");
    CHECK(redact("Missing tax\ndocuments", FieldKind::free_text, none) ==
          "Missing tax\\ndocuments");
    CHECK(redact(std::string(1000, 'x'), FieldKind::plain, none)->size() == 256);
    CHECK(redact_text("from ana@example.com at 203.0.113.7", none, 100) ==
          "from ana@example.com at 203.0.113.7");
}

TEST_CASE("e-mail masking keeps the first character and the domain", "[redaction]") {
    const RedactionPolicy policy;
    CHECK(redact("a@example.com", FieldKind::email, policy) == "a***@example.com");
    CHECK(redact("josé@example.com", FieldKind::email, policy) == "j***@example.com");
    CHECK(redact("éva@exämple.com", FieldKind::email, policy) == "é***@exämple.com");
    CHECK(redact("not an address", FieldKind::email, policy) == "***");
    CHECK(redact("@example.com", FieldKind::email, policy) == "***@example.com");
    // The last '@' separates the domain: a quoted local part holding '@' is hidden whole.
    CHECK(redact("\"a@b\"@example.com", FieldKind::email, policy) == "\"***@example.com");
    // An IP-literal domain is redacted as an IP address.
    CHECK(redact("ana@203.0.113.7", FieldKind::email, policy) == "a***@203.0.113.0/24");
    // A control character in the domain is escaped.
    CHECK(redact("ana@exa\nmple.com", FieldKind::email, policy) == "a***@exa\\nmple.com");
}

TEST_CASE("IPv4 addresses are truncated to /24", "[redaction]") {
    const RedactionPolicy policy;
    CHECK(redact("198.51.100.1", FieldKind::ip_address, policy) == "198.51.100.0/24");
    CHECK(redact("0.0.0.0", FieldKind::ip_address, policy) == "0.0.0.0/24");
    CHECK(redact("255.255.255.255", FieldKind::ip_address, policy) == "255.255.255.0/24");
    // Not an address: redacted as text (nothing in it looks like an address).
    CHECK(redact("256.1.1.1", FieldKind::ip_address, policy) == "256.1.1.1");
    CHECK(redact("unknown", FieldKind::ip_address, policy) == "unknown");
    // A list (as in X-Forwarded-For) has each address truncated.
    CHECK(redact("203.0.113.7, 198.51.100.1", FieldKind::ip_address, policy) ==
          "203.0.113.0/24, 198.51.100.0/24");
}

TEST_CASE("IPv6 addresses are truncated to /48 in RFC 5952 form", "[redaction]") {
    const RedactionPolicy policy;
    CHECK(redact("2001:0DB8:0001:0002:0003:0004:0005:0006", FieldKind::ip_address, policy) ==
          "2001:db8:1::/48");
    CHECK(redact("2001:db8::1", FieldKind::ip_address, policy) == "2001:db8::/48");
    CHECK(redact("::1", FieldKind::ip_address, policy) == "::/48");
    CHECK(redact("::", FieldKind::ip_address, policy) == "::/48");
    CHECK(redact("0:1:0:0:0:0:0:1", FieldKind::ip_address, policy) == "0:1::/48");
    CHECK(redact("fe80::1%eth0", FieldKind::ip_address, policy) == "fe80::/48");
    CHECK(redact("::ffff:203.0.113.7", FieldKind::ip_address, policy) == "203.0.113.0/24");
    CHECK(redact("64:ff9b::203.0.113.7", FieldKind::ip_address, policy) == "64:ff9b::/48");
    // Malformed: too many groups, two gaps, a bad digit, a lone colon at either end.
    for (const char* bad : {"1:2:3:4:5:6:7:8:9", "1::2::3", "2001:db8::g",
                            ":1::", "1::2:", "1:2:3:4:5:6:7::8", "12345::"}) {
        CAPTURE(bad);
        CHECK(redact(bad, FieldKind::ip_address, policy) != "::/48");
        std::array<std::uint16_t, 8> groups{};
        CHECK_FALSE(detail::redaction::parse_ipv6(bad, groups));
    }
}

TEST_CASE("Ip::drop omits the field and Ip::keep shows it whole", "[redaction]") {
    CHECK(redact("203.0.113.7", FieldKind::ip_address, with_ip(RedactionPolicy::Ip::drop)) ==
          std::nullopt);
    CHECK(redact("unknown", FieldKind::ip_address, with_ip(RedactionPolicy::Ip::drop)) ==
          std::nullopt);
    CHECK(redact("2001:db8::7", FieldKind::ip_address, with_ip(RedactionPolicy::Ip::keep)) ==
          "2001:db8::7");
    CHECK(redact_text("peer 203.0.113.7 refused", with_ip(RedactionPolicy::Ip::drop), 100) ==
          "peer [ip] refused");
}

TEST_CASE("kept free text has the addresses in it redacted", "[redaction]") {
    RedactionPolicy policy;
    policy.keep_free_text = true;
    CHECK(redact("Missing tax documents", FieldKind::free_text, policy) == "Missing tax documents");
    CHECK(redact("call ana@example.com from 203.0.113.7", FieldKind::free_text, policy) ==
          "call a***@example.com from 203.0.113.0/24");
}

TEST_CASE("redact_text finds addresses among words and punctuation", "[redaction]") {
    const RedactionPolicy policy;
    CHECK(redact_text("user=42 <ana@example.com> ip_address=203.0.113.7", policy, 200) ==
          "user=42 <a***@example.com> ip_address=203.0.113.0/24");
    CHECK(redact_text("email=ana.b+tag@mail.example.com.", policy, 200) ==
          "email=a***@mail.example.com.");
    CHECK(redact_text("connect to [2001:db8:1:2::7]:6379 failed", policy, 200) ==
          "connect to [2001:db8:1::/48]:6379 failed");
    CHECK(redact_text("connect to 203.0.113.7:6379: refused", policy, 200) ==
          "connect to 203.0.113.0/24:6379: refused");
    CHECK(redact_text("peer 2001:db8::1: reset", policy, 200) == "peer 2001:db8::/48: reset");
    CHECK(redact_text("a@b and c@d", policy, 200) == "a***@b and c***@d");
    // A network keeps its prefix, so a redacted line redacted again is unchanged.
    const std::string once =
        redact_text("ip=203.0.113.7 net=2001:db8:1:2::7 <ana@x.org>", policy, 200);
    CHECK(once == "ip=203.0.113.0/24 net=2001:db8:1::/48 <a***@x.org>");
    CHECK(redact_text(once, policy, 200) == once);
    CHECK(redact_text("range 10.1.2.0/16 and 10.1.2.3/8x", policy, 200) ==
          "range 10.1.2.0/24 and 10.1.2.0/24/8x");
    // Not addresses: C++ names, times, MAC addresses, version-like numbers with 3 parts, a
    // lone '@', an address without a local part.
    for (const char* text :
         {"std::runtime_error", "at 10:30:00", "mac aa:bb:cc:dd:ee:ff", "version 1.2.3", "a @ b",
          "@example.com", "cafe::food", "1.2.3.4.5", "x1.2.3.4"}) {
        CAPTURE(text);
        CHECK(redact_text(text, policy, 200) == text);
    }
}

TEST_CASE("escape_untrusted escapes controls, separators and invalid UTF-8", "[redaction]") {
    CHECK(escape_untrusted("plain text, ünïcode ✓", 100) == "plain text, ünïcode ✓");
    CHECK(escape_untrusted("a\nb\rc\td\\e", 100) == "a\\nb\\rc\\td\\\\e");
    CHECK(escape_untrusted("\x1b[31mred\x7f"s, 100) == "\\x1b[31mred\\x7f");
    CHECK(escape_untrusted("nul\0byte"s, 100) == "nul\\x00byte");
    CHECK(escape_untrusted("nel\u0085ls\u2028ps\u2029end", 100) ==
          "nel\\u{85}ls\\u{2028}ps\\u{2029}end");
    CHECK(escape_untrusted("c1\u0080\u009f", 100) == "c1\\u{80}\\u{9f}");
    CHECK(escape_untrusted("bidi\u202e\u2066x", 100) == "bidi\\u{202e}\\u{2066}x");
    // Invalid UTF-8: a lone continuation byte, a truncated sequence, an overlong '/', a
    // surrogate, a code point beyond U+10FFFF, 0xff.
    CHECK(escape_untrusted("\x80"s, 100) == "\\x80");
    CHECK(escape_untrusted("ab\xc3"s, 100) == "ab\\xc3");
    CHECK(escape_untrusted("\xc0\xaf"s, 100) == "\\xc0\\xaf");
    CHECK(escape_untrusted("\xed\xa0\x80"s, 100) == "\\xed\\xa0\\x80");
    CHECK(escape_untrusted("\xf4\x90\x80\x80"s, 100) == "\\xf4\\x90\\x80\\x80");
    CHECK(escape_untrusted("\xff"s, 100) == "\\xff");
    CHECK(escape_untrusted("", 100).empty());
}

TEST_CASE("escape_untrusted caps on a character boundary and marks the cut", "[redaction]") {
    CHECK(escape_untrusted("abcdef", 6) == "abcdef");
    CHECK(escape_untrusted("abcdefg", 6) == "abc...");
    CHECK(escape_untrusted("abcdefg", 0).empty());
    CHECK(escape_untrusted("abcdefg", 2) == "ab");
    // Never inside a multi-byte character: "é" is 2 bytes.
    CHECK(escape_untrusted("éééé", 7) == "éé...");
    CHECK(escape_untrusted("éééé", 6) == "é...");
    // Never inside an escape: "\n" escapes to 2 bytes.
    CHECK(escape_untrusted("a\n\n\nb", 6) == "a\\n...");
    CHECK(escape_untrusted("a\n\n\nb", 5) == "a...");
    // Megabytes of input produce a capped line.
    const std::string huge(4 << 20, '\n');
    const std::string line = escape_untrusted(huge, 256);
    CHECK(line.size() == 255); // 126 two-byte escapes and the marker
    CHECK(line.substr(252) == "...");
}

TEST_CASE("redact_text caps long text without showing a cut address", "[redaction]") {
    const RedactionPolicy policy;
    const std::string text = std::string(100, 'x') + " ana@example.com " + std::string(50, 'y');
    const std::string capped = redact_text(text, policy, 110);
    CHECK(capped.size() <= 110);
    CHECK(capped.find("ana") == std::string::npos);
    CHECK(capped.substr(capped.size() - 3) == "...");
    // A huge text is cut before scanning, never inside a word: an address that straddles
    // the cut is redacted whole. A long local part shrinks, so the address reaches the output.
    std::string huge = std::string(190, 'a') + "@example.com" + std::string(1 << 20, ' ');
    huge.replace(216, 13, "198.51.100.23"); // the cut (2 * 80 + 64 = 224) falls inside it
    const std::string small = redact_text(huge, policy, 80);
    CHECK(small.find("a***@example.com") == 0);
    CHECK(small.find("198.51.100.0/24") != std::string::npos);
    CHECK(small.find("198.51.100.2") == std::string::npos);
    CHECK(small.substr(small.size() - 3) == "...");
    // No cap at all.
    CHECK(redact_text("ana@example.com", policy, static_cast<std::size_t>(-1)) ==
          "a***@example.com");
    CHECK(escape_untrusted("a\n", static_cast<std::size_t>(-1)) == "a\\n");
    // Short inputs cut before scanning still end in the marker.
    CHECK(redact_text(std::string(300, 'a') + " tail", policy, 10) == "aaaaaaa...");
}

TEST_CASE("every result is one safe line whatever the bytes", "[redaction]") {
    // A deterministic sweep over bytes and short byte pairs/triples.
    const RedactionPolicy policy;
    std::string all;
    for (int b = 0; b < 256; ++b) {
        all += static_cast<char>(b);
    }
    for (std::size_t cap : {0U, 1U, 3U, 7U, 64U, 2000U}) {
        CAPTURE(cap);
        const std::string escaped = escape_untrusted(all, cap);
        CHECK(escaped.size() <= cap);
        CHECK(is_safe_line(escaped));
        const std::string redacted = redact_text(all + "ana@example.com 1.2.3.4", policy, cap);
        CHECK(redacted.size() <= cap);
        CHECK(is_safe_line(redacted));
    }
    for (int a = 0x80; a < 0x100; ++a) {
        for (int b = 0x00; b < 0x100; b += 7) {
            const std::string bytes = {static_cast<char>(a), static_cast<char>(b), '\x80', 'z'};
            const std::string escaped = escape_untrusted(bytes, 64);
            CHECK(is_safe_line(escaped));
            CHECK(escaped.size() <= 64);
        }
    }
    for (const FieldKind kind :
         {FieldKind::plain, FieldKind::email, FieldKind::ip_address, FieldKind::free_text}) {
        const auto value = redact(all, kind, RedactionPolicy::none());
        REQUIRE(value);
        CHECK(value->size() <= 256);
        CHECK(is_safe_line(*value));
    }
}
