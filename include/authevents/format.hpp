/// @file
/// fmt formatters for User, SellerApplication, LoginFailureReason and the twelve events.
///
/// An event formats as its name followed by its key fields, the text the dispatcher logs
/// after `[EVENT] `:
///
///     user_registered user=42 <ana@example.com> email_sent=true ip_address=203.0.113.7
///
/// Absent optional fields are left out. Strings that come from users (emails, reasons,
/// file keys, IP addresses, field names) are written as they are when they hold no space,
/// quote, backslash or control character, and quoted and escaped otherwise, so one log
/// line stays one line whatever a user typed. Only the empty format spec `{}` is accepted.
/// Formatting is thread-safe and throws only what fmt throws (allocation, bad spec).
#pragma once

#include <authevents/events.hpp>

#include <fmt/format.h>

#include <string_view>

namespace authevents::detail {

/// A user-supplied string, formatted raw when harmless, else quoted and escaped.
struct Untrusted {
    std::string_view text;
};

/// True when `text` can go into a log line unquoted.
constexpr bool is_plain_word(std::string_view text) noexcept {
    if (text.empty()) {
        return false;
    }
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f || c == '"' || c == '\\') {
            return false;
        }
    }
    return true;
}

/// Base of every authevents formatter: accepts only `{}`.
struct EmptySpecFormatter {
    /// Parses an empty format spec; anything else is a format error.
    constexpr auto parse(fmt::format_parse_context& ctx) -> decltype(ctx.begin()) {
        auto it = ctx.begin();
        if (it != ctx.end() && *it != '}') {
            throw fmt::format_error("authevents types accept only an empty format spec");
        }
        return it;
    }
};

} // namespace authevents::detail

/// Formats an Untrusted string: raw when it is a plain word, else quoted and escaped.
template <>
struct fmt::formatter<authevents::detail::Untrusted> : authevents::detail::EmptySpecFormatter {
    /// Writes the text, quoting it (with `{:?}` escapes) unless it is a plain word.
    template <class Context>
    auto format(const authevents::detail::Untrusted& value, Context& ctx) const
        -> decltype(ctx.out()) {
        if (authevents::detail::is_plain_word(value.text)) {
            return fmt::format_to(ctx.out(), "{}", value.text);
        }
        return fmt::format_to(ctx.out(), "{:?}", value.text);
    }
};

/// Formats a User as `<id> <<email>>`, e.g. `42 <ana@example.com>`.
template <> struct fmt::formatter<authevents::User> : authevents::detail::EmptySpecFormatter {
    /// Writes the id and the email.
    template <class Context>
    auto format(const authevents::User& user, Context& ctx) const -> decltype(ctx.out()) {
        return fmt::format_to(ctx.out(), "{} <{}>", user.id,
                              authevents::detail::Untrusted{user.email});
    }
};

/// Formats a SellerApplication as `<id> seller_type=<type> applicant=<user>`.
template <>
struct fmt::formatter<authevents::SellerApplication> : authevents::detail::EmptySpecFormatter {
    /// Writes the id, the seller type and the applicant.
    template <class Context>
    auto format(const authevents::SellerApplication& application, Context& ctx) const
        -> decltype(ctx.out()) {
        return fmt::format_to(ctx.out(), "{} seller_type={} applicant={}", application.id,
                              authevents::detail::Untrusted{application.seller_type},
                              application.applicant);
    }
};

/// Formats a LoginFailureReason as its to_string() word.
template <>
struct fmt::formatter<authevents::LoginFailureReason> : authevents::detail::EmptySpecFormatter {
    /// Writes the snake_case word.
    template <class Context>
    auto format(authevents::LoginFailureReason reason, Context& ctx) const -> decltype(ctx.out()) {
        return fmt::format_to(ctx.out(), "{}", authevents::to_string(reason));
    }
};

namespace authevents::detail {

template <class Out> Out write_fields(Out out, const UserRegistered& e) {
    out = fmt::format_to(out, "user={} email_sent={}", e.user, e.email_sent);
    return e.ip_address ? fmt::format_to(out, " ip_address={}", Untrusted{*e.ip_address}) : out;
}

template <class Out> Out write_fields(Out out, const UserEmailVerified& e) {
    out = fmt::format_to(out, "user={}", e.user);
    return e.ip_address ? fmt::format_to(out, " ip_address={}", Untrusted{*e.ip_address}) : out;
}

template <class Out> Out write_fields(Out out, const UserLoginSuccessful& e) {
    out = fmt::format_to(out, "user={}", e.user);
    if (e.ip_address) {
        out = fmt::format_to(out, " ip_address={}", Untrusted{*e.ip_address});
    }
    return fmt::format_to(out, " required_2fa={}", e.required_2fa);
}

template <class Out> Out write_fields(Out out, const UserLoginFailed& e) {
    out = fmt::format_to(out, "email={} reason={}", Untrusted{e.email}, e.reason);
    return e.ip_address ? fmt::format_to(out, " ip_address={}", Untrusted{*e.ip_address}) : out;
}

template <class Out> Out write_fields(Out out, const User2faEnabled& e) {
    return fmt::format_to(out, "user={}", e.user);
}

template <class Out> Out write_fields(Out out, const User2faDisabled& e) {
    return fmt::format_to(out, "user={}", e.user);
}

template <class Out> Out write_fields(Out out, const SellerApplicationSubmitted& e) {
    return fmt::format_to(out, "application={} is_resubmission={}", e.application,
                          e.is_resubmission);
}

template <class Out> Out write_fields(Out out, const SellerApplicationApproved& e) {
    return fmt::format_to(out, "application={} admin_user={} new_seller={}", e.application,
                          e.admin_user, e.new_seller);
}

template <class Out> Out write_fields(Out out, const SellerApplicationRejected& e) {
    return fmt::format_to(out, "application={} admin_user={} reason={}", e.application,
                          e.admin_user, Untrusted{e.reason});
}

template <class Out> Out write_fields(Out out, const ProfileUpdated& e) {
    out = fmt::format_to(out, "user={} updated_fields=[", e.user);
    const char* separator = "";
    for (const std::string& field : e.updated_fields) {
        out = fmt::format_to(out, "{}{}", separator, Untrusted{field});
        separator = ",";
    }
    return fmt::format_to(out, "] profile_completion={}", e.profile_completion);
}

template <class Out> Out write_fields(Out out, const ProfilePictureUploaded& e) {
    return fmt::format_to(out, "user={} file_key={}", e.user, Untrusted{e.file_key});
}

template <class Out> Out write_fields(Out out, const ProfilePictureDeleted& e) {
    return fmt::format_to(out, "user={}", e.user);
}

/// Formatter of a built-in event: `<name> <key fields>`.
template <class Event> struct EventFormatter : EmptySpecFormatter {
    /// Writes the event's name and key fields.
    template <class Context>
    auto format(const Event& event, Context& ctx) const -> decltype(ctx.out()) {
        auto out = fmt::format_to(ctx.out(), "{} ", Event::name);
        return write_fields(out, event);
    }
};

} // namespace authevents::detail

/// Formats UserRegistered as `user_registered <key fields>`.
template <>
struct fmt::formatter<authevents::UserRegistered>
    : authevents::detail::EventFormatter<authevents::UserRegistered> {};
/// Formats UserEmailVerified as `user_email_verified <key fields>`.
template <>
struct fmt::formatter<authevents::UserEmailVerified>
    : authevents::detail::EventFormatter<authevents::UserEmailVerified> {};
/// Formats UserLoginSuccessful as `user_login_successful <key fields>`.
template <>
struct fmt::formatter<authevents::UserLoginSuccessful>
    : authevents::detail::EventFormatter<authevents::UserLoginSuccessful> {};
/// Formats UserLoginFailed as `user_login_failed <key fields>`.
template <>
struct fmt::formatter<authevents::UserLoginFailed>
    : authevents::detail::EventFormatter<authevents::UserLoginFailed> {};
/// Formats User2faEnabled as `user_2fa_enabled <key fields>`.
template <>
struct fmt::formatter<authevents::User2faEnabled>
    : authevents::detail::EventFormatter<authevents::User2faEnabled> {};
/// Formats User2faDisabled as `user_2fa_disabled <key fields>`.
template <>
struct fmt::formatter<authevents::User2faDisabled>
    : authevents::detail::EventFormatter<authevents::User2faDisabled> {};
/// Formats SellerApplicationSubmitted as `seller_application_submitted <key fields>`.
template <>
struct fmt::formatter<authevents::SellerApplicationSubmitted>
    : authevents::detail::EventFormatter<authevents::SellerApplicationSubmitted> {};
/// Formats SellerApplicationApproved as `seller_application_approved <key fields>`.
template <>
struct fmt::formatter<authevents::SellerApplicationApproved>
    : authevents::detail::EventFormatter<authevents::SellerApplicationApproved> {};
/// Formats SellerApplicationRejected as `seller_application_rejected <key fields>`.
template <>
struct fmt::formatter<authevents::SellerApplicationRejected>
    : authevents::detail::EventFormatter<authevents::SellerApplicationRejected> {};
/// Formats ProfileUpdated as `profile_updated <key fields>`.
template <>
struct fmt::formatter<authevents::ProfileUpdated>
    : authevents::detail::EventFormatter<authevents::ProfileUpdated> {};
/// Formats ProfilePictureUploaded as `profile_picture_uploaded <key fields>`.
template <>
struct fmt::formatter<authevents::ProfilePictureUploaded>
    : authevents::detail::EventFormatter<authevents::ProfilePictureUploaded> {};
/// Formats ProfilePictureDeleted as `profile_picture_deleted <key fields>`.
template <>
struct fmt::formatter<authevents::ProfilePictureDeleted>
    : authevents::detail::EventFormatter<authevents::ProfilePictureDeleted> {};
