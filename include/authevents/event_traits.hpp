/// @file
/// What makes a type an event (a class with a static `name`), the identity of an event type,
/// and the EventSender customisation point. Standard headers, events.hpp and signal.hpp only.
#pragma once

#include <authevents/events.hpp>
#include <authevents/signal.hpp>

#include <string_view>
#include <tuple>
#include <type_traits>

namespace authevents {
namespace detail {

template <class E, class = void> struct has_static_name : std::false_type {};
template <class E>
struct has_static_name<E, std::void_t<decltype(&E::name)>>
    : std::bool_constant<!std::is_member_pointer_v<decltype(&E::name)> &&
                         std::is_convertible_v<decltype(E::name), std::string_view>> {};

/// True for a type the dispatcher accepts as an event: a non-cv class with a static `name`
/// convertible to std::string_view.
template <class E>
inline constexpr bool is_event_v = std::is_class_v<E> && !std::is_const_v<E> &&
                                   !std::is_volatile_v<E> && has_static_name<E>::value;

template <class E, class Tuple> struct tuple_contains;
template <class E, class... Ts>
struct tuple_contains<E, std::tuple<Ts...>> : std::bool_constant<(std::is_same_v<E, Ts> || ...)> {};

/// True for the twelve built-in events.
template <class E>
inline constexpr bool is_builtin_event_v = tuple_contains<E, BuiltinEvents>::value;

template <class E, class = void> struct has_static_version : std::false_type {};
template <class E>
struct has_static_version<E, std::void_t<decltype(&E::version)>>
    : std::bool_constant<!std::is_member_pointer_v<decltype(&E::version)> &&
                         std::is_convertible_v<decltype(E::version), int>> {};

/// The data schema version of `Event`: its `static constexpr int version` if it has one, else
/// 1. Part of its CloudEvent type and of its audit records.
template <class Event> constexpr int event_version() noexcept {
    if constexpr (has_static_version<Event>::value) {
        return static_cast<int>(Event::version);
    } else {
        return 1;
    }
}

/// One object per event type, whose address identifies the type.
template <class E> inline const char event_type_tag = 0;

/// Opaque identity of an event type.
template <class E> constexpr const void* event_type_key() noexcept { return &event_type_tag<E>; }

} // namespace detail

/// Customisation point: the sender `EventDispatcher::dispatch(event)` sends from when no
/// sender is given. The default uses `Event::sender_type` when the event declares it
/// (`SenderId::type<sender_type>()`, or `SenderId::any()` for `void`) and `SenderId::any()`
/// otherwise. Specialise it for your own event to send from something else, e.g. an object:
///
///     template <> struct authevents::EventSender<TenantEvent> {
///         static SenderId get(const TenantEvent& e) noexcept { return SenderId::of(e.tenant); }
///     };
///
/// `get` must be thread-safe and should not throw (an exception reaches the dispatching code).
template <class Event, class = void> struct EventSender {
    /// SenderId::any(): Django's `sender=None`.
    static SenderId get(const Event& /*event*/) noexcept { return SenderId::any(); }
};

/// EventSender for events declaring `using sender_type = ...;`.
template <class Event> struct EventSender<Event, std::void_t<typename Event::sender_type>> {
    /// `SenderId::type<sender_type>()`, or `SenderId::any()` when sender_type is void.
    static SenderId get(const Event& /*event*/) noexcept {
        if constexpr (std::is_void_v<typename Event::sender_type>) {
            return SenderId::any();
        } else {
            return SenderId::type<typename Event::sender_type>();
        }
    }
};

} // namespace authevents
