/// @file
/// EventDispatcher: the facade services dispatch authentication events through (Django's
/// `EventDispatcher`), with logging, an enable switch, custom events and counters.
///
/// Its log lines are built by format.hpp's writers (fmt at the level of `<fmt/core.h>` only),
/// the Logger is in logging.hpp. The types it shares with observers and the bus live in their
/// own headers: DispatchReport and EventStats (dispatch_report.hpp), EventView
/// (event_view.hpp), EventSender (event_traits.hpp), SignalView (signal_view.hpp); its storage
/// is in detail/dispatcher_channels.hpp.
#pragma once

#include <authevents/describe.hpp>
#include <authevents/detail/dispatcher_channels.hpp>
#include <authevents/detail/function.hpp>
#include <authevents/dispatch_report.hpp>
#include <authevents/event_traits.hpp>
#include <authevents/event_view.hpp>
#include <authevents/events.hpp>
#include <authevents/format.hpp>
#include <authevents/logging.hpp>
#include <authevents/redaction.hpp>
#include <authevents/signal.hpp>
#include <authevents/signal_view.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace authevents {

namespace detail {

/// The most bytes of text from a custom formatter or an exception that one log line shows.
inline constexpr std::size_t max_log_text_bytes = 1024;

/// True when `text` is `name` or starts with `name` followed by a space.
constexpr bool starts_with_word(std::string_view text, std::string_view name) noexcept {
    return text.substr(0, name.size()) == name &&
           (text.size() == name.size() || text[name.size()] == ' ');
}

} // namespace detail

/// The facade services dispatch authentication events through: one Signal per event type,
/// robust dispatch, one `[EVENT]` log line per dispatch, an enable switch, custom events and
/// per-event counters.
///
/// Thread-safety: every member may be called from any thread concurrently, also from inside
/// handlers (re-entrant dispatch works). Non-copyable and non-movable. It must outlive every
/// dispatch through it and every handler call (destroy it only when no thread dispatches, and
/// after the executors of its queued handlers have run their calls, e.g. ThreadPool::shutdown).
///
/// Queued handlers (ConnectOptions::executor) run later on their executor: a dispatch counts
/// them in handlers_called once queued; their failures are logged at error
/// (`[EVENT] <name> queued handler '<uid>' failed: <what>`) and counted in handler_failures.
///
/// Exceptions: dispatch never lets a handler's or observer's exception through (each is
/// logged and reported); it can only throw std::bad_alloc, or a DispatchAborted an observer
/// threw to stop the dispatch before the handlers. Logger exceptions are swallowed.
///
/// The named members, e.g. `dispatcher.user_registered`, are SignalView objects: the connection
/// side of signals the dispatcher owns (`user_registered.signal()` is the same object as
/// `signal<UserRegistered>()`); their send() dispatches. They and the Django-named entry
/// points `dispatch_<name>(fields...)` are inherited: each built-in event declares its pair
/// once, next to the event, as a DispatcherEntryPoints specialisation (events.hpp).
class EventDispatcher : private detail::BuiltinChannelStore,
                        public detail::BuiltinEntryPoints<BuiltinEvents, SignalView> {
public:
    /// An enabled dispatcher with no handlers, logging to stderr_logger() (warnings and errors
    /// only). @throws std::bad_alloc.
    ///
    /// A template (its parameter is never named) only so that its body, which sets up the
    /// twelve built-in signals, is compiled in the units that construct a dispatcher, not in
    /// every unit that includes this header (e.g. a service that takes one by reference).
    template <class Unused = void>
    EventDispatcher()
        : BuiltinEntryPoints([this](auto* event) { return this->make_view(event); }),
          logger_(std::make_shared<const Logger>(stderr_logger())) {
        std::apply(
            [this](auto&... ch) {
                (report_queued_failures(ch), ...);
                builtin_bases_ = {static_cast<detail::ChannelBase*>(&ch)...};
            },
            builtins_);
    }

    EventDispatcher(const EventDispatcher&) = delete;
    EventDispatcher& operator=(const EventDispatcher&) = delete;
    EventDispatcher(EventDispatcher&&) = delete;
    EventDispatcher& operator=(EventDispatcher&&) = delete;
    /// Disconnects every handler and observer. No dispatch may be running.
    ~EventDispatcher() = default;

    /// The signal of `Event`: the named member for a built-in event; for any other class with
    /// a static `name` (a custom event) a signal created on first use. The reference stays
    /// valid for the dispatcher's lifetime. Thread-safe.
    /// @throws std::bad_alloc on first use, if memory runs out.
    template <class Event> Signal<const Event&>& signal() {
        static_assert(detail::is_event_v<Event>,
                      "authevents::EventDispatcher: an event must be a class type with a static "
                      "member `name` convertible to std::string_view, e.g. "
                      "`static constexpr std::string_view name = \"user_password_changed\";`");
        if constexpr (detail::is_event_v<Event>) {
            return channel<Event>().signal;
        } else {
            return *static_cast<Signal<const Event&>*>(nullptr); // unreachable: rejected above
        }
    }

    /// Connects `handler` to `Event`'s signal with `options` (uid, sender, priority, track).
    /// The handler is called with one `const Event&` argument; its return value is ignored.
    /// Thread-safe.
    /// @throws std::invalid_argument for a null function pointer or empty std::function.
    /// @throws std::bad_alloc if memory runs out.
    template <class Event, class F> Connection connect(F&& handler, ConnectOptions options = {}) {
        static_assert(detail::is_event_v<Event>,
                      "authevents::EventDispatcher::connect<Event>: Event must be a class type "
                      "with a static member `name` convertible to std::string_view");
        static_assert(std::is_invocable_v<std::decay_t<F>&, const Event&>,
                      "authevents::EventDispatcher::connect<Event>: a handler must be callable "
                      "with one `const Event&` argument, e.g. "
                      "`[](const authevents::UserRegistered& event) { ... }`. Take the event by "
                      "const reference (or by value), not by non-const or rvalue reference, and "
                      "take no other parameter: the sender goes in ConnectOptions::sender.");
        if constexpr (detail::is_event_v<Event> &&
                      std::is_invocable_v<std::decay_t<F>&, const Event&>) {
            return signal<Event>().connect(std::forward<F>(handler), std::move(options));
        } else {
            return Connection();
        }
    }

    /// Dispatches `event` from its default sender (EventSender<Event>): see the overload
    /// taking a sender.
    template <class Event> AUTHEVENTS_DETAIL_INLINE DispatchReport dispatch(const Event& event) {
        return dispatch(event, EventSender<Event>::get(event));
    }

    /// Dispatches `event` from `sender`: logs one info line `[EVENT] <name> <key fields>`,
    /// shows the event to every observer, then, if enabled, calls every handler connected for
    /// any sender or for `sender`, in order, on this thread (send_robust semantics).
    ///
    /// A handler that throws is logged at error (event name, the handler's dispatch_uid if it
    /// has one, what() or a note that it is not a std::exception), counted and reported; the
    /// other handlers still run and nothing is rethrown. Disabled, no handler is called, the
    /// report is empty, and the info line ends with `(handlers disabled)`.
    ///
    /// Observers that throw are logged at error and listed in the report's
    /// observer_failures; if one threw a DispatchAborted, dispatch rethrows it once every
    /// observer has run, before any handler runs (nothing counted as dispatched).
    ///
    /// Inline, it builds the empty report in place (its observer_failures is one pointer) and
    /// reads a flag word and the signal's snapshot. On the common path (enabled, a logger that
    /// drops info lines and says so, observers() never called) a dispatch without handlers is
    /// completed by a per-thread count (one thread-local load, a compare, a load and a store:
    /// no call), and one with handlers runs them inline (run_handlers(), the robust loop a
    /// send_robust() runs, filling the report). Otherwise run_dispatch(), one out-of-line
    /// function per event type, writes the log line, shows the observers, then runs the
    /// handlers unless disabled. No locked instruction on any path; a failing handler is out
    /// of line too. (A custom event's channel is looked up first, in one more out-of-line
    /// function.)
    ///
    /// Thread-safe and re-entrant.
    /// @throws DispatchAborted the first one an observer threw, if any.
    /// @throws std::bad_alloc if memory runs out.
    template <class Event>
    AUTHEVENTS_DETAIL_INLINE DispatchReport dispatch(const Event& event, SenderId sender) {
        static_assert(detail::is_event_v<Event>,
                      "authevents::EventDispatcher::dispatch: an event must be a class type with "
                      "a static member `name` convertible to std::string_view");
        if constexpr (detail::is_builtin_event_v<Event>) {
            return dispatch_on(channel<Event>(), event, sender); // a built-in one: std::get
        } else if constexpr (detail::is_event_v<Event>) {
            return dispatch_custom(event, sender);
        } else {
            return DispatchReport{};
        }
    }

private:
    /// dispatch() on the channel of `event`'s type: the inline count of a dispatch without
    /// handlers, run_handlers(), or run_dispatch(). The report is built here, in the caller's
    /// return slot, and filled in place.
    template <class Event>
    AUTHEVENTS_DETAIL_INLINE DispatchReport dispatch_on(detail::Channel<Event>& ch,
                                                        const Event& event, SenderId sender) {
        DispatchReport report; // the one object every path returns: built in place (NRVO)
        const std::uint32_t flags = flags_.load(std::memory_order_relaxed);
        if (AUTHEVENTS_DETAIL_LIKELY(flags == 0)) {
            const auto seen = Emission<Event>::peek(ch.signal); // loaded once for both paths
            if (seen == nullptr) {
                ch.counters.add(detail::ChannelCounters::dispatched); // inline: no call
            } else {
                run_handlers(report, ch, event, sender, seen);
            }
        } else {
            run_dispatch(report, ch, event, sender, flags);
        }
        return report;
    }

    /// dispatch() of a custom event: finds (or makes) its channel first.
    template <class Event>
    AUTHEVENTS_DETAIL_NOINLINE DispatchReport dispatch_custom(const Event& event, SenderId sender) {
        return dispatch_on(channel<Event>(), event, sender);
    }

    /// dispatch() once `flags` (flags_ as it read them) is not zero: announces the event (log
    /// line, observers) and, unless disabled, runs the handlers into `report` (empty when
    /// called). Out of line: one function per event type.
    template <class Event>
    AUTHEVENTS_DETAIL_NOINLINE void run_dispatch(DispatchReport& report, detail::Channel<Event>& ch,
                                                 const Event& event, SenderId sender,
                                                 std::uint32_t flags) {
        if (announce(ch, event, sender, flags, report)) {
            run_handlers(report, ch, event, sender, Emission<Event>::peek(ch.signal));
        }
    }

    /// The handlers' emission of an Event's signal, inlined into dispatch().
    template <class Event> using Emission = detail::InlineRobustSend<const Event&>;

    /// Calls the handlers of `ch` for `event` (send_robust semantics) and fills `report`
    /// (empty when called) and the counters; `seen` is the signal's snapshot as the caller
    /// loaded it (Emission::peek(), nullptr: no handler). Inline: on the common path (no flag
    /// set) it is part of the caller, as a send's loop is, so a dispatch pays no call of its own
    /// and no saved registers per dispatch; a failing handler, the log line and the observers
    /// stay out of line.
    template <class Event>
    AUTHEVENTS_DETAIL_INLINE void run_handlers(DispatchReport& report, detail::Channel<Event>& ch,
                                               const Event& event, SenderId sender,
                                               typename Emission<Event>::Seen seen) {
        HandlerFailed<Event> failed{this, &report};
        const std::size_t called = Emission<Event>::run(ch.signal, seen, sender, failed, event);
        report.handlers_called = called;
        ch.counters.add(detail::ChannelCounters::dispatched, 1,
                        detail::ChannelCounters::handlers_called, called);
    }

    /// Why a dispatch cannot take its common path: bits of flags_, each kept up to date by
    /// the setter of what it stands for (set_enabled(), set_logger(), observers()).
    enum DispatchFlag : std::uint32_t {
        handlers_disabled = 1, ///< set_enabled(false)
        logs_info = 2,         ///< the logger wants info lines: each dispatch logs one
        observed = 4,          ///< observers() was called: observers may be connected
    };

    /// The part of dispatch() before the handlers when `flags` (flags_ as the dispatch read
    /// it) is not zero: logs the `[EVENT]` line, shows the event to the observers, and, when
    /// handlers are disabled, counts the dispatch as suppressed and returns false.
    /// @throws DispatchAborted as notify_observers().
    template <class Event>
    AUTHEVENTS_DETAIL_NOINLINE bool announce(detail::Channel<Event>& ch, const Event& event,
                                             SenderId sender, std::uint32_t flags,
                                             DispatchReport& report) {
        const bool on = (flags & handlers_disabled) == 0;
        if ((flags & logs_info) != 0) {
            log_event(event, on);
        }
        if ((flags & observed) != 0) {
            notify_observers(event, sender, on, report);
        }
        if (!on) {
            ch.counters.add(detail::ChannelCounters::suppressed);
        }
        return on;
    }

    /// Receives a dispatch's failing handlers: finds the channel again (the same object) on
    /// that rare path, so that it is two pointers, which the emission copies (see
    /// Signal::emit_robust_inline()) and the common path never stores.
    template <class Event> struct HandlerFailed {
        EventDispatcher* dispatcher;
        DispatchReport* report;

        void operator()(SlotError&& failure) const {
            dispatcher->handler_failed(dispatcher->template channel<Event>(), std::move(failure),
                                       *report);
        }
    };

    /// A handler's failure in dispatch(): counted, logged at error and reported.
    template <class Event>
    void handler_failed(detail::Channel<Event>& ch, SlotError&& failure,
                        DispatchReport& report) const {
        ch.counters.add(detail::ChannelCounters::handler_failures);
        log_failure(Event::name, "handler", failure);
        report.failures.push_back(std::move(failure));
    }

public:
    /// The observer signal: every dispatch, of every event type, enabled or not, shows the
    /// event to its slots as an EventView before any handler runs (sent from the dispatch's
    /// sender, so ConnectOptions::sender filters as for handlers). For recorders (see
    /// testing::EventRecorder), audit trails and bridges. An observer's exception is logged
    /// at error and listed in the report's observer_failures (a DispatchAborted also stops
    /// the dispatch, see dispatch()); observers are not handlers (not counted as handlers).
    /// Thread-safe.
    /// (The first call makes every later dispatch look for observers: one call out of line,
    /// and two loads, per dispatch.)
    [[nodiscard]] Signal<const EventView&>& observers() noexcept {
        if ((flags_.load(std::memory_order_relaxed) & observed) == 0) {
            flags_.fetch_or(observed, std::memory_order_seq_cst);
        }
        return observers_;
    }

    /// Replaces the logger; an empty Logger silences the dispatcher. The logger receives the
    /// lines at `min_level` and above; lines below it are never formatted (with `warning`,
    /// a dispatch that no handler fails formats nothing). Declare the level your logger keeps:
    /// a logger that drops info lines itself still makes every dispatch format its `[EVENT]`
    /// line. Takes effect for log lines that start after it returns. Thread-safe.
    /// @throws std::bad_alloc only.
    void set_logger(Logger logger, LogLevel min_level = LogLevel::debug) {
        auto next = logger ? std::make_shared<const Logger>(std::move(logger)) : nullptr;
        std::lock_guard<std::mutex> lock(logger_mutex_);
        logger_min_level_.store(next ? min_level : silent, std::memory_order_relaxed);
        if (next && min_level <= LogLevel::info) {
            flags_.fetch_or(logs_info, std::memory_order_seq_cst);
        } else {
            flags_.fetch_and(~std::uint32_t{logs_info}, std::memory_order_seq_cst);
        }
        logger_ = std::move(next);
    }

    /// The lowest level the current logger receives (above LogLevel::error when there is no
    /// logger). Thread-safe.
    [[nodiscard]] LogLevel log_level() const noexcept {
        return logger_min_level_.load(std::memory_order_relaxed);
    }

    /// Sets how the `[EVENT]` info line shows personal data: each field is shown as
    /// `redact(value, kind, policy)` gives it for the FieldKind its event's description declares
    /// (e-mail local parts masked, IP addresses truncated or dropped, free text kept or left
    /// out); the line of a custom event without a description, and the text of a failing
    /// handler's or observer's exception, go through `redact_text`. The default is
    /// `RedactionPolicy{}` (the OWASP-minded default of redaction.hpp);
    /// `set_redaction(RedactionPolicy::none())` logs values verbatim (still escaped and capped).
    /// Takes effect for lines built after it returns. Thread-safe, noexcept.
    void set_redaction(const RedactionPolicy& policy) noexcept {
        std::lock_guard<std::mutex> lock(redaction_mutex_);
        redaction_ = policy;
    }

    /// The policy of the `[EVENT]` line (see set_redaction()). Thread-safe, noexcept.
    [[nodiscard]] RedactionPolicy redaction() const noexcept {
        std::lock_guard<std::mutex> lock(redaction_mutex_);
        return redaction_;
    }

    /// Enables or disables handler calls (Django's SIGNALS_ENABLED). Disabled, dispatches
    /// still log and reach observers but call no handler. Thread-safe; takes effect for
    /// dispatches that start after it returns.
    void set_enabled(bool enabled) noexcept {
        if (enabled) {
            flags_.fetch_and(~std::uint32_t{handlers_disabled}, std::memory_order_seq_cst);
        } else {
            flags_.fetch_or(handlers_disabled, std::memory_order_seq_cst);
        }
    }

    /// Whether handlers are called (true for a new dispatcher). Thread-safe.
    [[nodiscard]] bool enabled() const noexcept {
        return (flags_.load(std::memory_order_seq_cst) & handlers_disabled) == 0;
    }

    /// A snapshot of `Event`'s counters (all zero for a custom event never used). Each counter
    /// is the sum of per-thread counts (dispatching never writes memory shared between
    /// threads); the snapshot as a whole is not atomic. Thread-safe, noexcept.
    template <class Event> [[nodiscard]] EventStats stats() const noexcept {
        static_assert(detail::is_event_v<Event>,
                      "authevents::EventDispatcher::stats<Event>: not an event type");
        if (const detail::ChannelBase* ch = find_channel<Event>()) {
            return ch->counters.snapshot();
        }
        EventStats unused;
        unused.name = Event::name;
        return unused;
    }

    /// Snapshots of every event type's counters: the twelve built-in events in table order,
    /// then custom events in order of first use. Thread-safe.
    /// @throws std::bad_alloc if memory runs out.
    [[nodiscard]] std::vector<EventStats> all_stats() const {
        std::vector<EventStats> result;
        result.reserve(builtin_bases_.size());
        for (const detail::ChannelBase* ch : builtin_bases_) {
            result.push_back(ch->counters.snapshot());
        }
        std::shared_lock<std::shared_mutex> lock(custom_mutex_);
        for (const detail::ChannelBase* ch : custom_order_) {
            result.push_back(ch->counters.snapshot());
        }
        return result;
    }

    /// Sets every counter of every event type to zero. Thread-safe.
    void reset_stats() noexcept {
        for (detail::ChannelBase* ch : builtin_bases_) {
            ch->counters.reset();
        }
        std::shared_lock<std::shared_mutex> lock(custom_mutex_);
        for (detail::ChannelBase* ch : custom_order_) {
            ch->counters.reset();
        }
    }

private:
    /// The named view of built-in `Event`'s signal (makes the named members). Only stores
    /// addresses: it runs before the dispatcher's own members exist.
    template <class Event> SignalView<Event> make_view(Event* /*tag*/) noexcept {
        return SignalView<Event>(*this, std::get<detail::Channel<Event>>(builtins_).signal);
    }

    template <class Event> detail::Channel<Event>& channel() {
        if constexpr (detail::is_builtin_event_v<Event>) {
            return std::get<detail::Channel<Event>>(builtins_);
        } else {
            const void* key = detail::event_type_key<Event>();
            {
                std::shared_lock<std::shared_mutex> lock(custom_mutex_);
                if (detail::ChannelBase* found = find_custom(key)) {
                    return static_cast<detail::Channel<Event>&>(*found);
                }
            }
            std::unique_lock<std::shared_mutex> lock(custom_mutex_);
            if (detail::ChannelBase* found = find_custom(key)) {
                return static_cast<detail::Channel<Event>&>(*found);
            }
            custom_order_.reserve(custom_order_.size() + 1);
            auto created = std::make_unique<detail::Channel<Event>>();
            report_queued_failures(*created);
            auto& made = *created;
            custom_.insert(custom_position(key), CustomChannel{key, std::move(created)});
            custom_order_.push_back(&made);
            return made;
        }
    }

    template <class Event> const detail::ChannelBase* find_channel() const noexcept {
        if constexpr (detail::is_builtin_event_v<Event>) {
            return &std::get<detail::Channel<Event>>(builtins_);
        } else {
            std::shared_lock<std::shared_mutex> lock(custom_mutex_);
            return find_custom(detail::event_type_key<Event>());
        }
    }

    /// The current logger, if it wants lines at `level`. Lines nobody wants cost one load.
    std::shared_ptr<const Logger> logger_for(LogLevel level) const noexcept {
        if (level < logger_min_level_.load(std::memory_order_relaxed)) {
            return nullptr;
        }
        std::lock_guard<std::mutex> lock(logger_mutex_);
        return level >= logger_min_level_.load(std::memory_order_relaxed) ? logger_ : nullptr;
    }

    /// Reports a failure of one channel's queued handler: counts it and logs it at error. One
    /// type for every event, so that the twelve built-in channels instantiate one
    /// std::function target, not twelve.
    struct QueuedFailureReporter {
        const EventDispatcher* dispatcher;
        detail::ChannelBase* channel;

        void operator()(const SlotError& failure) const {
            channel->counters.add(detail::ChannelCounters::handler_failures);
            dispatcher->log_failure(channel->counters.name, "queued handler", failure);
        }
    };

    /// Routes failures of `ch`'s queued handlers (connected with an executor), which no
    /// dispatch can report, to the error log and the counters. Runs on the executor's thread:
    /// hence the rule that the dispatcher outlives its queued handlers' calls.
    template <class Event> void report_queued_failures(detail::Channel<Event>& ch) {
        ch.signal.set_queued_error_handler(QueuedFailureReporter{this, &ch});
    }

    /// Builds a line with `make_line()` and passes it to the logger; swallows exceptions.
    template <class MakeLine> void log(LogLevel level, MakeLine&& make_line) const noexcept {
        if (auto logger = logger_for(level)) {
            try {
                const std::string line = make_line();
                (*logger)(level, line);
            } catch (...) {
                // A failing logger (or formatting) has nowhere to report to.
            }
        }
    }

    template <class Event> void log_event(const Event& event, bool handlers_enabled) const {
        log(LogLevel::info, [&] {
            const RedactionPolicy policy = redaction();
            std::string line = "[EVENT] ";
            const auto put = [&line](std::string_view text) { line.append(text); };
            if constexpr (is_described_v<Event>) {
                detail::write_event_fields(line, event, &policy);
            } else if constexpr (fmt::is_formattable<Event>::value) {
                const std::string text = fmt::format("{}", event);
                if (!detail::starts_with_word(text, Event::name)) {
                    put(Event::name);
                    put(text.empty() ? "" : " ");
                }
                put(redact_text(text, policy, detail::max_log_text_bytes));
            } else {
                put(Event::name);
            }
            if (!handlers_enabled) {
                put(" (handlers disabled)");
            }
            return line;
        });
    }

    void log_failure(std::string_view event_name, std::string_view role,
                     const SlotError& failure) const {
        log(LogLevel::error, [&] {
            const std::string& uid = failure.connection.dispatch_uid();
            std::string line = "[EVENT] ";
            line.append(event_name).append(" ").append(role);
            if (!uid.empty()) {
                line.append(" '").append(uid).append("'");
            }
            line.append(" failed: ");
            line.append(redact_text(detail::describe_exception(failure.error), redaction(),
                                    detail::max_log_text_bytes));
            return line;
        });
    }

    /// Shows the event to the observers; their failures go to the log and the report.
    /// @throws DispatchAborted the first one an observer threw, if any, rethrown once every
    /// observer has run.
    template <class Event>
    void notify_observers(const Event& event, SenderId sender, bool handlers_enabled,
                          DispatchReport& report) {
        if (!detail::has_slots(observers_)) {
            return; // no observer: the view is not even built
        }
        const EventView view(event, sender, handlers_enabled);
        std::exception_ptr abort;
        observers_.send_robust_each(
            sender,
            [&](SlotError&& failure) {
                log_failure(Event::name, "observer", failure);
                if (!abort && detail::is_dispatch_aborted(failure.error)) {
                    abort = failure.error;
                }
                report.observer_failures.push_back(std::move(failure));
            },
            view);
        if (abort) {
            std::rethrow_exception(abort);
        }
    }

    /// The built-in channels in table order, as their common base (set by the constructor).
    std::array<detail::ChannelBase*, std::tuple_size_v<BuiltinEvents>> builtin_bases_{};

    mutable std::shared_mutex custom_mutex_;
    /// A custom event's channel, under its type key.
    struct CustomChannel {
        const void* key;
        std::unique_ptr<detail::ChannelBase> channel;
    };

    /// Where `key` is or belongs in custom_; the caller holds custom_mutex_.
    std::vector<CustomChannel>::const_iterator custom_position(const void* key) const noexcept {
        return std::lower_bound(custom_.begin(), custom_.end(), key,
                                [](const CustomChannel& each, const void* wanted) {
                                    return std::less<const void*>()(each.key, wanted);
                                });
    }

    /// The channel of the custom event with type key `key`, or null; the caller holds
    /// custom_mutex_.
    detail::ChannelBase* find_custom(const void* key) const noexcept {
        const auto at = custom_position(key);
        return at != custom_.end() && at->key == key ? at->channel.get() : nullptr;
    }

    std::vector<CustomChannel> custom_; // sorted by key (few: a map would cost every includer)
    std::vector<detail::ChannelBase*> custom_order_;

    mutable std::mutex logger_mutex_;
    std::shared_ptr<const Logger> logger_;
    static constexpr auto silent = static_cast<LogLevel>(static_cast<int>(LogLevel::error) + 1);
    std::atomic<LogLevel> logger_min_level_{LogLevel::warning}; // the default drops info lines

    mutable std::mutex redaction_mutex_;
    RedactionPolicy redaction_{}; // the OWASP-minded default

    /// DispatchFlag bits; zero (enabled, info lines dropped, observers() never called) is the
    /// common case. Written by the setters (atomic read-modify-writes: they are rare), read
    /// once per dispatch.
    std::atomic<std::uint32_t> flags_{0};
    Signal<const EventView&> observers_;
};

template <class Event>
template <class F>
Connection SignalView<Event>::connect(F&& handler, ConnectOptions options) const {
    return dispatcher_->template connect<Event>(std::forward<F>(handler), std::move(options));
}

template <class Event> DispatchReport SignalView<Event>::send(const Event& event) const {
    return dispatcher_->dispatch(event);
}

template <class Event>
DispatchReport SignalView<Event>::send_from(SenderId sender, const Event& event) const {
    return dispatcher_->dispatch(event, sender);
}

} // namespace authevents
