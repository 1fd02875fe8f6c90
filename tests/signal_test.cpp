// Single-threaded semantics of <authevents/signal.hpp>, as docs/signals.md states them.
#include <authevents/signal.hpp>

#include "catch_compat.hpp"
#include "connect_options.hpp"

#include <climits>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

using authevents::Connection;
using authevents::ConnectionBlocker;
using authevents::ConnectOptions;
using authevents::ScopedConnection;
using authevents::SenderId;
using authevents::Signal;
using authevents::SlotError;

namespace {

// ---------------------------------------------------------------------------------------------
// Compile-time properties of the contract.

static_assert(!std::is_copy_constructible_v<Signal<int>>, "Signal is non-copyable");
static_assert(!std::is_copy_assignable_v<Signal<int>>, "Signal is non-copyable");
static_assert(!std::is_move_constructible_v<Signal<int>>, "Signal is non-movable");
static_assert(!std::is_move_assignable_v<Signal<int>>, "Signal is non-movable");
static_assert(!std::is_copy_constructible_v<Signal<>>, "Signal<> is non-copyable");
static_assert(!std::is_move_constructible_v<Signal<>>, "Signal<> is non-movable");
static_assert(std::is_default_constructible_v<Signal<const std::string&, int>>);

static_assert(std::is_nothrow_default_constructible_v<Connection>, "Connection() noexcept");
static_assert(std::is_copy_constructible_v<Connection>, "Connection is copyable");
static_assert(std::is_copy_assignable_v<Connection>, "Connection is copyable");
static_assert(noexcept(std::declval<const Connection&>().connected()));
static_assert(noexcept(std::declval<Connection&>().disconnect()));
static_assert(noexcept(std::declval<Connection&>().block()));
static_assert(noexcept(std::declval<Connection&>().unblock()));
static_assert(noexcept(std::declval<const Connection&>().blocked()));
static_assert(std::is_same_v<decltype(std::declval<Connection&>().disconnect()), bool>);
static_assert(std::is_same_v<decltype(std::declval<Connection&>().disconnect_and_wait()), bool>);
static_assert(
    std::is_same_v<decltype(std::declval<const Connection&>() == std::declval<const Connection&>()),
                   bool>);
static_assert(
    std::is_same_v<decltype(std::declval<const Connection&>() != std::declval<const Connection&>()),
                   bool>);

static_assert(!std::is_copy_constructible_v<ScopedConnection>, "ScopedConnection is move-only");
static_assert(!std::is_copy_assignable_v<ScopedConnection>, "ScopedConnection is move-only");
static_assert(std::is_move_constructible_v<ScopedConnection>, "ScopedConnection is movable");
static_assert(std::is_move_assignable_v<ScopedConnection>, "ScopedConnection is movable");
static_assert(std::is_constructible_v<ScopedConnection, Connection>);
static_assert(std::is_same_v<decltype(std::declval<ScopedConnection&>().release()), Connection>);

static_assert(std::is_same_v<decltype(SlotError::connection), Connection>);
static_assert(std::is_same_v<decltype(SlotError::error), std::exception_ptr>);

static_assert(noexcept(SenderId::any()));
static_assert(noexcept(SenderId::of(static_cast<const int*>(nullptr))));
static_assert(noexcept(SenderId::type<int>()));
static_assert(std::is_same_v<decltype(SenderId::any() == SenderId::any()), bool>);

static_assert(
    std::is_same_v<decltype(std::declval<Signal<int>&>().connect(std::declval<void (*)(int)>())),
                   Connection>);
static_assert(
    std::is_same_v<decltype(std::declval<Signal<int>&>().send_robust(1)), std::vector<SlotError>>);
static_assert(
    std::is_same_v<decltype(std::declval<Signal<int>&>().send_robust_from(SenderId::any(), 1)),
                   std::vector<SlotError>>);
static_assert(std::is_same_v<decltype(std::declval<const Signal<int>&>().has_listeners()), bool>);
static_assert(std::is_same_v<decltype(std::declval<const Signal<int>&>().size()), std::size_t>);
static_assert(noexcept(std::declval<Signal<int>&>().block()));
static_assert(noexcept(std::declval<Signal<int>&>().unblock()));
static_assert(noexcept(std::declval<const Signal<int>&>().blocked()));

// ---------------------------------------------------------------------------------------------
// Helpers.

ConnectOptions with_track(const std::shared_ptr<const void>& tracked) {
    ConnectOptions options;
    options.track = tracked;
    return options;
}

struct Widget {
    int value = 0;
};
struct Gadget {
    int value = 0;
};

// Plain functions for function identity. They record into a global log.
std::vector<std::string> g_log;

void log_a(int) { g_log.emplace_back("a"); }
void log_b(int) { g_log.emplace_back("b"); }
void log_c(int) { g_log.emplace_back("c"); }
void log_noexcept(int) noexcept { g_log.emplace_back("noexcept"); }
int log_returning(int x) {
    g_log.emplace_back("returning");
    return x + 1;
}
void log_long(long) { g_log.emplace_back("long"); }

struct ClearLog {
    ClearLog() { g_log.clear(); }
    ~ClearLog() { g_log.clear(); }
};

// A slot that appends a fixed name to a log.
auto recorder(std::vector<std::string>& log, std::string name) {
    return [&log, name = std::move(name)](auto&&...) { log.push_back(name); };
}

using Log = std::vector<std::string>;

// Counts copies and moves of an argument type.
struct Counted {
    static int copies;
    static int moves;
    int value = 0;
    Counted() = default;
    explicit Counted(int v) : value(v) {}
    Counted(const Counted& other) : value(other.value) { ++copies; }
    Counted(Counted&& other) noexcept : value(other.value) { ++moves; }
    Counted& operator=(const Counted& other) {
        value = other.value;
        ++copies;
        return *this;
    }
    Counted& operator=(Counted&& other) noexcept {
        value = other.value;
        ++moves;
        return *this;
    }
    ~Counted() = default;
};
int Counted::copies = 0;
int Counted::moves = 0;

} // namespace

// =============================================================================================
// Type properties beyond the explicit static_asserts above.

TEST_CASE("ScopedConnection and ConnectionBlocker are constructible from a Connection lvalue",
          "[signal][types]") {
    CHECK(std::is_constructible_v<ScopedConnection, const Connection&>);
    CHECK(std::is_constructible_v<ConnectionBlocker, const Connection&>);
    CHECK(std::is_constructible_v<ConnectionBlocker, Connection&>);
}

// =============================================================================================
// SenderId

TEST_CASE("SenderId::any equals any and nothing else", "[signal][sender]") {
    Widget w;
    CHECK(SenderId::any() == SenderId::any());
    CHECK_FALSE(SenderId::any() == SenderId::of(&w));
    CHECK_FALSE(SenderId::any() == SenderId::type<Widget>());
    ConnectOptions defaults;
    CHECK(defaults.sender == SenderId::any());
    CHECK(defaults.dispatch_uid.empty());
    CHECK(defaults.priority == 0);
    CHECK(defaults.track.expired());
}

TEST_CASE("SenderId::of compares object identity", "[signal][sender]") {
    Widget a;
    Widget b;
    const Widget& ca = a;
    CHECK(SenderId::of(&a) == SenderId::of(&a));
    CHECK(SenderId::of(&a) == SenderId::of(&ca));
    CHECK_FALSE(SenderId::of(&a) == SenderId::of(&b));
    SenderId copy = SenderId::of(&a);
    CHECK(copy == SenderId::of(&a));
    copy = SenderId::of(&b);
    CHECK(copy == SenderId::of(&b));
}

TEST_CASE("SenderId::type compares class identity and differs from object identity",
          "[signal][sender]") {
    Widget w;
    CHECK(SenderId::type<Widget>() == SenderId::type<Widget>());
    CHECK_FALSE(SenderId::type<Widget>() == SenderId::type<Gadget>());
    CHECK_FALSE(SenderId::type<Widget>() == SenderId::of(&w));
    CHECK_FALSE(SenderId::type<int>() == SenderId::type<long>());
}

// =============================================================================================
// 1. Slots

TEST_CASE("any callable invocable with the arguments is a slot", "[signal][slots]") {
    ClearLog clear;
    Signal<int> signal;
    struct Functor {
        Log* sink;
        void operator()(int) const { sink->emplace_back("functor"); }
    };
    Log log;
    signal.connect(log_a);
    signal.connect([&log](int) { log.emplace_back("lambda"); });
    signal.connect(Functor{&log});
    signal.connect([&log](long) { log.emplace_back("converting"); });
    signal.connect([&log](const auto&) { log.emplace_back("generic"); });
    std::function<void(int)> function = [&log](int) { log.emplace_back("std::function"); };
    signal.connect(function);
    signal.send(1);
    CHECK(g_log == Log{"a"});
    CHECK(log == Log{"lambda", "functor", "converting", "generic", "std::function"});
}

TEST_CASE("a pointer to member is a slot called on the object its first argument names",
          "[signal][slots]") {
    struct Counter {
        int total = 0;
        int seen = 0;
        void add(int amount) { total += amount; }
        int add_twice(int amount) noexcept { return total += 2 * amount; }
        void add_const(int amount) const { probe->push_back(amount); }
        std::vector<int>* probe = nullptr;
    };
    std::vector<int> probe;
    Counter counter;
    counter.probe = &probe;

    Signal<Counter&, int> by_reference;
    by_reference.connect(&Counter::add);
    by_reference.connect(&Counter::add_twice);
    by_reference.connect(&Counter::add_const);
    by_reference.send(counter, 3);
    CHECK(counter.total == 3 + 6);
    CHECK(probe == std::vector<int>{3});

    Signal<Counter*, int> by_pointer;
    by_pointer.connect(&Counter::add);
    by_pointer.send(&counter, 1);
    CHECK(counter.total == 10);

    Signal<std::reference_wrapper<Counter>, int> by_wrapper;
    by_wrapper.connect(&Counter::add);
    by_wrapper.send(std::ref(counter), 5);
    CHECK(counter.total == 15);

    Signal<std::unique_ptr<Counter>&, int> by_smart_pointer;
    auto owned = std::make_unique<Counter>();
    owned->probe = &probe;
    by_smart_pointer.connect(&Counter::add_const);
    by_smart_pointer.send(owned, 7);
    CHECK(probe == std::vector<int>{3, 7});

    Signal<const Counter&> data_member; // "calling" a data member reads it
    CHECK(data_member.connect(&Counter::seen).connected());
    data_member.send(counter);
}

TEST_CASE("a slot that returns a value is accepted and its result ignored", "[signal][slots]") {
    ClearLog clear;
    Signal<int> signal;
    int seen = 0;
    signal.connect([&seen](int x) { return seen = x * 2; });
    signal.connect([](int x) -> std::string { return std::to_string(x); });
    signal.connect(log_returning);
    signal.send(21);
    CHECK(seen == 42);
    CHECK(g_log == Log{"returning"});
    CHECK(signal.send_robust(1).empty());
}

TEST_CASE("a move-only slot can be connected and called and then disconnected", "[signal][slots]") {
    Signal<int> signal;
    auto owned = std::make_unique<int>(5);
    int seen = 0;
    auto connection =
        signal.connect([p = std::move(owned), &seen](int x) { seen = *p + x; }, with_uid("mo"));
    signal.send(1);
    CHECK(seen == 6);
    auto another = std::make_unique<int>(7);
    signal.connect([p = std::move(another), &seen](int x) { seen += *p * x; });
    signal.send(2);
    CHECK(seen == 7 + 14);
    CHECK(connection.disconnect());
    CHECK(signal.size() == 1);
}

TEST_CASE("every slot receives the argument objects as lvalues; none is moved into a slot",
          "[signal][slots][arguments]") {
    Signal<std::string> signal;
    std::vector<std::string> seen;
    // By-value slots would steal the string if it were passed as an rvalue.
    signal.connect([&seen](std::string s) { seen.push_back(std::move(s)); });
    signal.connect([&seen](std::string s) { seen.push_back(std::move(s)); });
    signal.connect([&seen](const std::string& s) { seen.push_back(s); });
    signal.send(std::string("payload that is long enough to live on the heap"));
    REQUIRE(seen.size() == 3);
    CHECK(seen[0] == "payload that is long enough to live on the heap");
    CHECK(seen[1] == seen[0]);
    CHECK(seen[2] == seen[0]);

    seen.clear();
    const std::string lvalue = "another payload that is long enough to live on the heap";
    signal.send(lvalue);
    REQUIRE(seen.size() == 3);
    CHECK(seen[1] == lvalue);
    CHECK(seen[2] == lvalue);
}

// =============================================================================================
// 2. Dedup key

TEST_CASE("connecting the same uid twice keeps the first slot with its priority and position",
          "[signal][dedup]") {
    Signal<int> signal;
    Log log;
    auto first = signal.connect(recorder(log, "first"), with_uid("key"));
    signal.connect(recorder(log, "other"));
    ConnectOptions options = with_uid("key");
    options.priority = 100; // would run first if it replaced the existing slot
    auto second = signal.connect(recorder(log, "second"), options);
    CHECK(second == first);
    CHECK_FALSE(second != first);
    CHECK(second.connected());
    CHECK(signal.size() == 2);
    signal.send(0);
    CHECK(log == Log{"first", "other"});

    // The returned Connection names the existing slot.
    CHECK(second.disconnect());
    CHECK_FALSE(first.connected());
    CHECK(signal.size() == 1);
}

TEST_CASE("the dedup key includes the sender", "[signal][dedup]") {
    Signal<int> signal;
    Widget a;
    Widget b;
    Log log;
    auto any = signal.connect(recorder(log, "any"), with_uid("key"));
    auto from_a = signal.connect(recorder(log, "a"), with_uid("key", SenderId::of(&a)));
    auto from_b = signal.connect(recorder(log, "b"), with_uid("key", SenderId::of(&b)));
    auto again_a = signal.connect(recorder(log, "a2"), with_uid("key", SenderId::of(&a)));
    CHECK(signal.size() == 3);
    CHECK(any != from_a);
    CHECK(from_a != from_b);
    CHECK(again_a == from_a);

    signal.connect(log_a, with_sender(SenderId::of(&a)));
    signal.connect(log_a);
    signal.connect(log_a, with_sender(SenderId::of(&a)));
    CHECK(signal.size() == 5);
}

TEST_CASE("connect(f) and connect(&f) have the same function identity", "[signal][dedup]") {
    ClearLog clear;
    Signal<int> signal;
    auto by_name = signal.connect(log_a);
    auto by_address = signal.connect(&log_a);
    void (*pointer)(int) = log_a;
    auto by_variable = signal.connect(pointer);
    CHECK(by_name == by_address);
    CHECK(by_name == by_variable);
    CHECK(signal.size() == 1);
    signal.send(0);
    CHECK(g_log == Log{"a"});

    signal.connect(log_b);
    CHECK(signal.size() == 2);
    CHECK(signal.connect(&log_b) != by_name);
    CHECK(signal.size() == 2);
}

TEST_CASE("function identity dedup keeps the first slot's priority and position",
          "[signal][dedup]") {
    ClearLog clear;
    Signal<int> signal;
    auto first = signal.connect(log_a);
    signal.connect(log_b);
    auto again = signal.connect(&log_a, with_priority(50));
    CHECK(again == first);
    signal.send(0);
    CHECK(g_log == Log{"a", "b"});
    g_log.clear();

    // Also when the first one had the higher priority.
    Signal<int> other;
    other.connect(log_c, with_priority(10));
    other.connect(log_b);
    other.connect(log_c, with_priority(-10));
    other.send(0);
    CHECK(g_log == Log{"c", "b"});
}

TEST_CASE("plain functions of other signatures and noexcept functions have function identity",
          "[signal][dedup]") {
    ClearLog clear;
    Signal<int> signal;
    auto a = signal.connect(log_noexcept);
    auto b = signal.connect(&log_noexcept);
    CHECK(a == b);
    auto c = signal.connect(log_returning);
    auto d = signal.connect(&log_returning);
    CHECK(c == d);
    auto e = signal.connect(log_long);
    auto f = signal.connect(&log_long);
    CHECK(e == f);
    CHECK(signal.size() == 3);
    signal.send(0);
    CHECK(g_log == Log{"noexcept", "returning", "long"});

    CHECK(signal.disconnect(log_noexcept));
    CHECK(signal.disconnect(&log_returning));
    CHECK(signal.disconnect(log_long));
    CHECK(signal.size() == 0);
}

TEST_CASE("lambdas and functors without a uid each add a slot", "[signal][dedup]") {
    Signal<int> signal;
    int calls = 0;
    auto slot = [&calls](int) { ++calls; };
    auto c1 = signal.connect(slot);
    auto c2 = signal.connect(slot);
    auto c3 = signal.connect(slot);
    CHECK(signal.size() == 3);
    CHECK(c1 != c2);
    CHECK(c2 != c3);
    signal.send(0);
    CHECK(calls == 3);
}

TEST_CASE("a captureless lambda converted to a function pointer has function identity",
          "[signal][dedup]") {
    Signal<int> signal;
    static int calls = 0;
    calls = 0;
    auto lambda = [](int) { ++calls; };
    void (*pointer)(int) = lambda;
    auto c1 = signal.connect(+lambda);
    auto c2 = signal.connect(pointer);
    CHECK(c1 == c2);
    CHECK(signal.size() == 1);
    signal.send(0);
    CHECK(calls == 1);
    CHECK(signal.disconnect(pointer));
}

TEST_CASE("an empty uid is no uid", "[signal][dedup]") {
    ClearLog clear;
    Signal<int> signal;
    int calls = 0;
    signal.connect([&calls](int) { ++calls; }, with_uid(""));
    signal.connect([&calls](int) { ++calls; }, with_uid(""));
    CHECK(signal.size() == 2); // no uid and no function identity: two slots
    auto f1 = signal.connect(log_a, with_uid(""));
    auto f2 = signal.connect(log_a);
    CHECK(f1 == f2); // dedup by function identity, as without a uid
    CHECK(signal.size() == 3);
    signal.send(0);
    CHECK(calls == 2);
    CHECK(g_log == Log{"a"});
    CHECK(signal.disconnect(log_a));
}

TEST_CASE("a uid key and a function key are different keys", "[signal][dedup]") {
    ClearLog clear;
    Signal<int> signal;
    auto by_function = signal.connect(log_a);
    auto by_uid = signal.connect(log_a, with_uid("named"));
    CHECK(by_function != by_uid);
    CHECK(signal.size() == 2);
    // A uid dedups across different callables.
    auto other_callable = signal.connect(log_b, with_uid("named"));
    CHECK(other_callable == by_uid);
    CHECK(signal.size() == 2);
    signal.send(0);
    CHECK(g_log == Log{"a", "a"});
}

TEST_CASE("after a keyed slot is disconnected the same key connects a new slot",
          "[signal][dedup]") {
    Signal<int> signal;
    Log log;
    auto first = signal.connect(recorder(log, "first"), with_uid("key"));
    CHECK(first.disconnect());
    auto second = signal.connect(recorder(log, "second"), with_uid("key"));
    CHECK(second.connected());
    CHECK(second != first);
    CHECK_FALSE(first.connected());
    signal.send(0);
    CHECK(log == Log{"second"});
}

// =============================================================================================
// 3. Order

TEST_CASE("slots run by priority descending and ties in connection order", "[signal][order]") {
    Signal<> signal;
    Log log;
    signal.connect(recorder(log, "p0-first"));
    signal.connect(recorder(log, "p10-first"), with_priority(10));
    signal.connect(recorder(log, "p-5"), with_priority(-5));
    signal.connect(recorder(log, "p10-second"), with_priority(10));
    signal.connect(recorder(log, "p0-second"));
    signal.connect(recorder(log, "max"), with_priority(INT_MAX));
    signal.connect(recorder(log, "min"), with_priority(INT_MIN));
    signal.connect(recorder(log, "p10-third"), with_priority(10));
    signal.send();
    CHECK(log == Log{"max", "p10-first", "p10-second", "p10-third", "p0-first", "p0-second", "p-5",
                     "min"});
}

TEST_CASE("reconnecting after a disconnect appends at the end of its priority", "[signal][order]") {
    Signal<> signal;
    Log log;
    signal.connect(recorder(log, "a"), with_uid("a"));
    signal.connect(recorder(log, "b"), with_uid("b"));
    signal.connect(recorder(log, "c"), with_uid("c"));
    CHECK(signal.disconnect("a"));
    signal.connect(recorder(log, "a"), with_uid("a"));
    signal.send();
    CHECK(log == Log{"b", "c", "a"});

    log.clear();
    ConnectOptions high = with_uid("b");
    high.priority = 1;
    CHECK(signal.disconnect("b"));
    signal.connect(recorder(log, "b"), high);
    signal.send();
    CHECK(log == Log{"b", "c", "a"});
}

TEST_CASE("order is independent of sender filtering", "[signal][order][sender]") {
    Signal<> signal;
    Widget w;
    Log log;
    signal.connect(recorder(log, "any-low"), with_priority(-1));
    ConnectOptions from_w = with_sender(SenderId::of(&w));
    from_w.priority = 5;
    signal.connect(recorder(log, "w-high"), from_w);
    signal.connect(recorder(log, "any-0"));
    from_w.priority = 0;
    signal.connect(recorder(log, "w-0"), from_w);
    signal.send_from(SenderId::of(&w));
    CHECK(log == Log{"w-high", "any-0", "w-0", "any-low"});
}

// =============================================================================================
// 4. Senders

TEST_CASE("send reaches only any-sender slots; send_from(s) reaches any-sender and s slots",
          "[signal][sender]") {
    Signal<int> signal;
    Widget a;
    Widget b;
    Log log;
    signal.connect(recorder(log, "any"));
    signal.connect(recorder(log, "a"), with_sender(SenderId::of(&a)));
    signal.connect(recorder(log, "b"), with_sender(SenderId::of(&b)));
    signal.connect(recorder(log, "Widget"), with_sender(SenderId::type<Widget>()));

    signal.send(0);
    CHECK(log == Log{"any"});
    log.clear();
    signal.send_from(SenderId::any(), 0);
    CHECK(log == Log{"any"});
    log.clear();
    signal.send_from(SenderId::of(&a), 0);
    CHECK(log == Log{"any", "a"});
    log.clear();
    signal.send_from(SenderId::of(&b), 0);
    CHECK(log == Log{"any", "b"});
    log.clear();
    signal.send_from(SenderId::type<Widget>(), 0);
    CHECK(log == Log{"any", "Widget"});
    log.clear();
    signal.send_from(SenderId::type<Gadget>(), 0);
    CHECK(log == Log{"any"});
    log.clear();

    CHECK(signal.send_robust_from(SenderId::of(&a), 0).empty());
    CHECK(log == Log{"any", "a"});
    log.clear();
    CHECK(signal.send_robust(0).empty());
    CHECK(log == Log{"any"});
}

TEST_CASE("has_listeners(s) tracks any-sender and s-sender slots", "[signal][sender]") {
    Signal<int> signal;
    Widget a;
    Widget b;
    CHECK_FALSE(signal.has_listeners());
    CHECK_FALSE(signal.has_listeners(SenderId::of(&a)));

    auto from_a = signal.connect([](int) {}, with_sender(SenderId::of(&a)));
    CHECK_FALSE(signal.has_listeners());
    CHECK(signal.has_listeners(SenderId::of(&a)));
    CHECK_FALSE(signal.has_listeners(SenderId::of(&b)));
    CHECK_FALSE(signal.has_listeners(SenderId::type<Widget>()));

    auto any = signal.connect([](int) {});
    CHECK(signal.has_listeners());
    CHECK(signal.has_listeners(SenderId::of(&a)));
    CHECK(signal.has_listeners(SenderId::of(&b)));
    CHECK(signal.has_listeners(SenderId::type<Widget>()));

    CHECK(any.disconnect());
    CHECK_FALSE(signal.has_listeners());
    CHECK(signal.has_listeners(SenderId::of(&a)));
    CHECK_FALSE(signal.has_listeners(SenderId::of(&b)));

    CHECK(from_a.disconnect());
    CHECK_FALSE(signal.has_listeners(SenderId::of(&a)));
}

TEST_CASE("has_listeners(s) is true exactly when a send from s would call a slot",
          "[signal][sender][blocking][track]") {
    // Randomised configurations (fixed seed): slots from several senders, some blocked,
    // some with an expired track, sometimes a blocked signal.
    Widget a;
    Widget b;
    const SenderId senders[] = {SenderId::any(), SenderId::of(&a), SenderId::of(&b),
                                SenderId::type<Widget>()};
    std::mt19937 rng(12345);
    for (int round = 0; round < 300; ++round) {
        Signal<int> signal;
        int calls = 0;
        std::vector<std::shared_ptr<int>> owners;
        const int slots = static_cast<int>(rng() % 4);
        for (int i = 0; i < slots; ++i) {
            ConnectOptions options = with_sender(senders[rng() % 4]);
            const auto kind = rng() % 4;
            if (kind == 1) {
                owners.push_back(std::make_shared<int>(i));
                options.track = owners.back();
            }
            auto connection = signal.connect([&calls](int) { ++calls; }, options);
            if (kind == 2) {
                connection.block();
            }
        }
        if (rng() % 3 == 0) {
            owners.clear(); // expire every track
        }
        if (rng() % 5 == 0) {
            signal.block();
        }
        for (const SenderId& sender : senders) {
            calls = 0;
            const bool listeners = signal.has_listeners(sender);
            signal.send_from(sender, 0);
            INFO("round " << round);
            CHECK(listeners == (calls > 0));
        }
    }
}

// =============================================================================================
// 5. send and send_robust

TEST_CASE("send propagates the first exception and runs no later slot", "[signal][send]") {
    Signal<int> signal;
    Log log;
    signal.connect(recorder(log, "before"));
    signal.connect([&log](int) {
        log.emplace_back("thrower");
        throw std::runtime_error("first");
    });
    signal.connect([&log](int) {
        log.emplace_back("second thrower");
        throw std::logic_error("second");
    });
    signal.connect(recorder(log, "after"));
    CHECK_THROWS_WITH(signal.send(0), "first");
    CHECK(log == Log{"before", "thrower"});

    // The signal and its slots stay usable.
    log.clear();
    CHECK(signal.size() == 4);
    CHECK_THROWS_AS(signal.send(0), std::runtime_error);
    CHECK(log == Log{"before", "thrower"});
}

TEST_CASE("send and send_robust run the slots on the calling thread", "[signal][send]") {
    Signal<> signal;
    std::vector<std::thread::id> seen;
    signal.connect([&seen] { seen.push_back(std::this_thread::get_id()); });
    signal.connect([&seen] { seen.push_back(std::this_thread::get_id()); });
    signal.send();
    CHECK(signal.send_robust().empty());
    REQUIRE(seen.size() == 4);
    for (const auto& id : seen) {
        CHECK(id == std::this_thread::get_id());
    }
}

TEST_CASE("send propagates non-std exceptions unchanged", "[signal][send]") {
    Signal<> signal;
    bool after = false;
    signal.connect([] { throw 42; });
    signal.connect([&after] { after = true; });
    CHECK_THROWS_AS(signal.send(), int);
    CHECK_FALSE(after);
}

TEST_CASE("send_robust runs every slot and returns one SlotError per failure in slot order",
          "[signal][send_robust]") {
    Signal<int> signal;
    Log log;
    auto ok1 = signal.connect(recorder(log, "ok1"));
    auto low = signal.connect(
        [&log](int) {
            log.emplace_back("low");
            throw std::runtime_error("low");
        },
        with_priority(-1));
    auto high = signal.connect(
        [&log](int) {
            log.emplace_back("high");
            throw std::logic_error("high");
        },
        with_priority(1));
    auto non_std = signal.connect([&log](int) {
        log.emplace_back("non-std");
        throw 7;
    });
    auto ok2 = signal.connect(recorder(log, "ok2"));

    std::vector<SlotError> errors = signal.send_robust(0);
    CHECK(log == Log{"high", "ok1", "non-std", "ok2", "low"});
    REQUIRE(errors.size() == 3);

    CHECK(errors[0].connection == high);
    REQUIRE(errors[0].error);
    CHECK_THROWS_AS(std::rethrow_exception(errors[0].error), std::logic_error);
    CHECK_THROWS_WITH(std::rethrow_exception(errors[0].error), "high");

    CHECK(errors[1].connection == non_std);
    REQUIRE(errors[1].error);
    try {
        std::rethrow_exception(errors[1].error);
    } catch (int value) {
        CHECK(value == 7);
    } catch (...) {
        FAIL("wrong exception type");
    }

    CHECK(errors[2].connection == low);
    CHECK_THROWS_WITH(std::rethrow_exception(errors[2].error), "low");

    CHECK(errors[0].connection != ok1);
    CHECK(errors[2].connection != ok2);
    // The Connections in the errors are live handles to the failing slots.
    CHECK(errors[2].connection.connected());
    CHECK(errors[2].connection.disconnect());
    CHECK_FALSE(low.connected());
}

TEST_CASE("send_robust with no failures returns an empty vector", "[signal][send_robust]") {
    Signal<int> signal;
    CHECK(signal.send_robust(1).empty());
    int calls = 0;
    signal.connect([&calls](int) { ++calls; });
    CHECK(signal.send_robust(1).empty());
    CHECK(calls == 1);
}

TEST_CASE("send_robust_from filters by sender and reports only the slots that ran",
          "[signal][send_robust][sender]") {
    Signal<> signal;
    Widget a;
    Widget b;
    auto from_a =
        signal.connect([] { throw std::runtime_error("a"); }, with_sender(SenderId::of(&a)));
    signal.connect([] { throw std::runtime_error("b"); }, with_sender(SenderId::of(&b)));
    auto errors = signal.send_robust_from(SenderId::of(&a));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].connection == from_a);
    CHECK(signal.send_robust().empty());
}

TEST_CASE("send_robust_each counts the slots that ran, failing ones included, and lets an "
          "exception from its handler through",
          "[signal][send_robust]") {
    Signal<> signal;
    Widget a;
    Widget b;
    int ran = 0;
    // In the clean prefix (no sender filter before them): a slot that throws, then two more.
    signal.connect([&] { ++ran; });
    signal.connect([&] {
        ++ran;
        throw std::runtime_error("clean");
    });
    signal.connect([&] { ++ran; });
    // Past it: a slot of another sender (skipped, not counted), then one that throws.
    signal.connect([&] { ++ran; }, with_sender(SenderId::of(&b)));
    signal.connect([&] {
        ++ran;
        throw std::runtime_error("checked");
    });
    signal.connect([&] { ++ran; });
    std::vector<std::string> failures;
    const auto note = [&failures](SlotError&& failure) {
        try {
            std::rethrow_exception(failure.error);
        } catch (const std::runtime_error& error) {
            failures.emplace_back(error.what());
        }
    };
    CHECK(signal.send_robust_each(SenderId::of(&a), note) == 5);
    CHECK(ran == 5);
    CHECK(failures == std::vector<std::string>{"clean", "checked"});

    // The first slot that throws comes past a skipped one: the skipped one is not counted.
    Signal<> skip_then_fail;
    skip_then_fail.connect([] {}, with_sender(SenderId::of(&b)));
    skip_then_fail.connect([] { throw std::runtime_error("after a skipped slot"); });
    skip_then_fail.connect([] {});
    failures.clear();
    CHECK(skip_then_fail.send_robust_each(SenderId::of(&a), note) == 2);
    CHECK(failures == std::vector<std::string>{"after a skipped slot"});

    // The first slot throwing: counted once, the others still run.
    Signal<> first_fails;
    int later = 0;
    first_fails.connect([] { throw std::runtime_error("first"); });
    first_fails.connect([&later] { ++later; });
    failures.clear();
    CHECK(first_fails.send_robust_each(SenderId::any(), note) == 2);
    CHECK(later == 1);
    CHECK(failures == std::vector<std::string>{"first"});

    // A handler that throws ends the send: its exception reaches the caller, in the clean
    // prefix and past it alike.
    const auto refuse = [](SlotError&&) { throw std::logic_error("handler"); };
    ran = 0;
    CHECK_THROWS_AS(signal.send_robust_each(SenderId::of(&a), refuse), std::logic_error);
    CHECK(ran == 2);
    Signal<> checked_only;
    checked_only.connect([] {}, with_sender(SenderId::of(&a)));
    checked_only.connect([] { throw std::runtime_error("checked"); });
    CHECK_THROWS_AS(checked_only.send_robust_each(SenderId::of(&a), refuse), std::logic_error);
}

// =============================================================================================
// 6. During an emission

TEST_CASE("a slot connected during an emission is not called by it but by the next one",
          "[signal][reentrancy]") {
    Signal<> signal;
    Log log;
    bool connected_once = false;
    signal.connect([&] {
        log.emplace_back("connector");
        if (!connected_once) {
            connected_once = true;
            signal.connect(recorder(log, "late-high"), with_priority(100));
            signal.connect(recorder(log, "late-low"), with_priority(-100));
            signal.connect(recorder(log, "late-same"));
        }
    });
    signal.connect(recorder(log, "existing"));
    signal.send();
    CHECK(log == Log{"connector", "existing"});
    log.clear();
    signal.send();
    CHECK(log == Log{"late-high", "connector", "existing", "late-same", "late-low"});
}

TEST_CASE("a slot disconnected by an earlier slot in the same emission is not called",
          "[signal][reentrancy]") {
    Signal<> signal;
    Log log;
    Connection victim;
    Connection other_victim;
    signal.connect([&] {
        log.emplace_back("killer");
        CHECK(victim.disconnect());
        CHECK(signal.disconnect("other"));
    });
    victim = signal.connect(recorder(log, "victim"));
    other_victim = signal.connect(recorder(log, "other"), with_uid("other"));
    signal.connect(recorder(log, "survivor"));
    signal.send();
    CHECK(log == Log{"killer", "survivor"});
    CHECK(signal.size() == 2);
    CHECK_FALSE(other_victim.connected());
}

TEST_CASE("a slot blocked by an earlier slot in the same emission is not called",
          "[signal][reentrancy][blocking]") {
    Signal<> signal;
    Log log;
    Connection victim;
    signal.connect([&] {
        log.emplace_back("blocker");
        victim.block();
    });
    victim = signal.connect(recorder(log, "victim"));
    signal.connect(recorder(log, "survivor"));
    signal.send();
    CHECK(log == Log{"blocker", "survivor"});
    CHECK(victim.connected());
    victim.unblock();
    log.clear();
    signal.send();
    CHECK(log == Log{"blocker", "survivor"}); // blocked again by the first slot
}

TEST_CASE("a slot unblocked by an earlier slot in the same emission is called",
          "[signal][reentrancy][blocking]") {
    Signal<> signal;
    Log log;
    Connection blocked_slot;
    std::optional<ConnectionBlocker> blocker;
    signal.connect([&] {
        log.emplace_back("unblocker");
        blocked_slot.unblock();
        blocker.reset();
    });
    signal.connect(recorder(log, "steady"));
    blocked_slot = signal.connect(recorder(log, "blocked"));
    signal.connect(recorder(log, "last"));
    blocked_slot.block();
    signal.send();
    CHECK(log == Log{"unblocker", "steady", "blocked", "last"});
    log.clear();
    blocker.emplace(blocked_slot);
    signal.send();
    CHECK(log == Log{"unblocker", "steady", "blocked", "last"});
    CHECK_FALSE(blocked_slot.blocked());
}

TEST_CASE("a slot held by a ConnectionBlocker made earlier in the same emission is not called",
          "[signal][reentrancy][blocking]") {
    Signal<> signal;
    Log log;
    Connection victim;
    std::optional<ConnectionBlocker> blocker;
    signal.connect([&] {
        log.emplace_back("blocker");
        blocker.emplace(victim);
    });
    victim = signal.connect(recorder(log, "victim"));
    signal.connect(recorder(log, "survivor"));
    signal.send();
    CHECK(log == Log{"blocker", "survivor"});
    blocker.reset();
    CHECK_FALSE(victim.blocked());
}

TEST_CASE("after blocks and disconnects, old and newly connected slots still run in order",
          "[signal][blocking]") {
    Signal<> signal;
    Log log;
    Connection first = signal.connect(recorder(log, "first"));
    Connection gone = signal.connect(recorder(log, "gone"));
    signal.block();
    signal.unblock();
    first.block();
    first.unblock();
    gone.disconnect();
    signal.connect(recorder(log, "late"));
    signal.send();
    CHECK(log == Log{"first", "late"});
    log.clear();
    signal.connect(recorder(log, "later"));
    first.block();
    signal.send();
    CHECK(log == Log{"late", "later"});
}

TEST_CASE("a Connection that outlives its Signal does not disturb a Signal made later",
          "[signal][lifetime]") {
    auto old_signal = std::make_unique<Signal<>>();
    Connection stale = old_signal->connect([] {});
    old_signal.reset();
    Signal<> signal;
    Log log;
    signal.connect(recorder(log, "a"));
    signal.connect(recorder(log, "b"));
    CHECK_FALSE(stale.disconnect());
    stale.block();
    signal.send();
    CHECK(log == Log{"a", "b"});
}

TEST_CASE("a slot may block itself during an emission and is skipped until unblocked",
          "[signal][reentrancy][blocking]") {
    Signal<> signal;
    Connection self;
    int calls = 0;
    self = signal.connect([&] {
        ++calls;
        self.block();
    });
    signal.send();
    signal.send();
    CHECK(calls == 1);
    CHECK(self.blocked());
    CHECK(self.connected());
    self.unblock();
    signal.send();
    CHECK(calls == 2);
}

TEST_CASE("slots after a disconnect_all during an emission are not called",
          "[signal][reentrancy]") {
    Signal<> signal;
    Log log;
    signal.connect([&] {
        log.emplace_back("first");
        signal.disconnect_all();
    });
    signal.connect(recorder(log, "second"));
    signal.send();
    CHECK(log == Log{"first"});
    CHECK(signal.size() == 0);
    CHECK_FALSE(signal.has_listeners());
}

TEST_CASE("slots after the signal is blocked during an emission are not called",
          "[signal][reentrancy][blocking]") {
    Signal<> signal;
    Log log;
    signal.connect([&] {
        log.emplace_back("first");
        signal.block();
    });
    signal.connect(recorder(log, "second"));
    signal.send();
    CHECK(log == Log{"first"});
    signal.unblock();
}

TEST_CASE("a slot that disconnects itself still runs to completion with its state intact",
          "[signal][reentrancy]") {
    Signal<int> signal;
    auto self = std::make_shared<Connection>();
    std::string result;
    int calls = 0;
    auto payload = std::make_shared<std::string>("captured state that must survive");
    *self = signal.connect([self, payload, &result, &calls](int) {
        ++calls;
        const bool first = self->disconnect();
        // The callable (and so `payload`) must still be alive here.
        result = *payload + (first ? " (disconnected)" : " (already)");
    });
    payload.reset();
    signal.send(0);
    signal.send(0);
    CHECK(calls == 1);
    CHECK(result == "captured state that must survive (disconnected)");
    CHECK(signal.size() == 0);
    CHECK_FALSE(self->connected());
    self.reset(); // break the cycle slot -> self -> Connection
}

TEST_CASE("a slot may disconnect itself with disconnect_and_wait without deadlock",
          "[signal][reentrancy]") {
    Signal<> signal;
    Connection self;
    int calls = 0;
    bool result = false;
    self = signal.connect([&] {
        ++calls;
        result = self.disconnect_and_wait();
    });
    signal.send();
    signal.send();
    CHECK(calls == 1);
    CHECK(result);
    CHECK(signal.size() == 0);
}

TEST_CASE("a slot may disconnect itself by uid and by function pointer", "[signal][reentrancy]") {
    static Signal<int>* current = nullptr;
    static int calls = 0;
    static bool by_function = false;
    Signal<int> signal;
    current = &signal;
    calls = 0;
    struct Self {
        static void slot(int) {
            ++calls;
            by_function = current->disconnect(&Self::slot);
        }
    };
    signal.connect(&Self::slot);
    bool by_uid = false;
    signal.connect([&](int) { by_uid = signal.disconnect("me"); }, with_uid("me"));
    signal.send(0);
    signal.send(0);
    CHECK(calls == 1);
    CHECK(by_function);
    CHECK(by_uid);
    CHECK(signal.size() == 0);
    current = nullptr;
}

TEST_CASE("a slot may send the same signal re-entrantly", "[signal][reentrancy]") {
    Signal<int> signal;
    Log log;
    signal.connect([&](int depth) {
        log.push_back("a" + std::to_string(depth));
        if (depth == 0) {
            signal.send(1);
            CHECK(signal.send_robust(2).empty());
        }
    });
    signal.connect([&](int depth) { log.push_back("b" + std::to_string(depth)); });
    signal.send(0);
    CHECK(log == Log{"a0", "a1", "b1", "a2", "b2", "b0"});
}

TEST_CASE("a nested emission sees connections made by the outer slot; the outer does not",
          "[signal][reentrancy]") {
    Signal<int> signal;
    Log log;
    signal.connect([&](int depth) {
        log.push_back("outer" + std::to_string(depth));
        if (depth == 0) {
            signal.connect([&](int d) { log.push_back("new" + std::to_string(d)); });
            signal.send(1);
        }
    });
    signal.send(0);
    CHECK(log == Log{"outer0", "outer1", "new1"});
}

TEST_CASE("a slot disconnected in a nested emission is not called later by the outer one",
          "[signal][reentrancy]") {
    Signal<int> signal;
    Log log;
    Connection victim;
    signal.connect([&](int depth) {
        log.push_back("first" + std::to_string(depth));
        if (depth == 0) {
            signal.send(1);
        }
    });
    signal.connect([&](int depth) {
        log.push_back("second" + std::to_string(depth));
        if (depth == 1) {
            CHECK(victim.disconnect());
        }
    });
    victim = signal.connect([&](int depth) { log.push_back("victim" + std::to_string(depth)); });
    signal.send(0);
    CHECK(log == Log{"first0", "first1", "second1", "second0"});
}

TEST_CASE("slots may query size and has_listeners and blocked during an emission",
          "[signal][reentrancy]") {
    Signal<> signal;
    std::size_t size = 0;
    bool listeners = false;
    bool blocked = true;
    auto connection = signal.connect([&] {
        size = signal.size();
        listeners = signal.has_listeners();
        blocked = signal.blocked();
    });
    signal.send();
    CHECK(size == 1);
    CHECK(listeners);
    CHECK_FALSE(blocked);
    CHECK_FALSE(connection.blocked());
}

TEST_CASE("a slot that throws after disconnecting itself is still reported by send_robust",
          "[signal][reentrancy][send_robust]") {
    Signal<> signal;
    Connection self;
    self = signal.connect([&] {
        CHECK(self.disconnect());
        throw std::runtime_error("gone");
    });
    auto errors = signal.send_robust();
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].connection == self);
    CHECK_FALSE(errors[0].connection.connected());
    CHECK(signal.send_robust().empty());
}

// =============================================================================================
// 8 and 11. Lifetimes and tracking

TEST_CASE("a slot with an expired track is never called nor counted and reports disconnected",
          "[signal][track]") {
    Signal<int> signal;
    auto owner = std::make_shared<Widget>();
    int calls = 0;
    auto connection = signal.connect([&calls](int) { ++calls; }, with_track(owner));
    signal.connect([](int) {});
    signal.send(0);
    CHECK(calls == 1);
    CHECK(signal.size() == 2);
    CHECK(connection.connected());

    owner.reset();
    CHECK(signal.size() == 1);
    CHECK_FALSE(connection.connected());
    signal.send(0);
    CHECK(calls == 1);
    CHECK(signal.send_robust(0).empty());
    CHECK(calls == 1);
    CHECK_FALSE(connection.disconnect());
}

TEST_CASE("a tracked slot is dropped even if nothing is sent after expiry", "[signal][track]") {
    Signal<> signal;
    auto owner = std::make_shared<int>(1);
    auto connection = signal.connect([] {}, with_track(owner));
    CHECK(signal.has_listeners());
    owner.reset();
    CHECK_FALSE(signal.has_listeners());
    CHECK(signal.size() == 0);
    CHECK_FALSE(connection.connected());
}

TEST_CASE("a tracked slot expired by an earlier slot in the same emission is not called",
          "[signal][track][reentrancy]") {
    Signal<> signal;
    auto owner = std::make_shared<Widget>();
    Log log;
    signal.connect([&] {
        log.emplace_back("killer");
        owner.reset();
    });
    signal.connect(recorder(log, "tracked"), with_track(owner));
    signal.connect(recorder(log, "untracked"));
    signal.send();
    CHECK(log == Log{"killer", "untracked"});
}

TEST_CASE("the tracked object stays alive while its slot runs", "[signal][track]") {
    struct Tracked {
        bool* destroyed;
        int value = 0;
        explicit Tracked(bool* d) : destroyed(d) {}
        ~Tracked() { *destroyed = true; }
    };
    Signal<> signal;
    bool destroyed = false;
    auto holder = std::make_shared<Tracked>(&destroyed);
    Tracked* raw = holder.get();
    bool alive_after_reset = false;
    int value_in_slot = 0;
    signal.connect(
        [&, raw] {
            holder.reset(); // drop the last owner from inside the slot
            alive_after_reset = !destroyed;
            raw->value = 42; // still valid: the signal keeps it alive while the slot runs
            value_in_slot = raw->value;
        },
        with_track(holder));
    signal.send();
    CHECK(alive_after_reset);
    CHECK(value_in_slot == 42);
    CHECK(destroyed); // released once the slot returned
    CHECK(signal.size() == 0);
}

TEST_CASE("tracking accepts any shared_ptr through weak_ptr<const void>", "[signal][track]") {
    Signal<> signal;
    auto widget = std::make_shared<Widget>();
    std::shared_ptr<const Gadget> gadget = std::make_shared<Gadget>();
    int calls = 0;
    ConnectOptions options;
    options.track = widget;
    signal.connect([&calls] { ++calls; }, options);
    options.track = gadget;
    signal.connect([&calls] { ++calls; }, options);
    signal.send();
    CHECK(calls == 2);
    gadget.reset();
    signal.send();
    CHECK(calls == 3);
    CHECK(signal.size() == 1);
}

TEST_CASE("a Connection outliving its Signal reports disconnected", "[signal][lifetime]") {
    Connection connection;
    Connection blocked_connection;
    {
        Signal<int> signal;
        connection = signal.connect([](int) {});
        blocked_connection = signal.connect([](int) {});
        blocked_connection.block();
        CHECK(connection.connected());
    }
    CHECK_FALSE(connection.connected());
    CHECK_FALSE(connection.disconnect());
    CHECK_FALSE(connection.disconnect_and_wait());
    connection.block();
    connection.unblock();
    (void)connection.blocked();
    CHECK_FALSE(blocked_connection.connected());
    blocked_connection.unblock();
    Connection copy = connection;
    CHECK(copy == connection);
    CHECK(copy != blocked_connection);
}

TEST_CASE("a ScopedConnection and a ConnectionBlocker may outlive their Signal",
          "[signal][lifetime]") {
    auto signal = std::make_unique<Signal<>>();
    auto connection = signal->connect([] {});
    {
        ScopedConnection scoped(signal->connect([] {}));
        ConnectionBlocker blocker(connection);
        signal.reset();
    }
    CHECK_FALSE(connection.connected());
}

TEST_CASE("a Signal whose slot disconnected itself during an emission can be destroyed",
          "[signal][lifetime]") {
    auto signal = std::make_unique<Signal<>>();
    Connection self;
    self = signal->connect([&] { self.disconnect(); });
    signal->send();
    signal.reset();
    CHECK_FALSE(self.connected());
}

// =============================================================================================
// Connection handles

TEST_CASE("a default-constructed Connection is empty", "[signal][connection]") {
    Connection empty;
    CHECK_FALSE(empty.connected());
    CHECK_FALSE(empty.disconnect());
    CHECK_FALSE(empty.disconnect_and_wait());
    empty.block();
    empty.unblock();
    CHECK_FALSE(empty.connected());

    Signal<> signal;
    auto real = signal.connect([] {});
    CHECK(empty != real);
    CHECK_FALSE(empty == real);
}

TEST_CASE("disconnect returns true only for the call that disconnected", "[signal][connection]") {
    Signal<> signal;
    auto connection = signal.connect([] {}, with_uid("uid"));
    Connection copy = connection;
    CHECK(connection.disconnect());
    CHECK_FALSE(connection.disconnect());
    CHECK_FALSE(copy.disconnect());
    CHECK_FALSE(signal.disconnect("uid"));
    CHECK_FALSE(copy.connected());

    auto second = signal.connect([] {}, with_uid("uid"));
    CHECK(signal.disconnect("uid"));
    CHECK_FALSE(second.disconnect());
    CHECK_FALSE(second.disconnect_and_wait());

    auto third = signal.connect([] {});
    CHECK(third.disconnect_and_wait());
    CHECK_FALSE(third.disconnect_and_wait());
    CHECK_FALSE(third.disconnect());
}

TEST_CASE("copies of a Connection name the same slot", "[signal][connection]") {
    Signal<> signal;
    int calls = 0;
    auto original = signal.connect([&calls] { ++calls; });
    auto other = signal.connect([] {});
    Connection copy = original;
    Connection assigned;
    assigned = original;
    CHECK(copy == original);
    CHECK(assigned == original);
    CHECK_FALSE(copy != original);
    CHECK(copy != other);

    copy.block();
    CHECK(original.blocked());
    CHECK(assigned.blocked());
    signal.send();
    CHECK(calls == 0);
    assigned.unblock();
    CHECK_FALSE(original.blocked());
    signal.send();
    CHECK(calls == 1);

    CHECK(assigned.disconnect());
    CHECK_FALSE(original.connected());
    CHECK_FALSE(copy.connected());
    CHECK(copy == original); // identity survives disconnection
    CHECK(other.connected());
}

TEST_CASE("Connections from different signals are different", "[signal][connection]") {
    Signal<> first;
    Signal<> second;
    auto a = first.connect([] {}, with_uid("same"));
    auto b = second.connect([] {}, with_uid("same"));
    CHECK(a != b);
    CHECK(a.disconnect());
    CHECK(b.connected());
}

// =============================================================================================
// 9. Blocking

TEST_CASE("a blocked slot is skipped but still connected and counted", "[signal][blocking]") {
    Signal<int> signal;
    int calls = 0;
    auto connection = signal.connect([&calls](int) { ++calls; });
    CHECK_FALSE(connection.blocked());
    connection.block();
    CHECK(connection.blocked());
    CHECK(connection.connected());
    CHECK(signal.size() == 1);
    CHECK_FALSE(signal.has_listeners());
    signal.send(0);
    CHECK(signal.send_robust(0).empty());
    CHECK(calls == 0);

    connection.block(); // idempotent
    connection.unblock();
    CHECK_FALSE(connection.blocked());
    CHECK(signal.has_listeners());
    signal.send(0);
    CHECK(calls == 1);
}

TEST_CASE("a blocked slot does not hide other slots from has_listeners", "[signal][blocking]") {
    Signal<> signal;
    auto blocked = signal.connect([] {});
    blocked.block();
    CHECK_FALSE(signal.has_listeners());
    auto open = signal.connect([] {});
    CHECK(signal.has_listeners());
    open.block();
    CHECK_FALSE(signal.has_listeners());
    CHECK(signal.size() == 2);
}

TEST_CASE("a blocked signal skips every slot but keeps them connected", "[signal][blocking]") {
    Signal<int> signal;
    int calls = 0;
    auto a = signal.connect([&calls](int) { ++calls; });
    auto b = signal.connect([&calls](int) { ++calls; }, with_uid("b"));
    CHECK_FALSE(signal.blocked());
    signal.block();
    CHECK(signal.blocked());
    CHECK(signal.size() == 2);
    CHECK_FALSE(signal.has_listeners());
    CHECK(a.connected());
    CHECK_FALSE(a.blocked()); // the slot itself is not blocked
    signal.send(0);
    signal.send_from(SenderId::any(), 0);
    CHECK(signal.send_robust(0).empty());
    CHECK(calls == 0);

    // Slots connected while the signal is blocked are skipped too.
    signal.connect([&calls](int) { ++calls; });
    signal.send(0);
    CHECK(calls == 0);

    signal.unblock();
    CHECK_FALSE(signal.blocked());
    CHECK(signal.has_listeners());
    signal.send(0);
    CHECK(calls == 3);
}

TEST_CASE("a ConnectionBlocker blocks the slot for its lifetime", "[signal][blocking]") {
    Signal<> signal;
    int calls = 0;
    auto connection = signal.connect([&calls] { ++calls; });
    {
        ConnectionBlocker blocker(connection);
        CHECK(connection.blocked());
        CHECK(connection.connected());
        signal.send();
        CHECK(calls == 0);
    }
    CHECK_FALSE(connection.blocked());
    signal.send();
    CHECK(calls == 1);
}

TEST_CASE("nested ConnectionBlockers keep the slot blocked until the last one ends",
          "[signal][blocking]") {
    Signal<> signal;
    int calls = 0;
    auto connection = signal.connect([&calls] { ++calls; });
    {
        ConnectionBlocker outer(connection);
        {
            ConnectionBlocker inner(connection);
            CHECK(connection.blocked());
        }
        // `outer` still lives: the slot must still be blocked.
        CHECK(connection.blocked());
        signal.send();
        CHECK(calls == 0);
    }
    CHECK_FALSE(connection.blocked());
    signal.send();
    CHECK(calls == 1);
}

TEST_CASE("a ConnectionBlocker on a disconnected or empty Connection is harmless",
          "[signal][blocking]") {
    Signal<> signal;
    auto connection = signal.connect([] {});
    CHECK(connection.disconnect());
    {
        ConnectionBlocker on_disconnected(connection);
        ConnectionBlocker on_empty{Connection()};
    }
    CHECK_FALSE(connection.connected());
}

// =============================================================================================
// ScopedConnection

TEST_CASE("a ScopedConnection disconnects its slot on destruction", "[signal][scoped]") {
    Signal<> signal;
    int calls = 0;
    Connection observer;
    {
        observer = signal.connect([&calls] { ++calls; });
        ScopedConnection scoped(observer);
        signal.send();
        CHECK(calls == 1);
        CHECK(observer.connected());
    }
    CHECK_FALSE(observer.connected());
    CHECK(signal.size() == 0);
    signal.send();
    CHECK(calls == 1);
}

TEST_CASE("ScopedConnection::release hands back a still-connected Connection", "[signal][scoped]") {
    Signal<> signal;
    int calls = 0;
    Connection original = signal.connect([&calls] { ++calls; });
    Connection released;
    {
        ScopedConnection scoped(original);
        released = scoped.release();
        CHECK(released == original);
        CHECK(released.connected());
        Connection second = scoped.release();
        CHECK_FALSE(second.connected());
    }
    CHECK(released.connected());
    signal.send();
    CHECK(calls == 1);
    CHECK(released.disconnect());
}

TEST_CASE("moving a ScopedConnection transfers the responsibility to disconnect",
          "[signal][scoped]") {
    Signal<> signal;
    Connection observer = signal.connect([] {});
    {
        ScopedConnection source(observer);
        {
            ScopedConnection target(std::move(source));
            CHECK(observer.connected());
        }
        CHECK_FALSE(observer.connected());
    }
    CHECK(signal.size() == 0);
}

TEST_CASE("move assignment to a ScopedConnection disconnects the slot it held",
          "[signal][scoped]") {
    Signal<> signal;
    Log log;
    Connection first = signal.connect(recorder(log, "first"));
    Connection second = signal.connect(recorder(log, "second"));
    ScopedConnection scoped(first);
    {
        ScopedConnection other(second);
        scoped = std::move(other);
        CHECK_FALSE(first.connected());
        CHECK(second.connected());
    }
    // `other` was moved from; its destruction must not disconnect `second`.
    CHECK(second.connected());
    signal.send();
    CHECK(log == Log{"second"});
    Connection back = scoped.release();
    CHECK(back == second);
    CHECK(back.disconnect());
}

TEST_CASE("a ScopedConnection built from a temporary Connection works", "[signal][scoped]") {
    Signal<> signal;
    int calls = 0;
    {
        ScopedConnection scoped(signal.connect([&calls] { ++calls; }));
        signal.send();
    }
    signal.send();
    CHECK(calls == 1);
    CHECK(signal.size() == 0);
}

// =============================================================================================
// Signal::disconnect by key, disconnect_all

TEST_CASE("disconnect by uid and sender disconnects exactly the slot with that key",
          "[signal][disconnect]") {
    Signal<> signal;
    Widget a;
    Log log;
    auto any = signal.connect(recorder(log, "any"), with_uid("k"));
    auto from_a = signal.connect(recorder(log, "a"), with_uid("k", SenderId::of(&a)));
    auto other = signal.connect(recorder(log, "other"), with_uid("other"));

    CHECK_FALSE(signal.disconnect("missing"));
    CHECK_FALSE(signal.disconnect("k", SenderId::type<Widget>()));
    CHECK(signal.disconnect("k", SenderId::of(&a)));
    CHECK_FALSE(from_a.connected());
    CHECK(any.connected());
    CHECK_FALSE(signal.disconnect("k", SenderId::of(&a)));

    CHECK(signal.disconnect("k"));
    CHECK_FALSE(any.connected());
    CHECK(other.connected());
    CHECK(signal.size() == 1);

    std::string_view view = "other";
    CHECK(signal.disconnect(view));
}

TEST_CASE("disconnect(\"\") returns false and disconnects nothing", "[signal][disconnect]") {
    Signal<> signal;
    signal.connect([] {}, with_uid(""));
    signal.connect([] {});
    CHECK_FALSE(signal.disconnect(""));
    CHECK_FALSE(signal.disconnect(std::string_view{}));
    CHECK_FALSE(signal.disconnect(std::string()));
    CHECK(signal.size() == 2);
}

TEST_CASE("disconnect by function pointer and sender disconnects exactly the slot with that key",
          "[signal][disconnect]") {
    ClearLog clear;
    Signal<int> signal;
    Widget a;
    signal.connect(log_a);
    auto from_a = signal.connect(log_a, with_sender(SenderId::of(&a)));
    signal.connect(log_b);

    CHECK_FALSE(signal.disconnect(log_c));
    CHECK_FALSE(signal.disconnect(log_a, SenderId::type<Widget>()));
    CHECK(signal.disconnect(&log_a, SenderId::of(&a)));
    CHECK_FALSE(from_a.connected());
    CHECK_FALSE(signal.disconnect(log_a, SenderId::of(&a)));
    CHECK(signal.size() == 2);

    CHECK(signal.disconnect(log_a));
    CHECK_FALSE(signal.disconnect(&log_a));
    signal.send_from(SenderId::of(&a), 0);
    CHECK(g_log == Log{"b"});
}

TEST_CASE("disconnect_all disconnects every slot and later emissions call none",
          "[signal][disconnect]") {
    Signal<int> signal;
    Widget a;
    int calls = 0;
    auto c1 = signal.connect([&calls](int) { ++calls; });
    auto c2 = signal.connect([&calls](int) { ++calls; }, with_sender(SenderId::of(&a)));
    auto c3 = signal.connect([&calls](int) { ++calls; }, with_uid("u"));
    c3.block();
    signal.disconnect_all();
    CHECK(signal.size() == 0);
    CHECK_FALSE(signal.has_listeners());
    CHECK_FALSE(signal.has_listeners(SenderId::of(&a)));
    CHECK_FALSE(c1.connected());
    CHECK_FALSE(c2.connected());
    CHECK_FALSE(c3.connected());
    CHECK_FALSE(c1.disconnect());
    signal.send(0);
    signal.send_from(SenderId::of(&a), 0);
    CHECK(signal.send_robust(0).empty());
    CHECK(calls == 0);

    signal.disconnect_all(); // on an empty signal
    auto again = signal.connect([&calls](int) { ++calls; }, with_uid("u"));
    CHECK(again.connected());
    CHECK(again != c3);
    signal.send(0);
    CHECK(calls == 1);
}

TEST_CASE("size counts live connected slots of every sender", "[signal][size]") {
    Signal<> signal;
    Widget a;
    CHECK(signal.size() == 0);
    auto c1 = signal.connect([] {});
    auto c2 = signal.connect([] {}, with_sender(SenderId::of(&a)));
    auto c3 = signal.connect([] {}, with_uid("x", SenderId::type<Widget>()));
    CHECK(signal.size() == 3);
    CHECK(c2.disconnect());
    CHECK(signal.size() == 2);
    CHECK(c3.disconnect_and_wait());
    CHECK(signal.size() == 1);
}

// =============================================================================================
// 10. Arguments

TEST_CASE("all slots of one send see the very same argument objects (reference signal)",
          "[signal][arguments]") {
    struct Event {
        int id = 0;
        std::string name;
    };
    Signal<const Event&, int&> signal;
    Event event{1, "login"};
    int counter = 0;
    std::vector<const void*> event_addresses;
    std::vector<const void*> counter_addresses;
    for (int i = 0; i < 3; ++i) {
        signal.connect([&](const Event& e, int& c) {
            event_addresses.push_back(&e);
            counter_addresses.push_back(&c);
            ++c; // later slots see the earlier slots' writes
        });
    }
    signal.send(event, counter);
    REQUIRE(event_addresses.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(event_addresses[i] == &event);
        CHECK(counter_addresses[i] == &counter);
    }
    CHECK(counter == 3);
}

TEST_CASE("all slots of one send see the very same objects of a by-value signal",
          "[signal][arguments]") {
    Signal<std::string, int> signal;
    std::vector<const void*> addresses;
    std::vector<const void*> int_addresses;
    for (int i = 0; i < 3; ++i) {
        signal.connect([&](const std::string& s, const int& n) {
            addresses.push_back(&s);
            int_addresses.push_back(&n);
        });
    }
    signal.send(std::string("value"), 5);
    REQUIRE(addresses.size() == 3);
    CHECK(addresses[0] == addresses[1]);
    CHECK(addresses[1] == addresses[2]);
    CHECK(int_addresses[0] == int_addresses[2]);

    addresses.clear();
    std::string lvalue = "lvalue";
    CHECK(signal.send_robust(lvalue, 1).empty());
    REQUIRE(addresses.size() == 3);
    CHECK(addresses[0] == addresses[1]);
    CHECK(addresses[1] == addresses[2]);
}

TEST_CASE("a by-value signal makes no copy per slot", "[signal][arguments]") {
    Signal<Counted> one_slot;
    Signal<Counted> five_slots;
    int sum = 0;
    one_slot.connect([&sum](const Counted& c) { sum += c.value; });
    for (int i = 0; i < 5; ++i) {
        five_slots.connect([&sum](const Counted& c) { sum += c.value; });
    }

    Counted::copies = 0;
    Counted::moves = 0;
    one_slot.send(Counted(1));
    const int copies_one = Counted::copies;
    const int moves_one = Counted::moves;
    Counted::copies = 0;
    Counted::moves = 0;
    five_slots.send(Counted(1));
    CHECK(Counted::copies == copies_one);
    CHECK(Counted::moves == moves_one);

    const Counted lvalue(2);
    Counted::copies = 0;
    Counted::moves = 0;
    one_slot.send(lvalue);
    const int lvalue_copies_one = Counted::copies;
    Counted::copies = 0;
    five_slots.send(lvalue);
    CHECK(Counted::copies == lvalue_copies_one);
    CHECK(sum == 1 + 5 + 2 + 10);
}

TEST_CASE("move-only argument types work with const& slots", "[signal][arguments]") {
    Signal<std::unique_ptr<int>> signal;
    std::vector<const int*> seen;
    signal.connect([&seen](const std::unique_ptr<int>& p) { seen.push_back(p.get()); });
    signal.connect([&seen](const std::unique_ptr<int>& p) { seen.push_back(p.get()); });
    auto value = std::make_unique<int>(3);
    const int* raw = value.get();
    signal.send(std::move(value));
    REQUIRE(seen.size() == 2);
    CHECK(seen[0] == raw);
    CHECK(seen[1] == raw);

    CHECK(signal.send_robust(std::make_unique<int>(4)).empty());
    CHECK(signal.send_robust_from(SenderId::any(), std::make_unique<int>(5)).empty());
    signal.send_from(SenderId::any(), std::make_unique<int>(6));
    CHECK(seen.size() == 8);
    CHECK(seen[2] == seen[3]);
    CHECK(seen[2] != nullptr);
}

// =============================================================================================
// Slot destruction

TEST_CASE("a slot's callable is destroyed when it is disconnected outside an emission",
          "[signal][lifetime]") {
    Signal<> signal;
    auto make = [](std::weak_ptr<int>& weak) {
        auto token = std::make_shared<int>(0);
        weak = token;
        return [token] { ++*token; };
    };

    std::weak_ptr<int> w1;
    auto c1 = signal.connect(make(w1));
    std::weak_ptr<int> w2;
    signal.connect(make(w2), with_uid("uid"));
    std::weak_ptr<int> w3;
    auto c3 = signal.connect(make(w3));
    std::weak_ptr<int> w4;
    signal.connect(make(w4));
    std::weak_ptr<int> w5;
    auto c5 = signal.connect(make(w5));
    signal.send();
    CHECK_FALSE(w1.expired());

    CHECK(c1.disconnect());
    CHECK(w1.expired());
    CHECK_FALSE(w2.expired());

    CHECK(signal.disconnect("uid"));
    CHECK(w2.expired());

    { ScopedConnection scoped(c3); }
    CHECK(w3.expired());

    CHECK(c5.disconnect_and_wait());
    CHECK(w5.expired());

    signal.disconnect_all();
    CHECK(w4.expired());
}

TEST_CASE("a duplicate connect destroys the rejected callable", "[signal][lifetime][dedup]") {
    Signal<> signal;
    auto kept = std::make_shared<int>(0);
    auto rejected = std::make_shared<int>(0);
    std::weak_ptr<int> weak_kept = kept;
    std::weak_ptr<int> weak_rejected = rejected;
    signal.connect([kept] {}, with_uid("key"));
    signal.connect([rejected] {}, with_uid("key"));
    kept.reset();
    rejected.reset();
    CHECK_FALSE(weak_kept.expired());
    CHECK(weak_rejected.expired());
}

// ---------------------------------------------------------------------------------------------
// Idioms from Boost.Signals2 and sigslot: tracking decides liveness by ownership, and a
// ScopedConnection re-assigned with a deduplicated connect keeps its slot.

TEST_CASE("a track that owns an object through a null pointer keeps the slot alive",
          "[signal][track]") {
    Signal<> signal;
    auto owner = std::make_shared<int>(1);
    int calls = 0;
    ConnectOptions aliasing;
    aliasing.track = std::shared_ptr<const void>(owner, nullptr); // owns *owner, points nowhere
    const Connection c1 = signal.connect([&calls] { ++calls; }, aliasing);
    auto null_int = std::shared_ptr<int>(static_cast<int*>(nullptr)); // owns a null int*
    ConnectOptions null_pointer;
    null_pointer.track = null_int;
    const Connection c2 = signal.connect([&calls] { calls += 10; }, null_pointer);

    signal.send();
    CHECK(calls == 11);
    CHECK(c1.connected());
    CHECK(c2.connected());
    CHECK(signal.size() == 2);
    CHECK(signal.has_listeners());

    owner.reset();
    null_int.reset();
    signal.send();
    CHECK(calls == 11);
    CHECK_FALSE(c1.connected());
    CHECK_FALSE(c2.connected());
    CHECK(signal.size() == 0);
}

TEST_CASE("a queued slot tracked through a null pointer runs while the owner lives",
          "[signal][track][queued]") {
    std::vector<std::function<void()>> tasks;
    ConnectOptions queued;
    queued.executor = [&tasks](std::function<void()> task) { tasks.push_back(std::move(task)); };
    auto owner = std::make_shared<int>(1);
    queued.track = std::shared_ptr<const void>(owner, nullptr);
    Signal<int> signal;
    int sum = 0;
    const Connection connection = signal.connect([&sum](int value) { sum += value; }, queued);

    signal.send(2);
    signal.send(3);
    REQUIRE(tasks.size() == 2);
    tasks[0]();
    CHECK(sum == 2);
    CHECK(connection.connected());
    owner.reset(); // expires before the second call starts: it does not run
    tasks[1]();
    CHECK(sum == 2);
    CHECK_FALSE(connection.connected());
}

static void scoped_target() {}

TEST_CASE("re-assigning a ScopedConnection with the same slot keeps the slot connected",
          "[signal][scoped][dedup]") {
    Signal<> signal;
    SECTION("function identity") {
        ScopedConnection scoped = signal.connect(&scoped_target);
        scoped = signal.connect(&scoped_target); // dedup hands back the same slot
        CHECK(scoped.connected());
        CHECK(signal.size() == 1);
    }
    SECTION("dispatch_uid") {
        int calls = 0;
        ScopedConnection scoped = signal.connect([&calls] { ++calls; }, with_uid("re-register"));
        scoped = signal.connect([&calls] { calls += 100; }, with_uid("re-register"));
        CHECK(scoped.connected());
        signal.send();
        CHECK(calls == 1); // the first slot stays, connected
    }
    SECTION("from a Connection") {
        const Connection connection = signal.connect(&scoped_target);
        ScopedConnection scoped(connection);
        scoped = ScopedConnection(connection);
        CHECK(scoped.connected());
        CHECK(connection.connected());
    }
    SECTION("a different slot is still disconnected") {
        const Connection first = signal.connect(&scoped_target);
        ScopedConnection scoped(first);
        scoped = signal.connect([] {});
        CHECK_FALSE(first.connected());
        CHECK(scoped.connected());
    }
    CHECK(signal.size() == 0); // every ScopedConnection above disconnected its slot at the end
}

TEST_CASE("slots connected and disconnected nonstop never reuse a slot a Connection still names",
          "[signal][connect]") {
    // Reclaimed slots are reused by later connects only once no Connection names them: the
    // handles kept here must keep reporting their own slot's state through thousands of
    // reconnects, and each new slot must carry its own uid, priority and sender.
    Signal<int> signal;
    int first = 0;
    signal.connect([&first](int value) { first += value; });
    std::vector<Connection> kept;
    int calls = 0;
    for (int round = 0; round < 4000; ++round) {
        Connection connection =
            signal.connect([&calls](int) { ++calls; }, with_uid("round " + std::to_string(round)));
        if (round % 97 == 0) {
            kept.push_back(connection);
        }
        CHECK(connection.dispatch_uid() == "round " + std::to_string(round));
        CHECK(connection.disconnect());
    }
    for (const Connection& connection : kept) {
        CHECK_FALSE(connection.connected());
        CHECK_FALSE(Connection(connection).disconnect());
    }
    // A new slot, possibly on a reused node, has exactly the options it was connected with.
    int later = 0;
    ConnectOptions options = with_uid("later");
    options.priority = 5;
    options.sender = SenderId::type<int>();
    const Connection connection =
        signal.connect([&later](int value) { later += value; }, std::move(options));
    CHECK(signal.connect([](int) {}, with_uid("later")).connected()); // any(): another key
    signal.send(1);
    CHECK(later == 0); // connected for one sender only
    signal.send_from(SenderId::type<int>(), 2);
    CHECK(later == 2);
    CHECK(first == 3);
    CHECK(calls == 0);
    CHECK(connection.dispatch_uid() == "later");
    CHECK(signal.disconnect("later", SenderId::type<int>()));
    CHECK_FALSE(connection.connected());
    CHECK(signal.size() == 2);
}

TEST_CASE("tombstones skipped in one step leave every live slot called once and in order",
          "[signal][disconnect]") {
    // A signal connected and disconnected nonstop keeps its disconnected slots' entries in a
    // run that emissions skip without reading them. Random connects (plain and keyed, some
    // kept alive between tombstones) and disconnects (by Connection, by uid, in place and at
    // either end of a run, now and then everything) against a model of the live slots: every
    // send must call exactly the live slots, in connection order, and count them.
    Signal<int> signal;
    struct Model {
        int id;
        Connection connection;
        std::string uid;
    };
    std::vector<Model> live;
    std::vector<int> calls;
    std::mt19937 random(14);
    int next_id = 0;
    const auto check_send = [&] {
        calls.clear();
        signal.send(0);
        std::vector<int> expected;
        for (const Model& model : live) {
            expected.push_back(model.id);
        }
        CHECK(calls == expected);
        calls.clear();
        const std::size_t ran = signal.send_robust_each(
            SenderId::any(), [](SlotError&&) { FAIL("no slot throws"); }, 0);
        CHECK(ran == expected.size());
        CHECK(calls == expected);
        CHECK(signal.size() == expected.size());
    };
    for (int step = 0; step < 3000; ++step) {
        const auto choice = random() % 100;
        if (choice < 45 || live.empty()) {
            const int id = next_id++;
            const bool keyed = random() % 4 == 0;
            const std::string uid = keyed ? "slot " + std::to_string(id) : std::string();
            Connection connection =
                keyed ? signal.connect([&calls, id](int) { calls.push_back(id); }, with_uid(uid))
                      : signal.connect([&calls, id](int) { calls.push_back(id); });
            live.push_back(Model{id, std::move(connection), uid});
        } else if (choice < 95) {
            // Mostly the newest slot (the tombstones then form one run), else any.
            const std::size_t index = random() % 3 != 0 ? live.size() - 1 : random() % live.size();
            Model& model = live[index];
            if (!model.uid.empty() && random() % 2 == 0) {
                CHECK(signal.disconnect(model.uid));
            } else {
                CHECK(model.connection.disconnect());
            }
            CHECK_FALSE(model.connection.connected());
            live.erase(live.begin() + static_cast<std::ptrdiff_t>(index));
        } else if (choice < 99) {
            check_send();
        } else {
            signal.disconnect_all();
            live.clear();
        }
        if (step % 7 == 0) {
            check_send();
        }
    }
    check_send();
}
