/// @file
/// UnitOfWork: dispatch on commit (Django's `transaction.on_commit`). A service dispatches
/// through a unit of work inside its database transaction; the events are buffered and reach
/// the dispatcher only when the unit commits, so a rolled-back transaction dispatches nothing.
/// Works with any database: the unit knows nothing of it, the service commits both.
#pragma once

#include <authevents/dispatcher.hpp>

#include <cstddef>
#include <exception>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace authevents {

/// The state of a UnitOfWork.
enum class UnitState : unsigned char {
    open,        ///< Buffering: dispatch() and savepoint() accepted.
    committed,   ///< commit() ran (for a savepoint: its events joined the enclosing unit).
    rolled_back, ///< rollback() ran, or the enclosing unit ended without committing it.
    moved_from,  ///< The unit was moved into another object: nothing to do here.
};

/// The lower-case name of `state` ("open", "committed", "rolled_back", "moved_from").
/// Thread-safe.
constexpr std::string_view to_string(UnitState state) noexcept {
    switch (state) {
    case UnitState::open:
        return "open";
    case UnitState::committed:
        return "committed";
    case UnitState::rolled_back:
        return "rolled_back";
    case UnitState::moved_from:
        return "moved_from";
    }
    return "unknown";
}

/// What committing did to one buffered event.
struct CommittedEvent {
    std::string_view name; ///< The event's `name`.
    /// The dispatch's report: handlers called, handler failures, observer failures.
    DispatchReport report;
    /// Set when the dispatch threw instead of returning a report: a DispatchAborted an
    /// observer threw (e.g. a bus publisher that could not append the event), or
    /// std::bad_alloc. The event then reached no handler; the next events were still
    /// dispatched.
    std::exception_ptr error;

    /// True when the event was dispatched and no handler threw.
    [[nodiscard]] bool ok() const noexcept { return !error && report.ok(); }
};

/// What UnitOfWork::commit() did: one entry per buffered event, in dispatch order. Empty for
/// a savepoint (its events dispatch when the outermost unit commits) and for a unit with
/// nothing buffered.
struct CommitReport {
    std::vector<CommittedEvent> events; ///< In the order the events were buffered.

    /// True when every event was dispatched and no handler threw.
    [[nodiscard]] bool ok() const noexcept {
        for (const CommittedEvent& event : events) {
            if (!event.ok()) {
                return false;
            }
        }
        return true;
    }

    /// How many events reached no handler because their dispatch threw (see
    /// CommittedEvent::error).
    [[nodiscard]] std::size_t aborted() const noexcept {
        std::size_t count = 0;
        for (const CommittedEvent& event : events) {
            count += event.error ? 1U : 0U;
        }
        return count;
    }

    /// Handler calls that threw, over all events.
    [[nodiscard]] std::size_t handler_failures() const noexcept {
        std::size_t count = 0;
        for (const CommittedEvent& event : events) {
            count += event.report.failures.size();
        }
        return count;
    }
};

namespace detail {

/// One buffered event, type-erased.
class PendingEvent {
public:
    PendingEvent() = default;
    PendingEvent(const PendingEvent&) = delete;
    PendingEvent& operator=(const PendingEvent&) = delete;
    virtual ~PendingEvent() = default;

    [[nodiscard]] virtual std::string_view name() const noexcept = 0;
    virtual DispatchReport dispatch(EventDispatcher& dispatcher) = 0;
};

template <class Event> class PendingEventOf final : public PendingEvent {
public:
    PendingEventOf(Event&& event, SenderId sender) : event_(std::move(event)), sender_(sender) {}

    [[nodiscard]] std::string_view name() const noexcept override { return Event::name; }
    DispatchReport dispatch(EventDispatcher& dispatcher) override {
        return dispatcher.dispatch(event_, sender_);
    }

private:
    Event event_;
    SenderId sender_;
};

/// The state behind a UnitOfWork handle, on the heap so that moving the handle keeps the
/// links between a unit and its savepoint valid.
struct UnitScope {
    EventDispatcher* dispatcher = nullptr;
    UnitScope* parent = nullptr; // the enclosing unit, while both are open
    UnitScope* child = nullptr;  // the open savepoint, if any
    UnitState state = UnitState::open;
    std::vector<std::unique_ptr<PendingEvent>> events;

    /// Ends the open savepoint chain below this scope: committed (its events appended to
    /// this scope's, innermost first) or rolled back.
    /// @throws std::bad_alloc only (then the chain is left as it was).
    void end_children(UnitState how) {
        if (child == nullptr) {
            return;
        }
        child->end_children(how);
        if (how == UnitState::committed) {
            events.reserve(events.size() + child->events.size());
            for (auto& event : child->events) {
                events.push_back(std::move(event));
            }
        }
        child->events.clear();
        child->state = how;
        child->parent = nullptr;
        child = nullptr;
    }

    /// Ends this scope as rolled back (with its savepoints): discards every buffered event.
    void discard() noexcept {
        for (UnitScope* scope = child; scope != nullptr;) {
            UnitScope* next = scope->child;
            scope->events.clear();
            scope->state = UnitState::rolled_back;
            scope->parent = nullptr;
            scope->child = nullptr;
            scope = next;
        }
        child = nullptr;
        events.clear();
        state = UnitState::rolled_back;
        if (parent != nullptr) {
            parent->child = nullptr;
            parent = nullptr;
        }
    }
};

} // namespace detail

/// A unit of work: events dispatched through it inside a database transaction are buffered,
/// and dispatched to the dispatcher's handlers, in order, only when the unit commits
/// (Django's `transaction.on_commit`). Roll it back, or destroy it without committing (e.g.
/// when an exception leaves the scope), and none is dispatched. Works with any database: the
/// service commits its own transaction, then the unit.
///
///     authevents::UnitOfWork work(dispatcher);
///     db.begin();
///     insert_user(db, user);
///     work.dispatch(authevents::UserRegistered{user, true, ip});
///     db.commit();                 // throws? `work` is destroyed uncommitted: nothing sent
///     work.commit();               // now the handlers run
///
/// Nothing sees a buffered event before commit: no `[EVENT]` log line, no counter, no
/// observer (so no testing::EventRecorder and no bus publisher) and no handler. At commit each
/// event goes through EventDispatcher::dispatch() exactly as a direct dispatch does: logged,
/// counted, shown to observers, then handed to the handlers if the dispatcher is enabled *at
/// commit time* (testing::SignalsDisabled around the commit suppresses the handlers).
///
/// Savepoints: savepoint() opens a nested unit, like a database savepoint (Django's nested
/// `atomic`). Its rollback (or destruction without commit) drops only the events dispatched
/// through it; its commit (releasing the savepoint) adds them to the enclosing unit, after
/// the events already there, and they dispatch when the outermost unit commits. While a
/// savepoint is open, dispatch through the innermost unit: the enclosing one refuses
/// dispatch() and savepoint() (std::logic_error). Committing the enclosing unit with a
/// savepoint still open commits the savepoint's events too and rolling it back drops them, as
/// a database does with an open savepoint; the savepoint is then ended.
///
/// Failures at commit: a handler that throws is logged, counted and reported by the
/// dispatcher as for any dispatch, and the following handlers and events still run; an
/// observer's DispatchAborted (or std::bad_alloc) stops only that event's dispatch and is
/// returned in CommittedEvent::error while the following events are still dispatched (the
/// data is committed: dropping the rest would lose them). Nothing is rethrown: check the
/// CommitReport.
///
/// Thread-safety: a unit of work belongs to the thread running its transaction: it is not
/// thread-safe, though it may be moved to another thread between calls. Units on different
/// threads are independent, and the dispatch at commit is as thread-safe as the dispatcher's.
/// A handler running at commit may start units of its own, but may not dispatch through the
/// unit that is committing (it is already committed: std::logic_error).
///
/// Move-only; the moved-from unit is in state moved_from and refuses dispatch(). The
/// dispatcher must outlive the unit.
class UnitOfWork {
public:
    /// An open unit dispatching into `dispatcher` on commit.
    /// @throws std::bad_alloc if memory runs out.
    explicit UnitOfWork(EventDispatcher& dispatcher)
        : scope_(std::make_unique<detail::UnitScope>()) {
        scope_->dispatcher = &dispatcher;
    }

    UnitOfWork(const UnitOfWork&) = delete;
    UnitOfWork& operator=(const UnitOfWork&) = delete;

    /// Takes over `other`'s events and links; `other` becomes moved_from.
    UnitOfWork(UnitOfWork&& other) noexcept = default;

    /// Rolls this unit back if it is open, then takes over `other`'s events and links.
    UnitOfWork& operator=(UnitOfWork&& other) noexcept {
        if (this != &other) {
            rollback();
            scope_ = std::move(other.scope_);
        }
        return *this;
    }

    /// Rolls back if still open: no buffered event is dispatched (a savepoint drops only its
    /// own). noexcept.
    ~UnitOfWork() { rollback(); }

    /// Buffers `event`, sent from its default sender (EventSender<Event>), for dispatch on
    /// commit. Takes a copy (or the moved value): the caller's object may change afterwards.
    /// @throws std::logic_error when the unit is not open or a savepoint of it is open.
    /// @throws std::bad_alloc if memory runs out.
    template <class Event> void dispatch(Event event) {
        static_assert(detail::is_event_v<Event>,
                      "authevents::UnitOfWork::dispatch: an event must be a class type with a "
                      "static member `name` convertible to std::string_view");
        if constexpr (detail::is_event_v<Event>) {
            const SenderId sender = EventSender<Event>::get(event);
            dispatch(std::move(event), sender);
        }
    }

    /// Buffers `event`, sent from `sender`, for dispatch on commit. See the overload without
    /// a sender.
    template <class Event> void dispatch(Event event, SenderId sender) {
        static_assert(detail::is_event_v<Event>,
                      "authevents::UnitOfWork::dispatch: an event must be a class type with a "
                      "static member `name` convertible to std::string_view");
        if constexpr (detail::is_event_v<Event>) {
            detail::UnitScope& scope = open_scope("dispatch");
            scope.events.reserve(scope.events.size() + 1);
            scope.events.push_back(
                std::make_unique<detail::PendingEventOf<Event>>(std::move(event), sender));
        }
    }

    /// Opens a savepoint: a nested unit whose events join this one when it commits and are
    /// dropped when it rolls back. Only one savepoint of a unit is open at a time.
    /// @throws std::logic_error when this unit is not open or already has an open savepoint.
    /// @throws std::bad_alloc if memory runs out.
    [[nodiscard]] UnitOfWork savepoint() {
        detail::UnitScope& scope = open_scope("savepoint");
        UnitOfWork child(*scope.dispatcher);
        child.scope_->parent = &scope;
        scope.child = child.scope_.get();
        return child;
    }

    /// Commits: for the outermost unit, dispatches every buffered event in order (savepoints
    /// still open included) and reports each; for a savepoint, moves its events into the
    /// enclosing unit and returns an empty report. A unit that is no longer open (committed,
    /// rolled back, moved from) does nothing and returns an empty report, so a second commit
    /// never dispatches twice. Never throws a handler's or observer's exception (see the class
    /// note).
    /// @throws std::bad_alloc only, before any event is dispatched (the unit then stays open).
    CommitReport commit() {
        CommitReport result;
        if (!scope_ || scope_->state != UnitState::open) {
            return result;
        }
        detail::UnitScope& scope = *scope_;
        scope.end_children(UnitState::committed);
        if (scope.parent != nullptr) {
            detail::UnitScope& parent = *scope.parent;
            parent.events.reserve(parent.events.size() + scope.events.size());
            for (auto& event : scope.events) {
                parent.events.push_back(std::move(event));
            }
            scope.events.clear();
            parent.child = nullptr;
            scope.parent = nullptr;
            scope.state = UnitState::committed;
            return result;
        }
        result.events.reserve(scope.events.size());
        std::vector<std::unique_ptr<detail::PendingEvent>> events = std::move(scope.events);
        scope.events.clear();
        scope.state = UnitState::committed; // before any handler runs: no dispatch into it now
        for (const auto& event : events) {
            CommittedEvent& committed = result.events.emplace_back();
            committed.name = event->name();
            try {
                committed.report = event->dispatch(*scope.dispatcher);
            } catch (...) {
                committed.error = std::current_exception();
            }
        }
        return result;
    }

    /// Rolls back: drops the buffered events of this unit and its open savepoints; none is
    /// dispatched. The enclosing unit, if any, keeps its own. No effect when not open. noexcept.
    void rollback() noexcept {
        if (scope_ && scope_->state == UnitState::open) {
            scope_->discard();
        }
    }

    /// The unit's state. noexcept.
    [[nodiscard]] UnitState state() const noexcept {
        return scope_ ? scope_->state : UnitState::moved_from;
    }

    /// True while the unit accepts events (state() is open). noexcept.
    [[nodiscard]] bool is_open() const noexcept { return state() == UnitState::open; }

    /// True for a unit opened by savepoint() whose enclosing unit is still open. noexcept.
    [[nodiscard]] bool is_savepoint() const noexcept { return scope_ && scope_->parent != nullptr; }

    /// How many events are buffered in this unit (its open savepoints' not included). noexcept.
    [[nodiscard]] std::size_t size() const noexcept { return scope_ ? scope_->events.size() : 0; }

    /// True when no event is buffered in this unit. noexcept.
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }

    /// The names of the buffered events, in order (its open savepoints' not included).
    /// @throws std::bad_alloc if memory runs out.
    [[nodiscard]] std::vector<std::string_view> names() const {
        std::vector<std::string_view> result;
        if (scope_) {
            result.reserve(scope_->events.size());
            for (const auto& event : scope_->events) {
                result.push_back(event->name());
            }
        }
        return result;
    }

private:
    detail::UnitScope& open_scope(const char* operation) const {
        if (!scope_ || scope_->state != UnitState::open) {
            throw std::logic_error(std::string("authevents::UnitOfWork::") + operation +
                                   ": the unit of work is " + std::string(to_string(state())) +
                                   ", not open");
        }
        if (scope_->child != nullptr) {
            throw std::logic_error(std::string("authevents::UnitOfWork::") + operation +
                                   ": a savepoint of this unit is open; dispatch through the "
                                   "innermost unit, or end the savepoint first");
        }
        return *scope_;
    }

    std::unique_ptr<detail::UnitScope> scope_;
};

} // namespace authevents
