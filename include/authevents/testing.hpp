/// @file
/// Test helpers: testing::EventRecorder (what did the service dispatch?) and
/// testing::SignalsDisabled (Django's `SIGNALS_ENABLED=False` for one scope).
#pragma once

#include <authevents/dispatcher.hpp>

#include <any>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace authevents::testing {

/// Records every event dispatched through a dispatcher while the recorder lives: built-in
/// and custom events, whether or not a handler is connected, and also while the dispatcher
/// is disabled (the recorder observes what the service dispatched, not what handlers ran;
/// combine it with SignalsDisabled to check dispatches without side effects).
///
/// It observes through EventDispatcher::observers(), so it sees a dispatch before any
/// handler runs; re-entrant dispatches from handlers are recorded after the event that
/// triggered them. Blocking the observer signal pauses it.
///
/// Thread-safe: dispatches from several threads are recorded in the order their
/// observers ran, and the queries may be called concurrently with them. Its destructor
/// waits for recordings running on other threads. Non-copyable, non-movable. Queries throw
/// only std::bad_alloc (and what copying an event throws).
class EventRecorder {
public:
    /// Starts recording dispatches through `dispatcher`, which must outlive the recorder.
    /// @throws std::bad_alloc.
    explicit EventRecorder(EventDispatcher& dispatcher)
        : connection_(
              dispatcher.observers().connect([this](const EventView& event) { record(event); })) {}

    EventRecorder(const EventRecorder&) = delete;
    EventRecorder& operator=(const EventRecorder&) = delete;
    EventRecorder(EventRecorder&&) = delete;
    EventRecorder& operator=(EventRecorder&&) = delete;
    /// Stops recording, waiting for recordings in progress on other threads.
    ~EventRecorder() = default;

    /// Copies of the recorded `Event`s, in dispatch order.
    template <class Event> [[nodiscard]] std::vector<Event> events() const {
        static_assert(std::is_copy_constructible_v<Event>,
                      "authevents::testing::EventRecorder::events<Event>: Event must be "
                      "copyable; use count<Event>() for a non-copyable event");
        std::vector<Event> result;
        std::lock_guard<std::mutex> lock(mutex_);
        for (const Entry& entry : entries_) {
            if (entry.type_key == EventView::key_of<Event>()) {
                result.push_back(*std::any_cast<Event>(&entry.event));
            }
        }
        return result;
    }

    /// A copy of the last recorded `Event`, or std::nullopt if none was recorded.
    template <class Event> [[nodiscard]] std::optional<Event> last() const {
        static_assert(std::is_copy_constructible_v<Event>,
                      "authevents::testing::EventRecorder::last<Event>: Event must be copyable");
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
            if (it->type_key == EventView::key_of<Event>()) {
                return *std::any_cast<Event>(&it->event);
            }
        }
        return std::nullopt;
    }

    /// How many `Event`s were recorded.
    template <class Event> [[nodiscard]] std::size_t count() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::size_t n = 0;
        for (const Entry& entry : entries_) {
            n += entry.type_key == EventView::key_of<Event>() ? 1U : 0U;
        }
        return n;
    }

    /// How many recorded events have this `name` (built-in or custom).
    [[nodiscard]] std::size_t count(std::string_view name) const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::size_t n = 0;
        for (const Entry& entry : entries_) {
            n += entry.name == name ? 1U : 0U;
        }
        return n;
    }

    /// The names of all recorded events, in dispatch order.
    [[nodiscard]] std::vector<std::string> names() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<std::string> result;
        result.reserve(entries_.size());
        for (const Entry& entry : entries_) {
            result.push_back(entry.name);
        }
        return result;
    }

    /// The number of recorded events, all types.
    [[nodiscard]] std::size_t size() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return entries_.size();
    }

    /// True when nothing was recorded (or since clear()).
    [[nodiscard]] bool empty() const { return size() == 0; }

    /// Forgets everything recorded so far; recording goes on.
    void clear() {
        std::lock_guard<std::mutex> lock(mutex_);
        entries_.clear();
    }

private:
    struct Entry {
        std::string name;
        const void* type_key;
        std::any event; // empty for a non-copyable event type
    };

    void record(const EventView& event) {
        Entry entry{std::string(event.name()), event.type_key(), event.copy()};
        std::lock_guard<std::mutex> lock(mutex_);
        entries_.push_back(std::move(entry));
    }

    mutable std::mutex mutex_;
    std::vector<Entry> entries_;
    ScopedConnection connection_; // last: disconnected (and waited for) first
};

/// Disables a dispatcher for its own lifetime (Django's `SIGNALS_ENABLED=False`): handlers
/// are not called, dispatches still log and are still seen by observers such as
/// EventRecorder. The destructor restores the state found at construction, so nested
/// scopes work. The flag is the dispatcher's: other threads dispatching meanwhile are
/// affected too, and two scopes on different threads must still end in reverse order of
/// their start. Non-copyable, non-movable; nothing throws.
class SignalsDisabled {
public:
    /// Remembers whether `dispatcher` is enabled, then disables it. `dispatcher` must outlive
    /// this object.
    explicit SignalsDisabled(EventDispatcher& dispatcher) noexcept
        : dispatcher_(dispatcher), previous_(dispatcher.enabled()) {
        dispatcher_.set_enabled(false);
    }
    SignalsDisabled(const SignalsDisabled&) = delete;
    SignalsDisabled& operator=(const SignalsDisabled&) = delete;
    SignalsDisabled(SignalsDisabled&&) = delete;
    SignalsDisabled& operator=(SignalsDisabled&&) = delete;
    /// Restores the state found at construction.
    ~SignalsDisabled() { dispatcher_.set_enabled(previous_); }

private:
    EventDispatcher& dispatcher_;
    bool previous_;
};

} // namespace authevents::testing
