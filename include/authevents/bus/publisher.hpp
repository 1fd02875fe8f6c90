/// @file
/// BusPublisher: puts every event an EventDispatcher dispatches into the SQLite outbox, as a
/// CloudEvent, so an OutboxRelay carries it to Redis. Services keep calling dispatch_*().
#pragma once

#include <authevents/bus/cloudevent.hpp>
#include <authevents/bus/outbox.hpp>
#include <authevents/bus/relay.hpp>
#include <authevents/dispatcher.hpp>
#include <authevents/signal.hpp>

#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <exception>
#include <string>
#include <utility>

namespace authevents::bus {

/// How a BusPublisher picks the events it publishes.
struct PublisherOptions {
    /// Publish dispatches made while the dispatcher is disabled (set_enabled(false), e.g. in
    /// tests) too. Off by default: a disabled dispatcher publishes nothing, as it calls no
    /// handler.
    bool publish_when_disabled = false;
    /// Relay to wake after each append, so events leave without waiting a poll interval.
    OutboxRelay* relay = nullptr;
};

/// Counters of a BusPublisher (a snapshot; each counter read atomically).
struct PublisherStats {
    std::uint64_t appended = 0;     ///< Events written to the outbox.
    std::uint64_t unregistered = 0; ///< Events of a type the registry does not know (logged).
};

/// Observes an EventDispatcher and appends each dispatched event, encoded as a CloudEvent by
/// the registry, to the outbox before any local handler runs.
///
/// The append is durable when dispatch() moves on to the handlers (SQLite commit). If it
/// fails (e.g. disk full), the dispatcher logs the observer's exception at error
/// (`[EVENT] <name> observer failed: ...`) and dispatch goes on; the event is then not
/// published. To make the event and your own data commit or roll back together, write it
/// with SqliteOutbox::append_in inside your transaction instead (see docs/bus.md). An
/// event of a type the registry does not know is never
/// silently skipped: it is reported as an observer failure (logged at error) and counted.
///
/// Thread-safety: dispatches from any number of threads append concurrently (the outbox
/// serialises them). Disconnects from the dispatcher when destroyed; the dispatcher and the
/// outbox must outlive it.
class BusPublisher {
public:
    /// Starts publishing `dispatcher`'s events into `outbox`.
    BusPublisher(EventDispatcher& dispatcher, SqliteOutbox& outbox,
                 EventTypeRegistry registry = EventTypeRegistry{}, PublisherOptions options = {})
        : outbox_(outbox), registry_(std::move(registry)), options_(options),
          observer_(dispatcher.observers().connect(
              [this](const EventView& view) { on_dispatch(view); })) {}

    BusPublisher(const BusPublisher&) = delete;
    BusPublisher& operator=(const BusPublisher&) = delete;
    /// Stops publishing (waits for appends in progress on other threads).
    ~BusPublisher() = default;

    /// Appends `event` to the outbox directly, without dispatching it; returns its CloudEvent.
    /// @throws SqliteError when the append fails; CloudEventError when it cannot be encoded.
    template <class Event> CloudEvent publish(const Event& event) {
        CloudEvent cloud_event = registry_.encode(event);
        append(cloud_event);
        return cloud_event;
    }

    /// A snapshot of the counters. Thread-safe; noexcept.
    [[nodiscard]] PublisherStats stats() const noexcept {
        return PublisherStats{appended_.load(std::memory_order_relaxed),
                              unregistered_.load(std::memory_order_relaxed)};
    }

    /// The registry used to encode events.
    [[nodiscard]] const EventTypeRegistry& registry() const noexcept { return registry_; }

private:
    void on_dispatch(const EventView& view) {
        if (!view.enabled() && !options_.publish_when_disabled) {
            return;
        }
        std::optional<CloudEvent> cloud_event = registry_.encode(view);
        if (!cloud_event) {
            unregistered_.fetch_add(1, std::memory_order_relaxed);
            throw std::invalid_argument(
                fmt::format("bus publisher: event '{}' has no CloudEvent type: register it with "
                            "EventTypeRegistry::add<Event>()",
                            view.name()));
        }
        append(*cloud_event);
    }

    void append(const CloudEvent& event) {
        outbox_.append(event.id, event.type, to_json_text(event));
        appended_.fetch_add(1, std::memory_order_relaxed);
        if (options_.relay != nullptr) {
            options_.relay->notify();
        }
    }

    SqliteOutbox& outbox_;
    EventTypeRegistry registry_;
    PublisherOptions options_;
    std::atomic<std::uint64_t> appended_{0};
    std::atomic<std::uint64_t> unregistered_{0};
    ScopedConnection observer_; // last: disconnected first, before the members it uses
};

} // namespace authevents::bus
