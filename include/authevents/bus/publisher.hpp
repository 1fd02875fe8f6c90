/// @file
/// BusPublisher: puts every event an EventDispatcher dispatches into the SQLite outbox, as a
/// CloudEvent, so an OutboxRelay carries it to Redis. Services keep calling dispatch_*().
#pragma once

#include <authevents/bus/envelope.hpp>
#include <authevents/bus/outbox.hpp>
#include <authevents/bus/registry.hpp>
#include <authevents/bus/relay.hpp>
#include <authevents/bus/signing.hpp>
#include <authevents/dispatch_report.hpp>
#include <authevents/dispatcher.hpp>
#include <authevents/event_view.hpp>
#include <authevents/logging.hpp>
#include <authevents/signal.hpp>

#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace authevents::bus {

/// What a dispatch does when the outbox append of its event fails (see BusPublisher).
enum class AppendFailure {
    /// The dispatch goes on (local handlers run) and its DispatchReport lists a PublishError
    /// in observer_failures (see BusPublisher::publish_failed()).
    report,
    /// The dispatch throws DispatchAborted before any local handler runs.
    abort_dispatch,
};

/// How a BusPublisher picks the events it publishes.
struct PublisherOptions {
    /// Publish dispatches made while the dispatcher is disabled (set_enabled(false), e.g. in
    /// tests) too. Off by default: a disabled dispatcher publishes nothing, as it calls no
    /// handler.
    bool publish_when_disabled = false;
    /// Relay to wake after each append, so events leave without waiting a poll interval.
    OutboxRelay* relay = nullptr;
    /// When the outbox append fails (SQLITE_BUSY past OutboxOptions::busy_timeout, disk
    /// full, ...): report it in the DispatchReport (default) or fail the dispatch.
    AppendFailure on_append_failure = AppendFailure::report;
    /// Sign each event with this key (HMAC-SHA256, bus/signing.hpp): the outbox then holds
    /// to_signed_json_text(event, key). None (default): events are not signed. To rotate,
    /// restart with the new key once every consumer accepts it (docs/security.md).
    std::optional<SigningKey> signing_key = std::nullopt;
};

/// Counters of a BusPublisher (a snapshot; each counter read atomically).
struct PublisherStats {
    std::uint64_t appended = 0; ///< Events written to the outbox.
    /// Events with neither a registered type nor a description (not published; logged).
    std::uint64_t unregistered = 0;
    /// Events that could not be encoded: a value their description rejects, or a type string
    /// registered for another event type (not published; logged).
    std::uint64_t encode_failures = 0;
    std::uint64_t append_failures = 0; ///< Dispatched events the outbox append failed for
                                       ///< (logged at error, reported or thrown; not published).
};

/// A dispatched event could not be appended to the outbox, so it is not published. what()
/// names the event, its CloudEvent id and the cause; cause() is the original exception (e.g.
/// SqliteError). Found in DispatchReport::observer_failures (AppendFailure::report).
class PublishError : public std::runtime_error {
public:
    /// `message` (complete) and the exception that made the append fail.
    PublishError(const std::string& message, std::exception_ptr cause)
        : std::runtime_error(message), cause_(std::move(cause)) {}
    /// The exception the append threw.
    [[nodiscard]] const std::exception_ptr& cause() const noexcept { return cause_; }

private:
    std::exception_ptr cause_;
};

/// The dispatch was stopped because the outbox append of its event failed
/// (AppendFailure::abort_dispatch); no local handler ran and the event is not published.
class PublishAborted : public DispatchAborted {
public:
    /// `message` (complete) and the exception that made the append fail.
    PublishAborted(const std::string& message, std::exception_ptr cause)
        : DispatchAborted(message), cause_(std::move(cause)) {}
    /// The exception the append threw.
    [[nodiscard]] const std::exception_ptr& cause() const noexcept { return cause_; }

private:
    std::exception_ptr cause_;
};

/// Observes an EventDispatcher and appends each dispatched event, encoded as a CloudEvent by
/// the registry, to the outbox before any local handler runs.
///
/// The append is durable when dispatch() moves on to the handlers (SQLite commit). If it
/// fails (SQLITE_BUSY past the busy timeout, disk full, ...), the event is not published;
/// this is never silent: it is counted (stats().append_failures), logged at error by the
/// dispatcher (`[EVENT] <name> observer failed: bus publisher: ...`) and, by
/// PublisherOptions::on_append_failure, either listed as a PublishError in the
/// DispatchReport's observer_failures while the handlers still run (check it with
/// publish_failed()), or thrown as PublishAborted (a DispatchAborted) from dispatch() before
/// any handler runs. To make the event and your own data commit or roll back together, write
/// it with SqliteOutbox::append_in inside your transaction instead (see docs/bus.md).
///
/// Which events it encodes: those the registry knows with their EventCodec, and any other
/// event with a description, from the description (EventTypeRegistry::encode(const
/// EventView&)): a custom described event needs no registration here. An event with neither,
/// or one that cannot be encoded, is never silently skipped: it is reported as an observer
/// failure (logged at error) and counted.
///
/// Thread-safety: dispatches from any number of threads append concurrently (the outbox
/// serialises them). Disconnects from the dispatcher when destroyed; the dispatcher and the
/// outbox must outlive it.
class BusPublisher {
public:
    /// Starts publishing `dispatcher`'s events into `outbox`.
    BusPublisher(EventDispatcher& dispatcher, SqliteOutbox& outbox,
                 EventTypeRegistry registry = EventTypeRegistry{}, PublisherOptions options = {})
        : outbox_(outbox), registry_(std::move(registry)), options_(std::move(options)),
          observer_(dispatcher.observers().connect(
              [this](const EventView& view) { on_dispatch(view); })) {}

    BusPublisher(const BusPublisher&) = delete;
    BusPublisher& operator=(const BusPublisher&) = delete;
    /// Stops publishing (waits for appends in progress on other threads).
    ~BusPublisher() = default;

    /// Appends `event` to the outbox directly, without dispatching it (signed when
    /// PublisherOptions::signing_key is set); returns its CloudEvent.
    /// @throws CloudEventError when the event cannot be encoded.
    /// @throws SqliteError when the append to a SqliteOutbox fails.
    /// @throws PostgresError when the append to a PostgresOutbox fails.
    template <class Event> CloudEvent publish(const Event& event) {
        CloudEvent cloud_event = registry_.encode(event);
        append(cloud_event);
        return cloud_event;
    }

    /// A snapshot of the counters. Thread-safe; noexcept.
    [[nodiscard]] PublisherStats stats() const noexcept {
        return PublisherStats{appended_.load(std::memory_order_relaxed),
                              unregistered_.load(std::memory_order_relaxed),
                              encode_failures_.load(std::memory_order_relaxed),
                              append_failures_.load(std::memory_order_relaxed)};
    }

    /// True when `report` (of a dispatch this or another BusPublisher observed) lists a
    /// failed outbox append: the event was dispatched locally but not published. Thread-safe.
    [[nodiscard]] static bool publish_failed(const DispatchReport& report) noexcept {
        for (const SlotError& failure : report.observer_failures) {
            try {
                if (failure.error) {
                    std::rethrow_exception(failure.error);
                }
            } catch (const PublishError&) {
                return true;
            } catch (...) {
                // Another observer's failure.
            }
        }
        return false;
    }

    /// The registry used to encode events.
    [[nodiscard]] const EventTypeRegistry& registry() const noexcept { return registry_; }

private:
    void on_dispatch(const EventView& view) {
        if (!view.enabled() && !options_.publish_when_disabled) {
            return;
        }
        std::optional<CloudEvent> cloud_event;
        try {
            cloud_event = registry_.encode(view);
        } catch (...) {
            encode_failures_.fetch_add(1, std::memory_order_relaxed);
            throw;
        }
        if (!cloud_event) {
            unregistered_.fetch_add(1, std::memory_order_relaxed);
            throw std::invalid_argument(fmt::format(
                "bus publisher: event '{}' has no CloudEvent type: give it a description "
                "(`static constexpr auto fields = ...`, see describe.hpp) or specialise "
                "EventCodec and register it with EventTypeRegistry::add<Event>()",
                view.name()));
        }
        try {
            append(*cloud_event);
        } catch (...) {
            append_failures_.fetch_add(1, std::memory_order_relaxed);
            const std::string message = fmt::format(
                "bus publisher: event '{}' (id {}) was not appended to the outbox, "
                "so it is not published: {}",
                view.name(), cloud_event->id, detail::describe_exception(std::current_exception()));
            if (options_.on_append_failure == AppendFailure::abort_dispatch) {
                throw PublishAborted(message, std::current_exception());
            }
            throw PublishError(message, std::current_exception());
        }
    }

    void append(const CloudEvent& event) {
        outbox_.append(event.id, event.type,
                       options_.signing_key ? to_signed_json_text(event, *options_.signing_key)
                                            : to_json_text(event));
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
    std::atomic<std::uint64_t> encode_failures_{0};
    std::atomic<std::uint64_t> append_failures_{0};
    ScopedConnection observer_; // last: disconnected first, before the members it uses
};

} // namespace authevents::bus
