// The emit path allocates nothing: counted with a replaced global operator new.
#include <authevents/signal.hpp>

#include "catch_compat.hpp"

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

namespace {
std::atomic<std::size_t> allocations{0};
} // namespace

// Every replaceable allocation function is replaced, so that whichever form a library uses,
// allocation and deallocation match (AddressSanitizer checks that they do).
namespace {
void* counted_allocation(std::size_t size) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(size == 0 ? 1 : size);
}
void* counted_aligned_allocation(std::size_t size, std::align_val_t alignment) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    const auto align = static_cast<std::size_t>(alignment);
    const std::size_t rounded = (size + align - 1) / align * align;
    return std::aligned_alloc(align, rounded == 0 ? align : rounded);
}
template <class Pointer> Pointer or_bad_alloc(Pointer memory) {
    if (memory == nullptr) {
        throw std::bad_alloc();
    }
    return memory;
}
} // namespace

void* operator new(std::size_t size) { return or_bad_alloc(counted_allocation(size)); }
void* operator new[](std::size_t size) { return or_bad_alloc(counted_allocation(size)); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    return counted_allocation(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
    return counted_allocation(size);
}
void* operator new(std::size_t size, std::align_val_t alignment) {
    return or_bad_alloc(counted_aligned_allocation(size, alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
    return or_bad_alloc(counted_aligned_allocation(size, alignment));
}
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete[](void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t /*size*/) noexcept { std::free(memory); }
void operator delete[](void* memory, std::size_t /*size*/) noexcept { std::free(memory); }
void operator delete(void* memory, std::align_val_t /*alignment*/) noexcept { std::free(memory); }
void operator delete[](void* memory, std::align_val_t /*alignment*/) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t /*size*/, std::align_val_t /*alignment*/) noexcept {
    std::free(memory);
}
void operator delete[](void* memory, std::size_t /*size*/,
                       std::align_val_t /*alignment*/) noexcept {
    std::free(memory);
}

namespace {

/// Allocations made while `action` runs.
template <class Action> std::size_t allocations_during(Action&& action) {
    const std::size_t before = allocations.load();
    action();
    return allocations.load() - before;
}

using authevents::ConnectOptions;
using authevents::SenderId;
using authevents::Signal;

} // namespace

TEST_CASE("sending to slots whose callables fit in 16 bytes allocates nothing", "[allocation]") {
    Signal<int> signal;
    int total = 0;
    int calls = 0;
    signal.connect([&total, &calls](int value) { // two references: 16 bytes
        total += value;
        ++calls;
    });
    static_assert(sizeof(int*) * 2 == 16);
    signal.connect(+[](int) {}); // a function pointer
    signal.send(0);              // the thread's first emission registers the thread

    const std::size_t during = allocations_during([&] {
        for (int round = 0; round < 1000; ++round) {
            signal.send(1);
            signal.send_from(SenderId::type<int>(), 1);
        }
    });
    CHECK(during == 0);
    CHECK(total == 2000);
    CHECK(calls == 2001);
}

TEST_CASE("sending to a signal with no slots allocates nothing", "[allocation]") {
    Signal<const std::string&> signal;
    const std::string payload = "payload";
    bool no_failures = true;
    CHECK(allocations_during([&] {
              for (int round = 0; round < 1000; ++round) {
                  signal.send(payload);
                  no_failures = no_failures && signal.send_robust(payload).empty();
              }
          }) == 0);
    CHECK(no_failures);
}

TEST_CASE("large callables are allocated at connect, never while sending", "[allocation]") {
    Signal<int> signal;
    auto shared = std::make_shared<int>(0);
    std::string label(64, 'x');
    signal.connect([shared, label](int value) { *shared += value + (label.empty() ? 1 : 0); });
    signal.send(0);
    bool no_failures = true;
    CHECK(allocations_during([&] {
              for (int round = 0; round < 1000; ++round) {
                  signal.send(1);
                  no_failures = no_failures && signal.send_robust(1).empty();
              }
          }) == 0);
    CHECK(no_failures);
    CHECK(*shared == 2000);
}

TEST_CASE("nested sends and tracked slots allocate nothing", "[allocation]") {
    Signal<int> signal;
    auto owner = std::make_shared<int>(0);
    ConnectOptions options;
    options.track = owner;
    int depth_reached = 0;
    signal.connect(
        [&signal, &depth_reached](int depth) {
            depth_reached = depth;
            if (depth < 6) {
                signal.send(depth + 1); // within the frames every thread has
            }
        },
        options);
    signal.send(0);
    CHECK(allocations_during([&] {
              for (int round = 0; round < 100; ++round) {
                  signal.send(0);
              }
          }) == 0);
    CHECK(depth_reached == 6);
}

TEST_CASE("connecting and disconnecting small slots nonstop reuses their reclaimed nodes",
          "[allocation]") {
    Signal<int> signal;
    for (int index = 0; index < 8; ++index) {
        signal.connect([](int) {});
    }
    signal.send(0);
    const auto cycle = [&signal](int rounds) {
        for (int round = 0; round < rounds; ++round) {
            signal.connect([](int) {}).disconnect();
        }
    };
    cycle(10000); // the reclaimed nodes and snapshots pile up, the writers' lists grow
    const std::size_t during = allocations_during([&] { cycle(10000); });
    // Without reuse each connect allocates its node: 10000. Snapshot copies still allocate.
    INFO("allocations: " << during);
    CHECK(during < 2000);
    CHECK(signal.size() == 8);
}
