/// @file
/// fmt formatters for described types (see describe.hpp): the twelve built-in events, User,
/// SellerApplication, LoginFailureReason and any custom event with a description.
///
/// An event formats as its name followed by its fields, the text the dispatcher logs after
/// `[EVENT] `:
///
///     user_registered user=42 <ana@example.com> email_sent=true ip_address=203.0.113.7
///
/// Absent optional fields are left out; a User shows as `<id> <<email>>`, a SellerApplication
/// as `<id> seller_type=<type> applicant=<user>`, a vector as `[a,b]`, an enum as its
/// to_string() word, another described type as `{name=value ...}`.
///
/// `fmt::format("{}", event)` is verbatim but escaped: strings that come from users (emails,
/// reasons, file keys, IP addresses, field names) are written as they are when they hold no
/// space, quote, backslash or control character, and quoted and escaped otherwise, so one
/// line stays one line whatever a user typed. It is NOT redacted: the dispatcher's `[EVENT]`
/// line is, by its RedactionPolicy (EventDispatcher::set_redaction), through
/// write_event_fields(). Only the empty format spec `{}` is accepted. Formatting is
/// thread-safe. @throws only what fmt throws (allocation, bad spec).
///
/// Compile time: only `<fmt/core.h>` is included, and nothing here instantiates fmt's
/// formatting engine: lines are built by appending to a std::string, integers are written by
/// append_decimal(), and the few calls that need fmt (`fmt::format` of a floating-point value,
/// the `{:?}` escaping) go through `fmt::vformat`, which libfmt compiles once. Include
/// `<fmt/format.h>` yourself where you need its extras (fmt::memory_buffer, fmt::join, ...).
#pragma once

#include <authevents/describe.hpp>
#include <authevents/events.hpp>
#include <authevents/redaction.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace authevents::detail {

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
    /// @throws fmt::format_error for any other spec.
    constexpr auto parse(fmt::format_parse_context& ctx) -> decltype(ctx.begin()) {
        auto it = ctx.begin();
        if (it != ctx.end() && *it != '}') {
            ctx.on_error("authevents types accept only an empty format spec");
        }
        return it;
    }
};

/// Appends the decimal digits of the integer `value` (with a `-` when negative) to `out`.
/// What fmt::format_int gives, without <fmt/format.h>. @throws std::bad_alloc.
template <class T> void append_decimal(std::string& out, T value) {
    static_assert(std::is_integral_v<T>, "authevents::detail::append_decimal: an integer type");
    char digits[24]; // 20 digits for 2^64, a sign, spare
    char* const end = digits + sizeof(digits);
    char* begin = end;
    // The magnitude as unsigned: -(min) overflows a signed type, its unsigned negation does not.
    auto magnitude = static_cast<std::uint64_t>(value);
    bool negative = false;
    if constexpr (std::is_signed_v<T>) {
        negative = value < 0;
        if (negative) {
            magnitude = std::uint64_t{0} - magnitude;
        }
    }
    do {
        *--begin = static_cast<char>('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    if (negative) {
        *--begin = '-';
    }
    out.append(begin, end);
}

/// True for the string types a field may hold.
template <class T>
inline constexpr bool is_string_like_v =
    std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>;

/// `text` (a std::string or std::string_view) quoted and escaped as fmt's `{:?}` writes it.
/// Through fmt::vformat with a run-time format string: no compile-time check of a constant one
/// to instantiate in every unit. A template whose argument type is a parameter, so that its fmt
/// argument store is compiled only in a unit that writes a line, not in every unit that
/// includes this header (clang compiles a constexpr call with non-dependent arguments where it
/// is written). @throws std::bad_alloc.
template <class Text> std::string quoted(const Text& text) {
    static_assert(is_string_like_v<Text>, "authevents::detail::quoted: a string or string_view");
    return fmt::vformat("{:?}", fmt::make_format_args(text));
}

/// Writes described values as log text into a buffer: verbatim (no policy: user strings
/// quoted and escaped unless they are plain words) or redacted by a RedactionPolicy (each
/// string through redact() by its field's FieldKind; fields the policy drops are left out,
/// name included). Not thread-safe (one per line being built). @throws std::bad_alloc.
class FieldWriter {
public:
    /// A writer appending to `out`; `policy` null for verbatim text.
    FieldWriter(std::string& out, const RedactionPolicy* policy) noexcept
        : out_(&out), policy_(policy) {}

    /// True when the policy leaves fields of `kind` out entirely.
    [[nodiscard]] bool drops(FieldKind kind) const noexcept {
        return policy_ != nullptr &&
               ((kind == FieldKind::free_text && !policy_->keep_free_text) ||
                (kind == FieldKind::ip_address && policy_->ip == RedactionPolicy::Ip::drop));
    }

    /// Writes ` name=value` for each field of `object` that is present and not dropped
    /// (` ` before each, or between them when `leading_space` is false).
    template <class T> void fields(const T& object, bool leading_space) {
        bool first = !leading_space;
        for_each_field<T>([&](const auto& field) {
            const auto& member = field.get(object);
            using M = std::remove_cv_t<std::remove_reference_t<decltype(member)>>;
            if constexpr (is_optional<M>::value) {
                if (!member) {
                    return;
                }
            }
            if (drops(field.kind)) {
                return;
            }
            put(first ? "" : " ");
            first = false;
            put(field.name);
            put("=");
            value(member, field.kind);
        });
    }

    /// Writes one value of a field of `kind`.
    template <class T> void value(const T& v, FieldKind kind) {
        if constexpr (std::is_same_v<T, bool>) {
            put(v ? "true" : "false");
        } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, char>) {
            append_decimal(*out_, v);
        } else if constexpr (std::is_arithmetic_v<T>) {
            put(fmt::format("{}", v));
        } else if constexpr (is_string_like_v<T>) {
            text(v, kind);
        } else if constexpr (is_described_enum_v<T>) {
            put(std::string_view(to_string(v)));
        } else if constexpr (is_optional<T>::value) {
            if (v) {
                value(*v, kind);
            } else {
                put("-");
            }
        } else if constexpr (is_vector<T>::value) {
            put("[");
            const char* separator = "";
            for (const auto& element : v) {
                put(separator);
                value(element, kind);
                separator = ",";
            }
            put("]");
        } else if constexpr (std::is_same_v<T, User>) {
            append_decimal(*out_, v.id);
            put(" <");
            // &T::email, not &User::email: a dependent call, so field_kind is instantiated only
            // when a User is written, not where this header is included.
            text(v.email, field_kind(&T::email));
            put(">");
        } else if constexpr (std::is_same_v<T, SellerApplication>) {
            append_decimal(*out_, v.id);
            const FieldKind type_kind = field_kind(&T::seller_type); // dependent, as above
            if (!drops(type_kind)) {
                put(" seller_type=");
                text(v.seller_type, type_kind);
            }
            put(" applicant=");
            value(v.applicant, FieldKind::plain);
        } else if constexpr (is_described_v<T>) {
            put("{");
            fields(v, false);
            put("}");
        } else if constexpr (fmt::is_formattable<T>::value) {
            text(fmt::format("{}", v), kind);
        } else {
            static_assert(fmt::is_formattable<T>::value,
                          "authevents: a described field's type must be bool, a number, "
                          "std::string, an enum with an authevents::EnumDescription, a "
                          "described type, std::optional or std::vector of those, or a type "
                          "with an fmt::formatter");
        }
    }

    /// Writes a user-supplied string (std::string or std::string_view) of `kind`:
    /// verbatim-escaped, or as redact() shows it (quoted, with `"` escaped, when it is not a
    /// plain word). A template, as quoted() is, for the units that never write a line.
    template <class Text> void text(const Text& value, FieldKind kind) {
        if (policy_ == nullptr) {
            if (is_plain_word(value)) {
                put(value);
            } else {
                put(detail::quoted(value)); // qualified: not std::quoted by ADL
            }
            return;
        }
        const std::optional<std::string> shown = redact(value, kind, *policy_);
        if (!shown) {
            put("-"); // a dropped value inside a kept one (e.g. in a vector)
            return;
        }
        if (is_plain_word(*shown)) {
            put(*shown);
            return;
        }
        // redact() escaped control characters and backslashes: only the quote is left.
        put("\"");
        for (const char c : *shown) {
            if (c == '"') {
                put("\\\"");
            } else {
                out_->push_back(c);
            }
        }
        put("\"");
    }

private:
    void put(std::string_view text) { out_->append(text); }

    std::string* out_;
    const RedactionPolicy* policy_;
};

/// Appends `<name> <fields>` of the described event `event` to `out`: verbatim-escaped when
/// `policy` is null (what `fmt::format("{}", event)` gives), else redacted by `*policy` (the
/// dispatcher's `[EVENT]` line). Thread-safe for concurrent reads of `event`. @throws
/// std::bad_alloc.
template <class Event>
void write_event_fields(std::string& out, const Event& event, const RedactionPolicy* policy) {
    out.append(std::string_view(Event::name));
    FieldWriter(out, policy).fields(event, true);
}

/// True for a described type with a static `name`: an event.
template <class T, class = void> struct is_described_event : std::false_type {};
template <class T>
struct is_described_event<T, std::void_t<decltype(T::name)>>
    : std::bool_constant<is_described_v<T>> {};

} // namespace authevents::detail

/// Formats a LoginFailureReason as its to_string() word.
template <>
struct fmt::formatter<authevents::LoginFailureReason> : authevents::detail::EmptySpecFormatter {
    /// Writes the snake_case word.
    template <class Context>
    auto format(authevents::LoginFailureReason reason, Context& ctx) const -> decltype(ctx.out()) {
        const std::string_view word = authevents::to_string(reason);
        return std::copy(word.begin(), word.end(), ctx.out());
    }
};

/// Formats any described type, verbatim-escaped: an event as `<name> <fields>` (e.g.
/// `user_registered user=42 <ana@example.com> email_sent=true`), a User as `42
/// <ana@example.com>`, a SellerApplication as `7 seller_type=individual applicant=<user>`,
/// another described type as `{name=value ...}`. An explicit fmt::formatter specialisation of
/// a type takes precedence over this one.
template <class T>
struct fmt::formatter<T, char, std::enable_if_t<authevents::is_described_v<T>>>
    : authevents::detail::EmptySpecFormatter {
    /// Writes the value's text.
    template <class Context>
    auto format(const T& value, Context& ctx) const -> decltype(ctx.out()) {
        std::string text;
        if constexpr (authevents::detail::is_described_event<T>::value) {
            authevents::detail::write_event_fields(text, value, nullptr);
        } else {
            authevents::detail::FieldWriter(text, nullptr)
                .value(value, authevents::FieldKind::plain);
        }
        return std::copy(text.begin(), text.end(), ctx.out());
    }
};
