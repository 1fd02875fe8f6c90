/// @file
/// Redaction of personal data and escaping of untrusted text for log lines and messages.
///
/// Log lines and error messages are read by people and tools that should not learn a user's
/// e-mail address or IP address unless they need it to act on the line, and text that came
/// from a network peer or a file must not be able to forge a second log line or flood the log.
/// This header gives the three building blocks every authevents message uses:
///
/// - `redact(value, kind, policy)`: one field of a known kind (an e-mail, an IP address, free
///   text) as the policy allows it, or `std::nullopt` when the policy drops it;
/// - `escape_untrusted(text, max_bytes)`: control characters and invalid UTF-8 escaped, the
///   result cut to at most `max_bytes` on a character boundary;
/// - `redact_text(text, policy, max_bytes)`: arbitrary text (an exception message, a reason)
///   with anything that looks like an e-mail or IP address redacted, then escaped and capped.
///
/// The default `RedactionPolicy` follows the OWASP logging cheat sheet: keep what is needed to
/// act on the line (the domain of an e-mail, the network of an IP address) and nothing more;
/// free text (reasons, file keys) is left out. `RedactionPolicy::none()` turns redaction off
/// (values are still escaped and capped).
///
/// Escapes (unambiguous, ASCII only): `\\` for a backslash; `\n`, `\r`, `\t`; `\xHH` for the
/// other C0 controls and DEL (`\x1b`) and for each byte of invalid UTF-8 (`\xff`; these are
/// always >= `\x80`, so the two never collide); `\u{HHHH}` for C1 controls (U+0080..U+009F,
/// e.g. `\u{85}`), the line and paragraph separators U+2028 and U+2029, and the bidirectional
/// controls (U+200E, U+200F, U+202A..U+202E, U+2066..U+2069) that can make a line read
/// differently from what it holds. A capped result ends in `...` (counted in `max_bytes`).
///
/// All functions are pure: thread-safe, no shared state; they throw only `std::bad_alloc`.
/// Only standard headers are used. FieldKind and RedactionPolicy are in redaction_policy.hpp,
/// the workings in detail/redaction.hpp.
#pragma once

#include <authevents/detail/redaction.hpp>
#include <authevents/redaction_policy.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace authevents {

/// `text` with control characters (C0, DEL, C1 incl. U+0085, U+2028, U+2029, bidirectional
/// controls) escaped, invalid UTF-8 escaped byte by byte, cut to at most `max_bytes` on a
/// character boundary (never inside a character or an escape), ending in `...` when cut.
///
/// Work is bounded by `max_bytes`, not by the length of `text`. Thread-safe.
/// @param text any bytes.
/// @param max_bytes the most bytes the result may hold (the `...` counts; below 3 bytes a cut
///        result has no marker); 0 gives "".
/// @returns printable UTF-8 that holds no line break and reads as it prints.
/// @throws std::bad_alloc only.
inline std::string escape_untrusted(std::string_view text, std::size_t max_bytes) {
    return detail::redaction::escape_capped(text, max_bytes, false);
}

/// `text` with anything that looks like an e-mail address or IP address redacted per
/// `policy`, then escaped and capped as by `escape_untrusted(..., max_bytes)`. For messages
/// built from arbitrary text: exception messages, dead-letter reasons, stream field values.
///
/// Recognised: `local@domain` (local part of letters, digits, `._%+-` and non-ASCII; the
/// local part is masked to its first character, `a***@example.com`); dotted-quad IPv4 and
/// IPv6 addresses standing as words (truncated, kept, or replaced by `[ip]` per
/// `policy.ip`). `policy.keep_free_text` and `policy.max_value_bytes` do not apply here.
/// Recognition is heuristic; it errs towards redacting (a version `1.2.3.4` reads as an IP).
/// Work is linear in about `2 * max_bytes` plus the length of the word at that point.
/// Thread-safe.
/// @throws std::bad_alloc only.
inline std::string redact_text(std::string_view text, const RedactionPolicy& policy,
                               std::size_t max_bytes) {
    namespace r = detail::redaction;
    if (!policy.mask_email && policy.ip == RedactionPolicy::Ip::keep) {
        return escape_untrusted(text, max_bytes);
    }
    // Only the start of `text` can reach the output: scan about twice the cap, never cutting
    // inside a word, so that an address that straddles the cut is still recognised whole.
    bool more_follows = false;
    if (max_bytes < text.size() / 2 && max_bytes * 2 + 64 < text.size()) { // no overflow
        std::size_t look = max_bytes * 2 + 64;
        while (look < text.size() &&
               (r::is_local_char(text[look]) || r::is_ip_char(text[look]) || text[look] == '@')) {
            ++look;
        }
        more_follows = look < text.size();
        text = text.substr(0, look);
    }
    std::string out;
    std::size_t copied = 0;
    for (std::size_t i = 0; i < text.size();) {
        const char c = text[i];
        if (c == '@' && policy.mask_email) {
            std::size_t start = i;
            while (start > copied && r::is_local_char(text[start - 1])) {
                --start;
            }
            std::size_t end = i + 1;
            while (end < text.size() && r::is_domain_char(text[end])) {
                ++end;
            }
            while (end > i + 1 && (text[end - 1] == '.' || text[end - 1] == '-')) {
                --end;
            }
            if (start < i && end > i + 1) {
                out.append(text.substr(copied, start - copied));
                out += r::mask_email(text.substr(start, end - start), policy);
                copied = i = end;
                continue;
            }
        }
        const bool word_start = i == 0 || !(r::is_alnum(text[i - 1]) || text[i - 1] == '_' ||
                                            text[i - 1] == '.' || text[i - 1] == ':');
        if (policy.ip != RedactionPolicy::Ip::keep && word_start && r::is_ip_char(c)) {
            if (const std::size_t length = r::match_ip(text, i)) {
                // A network written as address/prefix (an earlier redaction, a CIDR range):
                // the prefix goes with the address, so redacting twice changes nothing.
                std::size_t end = i + length;
                if (end + 1 < text.size() && text[end] == '/' && r::is_digit(text[end + 1])) {
                    std::size_t k = end + 1;
                    while (k < text.size() && k < end + 4 && r::is_digit(text[k])) {
                        ++k;
                    }
                    if (k == text.size() || !(r::is_alnum(text[k]) || text[k] == '_')) {
                        end = k;
                    }
                }
                out.append(text.substr(copied, i - copied));
                out += *r::redact_ip(text.substr(i, length), policy.ip, "[ip]");
                copied = i = end;
                continue;
            }
        }
        ++i;
    }
    out.append(text.substr(copied));
    return r::escape_capped(out, max_bytes, more_follows);
}

/// The value as `policy` allows it for a field of `kind`, escaped and capped at
/// `policy.max_value_bytes`; std::nullopt when the policy drops the field (the caller then
/// omits the field entirely, name included).
///
/// - plain: escaped and capped.
/// - email: `ana@example.com` -> `a***@example.com` when `mask_email` (a value without `@`
///   becomes `***`).
/// - ip_address: kept, truncated (`203.0.113.7` -> `203.0.113.0/24`, `2001:db8:1:2::7` ->
///   `2001:db8:1::/48`, `::ffff:203.0.113.7` -> `203.0.113.0/24`, zone ids left out) or
///   dropped (whatever the value). A value that is no IP address is truncated as text by
///   `redact_text` (addresses within it truncated).
/// - free_text: dropped unless `keep_free_text`; when kept, addresses in it are redacted as by
///   `redact_text`.
/// Thread-safe.
/// @throws std::bad_alloc only.
inline std::optional<std::string> redact(std::string_view value, FieldKind kind,
                                         const RedactionPolicy& policy) {
    const std::size_t cap = policy.max_value_bytes;
    switch (kind) {
    case FieldKind::plain:
        return escape_untrusted(value, cap);
    case FieldKind::email:
        if (!policy.mask_email) {
            return escape_untrusted(value, cap);
        }
        return escape_untrusted(detail::redaction::mask_email(value, policy), cap);
    case FieldKind::ip_address:
        if (policy.ip == RedactionPolicy::Ip::drop) {
            return std::nullopt;
        }
        if (policy.ip == RedactionPolicy::Ip::keep) {
            return escape_untrusted(value, cap);
        }
        if (auto ip = detail::redaction::redact_ip(value, policy.ip, "")) {
            return escape_untrusted(*ip, cap);
        }
        return redact_text(value, policy, cap);
    case FieldKind::free_text:
        if (!policy.keep_free_text) {
            return std::nullopt;
        }
        return redact_text(value, policy, cap);
    }
    return escape_untrusted(value, cap); // not reached: every FieldKind is handled above
}

} // namespace authevents
