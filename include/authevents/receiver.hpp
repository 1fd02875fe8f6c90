/// @file
/// Declarative handler registration, the C++ counterpart of Django's `@receiver`:
/// receiver<Events...>() connects one handler to several events now; Receiver<Events...>
/// objects at namespace scope register a handler file in a HandlerRegistry, whose
/// connect_all() connects every registered handler to a dispatcher at start-up.
///
/// Pitfalls (see docs/guide.md, "Troubleshooting"):
/// - A static library member (.o) whose only content is Receiver objects is dropped by the
///   linker, so its handlers never register: link handler files as an OBJECT library, with
///   whole-archive, or into the executable.
/// - Registrations made after connect_all() ran are not connected to that dispatcher.
/// - connect_all() twice on one dispatcher connects lambdas twice unless they have a
///   dispatch_uid (function pointers deduplicate by identity).
/// - A Receiver with ConnectOptions::sender only sees dispatches from that sender.
#pragma once

#include <authevents/detail/function.hpp>
#include <authevents/dispatcher.hpp>

#include <memory>
#include <mutex>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

namespace authevents {

/// Combines several callables into one overload set, e.g. to give receiver<A, B>() one
/// handler with a different body per event: `Overloaded{[](const A&) {...}, [](const B&)
/// {...}}`. Thread-safety and exceptions are those of the callables.
template <class... Fs> struct Overloaded : Fs... { using Fs::operator()...; };
/// Deduction guide: `Overloaded{f, g}` is an `Overloaded<decltype(f), decltype(g)>`.
template <class... Fs> Overloaded(Fs...) -> Overloaded<Fs...>;

namespace detail {

template <class F, class... Events>
inline constexpr bool handles_all_v = (std::is_invocable_v<std::decay_t<F>&, const Events&> && ...);

template <class... Events> constexpr void check_receiver_events() {
    static_assert(sizeof...(Events) > 0,
                  "authevents::receiver: name at least one event, e.g. receiver<UserRegistered>");
    static_assert((is_event_v<Events> && ...),
                  "authevents::receiver: every event must be a class type with a static member "
                  "`name` convertible to std::string_view");
}

template <class F, class... Events> constexpr void check_receiver_handler() {
    static_assert(handles_all_v<F, Events...>,
                  "authevents::receiver: the handler must be callable with `const Event&` for "
                  "every listed event: use a generic lambda (`[](const auto& event) {...}`), "
                  "an overload set (authevents::Overloaded{...}) or one receiver per event");
}

} // namespace detail

/// Connects `handler` to every event in `Events...` on `dispatcher`, all with `options`, and
/// returns the Connections in the order of `Events`. Django's `@receiver([sig_a, sig_b])`.
///
/// With several events, one handler object is shared by all of them (a stateful handler
/// sees every event), except a plain function pointer, which is connected as itself so
/// that function-identity deduplication works. The handler may run on several threads at
/// once, so it must be thread-safe. Thread-safe.
/// @throws what EventDispatcher::connect throws; connections made before an exception stay
/// connected.
template <class... Events, class F>
std::vector<Connection> receiver(EventDispatcher& dispatcher, F&& handler,
                                 const ConnectOptions& options = {}) {
    detail::check_receiver_events<Events...>();
    detail::check_receiver_handler<F, Events...>();
    std::vector<Connection> connections;
    if constexpr ((detail::is_event_v<Events> && ...) && detail::handles_all_v<F, Events...>) {
        using Handler = std::decay_t<F>;
        connections.reserve(sizeof...(Events));
        if constexpr (sizeof...(Events) == 1) {
            (connections.push_back(dispatcher.connect<Events>(std::forward<F>(handler), options)),
             ...);
        } else if constexpr (detail::is_function_pointer_v<Handler>) {
            (connections.push_back(dispatcher.connect<Events>(handler, options)), ...);
        } else {
            auto shared = std::make_shared<Handler>(std::forward<F>(handler));
            (connections.push_back(dispatcher.connect<Events>(
                 [shared](const Events& event) { (*shared)(event); }, options)),
             ...);
        }
    }
    return connections;
}

/// A list of handler registrations to connect to dispatchers later: the C++ counterpart of
/// the module-level `@receiver` decorators that Django connects when the app is imported.
/// Handler files add to it with Receiver objects; main() calls connect_all(dispatcher).
///
/// Thread-safe: every member may be called from any thread concurrently. Non-copyable.
class HandlerRegistry {
public:
    /// One registration: connects its handler to a dispatcher, returning the Connections.
    using Registration = std::function<std::vector<Connection>(EventDispatcher&)>;

    HandlerRegistry() = default;
    HandlerRegistry(const HandlerRegistry&) = delete;
    HandlerRegistry& operator=(const HandlerRegistry&) = delete;
    ~HandlerRegistry() = default;

    /// The process-wide default registry, constructed on first use (so Receiver objects in
    /// any translation unit may use it during static initialisation). Thread-safe.
    static HandlerRegistry& global() {
        static HandlerRegistry registry;
        return registry;
    }

    /// Registers `handler` for `Events...` with `options`: connect_all() will call
    /// receiver<Events...>(dispatcher, handler, options). The handler is copied for each
    /// dispatcher it is connected to, so it must be copyable. Checked at compile time like
    /// receiver(). On an exception the registry is unchanged.
    /// @throws std::invalid_argument for a null function pointer or empty std::function.
    /// @throws std::bad_alloc if memory runs out.
    template <class... Events, class F> void add(F&& handler, ConnectOptions options = {}) {
        detail::check_receiver_events<Events...>();
        detail::check_receiver_handler<F, Events...>();
        using Handler = std::decay_t<F>;
        static_assert(std::is_copy_constructible_v<Handler>,
                      "authevents::HandlerRegistry: a registered handler must be copyable "
                      "(each dispatcher it is connected to gets its own copy)");
        if constexpr ((detail::is_event_v<Events> && ...) && detail::handles_all_v<F, Events...> &&
                      std::is_copy_constructible_v<Handler>) {
            if constexpr (detail::is_function_pointer_v<Handler> ||
                          detail::is_std_function<Handler>::value) {
                if (handler == nullptr) {
                    throw std::invalid_argument(
                        "authevents::HandlerRegistry::add: the handler is a null function "
                        "pointer or an empty std::function");
                }
            }
            Registration registration = [stored = Handler(std::forward<F>(handler)),
                                         stored_options =
                                             std::move(options)](EventDispatcher& dispatcher) {
                return receiver<Events...>(dispatcher, stored, stored_options);
            };
            std::lock_guard<std::mutex> lock(mutex_);
            registrations_.push_back(std::move(registration));
        }
    }

    /// Connects every registration to `dispatcher`, in registration order, and returns all the
    /// Connections (registration order, then event order). Runs no lock while connecting, so
    /// it may be called concurrently and from handlers. Registrations added later are not
    /// connected by this call. Calling it twice for one dispatcher connects handlers without a
    /// dispatch_uid twice (function pointers excepted).
    /// @throws what connect throws; the connections made before stay connected.
    std::vector<Connection> connect_all(EventDispatcher& dispatcher) const {
        std::vector<Registration> snapshot;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            snapshot = registrations_;
        }
        std::vector<Connection> connections;
        for (const Registration& registration : snapshot) {
            std::vector<Connection> made = registration(dispatcher);
            connections.insert(connections.end(), made.begin(), made.end());
        }
        return connections;
    }

    /// The number of registrations (one per add() or Receiver, whatever its event count).
    [[nodiscard]] std::size_t size() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return registrations_.size();
    }

    /// Forgets every registration (connections already made stay connected).
    void clear() {
        std::lock_guard<std::mutex> lock(mutex_);
        registrations_.clear();
    }

private:
    mutable std::mutex mutex_;
    std::vector<Registration> registrations_;
};

/// Registers a handler for `Events...` in a HandlerRegistry (the global one by default) when
/// constructed: define one at namespace scope in a handler file and the file registers itself,
/// Django's `@receiver(user_registered, dispatch_uid="welcome_email")`:
///
///     const authevents::Receiver<authevents::UserRegistered> welcome{
///         &send_welcome_email, {"welcome_email"}};
///
/// The registration lasts for the registry's lifetime, not the Receiver's. Construction
/// throws what HandlerRegistry::add throws (at namespace scope: the program terminates
/// before main, which is loud and early). Non-copyable.
template <class... Events> class Receiver {
public:
    /// Calls `registry.add<Events...>(handler, options)`.
    /// @throws what HandlerRegistry::add throws.
    template <class F>
    explicit Receiver(F&& handler, ConnectOptions options = {},
                      HandlerRegistry& registry = HandlerRegistry::global()) {
        registry.add<Events...>(std::forward<F>(handler), std::move(options));
    }
    Receiver(const Receiver&) = delete;
    Receiver& operator=(const Receiver&) = delete;
    ~Receiver() = default;
};

} // namespace authevents
