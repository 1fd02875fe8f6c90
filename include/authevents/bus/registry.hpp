/// @file
/// EventTypeRegistry: maps CloudEvent types to event types, both ways, for publishers and
/// consumers (encodes what dispatcher observers see; decodes and re-dispatches).
///
/// Part of authevents::bus (CMake target authevents::bus); uses nlohmann-json.
#pragma once

#include <authevents/bus/builtin_codecs.hpp>
#include <authevents/bus/codec.hpp>
#include <authevents/bus/data_writer.hpp>
#include <authevents/bus/envelope.hpp>
#include <authevents/dispatch_report.hpp>
#include <authevents/dispatcher.hpp>
#include <authevents/event_view.hpp>
#include <authevents/events.hpp>

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace authevents::bus {

/// Maps CloudEvent types to event types, both ways: encodes the EventViews dispatcher
/// observers see, and decodes CloudEvents and re-dispatches them into an EventDispatcher.
/// Knows the twelve built-in events from construction; add() registers custom ones.
///
/// Thread-safety: build it at start-up, then share it: the const members may be called from
/// any number of threads at once; add() must not run concurrently with any other use.
/// Copyable and movable.
class EventTypeRegistry {
public:
    /// A registry of the twelve built-in events with the default CloudEventOptions. Not
    /// explicit, so `{}` works where a registry is expected. @throws std::bad_alloc.
    EventTypeRegistry() : EventTypeRegistry(CloudEventOptions{}) {}

    /// A registry of the twelve built-in events, encoding with `options`.
    /// @throws std::invalid_argument for an `options.source` that is empty or not a
    ///         URI-reference.
    /// @throws std::bad_alloc if memory runs out.
    explicit EventTypeRegistry(CloudEventOptions options) : options_(std::move(options)) {
        if (options_.source.empty()) {
            throw std::invalid_argument(
                "authevents::bus::EventTypeRegistry: CloudEventOptions::source must not be empty");
        }
        if (!is_uri_reference(options_.source)) {
            throw std::invalid_argument("authevents::bus::EventTypeRegistry: "
                                        "CloudEventOptions::source must be a URI-reference, got " +
                                        detail::quote_for_message(options_.source));
        }
        add_all(static_cast<BuiltinEvents*>(nullptr));
    }

    /// Registers `Event` (which needs an EventCodec specialisation). Adding a registered event
    /// type again does nothing. Not thread-safe (see the class). Strong guarantee.
    /// @throws std::invalid_argument naming the type when another event type already has the
    ///         same CloudEvent type string.
    /// @throws std::bad_alloc if memory runs out.
    template <class Event> EventTypeRegistry& add() {
        if constexpr (detail::CodecCheck<Event>::value) {
            const void* key = EventView::key_of<Event>();
            if (by_key_.count(key) != 0) {
                return *this;
            }
            std::string type = cloud_event_type<Event>(options_.type_prefix);
            const auto clash = by_type_.find(type);
            if (clash != by_type_.end()) {
                throw std::invalid_argument(
                    "authevents::bus::EventTypeRegistry: CloudEvent type '" + type +
                    "' is already registered for another event type (named '" +
                    std::string(entries_[clash->second].name) + "')");
            }
            entries_.push_back(Entry{std::move(type), Event::name, key, &encode_view<Event>,
                                     &decode_and_dispatch<Event>});
            try {
                by_type_.emplace(entries_.back().type, entries_.size() - 1);
                by_key_.emplace(key, entries_.size() - 1);
            } catch (...) {
                by_type_.erase(entries_.back().type);
                entries_.pop_back();
                throw;
            }
        }
        return *this;
    }

    /// The options events are encoded with. Thread-safe, noexcept.
    [[nodiscard]] const CloudEventOptions& options() const noexcept { return options_; }

    /// True when `type` (a CloudEvent type string) is registered. Thread-safe, noexcept.
    [[nodiscard]] bool knows(std::string_view type) const noexcept {
        return by_type_.find(type) != by_type_.end();
    }

    /// All registered CloudEvent types, in registration order (the built-in ones first, in
    /// BuiltinEvents order). Thread-safe. @throws std::bad_alloc only.
    [[nodiscard]] std::vector<std::string> types() const {
        std::vector<std::string> result;
        result.reserve(entries_.size());
        for (const Entry& entry : entries_) {
            result.push_back(entry.type);
        }
        return result;
    }

    /// The viewed event as a CloudEvent: with its EventCodec (see to_cloud_event()) when its
    /// type is registered; else, when it has a description (EventView::has_fields()), encoded
    /// from the description exactly as the codec derived from it would (type
    /// "<type_prefix>.<name>.v<version>", data and subject through DataWriter); else
    /// std::nullopt. An explicit EventCodec specialisation is only used once registered.
    ///
    /// Thread-safe.
    /// @throws CloudEventError naming the field for a value its description rejects, and
    ///         CloudEventError("type") when an unregistered event's type string is registered
    ///         for another event type.
    /// @throws what to_cloud_event() throws.
    [[nodiscard]] std::optional<CloudEvent> encode(const EventView& view) const {
        const auto found = by_key_.find(view.type_key());
        if (found != by_key_.end()) {
            return entries_[found->second].encode(view, options_);
        }
        if (!view.has_fields()) {
            return std::nullopt;
        }
        return encode_described(view);
    }

    /// `event` as a CloudEvent with this registry's options (see to_cloud_event()); works
    /// whether or not `Event` is registered. Thread-safe. @throws what to_cloud_event() throws.
    template <class Event> [[nodiscard]] CloudEvent encode(const Event& event) const {
        return to_cloud_event(event, options_);
    }

    /// Decodes `event` by its type and dispatches the result with `dispatcher.dispatch(e)`,
    /// i.e. from the event's default sender (EventSender), returning the dispatch's report.
    /// Handler exceptions are reported, not thrown (see EventDispatcher::dispatch).
    ///
    /// Thread-safe.
    /// @throws CloudEventError("type", "unknown event type ...") for a type not registered
    ///         (the message lists the known ones), naming the data field for bad data, or
    ///         "subject" for a subject that contradicts the data (nothing is dispatched then).
    /// @throws std::bad_alloc if memory runs out.
    DispatchReport dispatch(const CloudEvent& event, EventDispatcher& dispatcher) const {
        const auto found = by_type_.find(event.type);
        if (found == by_type_.end()) {
            std::string known;
            for (const Entry& entry : entries_) {
                known += known.empty() ? "" : ", ";
                known += entry.type;
            }
            throw CloudEventError("type", "unknown event type " +
                                              detail::quote_for_message(event.type) +
                                              " (known: " + known + ")");
        }
        return entries_[found->second].dispatch(event, dispatcher);
    }

private:
    struct Entry {
        std::string type;
        std::string_view name;
        const void* key = nullptr;
        CloudEvent (*encode)(const EventView&, const CloudEventOptions&) = nullptr;
        DispatchReport (*dispatch)(const CloudEvent&, EventDispatcher&) = nullptr;
    };

    template <class... Events> void add_all(std::tuple<Events...>* /*tag*/) {
        (add<Events>(), ...);
    }

    CloudEvent encode_described(const EventView& view) const {
        CloudEvent result;
        result.type = options_.type_prefix;
        if (!result.type.empty()) {
            result.type += '.';
        }
        result.type.append(view.name());
        result.type += ".v";
        result.type += std::to_string(view.version());
        const auto clash = by_type_.find(result.type);
        if (clash != by_type_.end()) {
            throw CloudEventError("type", "'" + result.type +
                                              "' is registered for another event type (named '" +
                                              std::string(entries_[clash->second].name) +
                                              "'): rename the event or bump its version");
        }
        DataWriter writer("data");
        view.write_fields(writer);
        result.id = new_event_id();
        result.source = options_.source;
        result.subject = writer.subject();
        result.time = rfc3339_now();
        result.data = writer.take();
        return result;
    }

    template <class Event>
    static CloudEvent encode_view(const EventView& view, const CloudEventOptions& options) {
        const Event* event = view.get_if<Event>();
        if (event == nullptr) {
            throw std::logic_error("authevents::bus::EventTypeRegistry: event type mismatch");
        }
        return to_cloud_event(*event, options);
    }

    template <class Event>
    static DispatchReport decode_and_dispatch(const CloudEvent& event,
                                              EventDispatcher& dispatcher) {
        return dispatcher.dispatch(detail::decode_event<Event>(event));
    }

    CloudEventOptions options_;
    std::vector<Entry> entries_{};
    std::map<std::string, std::size_t, std::less<>> by_type_{};
    std::unordered_map<const void*, std::size_t> by_key_{};
};

} // namespace authevents::bus
