// Tests for authevents/unit_of_work.hpp: dispatch on commit (commit, rollback, destruction,
// savepoints, exceptions, the dispatcher's logging, counters, observers and enable switch).
#include <authevents/testing.hpp>
#include <authevents/unit_of_work.hpp>

#include "catch_compat.hpp"
#include "event_samples.hpp"
#include "log_capture.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

using namespace authevents;
using samples::ana;

namespace {

struct Quiet : EventDispatcher {
    Quiet() { set_logger({}); }
};

// A custom event that is move-only.
struct TokenIssued {
    static constexpr std::string_view name = "token_issued";
    std::unique_ptr<int> token;
};

struct Service {
    EventDispatcher& events;
    std::vector<std::string>* table; // stands for the service's database

    void register_user(UnitOfWork& work, const std::string& email) {
        table->push_back(email);
        User user = ana();
        user.email = email;
        work.dispatch(UserRegistered{user, true, std::nullopt});
    }
};

std::vector<std::string> emails_of(const testing::EventRecorder& recorder) {
    std::vector<std::string> emails;
    for (const UserRegistered& event : recorder.events<UserRegistered>()) {
        emails.push_back(event.user.email);
    }
    return emails;
}

} // namespace

TEST_CASE("unit of work: nothing is dispatched before commit; commit dispatches in order") {
    Quiet events;
    testing::EventRecorder recorder(events);
    std::vector<std::string> calls;
    events.user_registered.connect(
        [&](const UserRegistered& e) { calls.push_back("registered " + e.user.email); });
    events.user_login_failed.connect(
        [&](const UserLoginFailed& e) { calls.push_back("failed " + e.email); });

    UnitOfWork work(events);
    work.dispatch(samples::user_registered());
    work.dispatch(samples::user_login_failed());
    work.dispatch(UserRegistered{samples::admin(), false, std::nullopt});
    CHECK(work.size() == 3);
    CHECK(work.names() ==
          std::vector<std::string_view>{"user_registered", "user_login_failed", "user_registered"});
    CHECK(calls.empty());
    CHECK(recorder.empty());
    CHECK(events.stats<UserRegistered>().dispatched == 0);

    const CommitReport report = work.commit();
    CHECK(report.ok());
    REQUIRE(report.events.size() == 3);
    CHECK(report.events[0].name == "user_registered");
    CHECK(report.events[0].report.handlers_called == 1);
    CHECK(report.events[1].name == "user_login_failed");
    CHECK(calls == std::vector<std::string>{"registered ana@example.com",
                                            "failed " + samples::user_login_failed().email,
                                            "registered admin@example.com"});
    CHECK(recorder.names() ==
          std::vector<std::string>{"user_registered", "user_login_failed", "user_registered"});
    CHECK(events.stats<UserRegistered>().dispatched == 2);
    CHECK(work.state() == UnitState::committed);
    CHECK(work.empty());

    // A second commit dispatches nothing again.
    CHECK(work.commit().events.empty());
    CHECK(calls.size() == 3);
}

TEST_CASE("unit of work: rollback and destruction without commit dispatch nothing") {
    Quiet events;
    testing::EventRecorder recorder(events);
    int calls = 0;
    events.user_registered.connect([&](const UserRegistered&) { ++calls; });
    std::vector<std::string> table;
    Service service{events, &table};

    {
        UnitOfWork work(events);
        service.register_user(work, "a@example.com");
        work.rollback();
        CHECK(work.state() == UnitState::rolled_back);
        CHECK(work.commit().events.empty()); // commit after rollback: nothing
        CHECK_THROWS_AS(work.dispatch(samples::user_registered()), std::logic_error);
    }
    {
        UnitOfWork work(events);
        service.register_user(work, "b@example.com");
    } // destroyed uncommitted
    CHECK(calls == 0);
    CHECK(recorder.empty());
    CHECK(events.stats<UserRegistered>().dispatched == 0);
}

TEST_CASE("unit of work: an exception leaving the transaction's scope discards its events") {
    Quiet events;
    testing::EventRecorder recorder(events);
    std::vector<std::string> table;
    Service service{events, &table};

    const auto transaction = [&](bool fail) {
        UnitOfWork work(events);
        const std::size_t rows = table.size();
        try {
            service.register_user(work, fail ? "fail@example.com" : "ok@example.com");
            if (fail) {
                throw std::runtime_error("constraint violated");
            }
        } catch (...) {
            table.resize(rows); // the database rolls back...
            throw;              // ...and so does `work`, destroyed by the unwinding
        }
        work.commit();
    };
    CHECK_THROWS_AS(transaction(true), std::runtime_error);
    transaction(false);
    CHECK(table == std::vector<std::string>{"ok@example.com"});
    CHECK(emails_of(recorder) == std::vector<std::string>{"ok@example.com"});
}

TEST_CASE("unit of work: a savepoint's rollback drops only its own events") {
    Quiet events;
    testing::EventRecorder recorder(events);
    std::vector<std::string> table;
    Service service{events, &table};

    UnitOfWork work(events);
    service.register_user(work, "outer-1@example.com");
    {
        UnitOfWork inner = work.savepoint();
        CHECK(inner.is_savepoint());
        service.register_user(inner, "inner-dropped@example.com");
        // While the savepoint is open, the enclosing unit refuses dispatches.
        CHECK_THROWS_AS(work.dispatch(samples::user_registered()), std::logic_error);
        CHECK_THROWS_AS(work.savepoint(), std::logic_error);
        inner.rollback();
        CHECK(inner.state() == UnitState::rolled_back);
    }
    {
        UnitOfWork inner = work.savepoint();
        service.register_user(inner, "inner-kept@example.com");
        {
            UnitOfWork innermost = inner.savepoint();
            service.register_user(innermost, "innermost-dropped@example.com");
        } // destroyed uncommitted: rolled back
        {
            UnitOfWork innermost = inner.savepoint();
            service.register_user(innermost, "innermost-kept@example.com");
            CHECK(innermost.commit().events.empty()); // released into `inner`
        }
        CHECK(inner.size() == 2);
        CHECK(inner.commit().events.empty()); // released into `work`
        CHECK(inner.state() == UnitState::committed);
    }
    service.register_user(work, "outer-2@example.com");
    CHECK(recorder.empty());

    CHECK(work.commit().events.size() == 4);
    CHECK(emails_of(recorder) ==
          std::vector<std::string>{"outer-1@example.com", "inner-kept@example.com",
                                   "innermost-kept@example.com", "outer-2@example.com"});
}

TEST_CASE("unit of work: the enclosing unit's commit or rollback ends an open savepoint") {
    Quiet events;
    testing::EventRecorder recorder(events);
    {
        UnitOfWork work(events);
        work.dispatch(samples::user_registered());
        UnitOfWork inner = work.savepoint();
        inner.dispatch(samples::user_login_failed());
        CHECK(work.commit().events.size() == 2); // like COMMIT with an open savepoint
        CHECK(inner.state() == UnitState::committed);
        CHECK_FALSE(inner.is_savepoint());
        CHECK(inner.commit().events.empty());
        CHECK_THROWS_AS(inner.dispatch(samples::user_registered()), std::logic_error);
    }
    CHECK(recorder.names() == std::vector<std::string>{"user_registered", "user_login_failed"});
    recorder.clear();
    {
        UnitOfWork inner(events);
        {
            UnitOfWork work(events);
            work.dispatch(samples::user_registered());
            inner = work.savepoint();
            inner.dispatch(samples::user_login_failed());
        } // the enclosing unit is destroyed uncommitted: the savepoint rolls back with it
        CHECK(inner.state() == UnitState::rolled_back);
        CHECK(inner.commit().events.empty());
    }
    CHECK(recorder.empty());
}

TEST_CASE("unit of work: a handler failing at commit is reported and the rest still run") {
    Quiet events;
    LogCapture log;
    events.set_logger(log.logger());
    int later = 0;
    events.user_registered.connect([](const UserRegistered&) { throw std::runtime_error("smtp"); },
                                   {"welcome_email"});
    events.user_registered.connect([&](const UserRegistered&) { ++later; });
    events.user_login_failed.connect([&](const UserLoginFailed&) { ++later; });

    UnitOfWork work(events);
    work.dispatch(samples::user_registered());
    work.dispatch(samples::user_login_failed());
    const CommitReport report = work.commit(); // never throws a handler's exception
    CHECK_FALSE(report.ok());
    CHECK(report.handler_failures() == 1);
    CHECK(report.aborted() == 0);
    CHECK_FALSE(report.events[0].ok());
    CHECK(report.events[0].report.handlers_called == 2);
    CHECK(report.events[1].ok());
    CHECK(later == 2);
    CHECK(events.stats<UserRegistered>().handler_failures == 1);
    const std::vector<std::string> errors = log.texts(LogLevel::error);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0] == "[EVENT] user_registered handler 'welcome_email' failed: smtp");
    CHECK(log.texts(LogLevel::info).size() == 2); // one [EVENT] line per event, at commit
}

TEST_CASE("unit of work: an observer's DispatchAborted at commit stops that event only") {
    Quiet events;
    int handled = 0;
    events.user_registered.connect([&](const UserRegistered&) { ++handled; });
    events.user_login_failed.connect([&](const UserLoginFailed&) { ++handled; });
    // Stands for a bus publisher configured to fail the dispatch when its append fails.
    events.observers().connect([](const EventView& view) {
        if (view.is<UserRegistered>()) {
            throw DispatchAborted("outbox append failed");
        }
    });

    UnitOfWork work(events);
    work.dispatch(samples::user_registered());
    work.dispatch(samples::user_login_failed());
    CommitReport report;
    CHECK_NOTHROW(report = work.commit());
    CHECK(report.aborted() == 1);
    CHECK_FALSE(report.ok());
    REQUIRE(report.events[0].error);
    CHECK_THROWS_AS(std::rethrow_exception(report.events[0].error), DispatchAborted);
    CHECK(report.events[1].ok());
    CHECK(handled == 1); // only user_login_failed reached its handler
}

TEST_CASE("unit of work: the enable switch applies at commit time") {
    Quiet events;
    testing::EventRecorder recorder(events);
    int calls = 0;
    events.user_registered.connect([&](const UserRegistered&) { ++calls; });

    UnitOfWork work(events);
    {
        testing::SignalsDisabled off(events);
        work.dispatch(samples::user_registered()); // buffered while disabled...
    }
    work.commit(); // ...dispatched while enabled: handlers run
    CHECK(calls == 1);

    UnitOfWork second(events);
    second.dispatch(samples::user_registered());
    {
        testing::SignalsDisabled off(events);
        const CommitReport report = second.commit();
        CHECK(report.events.at(0).report.handlers_called == 0);
    }
    CHECK(calls == 1);
    CHECK(recorder.count<UserRegistered>() == 2); // observers see both
    CHECK(events.stats<UserRegistered>().suppressed == 1);
}

TEST_CASE("unit of work: move-only events, explicit senders, moves of the unit") {
    Quiet events;
    int token = 0;
    events.connect<TokenIssued>([&](const TokenIssued& e) { token = *e.token; });
    int from_ana = 0;
    const User sender_object = ana();
    events.user_registered.connect([&](const UserRegistered&) { ++from_ana; },
                                   {"", SenderId::of(&sender_object)});

    UnitOfWork work(events);
    work.dispatch(TokenIssued{std::make_unique<int>(7)});
    work.dispatch(samples::user_registered(), SenderId::of(&sender_object));
    work.dispatch(samples::user_registered()); // from any(): not for the filtered handler

    UnitOfWork moved = std::move(work);
    CHECK(work.state() == UnitState::moved_from); // NOLINT(bugprone-use-after-move)
    CHECK_THROWS_AS(work.dispatch(samples::user_registered()), std::logic_error);
    CHECK(moved.size() == 3);

    std::thread other([&] { moved.commit(); }); // a unit may move to another thread
    other.join();
    CHECK(token == 7);
    CHECK(from_ana == 1);

    // Move assignment rolls back the unit it replaces.
    int registered = 0;
    events.user_registered.connect([&](const UserRegistered&) { ++registered; });
    UnitOfWork target(events);
    target.dispatch(samples::user_registered());
    target = UnitOfWork(events);
    CHECK(target.empty());
    target.commit();
    CHECK(registered == 0);
}

TEST_CASE("unit of work: a handler may not dispatch into the unit that is committing") {
    Quiet events;
    LogCapture log;
    events.set_logger(log.logger(), LogLevel::error);
    UnitOfWork work(events);
    int nested = 0;
    events.user_login_failed.connect([&](const UserLoginFailed&) { ++nested; });
    events.user_registered.connect([&](const UserRegistered&) {
        work.dispatch(samples::user_login_failed()); // committed already: logic_error
    });
    events.user_registered.connect([&](const UserRegistered&) {
        UnitOfWork own(events); // a unit of its own works
        own.dispatch(samples::user_login_failed());
        own.commit();
    });
    work.dispatch(samples::user_registered());
    const CommitReport report = work.commit();
    CHECK(report.handler_failures() == 1);
    CHECK(nested == 1);
    REQUIRE(log.texts(LogLevel::error).size() == 1);
    CHECK(log.texts(LogLevel::error)[0].find("committed, not open") != std::string::npos);
}
