/// @file
/// EventView: the type-erased view of one event being dispatched that dispatcher observers
/// (recorders, audit trails, the bus publisher) receive. Standard headers only besides
/// event_traits.hpp and field_sink.hpp.
#pragma once

#include <authevents/event_traits.hpp>
#include <authevents/field_sink.hpp>
#include <authevents/signal.hpp>

#include <any>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace authevents {
namespace detail {

template <class E> std::any copy_event(const void* event) {
    if constexpr (std::is_copy_constructible_v<E>) {
        return std::any(*static_cast<const E*>(event));
    } else {
        return std::any();
    }
}

template <class E> void write_event_fields(const void* event, FieldSink& sink) {
    write_fields(*static_cast<const E*>(event), sink);
}

/// write_event_fields<E> when E's fields can be walked, else nullptr.
template <class E> constexpr auto event_fields_writer() noexcept {
    void (*writer)(const void*, FieldSink&) = nullptr;
    if constexpr (is_visitable_v<E>) {
        writer = &write_event_fields<E>;
    }
    return writer;
}

} // namespace detail

/// A non-owning, type-erased view of one event being dispatched, as observers see it (see
/// EventDispatcher::observers()). Valid only during the observer call; copy what you keep.
/// Every member is a thread-safe query; only copy() may throw (what the copy throws).
class EventView {
public:
    /// A view of `event`, sent from `sender`; `enabled` says whether handlers are called.
    template <class Event>
    EventView(const Event& event, SenderId sender, bool enabled) noexcept
        : event_(&event), key_(detail::event_type_key<Event>()), name_(Event::name),
          version_(detail::event_version<Event>()), sender_(sender), enabled_(enabled),
          copy_(&detail::copy_event<Event>), write_fields_(detail::event_fields_writer<Event>()) {}

    /// The event's `name`.
    [[nodiscard]] std::string_view name() const noexcept { return name_; }
    /// The event's schema version: its `static constexpr int version`, or 1 without one.
    [[nodiscard]] int version() const noexcept { return version_; }
    /// The sender the event is dispatched from.
    [[nodiscard]] SenderId sender() const noexcept { return sender_; }
    /// Whether the dispatcher was enabled, i.e. handlers are called for this dispatch.
    [[nodiscard]] bool enabled() const noexcept { return enabled_; }
    /// Opaque identity of the event's type; equal to key_of<Event>() for that type.
    [[nodiscard]] const void* type_key() const noexcept { return key_; }
    /// Opaque identity of `Event`, to compare with type_key().
    template <class Event> [[nodiscard]] static const void* key_of() noexcept {
        return detail::event_type_key<Event>();
    }
    /// True when the event is an `Event`.
    template <class Event> [[nodiscard]] bool is() const noexcept {
        return key_ == key_of<Event>();
    }
    /// The event as an `Event`, or nullptr when it is of another type.
    template <class Event> [[nodiscard]] const Event* get_if() const noexcept {
        return is<Event>() ? static_cast<const Event*>(event_) : nullptr;
    }
    /// A copy of the event in a std::any; empty when the event type is not copyable.
    /// @throws what copying the event throws.
    [[nodiscard]] std::any copy() const { return copy_(event_); }
    /// True when write_fields() can walk the event: it has a description whose fields are all
    /// of types a FieldSink receives (is_visitable_v). Code that never sees the event's type
    /// (the bus publisher, the audit log) encodes such an event from its description.
    [[nodiscard]] bool has_fields() const noexcept { return write_fields_ != nullptr; }
    /// Walks the event's described fields into `sink` (see FieldSink).
    /// @throws std::logic_error when has_fields() is false.
    /// @throws what `sink` throws.
    void write_fields(FieldSink& sink) const {
        if (write_fields_ == nullptr) {
            throw std::logic_error("authevents::EventView::write_fields: event '" +
                                   std::string(name_) +
                                   "' has no description a FieldSink can walk");
        }
        write_fields_(event_, sink);
    }

private:
    const void* event_;
    const void* key_;
    std::string_view name_;
    int version_;
    SenderId sender_;
    bool enabled_;
    std::any (*copy_)(const void*);
    void (*write_fields_)(const void*, FieldSink&);
};

} // namespace authevents
