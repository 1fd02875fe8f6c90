/// @file
/// FieldKind and RedactionPolicy: what a value is, and what a log line or message may show of
/// personal data (the functions that apply a policy are in redaction.hpp). Standard headers
/// only.
#pragma once

#include <cstddef>

namespace authevents {

/// What a value is, so that redaction knows what to hide.
enum class FieldKind : unsigned char {
    plain,      ///< Not personal (ids, names of events, enumerators): escaped and capped only.
    email,      ///< An e-mail address: local part masked (`a***@example.com`).
    ip_address, ///< An IP address: kept, truncated to its network, or dropped.
    free_text,  ///< Text a person typed or chose (reasons, file keys): kept or dropped.
};

/// What a log line or message may show of personal data. A plain value type.
///
/// The default is the one authevents uses unless told otherwise: e-mail local parts masked,
/// IP addresses truncated to their network (IPv4 /24, IPv6 /48), free text left out, each
/// value capped at 256 bytes.
struct RedactionPolicy {
    /// What happens to IP addresses.
    enum class Ip : unsigned char {
        keep,     ///< Verbatim (still escaped and capped).
        truncate, ///< IPv4 to its /24 (`203.0.113.0/24`), IPv6 to its /48 (`2001:db8:1::/48`).
        drop,     ///< Left out (`redact` returns nullopt; `redact_text` writes `[ip]`).
    };
    bool mask_email = true;            ///< `ana@example.com` -> `a***@example.com`.
    Ip ip = Ip::truncate;              ///< See `Ip`.
    bool keep_free_text = false;       ///< Reasons, file keys: kept (IPs/e-mails in them redacted).
    std::size_t max_value_bytes = 256; ///< Cap of one value after escaping (0: empty).

    /// No redaction: every value verbatim, still escaped and capped at 256 bytes.
    static RedactionPolicy none() noexcept {
        RedactionPolicy policy;
        policy.mask_email = false;
        policy.ip = Ip::keep;
        policy.keep_free_text = true;
        return policy;
    }
};

} // namespace authevents
