// Emission, connection and dispatch costs of authevents::Signal beside the floor (a loop over
// std::vector<std::function<void(int)>>) and, when found at build time, Boost.Signals2 and
// libsigc++. Every library runs the same workload: a void(int) signal whose N slots add into a
// thread-local volatile, four distinct slot functions rotating across the slots.
//
// Benchmark names: <case>/<library>/<N>[/threads:2]. benchmarks/run turns the JSON output into
// a table of medians with each figure's ratio to the floor of the same case.
#include <authevents/detail/asymmetric_fence.hpp>
#include <authevents/dispatcher.hpp>
#include <authevents/signal.hpp>

#include <benchmark/benchmark.h>

#include "paired.hpp"

#if defined(__linux__)
#include <sys/resource.h>
#include <time.h>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#ifdef AUTHEVENTS_BENCH_BOOST
#include <boost/signals2.hpp>
#endif
#ifdef AUTHEVENTS_BENCH_SIGC
#include <sigc++/sigc++.h>
#endif

// Every library's adapter is inlined into the timing loop, as a call written in that loop would
// be: whether the compiler inlines an adapter otherwise depends on the rest of this file (its
// inlining budget), and a call more or less per send is a third of a one-slot send.
// The timing loops themselves are out of line and start on a cache line: where the linker put
// them otherwise moved a paired ratio by 6% from one build to the next with the same machine
// code (an 8-handler dispatch read 1.12x or 1.19x the floor with clang++).
#if defined(__GNUC__) || defined(__clang__)
#define BENCH_INLINE __attribute__((always_inline))
#define BENCH_NOINLINE __attribute__((noinline, aligned(64)))
#else
#define BENCH_INLINE
#define BENCH_NOINLINE
#endif

namespace {

thread_local volatile int sink = 0;

template <int K> void add_into_sink(int value) { sink = sink + value + K; }

using SlotFunction = void (*)(int);
constexpr std::array<SlotFunction, 4> slot_functions{&add_into_sink<0>, &add_into_sink<1>,
                                                     &add_into_sink<2>, &add_into_sink<3>};

SlotFunction slot_for(std::size_t index) { return slot_functions[index % slot_functions.size()]; }

// --- One adapter per library: connect N slots, emit, connect+disconnect one more -------------

struct Floor {
    static constexpr const char* name = "floor";
    static constexpr bool concurrent_emits = true; // read-only loop
    static constexpr bool thread_safe = false;
    std::vector<std::function<void(int)>> slots;

    void connect_many(std::size_t count) {
        for (std::size_t index = 0; index < count; ++index) {
            slots.emplace_back(slot_for(index));
        }
    }
    BENCH_INLINE void emit(int value) {
        for (const auto& slot : slots) {
            slot(value);
        }
    }
    void connect_disconnect() {
        slots.emplace_back(slot_for(1));
        slots.erase(slots.end() - 1);
    }
};

struct Authevents {
    static constexpr const char* name = "authevents";
    static constexpr bool concurrent_emits = true;
    static constexpr bool thread_safe = true;
    authevents::Signal<int> signal;

    void connect_many(std::size_t count) {
        for (std::size_t index = 0; index < count; ++index) {
            authevents::ConnectOptions options;
            options.dispatch_uid = std::to_string(index); // plain functions dedup without a uid
            signal.connect(slot_for(index), std::move(options));
        }
    }
    BENCH_INLINE void emit(int value) { signal.send(value); }
    void connect_disconnect() {
        signal.connect([](int value) { add_into_sink<1>(value); }).disconnect();
    }
};

#ifdef AUTHEVENTS_BENCH_BOOST
struct BoostSignals2 {
    static constexpr const char* name = "boost_signals2";
    static constexpr bool concurrent_emits = true;
    static constexpr bool thread_safe = true;
    boost::signals2::signal<void(int)> signal;

    void connect_many(std::size_t count) {
        for (std::size_t index = 0; index < count; ++index) {
            signal.connect(slot_for(index));
        }
    }
    BENCH_INLINE void emit(int value) { signal(value); }
    void connect_disconnect() { signal.connect(slot_for(1)).disconnect(); }
};
#endif

#ifdef AUTHEVENTS_BENCH_SIGC
struct Sigc {
    static constexpr const char* name = "libsigcpp";
    static constexpr bool concurrent_emits = false; // emission updates plain counters
    static constexpr bool thread_safe = false;
    sigc::signal<void(int)> signal;

    void connect_many(std::size_t count) {
        for (std::size_t index = 0; index < count; ++index) {
            signal.connect(sigc::ptr_fun(slot_for(index)));
        }
    }
    BENCH_INLINE void emit(int value) { signal.emit(value); }
    void connect_disconnect() { signal.connect(sigc::ptr_fun(slot_for(1))).disconnect(); }
};
#endif

std::size_t slot_count(const benchmark::State& state) {
    return static_cast<std::size_t>(state.range(0));
}

// --- Cases ----------------------------------------------------------------------------------

/// The timed loop of `emit` and `emit_two_threads`: one out-of-line function per library, so
/// that the one-thread and the two-thread case time the same machine code. Inlined into each
/// case, the two copies of the loop were placed differently, and that alone moved the
/// two-thread ratio by more than its margin from one build to the next.
template <class Library> BENCH_NOINLINE void send_loop(Library& library, benchmark::State& state) {
    for (auto _ : state) {
        library.emit(1);
    }
}

template <class Library> void emit(benchmark::State& state) {
    Library library;
    library.connect_many(slot_count(state));
    send_loop(library, state);
}

/// The signal both threads of emit_two_threads send to: made before the threads start and
/// destroyed after they stop (the case's Setup and Teardown), so neither thread can see it
/// half made or gone.
template <class Library> std::unique_ptr<Library> shared_library;

template <class Library> void make_shared_library(const benchmark::State& state) {
    shared_library<Library> = std::make_unique<Library>();
    shared_library<Library>->connect_many(slot_count(state));
}

template <class Library> void destroy_shared_library(const benchmark::State&) {
    shared_library<Library>.reset();
}

/// Two threads emit the same signal; each thread's time per emit.
template <class Library> void emit_two_threads(benchmark::State& state) {
    send_loop(*shared_library<Library>, state);
}

/// How many times this thread has given up its CPU to wait (voluntary context switches).
double voluntary_switches() {
#if defined(__linux__) && defined(RUSAGE_THREAD)
    rusage usage{};
    getrusage(RUSAGE_THREAD, &usage);
    return static_cast<double>(usage.ru_nvcsw);
#else
    return 0;
#endif
}

/// What the writer of a churn case shares with the sender: the library and the writer's
/// progress, each on cache lines of their own, on the heap. On the sender's stack they shared
/// lines with the sender's locals (the argument it sends, stored on every send): the writer's
/// reads of the library and stores of its progress then cost every send misses that no real
/// sender pays: more than half of what churn added to a send (see docs/performance.md).
template <class Library> struct ChurnShared {
    alignas(64) Library library;
    alignas(64) std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> writes{0};
    /// Set by the sender to have the writer bounce `ball` with it (see LineBounce).
    alignas(64) std::atomic<bool> bounce_requested{false};
    alignas(64) std::atomic<std::uint64_t> ball{0};
};

/// What moving one cache line from one CPU to another costs, measured between the two threads
/// of a churn case: the sender stores an odd number into `ball`, the writer answers with the
/// next even one, `rounds` times. On a shared host this is no constant: the host places the
/// two virtual CPUs close (sharing a core's caches) or apart, and moves them. On the 2-vCPU
/// machine of docs/performance.md it read 40 ns in one second and 250 ns in the next, and what
/// churn costs a send followed it: every line a connect or disconnect writes and a send reads
/// moves once per observed change.
struct LineBounce {
    static constexpr std::uint64_t rounds = 256;

    /// The sender's side: one-way ns per move, averaged over the rounds after the first (which
    /// waits for the writer to finish its pair and answer).
    template <class Shared> static double measure(Shared& shared) {
        shared.ball.store(0, std::memory_order_relaxed);
        shared.bounce_requested.store(true, std::memory_order_release);
        auto start = std::chrono::steady_clock::now();
        for (std::uint64_t round = 0; round < rounds; ++round) {
            shared.ball.store(2 * round + 1, std::memory_order_release);
            while (shared.ball.load(std::memory_order_acquire) != 2 * round + 2) {
            }
            if (round == 0) {
                start = std::chrono::steady_clock::now();
            }
        }
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        while (shared.bounce_requested.load(std::memory_order_acquire)) {
        }
        return seconds * 1e9 / static_cast<double>(2 * (rounds - 1));
    }

    /// The writer's side, between two pairs: answers when asked (one load otherwise).
    template <class Shared> static void serve_if_asked(Shared& shared) {
        if (!shared.bounce_requested.load(std::memory_order_acquire)) {
            return;
        }
        for (std::uint64_t round = 0; round < rounds; ++round) {
            while (shared.ball.load(std::memory_order_acquire) != 2 * round + 1) {
            }
            shared.ball.store(2 * round + 2, std::memory_order_release);
        }
        shared.bounce_requested.store(false, std::memory_order_release);
    }
};

/// One thread emits while another connects and disconnects a slot nonstop. Besides the time,
/// reports how hard the writer churned (`writes_per_send`: connect+disconnect pairs per send,
/// which a busy machine lowers: the writer then gets a fraction of a CPU) and how often the
/// sender waited (`sender_waits_per_1k`: its voluntary context switches per 1000 sends, e.g.
/// sleeping on a lock): the CPU time of the sender does not count its waits, wall time does.
template <class Library> void emit_under_churn(benchmark::State& state) {
    const auto shared = std::make_unique<ChurnShared<Library>>();
    Library& library = shared->library;
    library.connect_many(slot_count(state));
    std::atomic<bool>& stop = shared->stop;
    std::atomic<std::uint64_t>& writes = shared->writes;
    std::thread writer([&] {
        std::uint64_t pairs = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            library.connect_disconnect();
            writes.store(++pairs, std::memory_order_relaxed);
        }
    });
    const std::uint64_t writes_before = writes.load(std::memory_order_relaxed);
    const double switches_before = voluntary_switches();
    for (auto _ : state) {
        library.emit(1);
    }
    const double switches = voluntary_switches() - switches_before;
    const auto pairs = static_cast<double>(writes.load(std::memory_order_relaxed) - writes_before);
    stop.store(true);
    writer.join();
    const auto sends = static_cast<double>(state.iterations());
    state.counters["writes_per_send"] = sends > 0 ? pairs / sends : 0;
    state.counters["sender_waits_per_1k"] = sends > 0 ? 1000 * switches / sends : 0;
}

/// Sends per timed batch of the paced cases below: long enough (microseconds) that reading
/// the clock around it costs little per send.
constexpr std::uint64_t paced_batch = 256;

/// Seconds of CPU time this thread has run (wall time where that cannot be read): a batch
/// timed on a busy machine then does not count the time its thread waited for a CPU.
double thread_seconds() {
#if defined(__linux__)
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
#else
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
#endif
}

/// What reading the clock twice costs (the median of many tries), subtracted from each batch.
double clock_overhead() {
    std::array<double, 101> tries{};
    for (double& cost : tries) {
        const double start = thread_seconds();
        cost = thread_seconds() - start;
    }
    std::nth_element(tries.begin(), tries.begin() + 50, tries.end());
    return tries[50];
}

/// Batches of the paced churn case between two measurements of the line transfer.
constexpr std::uint64_t batches_per_bounce = 64;

/// Emission under churn at a known churn rate. The sender times a batch of paced_batch sends
/// (its own CPU time), then, untimed, waits until the writer, which connects and disconnects
/// nonstop, has made at least `pairs_per_send` pairs for every send so far: however busy the
/// machine, the sends are measured with that much writer work going on beside them. With 0
/// there is no writer: the quiet baseline, timed the same way. Manual time per batch:
/// table.py divides by `sends_per_iteration`. Reports the writer's pairs per send achieved
/// (`writes_per_send`), those made while a batch was timed (`concurrent_pairs_per_send`: the
/// churn the timed sends saw), and, untimed every batches_per_bounce batches, what moving a
/// cache line between the two threads costs (`line_transfer_ns`, the median; LineBounce).
template <class Library> void emit_paced(benchmark::State& state, std::uint64_t pairs_per_send) {
    const auto shared = std::make_unique<ChurnShared<Library>>();
    Library& library = shared->library;
    library.connect_many(slot_count(state));
    std::atomic<bool>& stop = shared->stop;
    std::atomic<std::uint64_t>& writes = shared->writes;
    std::thread writer;
    if (pairs_per_send != 0) {
        writer = std::thread([&] {
            std::uint64_t pairs = 0;
            while (!stop.load(std::memory_order_relaxed)) {
                LineBounce::serve_if_asked(*shared);
                library.connect_disconnect();
                writes.store(++pairs, std::memory_order_release);
            }
        });
    }
    const double overhead = clock_overhead();
    const std::uint64_t writes_before = writes.load(std::memory_order_acquire);
    std::uint64_t target = writes_before;
    std::uint64_t batches = 0;
    std::uint64_t concurrent_pairs = 0;
    std::vector<double> transfers;
    for (auto _ : state) {
        if (writer.joinable() && batches % batches_per_bounce == 0) {
            transfers.push_back(LineBounce::measure(*shared));
        }
        const std::uint64_t pairs_before = writes.load(std::memory_order_acquire);
        const double start = thread_seconds();
        for (std::uint64_t send = 0; send < paced_batch; ++send) {
            library.emit(1);
        }
        state.SetIterationTime(std::max(thread_seconds() - start - overhead, 1e-9));
        concurrent_pairs += writes.load(std::memory_order_acquire) - pairs_before;
        ++batches;
        target += paced_batch * pairs_per_send;
        while (writes.load(std::memory_order_acquire) < target) {
            std::this_thread::yield();
        }
    }
    const auto pairs = static_cast<double>(writes.load(std::memory_order_acquire) - writes_before);
    stop.store(true);
    if (writer.joinable()) {
        writer.join();
    }
    const auto sends = static_cast<double>(batches * paced_batch);
    state.counters["sends_per_iteration"] = static_cast<double>(paced_batch);
    state.counters["writes_per_send"] = sends > 0 ? pairs / sends : 0;
    if (!transfers.empty()) {
        state.counters["concurrent_pairs_per_send"] =
            sends > 0 ? static_cast<double>(concurrent_pairs) / sends : 0;
        const auto middle = transfers.begin() + static_cast<std::ptrdiff_t>(transfers.size() / 2);
        std::nth_element(transfers.begin(), middle, transfers.end());
        state.counters["line_transfer_ns"] = *middle;
    }
}

template <class Library> void emit_paced_quiet(benchmark::State& state) {
    emit_paced<Library>(state, 0);
}

template <class Library> void emit_paced_churn(benchmark::State& state) {
    emit_paced<Library>(state, 1);
}

/// One connect plus one disconnect with N slots already connected. Measured in a process that
/// has started a thread, as every process using a thread-safe signal has: until the first
/// thread starts, the C library lets std::shared_ptr count references with plain instructions
/// rather than locked ones, which would make the figure depend on which case ran first.
template <class Library> void connect_disconnect(benchmark::State& state) {
    std::thread([] {}).join();
    Library library;
    library.connect_many(slot_count(state));
    for (auto _ : state) {
        library.connect_disconnect();
    }
}

// --- The facade: one event to 8 handlers, logging off, beside a loop over 8 std::functions ---

authevents::UserRegistered sample_event() {
    authevents::UserRegistered event;
    event.user.id = 42;
    event.user.email = "ada@example.com";
    event.email_sent = true;
    return event;
}

/// Handler `index` of the dispatch cases: passes the user's id to slot_for(index).
auto handler_for(std::size_t index) {
    return [slot = slot_for(index)](const authevents::UserRegistered& event) {
        slot(static_cast<int>(event.user.id));
    };
}

void dispatch_floor(benchmark::State& state) {
    std::vector<std::function<void(const authevents::UserRegistered&)>> handlers;
    for (std::size_t index = 0; index < slot_count(state); ++index) {
        handlers.emplace_back(handler_for(index));
    }
    const authevents::UserRegistered event = sample_event();
    for (auto _ : state) {
        for (const auto& handler : handlers) {
            handler(event);
        }
    }
}

void dispatch_authevents(benchmark::State& state) {
    authevents::EventDispatcher dispatcher;
    dispatcher.set_logger(nullptr);
    for (std::size_t index = 0; index < slot_count(state); ++index) {
        dispatcher.connect<authevents::UserRegistered>(handler_for(index));
    }
    const authevents::UserRegistered event = sample_event();
    for (auto _ : state) {
        benchmark::DoNotOptimize(dispatcher.dispatch(event));
    }
}

/// A dispatch with a logger that keeps only warnings and errors (declared with its level, so
/// the [EVENT] line is never formatted), against the same dispatch with logging off.
void dispatch_quiet_logger(benchmark::State& state) {
    authevents::EventDispatcher dispatcher;
    dispatcher.set_logger([](authevents::LogLevel, std::string_view) {},
                          authevents::LogLevel::warning);
    const authevents::UserRegistered event = sample_event();
    for (auto _ : state) {
        benchmark::DoNotOptimize(dispatcher.dispatch(event));
    }
}

// --- Paired cases: each target's two sides in alternating batches (see paired.hpp) ----------

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// `ops` sends of `library`, timed (wall seconds): one out-of-line loop per library, as
/// send_loop.
template <class Library> BENCH_NOINLINE double emit_batch(Library& library, std::uint64_t ops) {
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t op = 0; op < ops; ++op) {
        library.emit(1);
    }
    return seconds_since(start);
}

/// `ops` calls of the 8 std::functions of the dispatch floor, timed.
BENCH_NOINLINE double
handlers_batch(const std::vector<std::function<void(const authevents::UserRegistered&)>>& handlers,
               const authevents::UserRegistered& event, std::uint64_t ops) {
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t op = 0; op < ops; ++op) {
        for (const auto& handler : handlers) {
            handler(event);
        }
    }
    return seconds_since(start);
}

/// `ops` dispatches of `event`, timed.
BENCH_NOINLINE double dispatch_batch(authevents::EventDispatcher& dispatcher,
                                     const authevents::UserRegistered& event, std::uint64_t ops) {
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t op = 0; op < ops; ++op) {
        benchmark::DoNotOptimize(dispatcher.dispatch(event));
    }
    return seconds_since(start);
}

/// The emission targets: N slots of authevents (candidate) beside N of the floor (baseline).
void paired_emit(benchmark::State& state) {
    const auto floor = std::make_unique<ChurnShared<Floor>>();
    const auto ours = std::make_unique<ChurnShared<Authevents>>();
    floor->library.connect_many(slot_count(state));
    ours->library.connect_many(slot_count(state));
    auto baseline = [&](std::uint64_t ops) { return emit_batch(floor->library, ops); };
    auto candidate = [&](std::uint64_t ops) { return emit_batch(ours->library, ops); };
    paired::run_pairs(state, baseline, candidate, paired::calibrate(baseline));
}

/// `ops` sends of `library`, timed on the calling thread's CPU clock (thread_seconds()): time
/// the thread spent waiting for a CPU does not count.
template <class Library> double emit_batch_cpu(Library& library, std::uint64_t ops) {
    const double start = thread_seconds();
    emit_batch(library, ops);
    return thread_seconds() - start;
}

/// Two threads sending to one signal (candidate: each thread's time per send, averaged) beside
/// one thread sending to it alone while the other sleeps (baseline), each batch timed by
/// `Batch`: emit_batch (wall time) or emit_batch_cpu (each thread's CPU time, which on a
/// machine with more runnable threads than CPUs does not count waiting for one).
template <class Library, double (*Batch)(Library&, std::uint64_t)>
void paired_two_threads(benchmark::State& state) {
    const auto shared = std::make_unique<ChurnShared<Library>>();
    Library& library = shared->library;
    library.connect_many(slot_count(state));
    paired::Companion companion;
    auto baseline = [&](std::uint64_t ops) { return Batch(library, ops); };
    auto candidate = [&](std::uint64_t ops) {
        double beside = 0;
        const double own = companion.beside([&] { beside = Batch(library, ops); },
                                            [&] { return Batch(library, ops); });
        return (own + beside) / 2;
    };
    paired::run_pairs(state, baseline, candidate, paired::calibrate(baseline));
}

/// A dispatch of `dispatcher` (candidate) beside an empty Signal::send (baseline).
void paired_beside_empty_send(benchmark::State& state, authevents::EventDispatcher& dispatcher) {
    const auto empty = std::make_unique<ChurnShared<Authevents>>();
    const authevents::UserRegistered event = sample_event();
    auto baseline = [&](std::uint64_t ops) { return emit_batch(empty->library, ops); };
    auto candidate = [&](std::uint64_t ops) { return dispatch_batch(dispatcher, event, ops); };
    paired::run_pairs(state, baseline, candidate, paired::calibrate(baseline));
}

/// The dispatch targets. N=8: a dispatch to 8 handlers (candidate) beside the floor's 8 calls
/// (baseline). N=0: a dispatch without handlers, logging off (candidate) beside an empty
/// Signal::send (baseline).
void paired_dispatch(benchmark::State& state) {
    authevents::EventDispatcher dispatcher;
    dispatcher.set_logger(nullptr);
    std::vector<std::function<void(const authevents::UserRegistered&)>> handlers;
    for (std::size_t index = 0; index < slot_count(state); ++index) {
        handlers.emplace_back(handler_for(index));
        dispatcher.connect<authevents::UserRegistered>(handler_for(index));
    }
    if (slot_count(state) == 0) {
        paired_beside_empty_send(state, dispatcher);
        return;
    }
    const authevents::UserRegistered event = sample_event();
    auto baseline = [&](std::uint64_t ops) { return handlers_batch(handlers, event, ops); };
    auto candidate = [&](std::uint64_t ops) { return dispatch_batch(dispatcher, event, ops); };
    paired::run_pairs(state, baseline, candidate, paired::calibrate(baseline));
}

/// A dispatch without handlers and a logger keeping warnings (candidate) beside an empty
/// Signal::send (baseline).
void paired_quiet_logger(benchmark::State& state) {
    authevents::EventDispatcher dispatcher;
    dispatcher.set_logger([](authevents::LogLevel, std::string_view) {},
                          authevents::LogLevel::warning);
    paired_beside_empty_send(state, dispatcher);
}

// --- The machine: what a full fence costs, and the writers' process-wide barrier ------------

/// One full fence per iteration: `xchg` with memory (what a sequentially consistent store
/// compiles to on x86-64) or `mfence`; elsewhere the compiler's seq_cst fence.
void fence(benchmark::State& state) {
    static volatile long word = 0;
    for (auto _ : state) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        if (state.range(0) == 0) {
            long value = 1;
            asm volatile("xchg %0, %1" : "+r"(value), "+m"(word)::"memory");
        } else {
            asm volatile("mfence" ::: "memory");
        }
#else
        std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
    }
}

/// The barrier writers pay to reclaim a batch of snapshots or wait for a slot (membarrier on
/// Linux; a fence where the machine has no process-wide barrier).
void heavy_barrier(benchmark::State& state) {
    for (auto _ : state) {
        authevents::detail::asymmetric_fence::heavy();
    }
}

template <class Library> void register_library() {
    const std::string library = Library::name;
    benchmark::RegisterBenchmark(("emit/" + library).c_str(), &emit<Library>)
        ->Arg(0)
        ->Arg(1)
        ->Arg(8)
        ->Arg(64);
    if constexpr (Library::concurrent_emits) {
        benchmark::RegisterBenchmark(("emit_two_threads/" + library).c_str(),
                                     &emit_two_threads<Library>)
            ->Setup(&make_shared_library<Library>)
            ->Teardown(&destroy_shared_library<Library>)
            ->Arg(1)
            ->Arg(8)
            ->Threads(2)
            ->UseRealTime();
    }
    if constexpr (Library::thread_safe) {
        // Real time (the sender's waits count) and, in the table, also its CPU time.
        benchmark::RegisterBenchmark(("emit_under_churn/" + library).c_str(),
                                     &emit_under_churn<Library>)
            ->Arg(8)
            ->UseRealTime();
        benchmark::RegisterBenchmark(("emit_paced_quiet/" + library).c_str(),
                                     &emit_paced_quiet<Library>)
            ->Arg(8)
            ->UseManualTime();
        benchmark::RegisterBenchmark(("emit_paced_churn/" + library).c_str(),
                                     &emit_paced_churn<Library>)
            ->Arg(8)
            ->UseManualTime();
    }
    benchmark::RegisterBenchmark(("connect_disconnect/" + library).c_str(),
                                 &connect_disconnect<Library>)
        ->Arg(1)
        ->Arg(8)
        ->Arg(64);
}

const bool registered = [] {
    register_library<Floor>();
    register_library<Authevents>();
    benchmark::RegisterBenchmark("dispatch/floor", &dispatch_floor)->Arg(8);
    benchmark::RegisterBenchmark("dispatch/authevents", &dispatch_authevents)->Arg(0)->Arg(8);
    benchmark::RegisterBenchmark("dispatch/quiet_logger", &dispatch_quiet_logger)->Arg(0);
    benchmark::RegisterBenchmark("paired/emit", &paired_emit)
        ->Arg(1)
        ->Arg(8)
        ->Arg(64)
        ->UseManualTime();
    benchmark::RegisterBenchmark("paired/two_threads",
                                 &paired_two_threads<Authevents, &emit_batch<Authevents>>)
        ->Arg(1)
        ->Arg(8)
        ->UseManualTime();
    benchmark::RegisterBenchmark("paired/two_threads_floor",
                                 &paired_two_threads<Floor, &emit_batch<Floor>>)
        ->Arg(1)
        ->Arg(8)
        ->UseManualTime();
    benchmark::RegisterBenchmark("paired/two_threads_cpu",
                                 &paired_two_threads<Authevents, &emit_batch_cpu<Authevents>>)
        ->Arg(1)
        ->Arg(8)
        ->UseManualTime();
    benchmark::RegisterBenchmark("paired/dispatch", &paired_dispatch)
        ->Arg(0)
        ->Arg(8)
        ->UseManualTime();
    benchmark::RegisterBenchmark("paired/quiet_logger", &paired_quiet_logger)
        ->Arg(0)
        ->UseManualTime();
    benchmark::RegisterBenchmark("machine/fence", &fence)->Arg(0)->Arg(1);
    benchmark::RegisterBenchmark("machine/process_barrier", &heavy_barrier)->Arg(0);
#ifdef AUTHEVENTS_BENCH_BOOST
    register_library<BoostSignals2>();
#endif
#ifdef AUTHEVENTS_BENCH_SIGC
    register_library<Sigc>();
#endif
    return true;
}();

} // namespace

BENCHMARK_MAIN();
