/// @file
/// The workings of redaction.hpp: UTF-8 decoding and escaping of untrusted text, IPv4/IPv6
/// parsing and truncation, e-mail masking, and finding e-mail and IP addresses in free text.
/// Standard headers only.
#pragma once

#include <authevents/redaction_policy.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace authevents::detail::redaction {

/// The marker that ends a capped string.
inline constexpr std::string_view truncation_marker = "...";

/// Length of the valid UTF-8 sequence at `text[i]` and its code point, or 0 when invalid.
inline std::size_t decode_utf8(std::string_view text, std::size_t i, char32_t& code) noexcept {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
    const unsigned char lead = byte(0);
    if (lead < 0x80) {
        code = lead;
        return 1;
    }
    std::size_t length = 0;
    char32_t min = 0;
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
        code = lead & 0x1fU;
        min = 0x80;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        code = lead & 0x0fU;
        min = 0x800;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        code = lead & 0x07U;
        min = 0x10000;
    } else {
        return 0;
    }
    if (text.size() - i < length) {
        return 0;
    }
    for (std::size_t k = 1; k < length; ++k) {
        if ((byte(k) & 0xc0U) != 0x80) {
            return 0;
        }
        code = (code << 6) | (byte(k) & 0x3fU);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
        return 0; // overlong, beyond Unicode, or a surrogate
    }
    return length;
}

/// True for the non-ASCII code points escaped as `\u{...}`.
constexpr bool is_escaped_code_point(char32_t code) noexcept {
    return (code >= 0x80 && code <= 0x9f) || code == 0x2028 || code == 0x2029 || code == 0x200e ||
           code == 0x200f || (code >= 0x202a && code <= 0x202e) ||
           (code >= 0x2066 && code <= 0x2069);
}

/// Appends `value` in lowercase hex with at least `digits` digits.
inline void append_hex(std::string& out, std::uint32_t value, int digits) {
    constexpr std::string_view hex = "0123456789abcdef";
    char buffer[8];
    int n = 0;
    do {
        buffer[n++] = hex[value & 0xfU];
        value >>= 4;
    } while (value != 0 || n < digits);
    while (n > 0) {
        out += buffer[--n];
    }
}

/// The escaped form of the character or invalid byte at `text[i]`, and how many input bytes
/// it consumed.
inline std::size_t escape_one(std::string_view text, std::size_t i, std::string& piece) {
    piece.clear();
    char32_t code = 0;
    const std::size_t length = decode_utf8(text, i, code);
    if (length == 0) {
        piece += "\\x";
        append_hex(piece, static_cast<unsigned char>(text[i]), 2);
        return 1;
    }
    if (code == '\\') {
        piece += "\\\\";
    } else if (code == '\n') {
        piece += "\\n";
    } else if (code == '\r') {
        piece += "\\r";
    } else if (code == '\t') {
        piece += "\\t";
    } else if (code < 0x20 || code == 0x7f) {
        piece += "\\x";
        append_hex(piece, static_cast<std::uint32_t>(code), 2);
    } else if (is_escaped_code_point(code)) {
        piece += "\\u{";
        append_hex(piece, static_cast<std::uint32_t>(code), 2);
        piece += '}';
    } else {
        piece.append(text.substr(i, length));
    }
    return length;
}

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

constexpr int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

constexpr bool is_alnum(char c) noexcept {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/// Parses a dotted-quad IPv4 address (each part 0..255, at most 3 digits, no sign).
inline bool parse_ipv4(std::string_view text, std::array<std::uint8_t, 4>& out) noexcept {
    std::size_t i = 0;
    for (std::size_t part = 0; part < 4; ++part) {
        if (part > 0) {
            if (i >= text.size() || text[i] != '.') {
                return false;
            }
            ++i;
        }
        unsigned value = 0;
        std::size_t digits = 0;
        while (i < text.size() && is_digit(text[i]) && digits < 4) {
            value = value * 10 + static_cast<unsigned>(text[i] - '0');
            ++i;
            ++digits;
        }
        if (digits == 0 || digits > 3 || value > 255) {
            return false;
        }
        out[part] = static_cast<std::uint8_t>(value);
    }
    return i == text.size();
}

/// Parses an IPv6 address in any RFC 4291 text form (`::`, embedded IPv4 at the end).
inline bool parse_ipv6(std::string_view text, std::array<std::uint16_t, 8>& out) noexcept {
    std::array<std::uint16_t, 8> groups{};
    std::size_t count = 0;
    std::size_t gap = 8; // index in `groups` where `::` stands; 8 = none
    std::size_t i = 0;
    if (text.size() >= 2 && text[0] == ':' && text[1] == ':') {
        gap = 0;
        i = 2;
    } else if (!text.empty() && text[0] == ':') {
        return false;
    }
    while (i < text.size()) {
        if (count == 8) {
            return false;
        }
        // An embedded IPv4 address ends the text and fills two groups.
        const std::size_t next_colon = text.find(':', i);
        const std::string_view part = text.substr(i, next_colon - i);
        if (next_colon == std::string_view::npos && part.find('.') != std::string_view::npos) {
            std::array<std::uint8_t, 4> v4{};
            if (count > 6 || !parse_ipv4(part, v4)) {
                return false;
            }
            groups[count++] = static_cast<std::uint16_t>((v4[0] << 8) | v4[1]);
            groups[count++] = static_cast<std::uint16_t>((v4[2] << 8) | v4[3]);
            i = text.size();
            break;
        }
        if (part.empty() || part.size() > 4) {
            return false;
        }
        unsigned value = 0;
        for (const char c : part) {
            const int h = hex_value(c);
            if (h < 0) {
                return false;
            }
            value = value * 16 + static_cast<unsigned>(h);
        }
        groups[count++] = static_cast<std::uint16_t>(value);
        i += part.size();
        if (i == text.size()) {
            break;
        }
        ++i; // the ':'
        if (i < text.size() && text[i] == ':') {
            if (gap != 8) {
                return false; // a second `::`
            }
            gap = count;
            ++i;
        } else if (i == text.size()) {
            return false; // a trailing single ':'
        }
    }
    if (gap == 8) {
        if (count != 8) {
            return false;
        }
        out = groups;
        return true;
    }
    if (count > 7) {
        return false; // `::` must stand for at least one group
    }
    out.fill(0);
    for (std::size_t k = 0; k < gap; ++k) {
        out[k] = groups[k];
    }
    const std::size_t tail = count - gap;
    for (std::size_t k = 0; k < tail; ++k) {
        out[8 - tail + k] = groups[gap + k];
    }
    return true;
}

/// Appends an IPv4 address truncated to its /24.
inline void append_ipv4_network(std::string& out, const std::array<std::uint8_t, 4>& v4) {
    for (std::size_t k = 0; k < 3; ++k) {
        out += std::to_string(v4[k]);
        out += '.';
    }
    out += "0/24";
}

/// Appends an IPv6 address in RFC 5952 form (lowercase, longest zero run as `::`).
inline void append_ipv6(std::string& out, const std::array<std::uint16_t, 8>& groups) {
    std::size_t best = 8;
    std::size_t best_length = 1; // a single zero group is not compressed
    for (std::size_t k = 0; k < 8;) {
        if (groups[k] != 0) {
            ++k;
            continue;
        }
        std::size_t end = k;
        while (end < 8 && groups[end] == 0) {
            ++end;
        }
        if (end - k > best_length) {
            best = k;
            best_length = end - k;
        }
        k = end;
    }
    for (std::size_t k = 0; k < 8; ++k) {
        if (k == best) {
            out += "::";
            k += best_length - 1;
            continue;
        }
        if (k > 0 && k != best + best_length) {
            out += ':';
        }
        append_hex(out, groups[k], 1);
    }
}

/// The IP address `text` as the policy shows it, or nullopt when `text` is not an IP address
/// (a zone suffix `%eth0` is accepted and never shown). `dropped` is written for Ip::drop.
inline std::optional<std::string> redact_ip(std::string_view text, RedactionPolicy::Ip mode,
                                            std::string_view dropped) {
    std::string_view address = text;
    const std::size_t zone = address.find('%');
    if (zone != std::string_view::npos && address.find(':') != std::string_view::npos) {
        address = address.substr(0, zone);
    }
    std::array<std::uint8_t, 4> v4{};
    std::array<std::uint16_t, 8> v6{};
    const bool is_v4 = parse_ipv4(address, v4);
    if (!is_v4 && !parse_ipv6(address, v6)) {
        return std::nullopt;
    }
    if (mode == RedactionPolicy::Ip::drop) {
        return std::string(dropped);
    }
    if (mode == RedactionPolicy::Ip::keep) {
        return std::string(text);
    }
    std::string out;
    if (is_v4) {
        append_ipv4_network(out, v4);
        return out;
    }
    const bool v4_mapped =
        v6[0] == 0 && v6[1] == 0 && v6[2] == 0 && v6[3] == 0 && v6[4] == 0 && v6[5] == 0xffff;
    if (v4_mapped) { // ::ffff:a.b.c.d is an IPv4 peer seen by a dual-stack socket
        append_ipv4_network(
            out, {static_cast<std::uint8_t>(v6[6] >> 8), static_cast<std::uint8_t>(v6[6] & 0xff),
                  static_cast<std::uint8_t>(v6[7] >> 8), static_cast<std::uint8_t>(v6[7] & 0xff)});
        return out;
    }
    for (std::size_t k = 3; k < 8; ++k) {
        v6[k] = 0;
    }
    append_ipv6(out, v6);
    out += "/48";
    return out;
}

/// The first character of `text` (a whole UTF-8 sequence, or one byte when invalid).
inline std::string_view first_character(std::string_view text) noexcept {
    if (text.empty()) {
        return text;
    }
    char32_t code = 0;
    const std::size_t length = decode_utf8(text, 0, code);
    return text.substr(0, length == 0 ? 1 : length);
}

/// An e-mail address with its local part masked (`a***@example.com`); a domain that is an IP
/// literal is redacted as an IP address. Text without `@` is masked whole (`***`).
inline std::string mask_email(std::string_view email, const RedactionPolicy& policy) {
    const std::size_t at = email.rfind('@');
    if (at == std::string_view::npos) {
        return "***";
    }
    std::string out(first_character(email.substr(0, at)));
    out += "***@";
    const std::string_view domain = email.substr(at + 1);
    if (auto ip = redact_ip(domain, policy.ip, "[ip]")) {
        out += *ip;
    } else {
        out.append(domain);
    }
    return out;
}

/// Characters of an e-mail local part as `redact_text` recognises it: RFC 5322 atext minus
/// the characters that usually separate words in log text (`=`, `/`, `'`, quotes, ...), plus
/// any non-ASCII byte (internationalised addresses).
constexpr bool is_local_char(char c) noexcept {
    return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' ||
           static_cast<unsigned char>(c) >= 0x80;
}

/// Characters of an e-mail domain as `redact_text` recognises it.
constexpr bool is_domain_char(char c) noexcept {
    return is_alnum(c) || c == '.' || c == '-' || static_cast<unsigned char>(c) >= 0x80;
}

/// Characters that may make up an IP address in text.
constexpr bool is_ip_char(char c) noexcept { return hex_value(c) >= 0 || c == ':' || c == '.'; }

/// Length of the IP address starting at `text[i]` (0 if none). `i` must be at a word start.
inline std::size_t match_ip(std::string_view text, std::size_t i) noexcept {
    std::size_t end = i;
    while (end < text.size() && is_ip_char(text[end])) {
        ++end;
    }
    const auto word_ends_at = [&](std::size_t k) {
        return k == text.size() || !(is_alnum(text[k]) || text[k] == '_');
    };
    std::array<std::uint16_t, 8> v6{};
    std::array<std::uint8_t, 4> v4{};
    // Longest IPv6 candidate first: trailing ':' and '.' may be punctuation.
    if (text.substr(i, end - i).find(':') != std::string_view::npos) {
        for (std::size_t stop = end; stop > i + 1; --stop) {
            if (stop < end && text[stop] != ':' && text[stop] != '.') {
                break;
            }
            if (word_ends_at(stop) && parse_ipv6(text.substr(i, stop - i), v6)) {
                return stop - i;
            }
        }
    }
    // IPv4: four dotted parts of digits.
    std::size_t k = i;
    for (int part = 0; part < 4; ++part) {
        if (part > 0) {
            if (k >= text.size() || text[k] != '.') {
                return 0;
            }
            ++k;
        }
        const std::size_t start = k;
        while (k < text.size() && is_digit(text[k])) {
            ++k;
        }
        if (k == start) {
            return 0;
        }
    }
    const bool more_digits = k + 1 < text.size() && text[k] == '.' && is_digit(text[k + 1]);
    if (more_digits || !parse_ipv4(text.substr(i, k - i), v4)) {
        return 0;
    }
    return k - i;
}

/// `escape_untrusted`; when `more_follows`, `text` is known to be a prefix of the real text,
/// so the result ends in the truncation marker even if `text` itself fits.
inline std::string escape_capped(std::string_view text, std::size_t max_bytes, bool more_follows) {
    const std::size_t marker = truncation_marker.size();
    std::string out;
    std::string piece;
    std::size_t cut = 0; // a character boundary of `out` with room for the marker after it
    for (std::size_t i = 0; i < text.size();) {
        i += escape_one(text, i, piece);
        if (out.size() + piece.size() > max_bytes) {
            more_follows = true;
            break;
        }
        out += piece;
        if (out.size() + marker <= max_bytes) {
            cut = out.size();
        }
    }
    if (more_follows && max_bytes >= marker) {
        out.resize(cut);
        out += truncation_marker;
    }
    return out;
}

} // namespace authevents::detail::redaction
