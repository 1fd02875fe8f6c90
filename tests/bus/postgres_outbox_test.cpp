// Tests for authevents/bus/postgres_outbox.hpp: the PostgreSQL outbox with OutboxRelay, against
// a real PostgreSQL and a real redis-server the tests start themselves.
#include <authevents/bus/postgres_outbox.hpp>
#include <authevents/bus/relay.hpp>

#include "bus_test_support.hpp"
#include "catch_compat.hpp"
#include "postgres_server.hpp"
#include "sync_helpers.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using authevents::bus::OutboxLeaseLost;
using authevents::bus::OutboxRecord;
using authevents::bus::OutboxRelay;
using authevents::bus::OutboxRetention;
using authevents::bus::OutboxSource;
using authevents::bus::PostgresError;
using authevents::bus::PostgresOutbox;
using authevents::bus::PostgresOutboxOptions;
using authevents::bus::RedisConnection;
using authevents::bus::RelayOptions;
using authevents::detail::PgConnection;
using authevents::detail::PgParams;

namespace {

std::string numbered(int i) { return "id-" + std::to_string(i); }

std::vector<std::string> numbered_ids(int count) {
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) {
        ids.push_back(numbered(i));
    }
    return ids;
}

// The service's own database: a users table beside the outbox.
PgConnection service_database(const std::string& conninfo,
                              const PostgresOutboxOptions& options = {}) {
    PgConnection db(conninfo, "service");
    db.exec("CREATE TABLE IF NOT EXISTS users (email text PRIMARY KEY)", "service: users");
    PostgresOutbox::create_schema(db.get(), options);
    return db;
}

// One service transaction: the user row and its event commit together, or neither.
void register_user(PgConnection& db, const std::string& email, const std::string& event_id,
                   bool commit, const PostgresOutboxOptions& options = {}) {
    authevents::detail::PgTransaction transaction(db.get(), "service: register");
    db.exec("INSERT INTO users (email) VALUES ($1)", PgParams().text(email), "service: user");
    PostgresOutbox::append_in(db.get(), event_id, "test.registered.v1",
                              "{\"email\":\"" + email + "\"}", options);
    if (commit) {
        transaction.commit();
    }
}

std::vector<std::string> ids_in(RedisConnection& redis) {
    std::vector<std::string> ids;
    for (const auto& entry : test_bus::read_stream(redis, "events")) {
        ids.push_back(entry.field("id"));
    }
    return ids;
}

std::vector<std::string> first_copies(const std::vector<std::string>& ids) {
    std::vector<std::string> first;
    std::set<std::string> seen;
    for (const auto& id : ids) {
        if (seen.insert(id).second) {
            first.push_back(id);
        }
    }
    return first;
}

std::int64_t count_rows(PgConnection& db, const std::string& sql) {
    return db.exec(sql, "count").int64(0, 0);
}

} // namespace

TEST_CASE("postgres outbox: a rolled-back service transaction publishes nothing, a committed "
          "one exactly once") {
    test_redis::RedisServer redis_server;
    const std::string info = test_postgres::shared_server().create_database();
    PgConnection service = service_database(info);
    PostgresOutbox outbox(info);
    OutboxRelay relay(outbox, redis_server.endpoint(), test_bus::fast_relay_options());

    register_user(service, "rolled@example.com", "rolled-back", false);
    register_user(service, "kept@example.com", "committed", true);
    // A transaction that fails after its append (the user exists): PostgreSQL aborts it.
    CHECK_THROWS_AS(register_user(service, "kept@example.com", "failed-later", true),
                    PostgresError);
    CHECK(count_rows(service, "SELECT count(*) FROM users") == 1);
    CHECK(outbox.pending_count() == 1);

    CHECK(relay.relay_once() == 1);
    CHECK(relay.relay_once() == 0);
    RedisConnection redis(redis_server.endpoint());
    CHECK(ids_in(redis) == std::vector<std::string>{"committed"});
    CHECK(outbox.pending_count() == 0);
    CHECK(count_rows(service, "SELECT count(*) FROM authevents_outbox") == 0); // deleted
}

TEST_CASE("postgres outbox: append_in names a duplicate id with SQLSTATE 23505; bad options are "
          "rejected") {
    const std::string info = test_postgres::shared_server().create_database();
    PgConnection service = service_database(info);
    PostgresOutbox::append_in(service.get(), "same", "t", "{}");
    try {
        PostgresOutbox::append_in(service.get(), "same", "t", "{}");
        FAIL("a duplicate event id was accepted");
    } catch (const PostgresError& e) {
        CHECK(e.sqlstate() == "23505");
        CHECK(std::string(e.what()).find("insert of event 'same' failed") != std::string::npos);
    }
    CHECK_THROWS_AS(PostgresOutbox::append_in(service.get(), "", "t", "{}"), std::invalid_argument);
    PostgresOutboxOptions bad;
    bad.table = "no spaces";
    CHECK_THROWS_AS(PostgresOutbox(info, bad), std::invalid_argument);
    bad = PostgresOutboxOptions{};
    bad.keep_for = std::chrono::milliseconds(0);
    CHECK_THROWS_AS(PostgresOutbox(info, bad), std::invalid_argument);
    bad = PostgresOutboxOptions{};
    bad.table = std::string(51, 'a');
    CHECK_THROWS_AS(PostgresOutbox(info, bad), std::invalid_argument);
    PostgresOutboxOptions missing;
    missing.table = "never_created";
    try {
        PostgresOutbox::append_in(service.get(), "x", "t", "{}", missing);
        FAIL("an append to a missing table succeeded");
    } catch (const PostgresError& e) {
        CHECK(e.sqlstate() == "42P01");
    }
}

TEST_CASE("postgres outbox: retention deletes, archives or keeps published records, pruned "
          "after keep_for") {
    test_redis::RedisServer redis_server;
    const std::string info = test_postgres::shared_server().create_database();
    PgConnection db(info, "test");
    const auto publish_two = [&](OutboxRetention retention, const std::string& table) {
        PostgresOutboxOptions options;
        options.table = table;
        options.retention = retention;
        options.keep_for = std::chrono::milliseconds(1);
        options.prune_interval = std::chrono::hours(1); // no pruning but prune_published()
        auto outbox = std::make_unique<PostgresOutbox>(info, options);
        outbox->append(table + "-1", "t", "{}");
        outbox->append(table + "-2", "t", "{}");
        RelayOptions relay_options = test_bus::fast_relay_options();
        relay_options.stream = table;
        OutboxRelay relay(*outbox, redis_server.endpoint(), relay_options);
        CHECK(relay.relay_once() == 2);
        CHECK(outbox->pending_count() == 0);
        return outbox;
    };

    const auto deleted = publish_two(OutboxRetention::delete_published, "deleted");
    CHECK(count_rows(db, "SELECT count(*) FROM deleted") == 0);
    CHECK(deleted->published_count() == 0);

    const auto archived = publish_two(OutboxRetention::archive, "archived");
    CHECK(count_rows(db, "SELECT count(*) FROM archived") == 0);
    CHECK(count_rows(db, "SELECT count(*) FROM archived_archive WHERE published_at_ms IS NOT "
                         "NULL") == 2);
    CHECK(archived->published_count() == 2);

    const auto kept = publish_two(OutboxRetention::keep, "kept");
    CHECK(count_rows(db, "SELECT count(*) FROM kept WHERE published_at_ms IS NOT NULL") == 2);
    CHECK(kept->published_count() == 2);
    kept->append("kept-pending", "t", "{}"); // never pruned while pending

    std::this_thread::sleep_for(std::chrono::milliseconds(20)); // older than keep_for
    CHECK(archived->prune_published() == 2);
    CHECK(kept->prune_published() == 2);
    CHECK(archived->published_count() == 0);
    CHECK(kept->published_count() == 0);
    CHECK(kept->pending_count() == 1);
    CHECK(deleted->prune_published() == 0);
}

TEST_CASE("postgres outbox: LISTEN/NOTIFY wakes a started relay at once (its poll is an hour)") {
    test_redis::RedisServer redis_server;
    const std::string info = test_postgres::shared_server().create_database();
    PgConnection service = service_database(info);
    PostgresOutbox outbox(info);
    RelayOptions options = test_bus::fast_relay_options();
    options.poll_interval = std::chrono::hours(1);
    OutboxRelay relay(outbox, redis_server.endpoint(), options);
    relay.start();
    RedisConnection redis(redis_server.endpoint());
    // Whether the relay's first round ran before or after this commit, only a notification
    // brings the event out within the test (the next poll is an hour away).
    REQUIRE(test_sync::eventually([&] { return outbox.pending_count() == 0; }));
    register_user(service, "ana@example.com", "woken", true);
    CHECK(test_sync::eventually([&] { return ids_in(redis).size() == 1; }));
    register_user(service, "bea@example.com", "woken-again", true);
    CHECK(test_sync::eventually([&] { return ids_in(redis).size() == 2; }));
    relay.stop();
    CHECK(ids_in(redis) == std::vector<std::string>{"woken", "woken-again"});
}

TEST_CASE("postgres outbox: three relays on one outbox publish each record once, in order") {
    test_sync::Watchdog watchdog("postgres three relays");
    test_redis::RedisServer redis_server;
    const std::string info = test_postgres::shared_server().create_database();
    PgConnection service = service_database(info);
    std::vector<std::unique_ptr<PostgresOutbox>> outboxes; // one each, as separate processes
    std::vector<std::unique_ptr<OutboxRelay>> relays;
    for (int r = 0; r < 3; ++r) {
        outboxes.push_back(std::make_unique<PostgresOutbox>(info));
        RelayOptions options = test_bus::fast_relay_options(8);
        options.relay_id = "relay-" + std::to_string(r);
        relays.push_back(
            std::make_unique<OutboxRelay>(*outboxes.back(), redis_server.endpoint(), options));
        relays.back()->start();
    }
    constexpr int total = 240;
    bool handed_over = false;
    for (int i = 0; i < total; i += 3) { // three events a transaction
        authevents::detail::PgTransaction transaction(service.get(), "service");
        for (int k = i; k < i + 3; ++k) {
            PostgresOutbox::append_in(service.get(), numbered(k), "t", "{}");
        }
        transaction.commit();
        if (i >= total / 2 && !handed_over) { // stop the active relay: another takes over
            for (auto& relay : relays) {
                if (relay->stats().lease_held) {
                    relay->stop();
                    handed_over = true;
                    break;
                }
            }
        }
    }
    REQUIRE(test_sync::eventually([&] { return outboxes[0]->pending_count() == 0; }));
    std::uint64_t published = 0;
    int holders = 0;
    for (auto& relay : relays) {
        relay->stop();
        published += relay->stats().published;
        holders += relay->stats().published > 0 ? 1 : 0;
    }
    RedisConnection redis(redis_server.endpoint());
    CHECK(ids_in(redis) == numbered_ids(total)); // each once, in order
    CHECK(published == total);
    CHECK((!handed_over || holders >= 2));
}

TEST_CASE("postgres outbox: a relay killed mid-batch loses nothing; the next relay publishes its "
          "batch again") {
    // No Watchdog of its own: the child is forked while the only other thread is the test
    // case's watchdog (hang_watch.cpp), which holds no lock the child needs.
    test_redis::RedisServer redis_server;
    const std::string info = test_postgres::shared_server().create_database();
    {
        PostgresOutbox outbox(info);
        for (int i = 0; i < 100; ++i) {
            outbox.append(numbered(i), "t", "{}");
        }
    }
    constexpr std::size_t batch = 10;
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // Publishes two batches, then dies with the third in Redis but not marked.
        struct DiesInThirdMark final : OutboxSource {
            explicit DiesInThirdMark(PostgresOutbox& outbox) : outbox_(outbox) {}
            bool acquire_lease(std::string_view owner, std::chrono::milliseconds d) override {
                return outbox_.acquire_lease(owner, d);
            }
            void release_lease(std::string_view owner) override { outbox_.release_lease(owner); }
            std::vector<OutboxRecord> next_batch(std::size_t limit) override {
                return outbox_.next_batch(limit);
            }
            void mark_published(const std::vector<std::int64_t>& sequences,
                                std::string_view owner) override {
                if (++marks_ == 3) {
                    ::kill(::getpid(), SIGKILL);
                }
                outbox_.mark_published(sequences, owner);
            }
            void record_failure(const std::vector<std::int64_t>& sequences,
                                std::string_view error) override {
                outbox_.record_failure(sequences, error);
            }
            std::size_t pending_count() const override { return outbox_.pending_count(); }
            PostgresOutbox& outbox_;
            int marks_ = 0;
        };
        try {
            PostgresOutbox outbox(info);
            DiesInThirdMark dying(outbox);
            RelayOptions options = test_bus::fast_relay_options(batch);
            options.relay_id = "doomed";
            OutboxRelay relay(dying, redis_server.endpoint(), options);
            relay.relay_once();
        } catch (...) {
        }
        ::_exit(1); // only reached if it did not die
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGKILL);

    PostgresOutbox outbox(info);
    CHECK(outbox.pending_count() == 100 - 2 * batch); // the killed batch is still pending
    RelayOptions options = test_bus::fast_relay_options(batch);
    options.relay_id = "survivor";
    OutboxRelay relay(outbox, redis_server.endpoint(), options);
    // The dead relay's session is gone, and its lease with it: taken over at once.
    REQUIRE(test_sync::eventually([&] { return relay.relay_once() > 0; }));
    while (relay.relay_once() > 0) {
    }
    CHECK(outbox.pending_count() == 0);
    RedisConnection redis(redis_server.endpoint());
    const std::vector<std::string> ids = ids_in(redis);
    CHECK(first_copies(ids) == numbered_ids(100));
    CHECK(ids.size() == 100 + batch); // exactly the killed batch twice
}

TEST_CASE("postgres outbox: PostgreSQL restarted mid-stream: every committed event arrives, in "
          "order, and the relay recovers by itself") {
    test_sync::Watchdog watchdog("postgres restart");
    test_redis::RedisServer redis_server;
    test_postgres::PostgresServer server; // its own: this test crashes it
    PostgresOutboxOptions keep;           // keep published rows: the table lists what committed
    keep.retention = OutboxRetention::keep;
    PostgresOutbox outbox(server.conninfo(), keep);
    OutboxRelay relay(outbox, redis_server.endpoint(), test_bus::fast_relay_options(8));
    relay.start();

    std::optional<PgConnection> service;
    std::vector<std::string> acknowledged; // commits that reported success
    constexpr int total = 150;
    for (int i = 0; i < total; ++i) {
        if (i == total / 2) {
            server.kill(); // a crash: no checkpoint, recovery from the write-ahead log
            server.start();
        }
        try {
            if (!service || !service->ok()) {
                service.emplace(service_database(server.conninfo(), keep));
            }
            register_user(*service, numbered(i) + "@example.com", numbered(i), true, keep);
            acknowledged.push_back(numbered(i));
        } catch (const PostgresError& e) {
            CHECK(e.connection_lost()); // only the crash may fail a commit
            service.reset();
        }
    }
    REQUIRE(test_sync::eventually([&] {
        try {
            return outbox.pending_count() == 0;
        } catch (const PostgresError&) {
            return false;
        }
    }));
    relay.stop();

    PgConnection db(server.conninfo(), "test");
    std::vector<std::string> committed;
    const auto rows = db.exec("SELECT event_id FROM authevents_outbox ORDER BY sequence", "ids");
    for (int row = 0; row < rows.rows(); ++row) {
        committed.push_back(rows.text(row, 0));
    }
    const std::set<std::string> committed_set(committed.begin(), committed.end());
    for (const auto& id : acknowledged) {
        CHECK(committed_set.count(id) == 1);
    }
    CHECK(committed.size() >= acknowledged.size());
    RedisConnection redis(redis_server.endpoint());
    CHECK(first_copies(ids_in(redis)) == committed); // all of them, in commit order
    CHECK(relay.stats().failed_attempts > 0);        // it did see the crash
}

TEST_CASE("postgres outbox: a lease holder's broken session loses the lease; mark_published "
          "then marks nothing") {
    const std::string info = test_postgres::shared_server().create_database();
    PostgresOutbox first(info);
    PostgresOutbox second(info);
    first.append("a", "t", "{}");
    REQUIRE(first.acquire_lease("first", std::chrono::seconds(30)));
    CHECK_FALSE(second.acquire_lease("second", std::chrono::seconds(30)));
    const std::vector<OutboxRecord> claimed = first.next_batch(10);
    REQUIRE(claimed.size() == 1);
    CHECK(second.next_batch(10).empty()); // claimed rows are skipped, not waited for
    CHECK_THROWS_AS(first.mark_published({claimed[0].sequence}, "someone-else"), OutboxLeaseLost);

    // End first's relay session from outside, as a crash or a network cut would.
    PgConnection admin(info, "admin");
    admin.exec("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND "
               "granted",
               "terminate");
    REQUIRE(test_sync::eventually(
        [&] { return second.acquire_lease("second", std::chrono::seconds(30)); }));
    try {
        first.mark_published({claimed[0].sequence}, "first");
        FAIL("marked on a terminated session");
    } catch (const PostgresError& e) {
        CHECK(e.connection_lost());
    }
    CHECK_THROWS_AS(first.next_batch(10), OutboxLeaseLost); // the relay then takes it again
    const std::vector<OutboxRecord> again = second.next_batch(10);
    REQUIRE(again.size() == 1);
    second.mark_published({again[0].sequence}, "second");
    CHECK(second.pending_count() == 0);
    CHECK_FALSE(first.acquire_lease("first", std::chrono::seconds(30)));
    second.release_lease("second");
    CHECK(first.acquire_lease("first", std::chrono::seconds(30)));
}
