/// @file
/// How events map to audit records: the OWASP Logging Vocabulary name, the actor and the
/// subject of each of the twelve built-in events, and AuditTraits, the customisation point
/// for custom events. owasp_table() is the source of the mapping table in docs/audit.md.
///
/// Part of authevents::audit (CMake target authevents::audit). Standard headers and
/// events.hpp only. Everything here is a pure function: thread-safe.
#pragma once

#include <authevents/describe.hpp>
#include <authevents/events.hpp>
#include <authevents/field_sink.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace authevents::audit {

/// The OWASP Logging Vocabulary names the built-in mapping uses (the vocabulary's event
/// names, without the `:userid,...` arguments: those are the record's actor, subject and data).
namespace owasp {
inline constexpr std::string_view authn_login_success = "authn_login_success"; ///< Login.
inline constexpr std::string_view authn_login_fail = "authn_login_fail";       ///< Failed login.
/// A login refused because the account or address reached its failure limit.
inline constexpr std::string_view authn_login_fail_max = "authn_login_fail_max";
inline constexpr std::string_view authz_change = "authz_change";   ///< Entitlements changed.
inline constexpr std::string_view authz_admin = "authz_admin";     ///< An administrator acted.
inline constexpr std::string_view user_created = "user_created";   ///< An account was created.
inline constexpr std::string_view user_updated = "user_updated";   ///< An account changed.
inline constexpr std::string_view upload_stored = "upload_stored"; ///< A file was stored.
inline constexpr std::string_view upload_delete = "upload_delete"; ///< A file was deleted.
/// A monitor (here: the audit log itself) stopped recording: used by `audit_gap` records.
inline constexpr std::string_view sys_monitor_disabled = "sys_monitor_disabled";
} // namespace owasp

/// The actor of records the library itself writes (audit gaps).
inline constexpr std::string_view system_actor = "system";
/// The actor of a failed login: nobody is authenticated yet.
inline constexpr std::string_view anonymous_actor = "anonymous";

/// The pseudonymous reference of user `id`: "user:<id>". Thread-safe. @throws std::bad_alloc.
inline std::string user_ref(std::int64_t id) { return "user:" + std::to_string(id); }

/// Customisation point: how `Event` maps to an audit record. Specialise it for a custom event
/// with any of these static members (each optional; the defaults are given):
///
///     template <> struct authevents::audit::AuditTraits<PasswordChanged> {
///         // The OWASP vocabulary name (default: none, "").
///         static std::string_view owasp(const PasswordChanged&) { return "authn_password_change";
///         }
///         // Whom the event is about, as "user:<id>" (default: the first User in the event's
///         // description, depth first; "system" when it has none).
///         static std::string subject(const PasswordChanged& e) { return user_ref(e.user_id); }
///         // Who acted (default: the subject).
///         static std::string actor(const PasswordChanged& e) { return user_ref(e.user_id); }
///     };
///
/// Personal values are sealed with the key of the subject when it is "user:<id>" (so erasing
/// that user erases them); values of another user nested in the event (an admin acting on
/// someone) are left out of the record, which keeps only that user's id. An event without a
/// subject user seals its personal values with a key of its own ("event:<id>").
/// All members must be thread-safe and must not return personal data (e-mail, names, IPs).
template <class Event, class = void> struct AuditTraits {};

namespace detail {

template <class Traits, class Event, class = void> struct has_owasp : std::false_type {};
template <class Traits, class Event>
struct has_owasp<Traits, Event, std::void_t<decltype(Traits::owasp(std::declval<const Event&>()))>>
    : std::true_type {};
template <class Traits, class Event, class = void> struct has_subject : std::false_type {};
template <class Traits, class Event>
struct has_subject<Traits, Event,
                   std::void_t<decltype(Traits::subject(std::declval<const Event&>()))>>
    : std::true_type {};
template <class Traits, class Event, class = void> struct has_actor : std::false_type {};
template <class Traits, class Event>
struct has_actor<Traits, Event, std::void_t<decltype(Traits::actor(std::declval<const Event&>()))>>
    : std::true_type {};

/// The FieldSink that finds the id of the first User in a described value, depth first,
/// outside arrays: the default subject of an event (see AuditTraits). @throws nothing.
class FirstUserSink final : public StructureSink {
public:
    void begin_object(ObjectKind kind, std::int64_t id) override {
        if (kind == ObjectKind::user && arrays_ == 0 && !id_) {
            id_ = id;
        }
    }
    void field(const FieldInfo& /*info*/) override {}
    void end_object() override {}
    void begin_array(std::size_t /*size*/) override { ++arrays_; }
    void end_array() override { --arrays_; }

    /// The id found, if any.
    [[nodiscard]] std::optional<std::int64_t> id() const noexcept { return id_; }

private:
    int arrays_ = 0;
    std::optional<std::int64_t> id_;
};

} // namespace detail

/// The OWASP vocabulary name of `event` ("" when none fits). Thread-safe.
/// @throws std::bad_alloc only (and what a custom AuditTraits throws).
template <class Event> std::string owasp_name(const Event& event) {
    if constexpr (detail::has_owasp<AuditTraits<Event>, Event>::value) {
        return std::string(AuditTraits<Event>::owasp(event));
    } else {
        (void)event;
        return std::string();
    }
}

/// The subject reference of `event` ("user:42", or "system" when the event names no user).
/// Thread-safe. @throws std::bad_alloc only (and what a custom AuditTraits throws).
template <class Event> std::string subject_of(const Event& event) {
    if constexpr (detail::has_subject<AuditTraits<Event>, Event>::value) {
        return std::string(AuditTraits<Event>::subject(event));
    } else if constexpr (is_described_v<Event>) {
        detail::FirstUserSink first_user;
        write_fields(event, first_user);
        const auto id = first_user.id();
        return id ? user_ref(*id) : std::string(system_actor);
    } else {
        (void)event;
        return std::string(system_actor);
    }
}

/// The actor reference of `event` (by default its subject). Thread-safe.
/// @throws std::bad_alloc only (and what a custom AuditTraits throws).
template <class Event> std::string actor_of(const Event& event) {
    if constexpr (detail::has_actor<AuditTraits<Event>, Event>::value) {
        return std::string(AuditTraits<Event>::actor(event));
    } else {
        return subject_of(event);
    }
}

// --- The twelve built-in events ----------------------------------------------------------

/// Self-registration: the vocabulary's account-creation event; actor and subject the new user.
template <> struct AuditTraits<UserRegistered> {
    static std::string_view owasp(const UserRegistered&) { return owasp::user_created; }
};

/// A verified e-mail address is a change of the account's attributes.
template <> struct AuditTraits<UserEmailVerified> {
    static std::string_view owasp(const UserEmailVerified&) { return owasp::user_updated; }
};

/// Every successful login is recorded.
template <> struct AuditTraits<UserLoginSuccessful> {
    static std::string_view owasp(const UserLoginSuccessful&) { return owasp::authn_login_success; }
};

/// A failed login: nobody is authenticated (actor "anonymous"); the subject is the address
/// tried, as "email:<blind index>" (the entry builder computes it: see UserLoginFailed in
/// entry.hpp). A refusal because of too many attempts is the vocabulary's
/// authn_login_fail_max; any other reason (a wrong second factor included) is authn_login_fail.
template <> struct AuditTraits<UserLoginFailed> {
    static std::string_view owasp(const UserLoginFailed& e) {
        return e.reason == LoginFailureReason::rate_limited ? owasp::authn_login_fail_max
                                                            : owasp::authn_login_fail;
    }
    static std::string actor(const UserLoginFailed&) { return std::string(anonymous_actor); }
};

// Two-factor changes: the vocabulary has no term for authenticators. authz_change is for
// entitlements (what a user may do), which a second factor does not change, and
// authn_password_change would make a monitor keyed on password changes fire for something
// else. A second factor is a security attribute of the account, so both changes are
// user_updated (the record's event_type says which one); alert on event_type
// user_2fa_disabled where a disabled second factor matters.

/// Two-factor authentication switched on: user_updated (see the comment above).
template <> struct AuditTraits<User2faEnabled> {
    static std::string_view owasp(const User2faEnabled&) { return owasp::user_updated; }
};

/// Two-factor authentication switched off: user_updated (see the comment above).
template <> struct AuditTraits<User2faDisabled> {
    static std::string_view owasp(const User2faDisabled&) { return owasp::user_updated; }
};

/// A seller application is a business request, not a security event: no vocabulary name.
template <> struct AuditTraits<SellerApplicationSubmitted> {};

/// Approval makes the applicant a seller: an entitlement change by an administrator.
template <> struct AuditTraits<SellerApplicationApproved> {
    static std::string_view owasp(const SellerApplicationApproved&) { return owasp::authz_change; }
    static std::string subject(const SellerApplicationApproved& e) {
        return user_ref(e.new_seller.id);
    }
    static std::string actor(const SellerApplicationApproved& e) {
        return user_ref(e.admin_user.id);
    }
};

/// Rejection changes no entitlement, but it is an administrator's action: authz_admin.
template <> struct AuditTraits<SellerApplicationRejected> {
    static std::string_view owasp(const SellerApplicationRejected&) { return owasp::authz_admin; }
    static std::string subject(const SellerApplicationRejected& e) {
        return user_ref(e.application.applicant.id);
    }
    static std::string actor(const SellerApplicationRejected& e) {
        return user_ref(e.admin_user.id);
    }
};

/// The user changed their own account attributes.
template <> struct AuditTraits<ProfileUpdated> {
    static std::string_view owasp(const ProfileUpdated&) { return owasp::user_updated; }
};

/// The picture is stored under a new key (the record keeps the key, sealed).
template <> struct AuditTraits<ProfilePictureUploaded> {
    static std::string_view owasp(const ProfilePictureUploaded&) { return owasp::upload_stored; }
};

/// The user deleted their picture.
template <> struct AuditTraits<ProfilePictureDeleted> {
    static std::string_view owasp(const ProfilePictureDeleted&) { return owasp::upload_delete; }
};

/// One row of the mapping table (docs/audit.md).
struct OwaspRow {
    std::string_view event_type; ///< The event's name.
    std::string_view owasp;      ///< The vocabulary name(s); "(none)" when none fits.
    std::string_view actor;      ///< Who the record names as actor.
    std::string_view subject;    ///< Whom the record is about (also the sealing key's scope).
};

/// The mapping of the built-in events and of audit_gap, in docs/events.md order: the source
/// of the table in docs/audit.md (a test checks it against AuditTraits). constexpr.
constexpr std::array<OwaspRow, 13> owasp_table() noexcept {
    return {{
        {"user_registered", "user_created", "user:<id>", "user:<id>"},
        {"user_email_verified", "user_updated", "user:<id>", "user:<id>"},
        {"user_login_successful", "authn_login_success", "user:<id>", "user:<id>"},
        {"user_login_failed", "authn_login_fail (authn_login_fail_max when rate_limited)",
         "anonymous", "email:<blind index>"},
        {"user_2fa_enabled", "user_updated", "user:<id>", "user:<id>"},
        {"user_2fa_disabled", "user_updated", "user:<id>", "user:<id>"},
        {"seller_application_submitted", "(none)", "user:<applicant>", "user:<applicant>"},
        {"seller_application_approved", "authz_change", "user:<admin>", "user:<new seller>"},
        {"seller_application_rejected", "authz_admin", "user:<admin>", "user:<applicant>"},
        {"profile_updated", "user_updated", "user:<id>", "user:<id>"},
        {"profile_picture_uploaded", "upload_stored", "user:<id>", "user:<id>"},
        {"profile_picture_deleted", "upload_delete", "user:<id>", "user:<id>"},
        {"audit_gap", "sys_monitor_disabled", "system", "audit_log"},
    }};
}

} // namespace authevents::audit
