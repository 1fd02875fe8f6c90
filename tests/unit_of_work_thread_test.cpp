// Thread tests for authevents/unit_of_work.hpp (run under TSan): units of work on several
// threads dispatching into one dispatcher are independent, and each commits only its own events.
#include <authevents/testing.hpp>
#include <authevents/unit_of_work.hpp>

#include "catch_compat.hpp"
#include "event_samples.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

using namespace authevents;

TEST_CASE("unit of work: units on several threads commit or roll back only their own events") {
    EventDispatcher events;
    events.set_logger({});
    testing::EventRecorder recorder(events);
    std::atomic<int> registered{0};
    std::atomic<int> failed_logins{0};
    events.user_registered.connect([&](const UserRegistered&) { registered.fetch_add(1); });
    events.user_login_failed.connect([&](const UserLoginFailed&) { failed_logins.fetch_add(1); });

    constexpr int threads = 4;
    constexpr int rounds = 200;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < rounds; ++i) {
                UnitOfWork work(events);
                work.dispatch(samples::user_registered());
                {
                    UnitOfWork inner = work.savepoint();
                    inner.dispatch(samples::user_login_failed());
                    if ((i + t) % 2 == 0) {
                        inner.commit();
                    } // else destroyed uncommitted: dropped
                }
                if (i % 4 == 3) {
                    work.rollback(); // a failed transaction: nothing of it dispatched
                }
                work.commit();
            }
        });
    }
    for (std::thread& worker : workers) {
        worker.join();
    }
    constexpr int committed = threads * rounds * 3 / 4;
    CHECK(registered.load() == committed);
    CHECK(failed_logins.load() == committed / 2);
    CHECK(recorder.count<UserRegistered>() == static_cast<std::size_t>(committed));
    CHECK(events.stats<UserLoginFailed>().dispatched == static_cast<std::uint64_t>(committed / 2));
}
