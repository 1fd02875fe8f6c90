/// @file
/// SignalView: the type of EventDispatcher's named members (`dispatcher.user_registered`),
/// the connection side of one built-in event's signal. Its connect(), send() and send_from()
/// are defined in dispatcher.hpp, which includes this header (include that one to use it).
#pragma once

#include <authevents/dispatch_report.hpp>
#include <authevents/signal.hpp>

#include <cstddef>
#include <string_view>

namespace authevents {

class EventDispatcher;

/// A named member of EventDispatcher (e.g. `dispatcher.user_registered`): a view of one built-in
/// event's signal offering the connection side, like a sink. connect(), disconnect(), block()
/// and the queries act on the signal itself (signal() is the same object as
/// `dispatcher.signal<Event>()`); send() goes through the dispatcher, so it logs, obeys the
/// enable switch, counts, and reaches observers, recorders and the bus, exactly as
/// `dispatcher.dispatch(event)` does. Copyable (copies view the same signal), not assignable;
/// valid while its dispatcher lives. Every member is thread-safe, as the signal's are.
template <class Event> class SignalView {
public:
    /// The viewed signal type.
    using signal_type = Signal<const Event&>;
    /// What send() returns.
    using report_type = DispatchReport;

    SignalView(const SignalView&) noexcept = default;
    SignalView& operator=(const SignalView&) = delete;
    ~SignalView() = default;

    /// Connects `handler` (callable with one `const Event&`), as EventDispatcher::connect does.
    /// @throws what Signal::connect throws.
    template <class F> Connection connect(F&& handler, ConnectOptions options = {}) const;

    /// Disconnects the handler connected with `dispatch_uid` and `sender`; true if one was.
    bool disconnect(std::string_view dispatch_uid, SenderId sender = SenderId::any()) const {
        return signal_->disconnect(dispatch_uid, sender);
    }
    /// Disconnects the plain function `function` connected for `sender`; true if it was.
    template <class R, class... P>
    bool disconnect(R (*function)(P...), SenderId sender = SenderId::any()) const {
        return signal_->disconnect(function, sender);
    }
    /// Disconnects every handler of this event.
    void disconnect_all() const { signal_->disconnect_all(); }

    /// Dispatches `event` through the dispatcher (EventDispatcher::dispatch(event)): logged,
    /// counted, shown to observers, and handlers called only while enabled. Never throws a
    /// handler's exception. @throws std::bad_alloc only.
    DispatchReport send(const Event& event) const;
    /// Dispatches `event` from `sender` through the dispatcher (dispatch(event, sender)).
    DispatchReport send_from(SenderId sender, const Event& event) const;

    /// True when a dispatch from `sender` would call a handler (while enabled).
    [[nodiscard]] bool has_listeners(SenderId sender = SenderId::any()) const {
        return signal_->has_listeners(sender);
    }
    /// Connected handlers of this event, any sender.
    [[nodiscard]] std::size_t size() const { return signal_->size(); }
    /// Blocks every handler of this event (they stay connected).
    void block() const noexcept { signal_->block(); }
    /// Undoes block().
    void unblock() const noexcept { signal_->unblock(); }
    /// True while blocked.
    [[nodiscard]] bool blocked() const noexcept { return signal_->blocked(); }

    /// The viewed signal: the same object as `dispatcher.signal<Event>()`. Its own send()
    /// bypasses the dispatcher (no log line, switch, counters or observers).
    [[nodiscard]] signal_type& signal() const noexcept { return *signal_; }

private:
    friend class EventDispatcher;
    SignalView(EventDispatcher& dispatcher, signal_type& signal) noexcept
        : dispatcher_(&dispatcher), signal_(&signal) {}

    EventDispatcher* dispatcher_;
    signal_type* signal_;
};

} // namespace authevents
