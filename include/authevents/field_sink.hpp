/// @file
/// FieldSink: a described value's fields, type-erased. write_fields() walks a described
/// object (see describe.hpp) and calls a FieldSink for each object, field and value, in the
/// shape of JSON. Code that never sees the C++ type (the bus publisher and the audit log,
/// through an EventView) encodes any described event this way: the CloudEvent data
/// encoding, the audit record and a custom serialiser are all FieldSinks over one walk.
///
/// Standard headers, describe.hpp and events.hpp only. The walk is a pure function of the
/// object: thread-safe for concurrent reads of it; it throws only what the sink throws.
#pragma once

#include <authevents/describe.hpp>
#include <authevents/events.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace authevents {

/// What a described object is, for sinks that route by identity: a User, a
/// SellerApplication, or any other described type.
enum class ObjectKind : unsigned char {
    plain,              ///< Any described type but the two below.
    user,               ///< An authevents::User; FieldSink::begin_object() gets its id.
    seller_application, ///< An authevents::SellerApplication; begin_object() gets its id.
};

/// One field as a FieldSink sees it: its description (name, kind, range) and whether the
/// member is a std::optional (a present one: absent optionals are not visited).
struct FieldInfo {
    std::string_view name;                     ///< The field's name (log and JSON key).
    FieldKind kind = FieldKind::plain;         ///< What personal data it holds.
    bool optional = false;                     ///< The member is a std::optional.
    bool bounded = false;                      ///< Whether [min, max] applies to the value.
    std::int64_t min = 0;                      ///< Smallest valid value when bounded.
    std::int64_t max = 0;                      ///< Largest valid value when bounded.
    std::string_view range_name = "the range"; ///< Names the range in errors.
};

/// Receives the structure of a described value from write_fields(), depth first, in
/// description order:
/// - a described object: begin_object(), then field() before each present field's value,
///   then end_object(); absent optional fields are skipped entirely;
/// - a std::vector: begin_array(size), its elements, end_array();
/// - an absent optional inside a vector: null_value();
/// - bool, integers (signed through integer(), unsigned through unsigned_integer()),
///   floating point, std::string (with the kind of the field it belongs to) and enums.
/// Values inside a vector carry the kind of the vector's field. Implementations decide what
/// to keep, and may throw to abort the walk (the exception reaches write_fields()' caller).
class FieldSink {
public:
    /// A described object begins; `id` is the User's or SellerApplication's id, else 0.
    virtual void begin_object(ObjectKind kind, std::int64_t id) = 0;
    /// The next value belongs to the field `info` of the innermost object.
    virtual void field(const FieldInfo& info) = 0;
    /// The innermost object ends.
    virtual void end_object() = 0;
    /// An array of `size` elements begins.
    virtual void begin_array(std::size_t size) = 0;
    /// The innermost array ends.
    virtual void end_array() = 0;
    /// An absent optional element of an array.
    virtual void null_value() = 0;
    /// A bool.
    virtual void boolean(bool value) = 0;
    /// A signed integer (or a char), or an enum without an EnumDescription, as its value.
    virtual void integer(std::int64_t value) = 0;
    /// An unsigned integer.
    virtual void unsigned_integer(std::uint64_t value) = 0;
    /// A float or double.
    virtual void floating(double value) = 0;
    /// A std::string of the field kind `kind`.
    virtual void string(std::string_view value, FieldKind kind) = 0;
    /// An enum with an EnumDescription: its to_string() word, or an empty `word` when `value`
    /// is not one of EnumDescription::values. `type_name` is EnumDescription::type_name.
    virtual void enumerator(std::string_view word, std::int64_t value,
                            std::string_view type_name) = 0;

protected:
    FieldSink() = default;
    FieldSink(const FieldSink&) = default;
    FieldSink& operator=(const FieldSink&) = default;
    ~FieldSink() = default;
};

/// A FieldSink that looks only at the structure of a value (objects, fields, arrays): every
/// value callback does nothing. Base of sinks that search a description, e.g. for its subject.
class StructureSink : public FieldSink {
public:
    void null_value() override {}
    void boolean(bool /*value*/) override {}
    void integer(std::int64_t /*value*/) override {}
    void unsigned_integer(std::uint64_t /*value*/) override {}
    void floating(double /*value*/) override {}
    void string(std::string_view /*value*/, FieldKind /*kind*/) override {}
    void enumerator(std::string_view /*word*/, std::int64_t /*value*/,
                    std::string_view /*type_name*/) override {}

protected:
    StructureSink() = default;
    StructureSink(const StructureSink&) = default;
    StructureSink& operator=(const StructureSink&) = default;
    ~StructureSink() = default;
};

namespace detail {

template <class T, class = void> struct visitable : std::false_type {};

template <class Pack> struct fields_visitable;
template <class... Fs>
struct fields_visitable<FieldList<Fs...>>
    : std::bool_constant<(visitable<typename Fs::member_type>::value && ...)> {};

template <class T>
struct visitable<T, std::enable_if_t<std::is_arithmetic_v<T> || std::is_enum_v<T>>>
    : std::true_type {};
template <> struct visitable<std::string> : std::true_type {};
template <class T> struct visitable<std::optional<T>> : visitable<T> {};
template <class T, class A> struct visitable<std::vector<T, A>> : visitable<T> {};
template <class T>
struct visitable<T, std::enable_if_t<std::is_class_v<T> && is_described_v<T>>>
    : fields_visitable<field_pack_t<std::remove_reference_t<decltype(fields_of<T>())>>> {};

} // namespace detail

/// True when write_fields() can walk `T`: a described type whose fields are bool, numbers,
/// std::string, enums, described types, or std::optional / std::vector of those.
template <class T> inline constexpr bool is_visitable_v = detail::visitable<T>::value;

namespace detail {

template <class T> void write_object(const T& object, FieldSink& sink);

template <class T> void write_value(const T& value, FieldSink& sink, FieldKind kind) {
    if constexpr (std::is_same_v<T, bool>) {
        sink.boolean(value);
    } else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>) {
        sink.unsigned_integer(value);
    } else if constexpr (std::is_integral_v<T>) {
        sink.integer(value);
    } else if constexpr (std::is_floating_point_v<T>) {
        sink.floating(static_cast<double>(value));
    } else if constexpr (std::is_same_v<T, std::string>) {
        sink.string(value, kind);
    } else if constexpr (is_described_enum_v<T>) {
        const auto number = static_cast<std::int64_t>(value);
        for (const T candidate : EnumDescription<T>::values) {
            if (candidate == value) {
                sink.enumerator(std::string_view(to_string(value)), number,
                                EnumDescription<T>::type_name);
                return;
            }
        }
        sink.enumerator(std::string_view(), number, EnumDescription<T>::type_name);
    } else if constexpr (std::is_enum_v<T>) {
        sink.integer(static_cast<std::int64_t>(value));
    } else if constexpr (is_optional<T>::value) {
        if (value) {
            write_value(*value, sink, kind);
        } else {
            sink.null_value();
        }
    } else if constexpr (is_vector<T>::value) {
        sink.begin_array(value.size());
        for (const auto& element : value) {
            write_value(element, sink, kind);
        }
        sink.end_array();
    } else {
        write_object(value, sink);
    }
}

template <class T> void write_object(const T& object, FieldSink& sink) {
    if constexpr (std::is_same_v<T, User>) {
        sink.begin_object(ObjectKind::user, object.id);
    } else if constexpr (std::is_same_v<T, SellerApplication>) {
        sink.begin_object(ObjectKind::seller_application, object.id);
    } else {
        sink.begin_object(ObjectKind::plain, 0);
    }
    for_each_field<T>([&](const auto& field) {
        const auto& member = field.get(object);
        using M = std::remove_cv_t<std::remove_reference_t<decltype(member)>>;
        FieldInfo info;
        info.name = field.name;
        info.kind = field.kind;
        info.optional = is_optional<M>::value;
        info.bounded = field.bounded;
        info.min = field.min;
        info.max = field.max;
        info.range_name = field.range_name;
        if constexpr (is_optional<M>::value) {
            if (member) {
                sink.field(info);
                write_value(*member, sink, field.kind);
            }
        } else {
            sink.field(info);
            write_value(member, sink, field.kind);
        }
    });
    sink.end_object();
}

} // namespace detail

/// Walks the described `object` into `sink` (see FieldSink for the order of calls): one
/// begin_object() ... end_object() around its fields. Thread-safe for concurrent reads of
/// `object`. @throws what `sink` throws.
template <class T> void write_fields(const T& object, FieldSink& sink) {
    static_assert(is_described_v<T>,
                  "authevents::write_fields<T>: T has no description: add `static constexpr "
                  "auto fields = authevents::field_list(authevents::field(\"name\", &T::member), "
                  "...);` or specialise authevents::Describe<T>");
    static_assert(is_visitable_v<T>,
                  "authevents::write_fields<T>: a field of T has a type a FieldSink cannot "
                  "receive: fields must be bool, numbers, std::string, enums, described types, "
                  "or std::optional / std::vector of those");
    detail::write_object(object, sink);
}

} // namespace authevents
