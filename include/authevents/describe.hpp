/// @file
/// Descriptions of value types: each event (and each type nested in one, such as User) names
/// its fields once, and the library derives the rest from that list: equality, the fmt
/// formatter and the `[EVENT]` log line (redacted by FieldKind), the CloudEvent data encoding
/// and its strict decoding (authevents::bus), and field visitation for audit trails.
///
/// A description is a `static constexpr` list of field descriptors named `fields`, made by
/// field_list(), one line per field, in declaration order:
///
///     struct UserPasswordChanged {
///         static constexpr std::string_view name = "user_password_changed";
///         authevents::User user;
///         std::optional<std::string> ip_address;
///
///         static constexpr auto fields = authevents::field_list(
///             authevents::field("user", &UserPasswordChanged::user),
///             authevents::field("ip_address", &UserPasswordChanged::ip_address,
///                               authevents::FieldKind::ip_address));
///     };
///
/// `std::make_tuple(field(...), ...)` in place of field_list() is accepted too (it was the only
/// spelling before field_list(); it costs more to compile). For a type you cannot change,
/// specialise `authevents::Describe<T>` with the same `static constexpr auto fields` member
/// instead. Field types may be bool, integers, floating point, std::string, enums with an
/// EnumDescription, other described types, and std::optional / std::vector of those.
///
/// Standard headers and redaction.hpp (FieldKind) only. Everything here is constexpr or a
/// pure function: thread-safe; nothing throws except what comparing the fields throws.
#pragma once

#include <authevents/redaction.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace authevents {

namespace detail {
template <class T> struct is_optional : std::false_type {};
template <class T> struct is_optional<std::optional<T>> : std::true_type {};
template <class T> struct is_vector : std::false_type {};
template <class T, class A> struct is_vector<std::vector<T, A>> : std::true_type {};

template <class T> struct integer_field : std::bool_constant<std::is_integral_v<T>> {};
template <> struct integer_field<bool> : std::false_type {};
template <class T> struct integer_field<std::optional<T>> : integer_field<T> {};
/// True for an integer (not bool) or an optional integer: the fields that may have a range.
template <class T> inline constexpr bool is_integer_field_v = integer_field<T>::value;
} // namespace detail

/// One field of a description: its name (the log and JSON key), the member it reads and what
/// kind of data it holds (for redaction). Optionally an integer range, checked when the value
/// is encoded for or decoded from the bus. A literal type: build it with field().
template <class Class, class Member> struct Field {
    using class_type = Class;   ///< The described type.
    using member_type = Member; ///< The field's type.

    std::string_view name;                     ///< Key in log lines and CloudEvent data.
    Member Class::*member = nullptr;           ///< The data member.
    FieldKind kind = FieldKind::plain;         ///< What the value is, for redaction.
    bool bounded = false;                      ///< Whether [min, max] is checked.
    std::int64_t min = 0;                      ///< Smallest valid value when bounded.
    std::int64_t max = 0;                      ///< Largest valid value when bounded.
    std::string_view range_name = "the range"; ///< Names the range in errors, e.g. "a percentage".

    /// The field's value in `object`.
    constexpr const Member& get(const Class& object) const noexcept { return object.*member; }
    /// The field's value in `object`, for writing (decoders fill fields through it).
    constexpr Member& get(Class& object) const noexcept { return object.*member; }

    /// This field, valid only in [low, high]; `what` names the range in error messages
    /// ("150 is out of range for a percentage (0..100)"). For integer fields.
    constexpr Field in_range(std::int64_t low, std::int64_t high,
                             std::string_view what = "the range") const noexcept {
        static_assert(detail::is_integer_field_v<Member>,
                      "authevents::Field::in_range: only integer fields (or optional integers) "
                      "have a range");
        Field copy = *this;
        copy.bounded = true;
        copy.min = low;
        copy.max = high;
        copy.range_name = what;
        return copy;
    }
};

/// A field descriptor: `field("ip_address", &UserRegistered::ip_address, FieldKind::ip_address)`.
/// `kind` says what personal data the value holds (plain for none; for a nested described
/// type, its own fields' kinds apply). constexpr, noexcept.
template <class Class, class Member>
constexpr Field<Class, Member> field(std::string_view name, Member Class::*member,
                                     FieldKind kind = FieldKind::plain) noexcept {
    Field<Class, Member> result;
    result.name = name;
    result.member = member;
    result.kind = kind;
    return result;
}

namespace detail {
template <class T> struct is_field : std::false_type {};
template <class C, class M> struct is_field<Field<C, M>> : std::true_type {};

/// One field of a FieldList, tagged with its position so that two fields of the same type
/// (e.g. two strings of one class) are distinct bases.
template <std::size_t I, class F> struct FieldSlot {
    F field; ///< The descriptor.
};

template <class Indices, class... Fs> struct FieldSlots;
/// Every field of a FieldList as a base of its own: a flat aggregate, no recursion.
template <std::size_t... I, class... Fs>
struct FieldSlots<std::index_sequence<I...>, Fs...> : FieldSlot<I, Fs>... {};
} // namespace detail

/// A description's fields, in order: what field_list() returns. A literal aggregate with no
/// constructors, so a description costs the compiler one small class and no overload
/// resolution (a `std::tuple` of the same fields costs several times more to instantiate).
/// Read it through for_each_field() and field_count_v; its layout is not part of the API.
/// Immutable constexpr data: thread-safe.
template <class... Fs>
struct FieldList : detail::FieldSlots<std::index_sequence_for<Fs...>, Fs...> {};

/// The fields of a description, one field() per line in declaration order:
/// `static constexpr auto fields = authevents::field_list(field("id", &User::id), ...);`.
/// The cheapest description to compile; `std::make_tuple(field(...), ...)` is accepted too.
/// constexpr, noexcept.
template <class... Fs> constexpr FieldList<Fs...> field_list(const Fs&... fields) noexcept {
    static_assert((detail::is_field<Fs>::value && ...),
                  "authevents::field_list: every argument must be a field descriptor, "
                  "authevents::field(\"name\", &T::member[, FieldKind])");
    return FieldList<Fs...>{{{fields}...}};
}

/// Customisation point: the description of `T` when `T` cannot hold it itself. Specialise it
/// with `static constexpr auto fields = field_list(field(...), ...);`. The primary
/// template reads `T::fields`.
template <class T, class = void> struct Describe {};

/// Customisation point for an enum used as a field: its enumerators and a name for messages.
/// Specialise it with `static constexpr std::array<E, N> values = {...};`,
/// `static constexpr std::string_view what = "login failure reason";` (used in "unknown login
/// failure reason ...") and `static constexpr std::string_view type_name = "E";`. The
/// enumerators' words come from `to_string(E)`, found by argument-dependent lookup.
template <class E> struct EnumDescription;

namespace detail {

/// A description's field types as `FieldList<Fs...>` (named, never instantiated), whether
/// it was written with field_list() or std::make_tuple(); `void` for anything else.
template <class List> struct field_pack { using type = void; };
template <class... Fs> struct field_pack<FieldList<Fs...>> { using type = FieldList<Fs...>; };
template <class... Fs> struct field_pack<std::tuple<Fs...>> { using type = FieldList<Fs...>; };
/// field_pack of a description's (possibly const) type.
template <class List> using field_pack_t = typename field_pack<std::remove_cv_t<List>>::type;

template <class Owner, class Pack> struct is_field_list_of : std::false_type {};
template <class Owner, class... Fs>
struct is_field_list_of<Owner, FieldList<Fs...>>
    : std::bool_constant<(
          ... && (is_field<Fs>::value && std::is_same_v<typename Fs::class_type, Owner>))> {};
/// True when `List` is a FieldList or std::tuple of Field whose class is `Owner`.
template <class Owner, class List>
struct is_field_list : is_field_list_of<Owner, field_pack_t<List>> {};

template <class Pack> struct pack_size;
template <class... Fs> struct pack_size<FieldList<Fs...>> {
    static constexpr std::size_t value = sizeof...(Fs);
};

/// Calls `f` on each field of a field_list() description, in order.
template <std::size_t... I, class... Fs, class F>
constexpr void for_each_in(const FieldSlots<std::index_sequence<I...>, Fs...>& list, F& f) {
    (f(static_cast<const FieldSlot<I, Fs>&>(list).field), ...);
}
/// Calls `f` on each field of a std::make_tuple() description, in order.
template <class... Fs, class F> constexpr void for_each_in(const std::tuple<Fs...>& list, F& f) {
    std::apply([&f](const auto&... each) { (f(each), ...); }, list);
}

template <class T, class = void> struct has_fields_member : std::false_type {};
template <class T>
struct has_fields_member<T, std::void_t<decltype(&T::fields)>>
    : std::bool_constant<!std::is_member_pointer_v<decltype(&T::fields)> &&
                         is_field_list<T, std::remove_cv_t<decltype(T::fields)>>::value> {};

template <class T, class = void> struct has_describe_specialisation : std::false_type {};
template <class T>
struct has_describe_specialisation<T, std::void_t<decltype(Describe<T>::fields)>>
    : is_field_list<T, std::remove_cv_t<std::remove_reference_t<decltype(Describe<T>::fields)>>> {};

template <class E, class = void> struct has_enum_description : std::false_type {};
template <class E>
struct has_enum_description<E, std::void_t<decltype(EnumDescription<E>::values)>> : std::true_type {
};

} // namespace detail

/// The primary Describe reads a `static constexpr fields` member of T.
template <class T> struct Describe<T, std::enable_if_t<detail::has_fields_member<T>::value>> {
    /// T's own description.
    static constexpr const auto& fields = T::fields;
};

/// True when `T` has a description (a `fields` member or a Describe specialisation).
template <class T>
inline constexpr bool is_described_v =
    std::is_class_v<T>&& detail::has_describe_specialisation<T>::value;

/// True when `E` is an enum with an EnumDescription.
template <class E>
inline constexpr bool is_described_enum_v =
    std::is_enum_v<E>&& detail::has_enum_description<E>::value;

/// The description of `T`: a FieldList (or std::tuple) of Field. constexpr, noexcept.
template <class T> constexpr const auto& fields_of() noexcept {
    static_assert(
        is_described_v<T>,
        "authevents::fields_of<T>: T has no description: add `static constexpr auto "
        "fields = authevents::field_list(authevents::field(\"name\", &T::member), ...);` or "
        "specialise authevents::Describe<T>");
    return Describe<T>::fields;
}

/// How many fields `T` describes.
template <class T>
inline constexpr std::size_t field_count_v = detail::pack_size<
    detail::field_pack_t<std::remove_reference_t<decltype(fields_of<T>())>>>::value;

/// Calls `f(field)` for each Field of `T`'s description, in order (compile-time data: name,
/// member, kind). Thread-safe. @throws what `f` throws.
template <class T, class F> constexpr void for_each_field(F&& f) {
    detail::for_each_in(fields_of<T>(), f);
}

/// Calls `visitor(name, value, kind)` for each field of `object`, in description order: what
/// an audit trail or a custom serialiser needs. `value` is a const reference to the member.
/// Thread-safe for concurrent reads of `object`. @throws what `visitor` throws.
template <class T, class Visitor> void visit_fields(const T& object, Visitor&& visitor) {
    for_each_field<T>(
        [&](const auto& field) { visitor(field.name, field.get(object), field.kind); });
}

/// The kind of the field of `Class` that reads `member` (FieldKind::plain when `member` is
/// not in the description). constexpr, noexcept.
template <class Class, class Member>
constexpr FieldKind field_kind(Member Class::*member) noexcept {
    FieldKind kind = FieldKind::plain;
    bool found = false;
    for_each_field<Class>([&](const auto& field) {
        using F = std::remove_cv_t<std::remove_reference_t<decltype(field)>>;
        if constexpr (std::is_same_v<typename F::member_type, Member>) {
            if (!found && field.member == member) {
                kind = field.kind;
                found = true;
            }
        }
    });
    return kind;
}

/// The field names of `T`, in order (for strict decoders: the only members allowed).
template <class T> constexpr std::array<std::string_view, field_count_v<T>> field_names() noexcept {
    std::array<std::string_view, field_count_v<T>> names{};
    std::size_t i = 0;
    for_each_field<T>([&](const auto& field) { names[i++] = field.name; });
    return names;
}

template <class T> bool equal(const T& a, const T& b);

namespace detail {
/// `a == b`, looking through optionals and vectors and into described types, so nested
/// described types need no operator== of their own.
template <class T> bool deep_equal(const T& a, const T& b) {
    if constexpr (is_described_v<T>) {
        return equal(a, b);
    } else if constexpr (is_optional<T>::value) {
        return a.has_value() == b.has_value() && (!a || deep_equal(*a, *b));
    } else if constexpr (is_vector<T>::value) {
        if (a.size() != b.size()) {
            return false;
        }
        for (std::size_t i = 0; i < a.size(); ++i) {
            if (!deep_equal(a[i], b[i])) {
                return false;
            }
        }
        return true;
    } else {
        return a == b;
    }
}
} // namespace detail

/// True when every described field of `a` equals that of `b` (nested described types,
/// optionals and vectors compared field by field, other types with ==). Use it to give a
/// custom described event an `operator==` in one line:
/// `friend bool operator==(const E& a, const E& b) { return authevents::equal(a, b); }`.
/// Thread-safe for concurrent reads. @throws what the fields' == throws.
template <class T> bool equal(const T& a, const T& b) {
    bool same = true;
    for_each_field<T>(
        [&](const auto& field) { same = same && detail::deep_equal(field.get(a), field.get(b)); });
    return same;
}

/// Equality of authevents' own described types (User, SellerApplication, the built-in events):
/// every described field equal. Found by argument-dependent lookup.
template <class T, std::enable_if_t<is_described_v<T>, int> = 0>
bool operator==(const T& a, const T& b) {
    return equal(a, b);
}

/// Negation of `==` for authevents' own described types.
template <class T, std::enable_if_t<is_described_v<T>, int> = 0>
bool operator!=(const T& a, const T& b) {
    return !equal(a, b);
}

} // namespace authevents
