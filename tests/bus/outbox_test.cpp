// Tests for authevents/bus/outbox.hpp: SqliteOutbox, the transactional outbox in SQLite.
#include <authevents/bus/outbox.hpp>
#include <authevents/bus/publisher.hpp>

#include "catch_compat.hpp"
#include "event_samples.hpp"
#include "log_capture.hpp"
#include "sqlite_test_helpers.hpp"
#include "sync_helpers.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using authevents::bus::OutboxLeaseLost;
using authevents::bus::OutboxOptions;
using authevents::bus::OutboxRecord;
using authevents::bus::SqliteError;
using authevents::bus::SqliteOutbox;
using bus_test::TempDir;

namespace {

std::vector<std::string> ids_of(const std::vector<OutboxRecord>& records) {
    std::vector<std::string> ids;
    ids.reserve(records.size());
    for (const OutboxRecord& record : records) {
        ids.push_back(record.event_id);
    }
    return ids;
}

std::vector<std::int64_t> sequences_of(const std::vector<OutboxRecord>& records) {
    std::vector<std::int64_t> sequences;
    sequences.reserve(records.size());
    for (const OutboxRecord& record : records) {
        sequences.push_back(record.sequence);
    }
    return sequences;
}

} // namespace

TEST_CASE("appended events come back in append order with their fields") {
    TempDir dir;
    SqliteOutbox outbox(dir.file("outbox.db"));
    CHECK(outbox.path() == dir.file("outbox.db"));
    const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    outbox.append("id-1", "auth.user_registered", R"({"id":"id-1"})");
    outbox.append("id-2", "auth.user_login_failed", R"({"id":"id-2"})");
    outbox.append("id-3", "auth.user_registered", "");

    const std::vector<OutboxRecord> batch = outbox.next_batch(10);
    REQUIRE(batch.size() == 3);
    CHECK(ids_of(batch) == std::vector<std::string>{"id-1", "id-2", "id-3"});
    CHECK(batch[0].sequence < batch[1].sequence);
    CHECK(batch[1].sequence < batch[2].sequence);
    CHECK(batch[1].type == "auth.user_login_failed");
    CHECK(batch[1].payload == R"({"id":"id-2"})");
    CHECK(batch[2].payload.empty());
    CHECK(batch[0].attempts == 0);
    CHECK(batch[0].created_at_ms >= before);
    CHECK(outbox.pending_count() == 3);
    CHECK(outbox.published_count() == 0);
}

TEST_CASE("next_batch returns at most limit records, oldest first") {
    TempDir dir;
    SqliteOutbox outbox(dir.file("outbox.db"));
    for (int i = 0; i < 5; ++i) {
        outbox.append("id-" + std::to_string(i), "t", "p");
    }
    CHECK(ids_of(outbox.next_batch(2)) == std::vector<std::string>{"id-0", "id-1"});
    CHECK(outbox.next_batch(0).empty());
    CHECK(outbox.next_batch(100).size() == 5);
}

TEST_CASE("mark_published removes records from the next batch and is idempotent") {
    TempDir dir;
    SqliteOutbox outbox(dir.file("outbox.db"));
    outbox.append("a", "t", "p");
    outbox.append("b", "t", "p");
    outbox.append("c", "t", "p");
    const std::vector<OutboxRecord> first = outbox.next_batch(2);
    outbox.mark_published(sequences_of(first));
    CHECK(ids_of(outbox.next_batch(10)) == std::vector<std::string>{"c"});
    CHECK(outbox.pending_count() == 1);
    CHECK(outbox.published_count() == 2);

    outbox.mark_published(sequences_of(first)); // again: fine
    outbox.mark_published({});
    CHECK(outbox.pending_count() == 1);
    CHECK(outbox.published_count() == 2);
}

TEST_CASE("mark_published of an unknown sequence throws, naming it, and marks none") {
    TempDir dir;
    SqliteOutbox outbox(dir.file("outbox.db"));
    outbox.append("a", "t", "p");
    const std::int64_t known = outbox.next_batch(1).at(0).sequence;
    const std::int64_t unknown = known + 1000;
    try {
        outbox.mark_published({known, unknown});
        FAIL("no exception");
    } catch (const std::invalid_argument& error) {
        CHECK_THAT(error.what(), Catch::Matchers::Contains(std::to_string(unknown)));
    }
    CHECK(outbox.pending_count() == 1); // rolled back: `known` is still pending
    CHECK_THROWS_AS(outbox.record_failure({unknown}, "x"), std::invalid_argument);
}

TEST_CASE("an appended event survives closing and reopening the outbox") {
    TempDir dir;
    const std::string path = dir.file("outbox.db");
    {
        SqliteOutbox outbox(path);
        outbox.append("durable", "t", "payload");
        outbox.append("published", "t", "payload");
        outbox.mark_published({outbox.next_batch(2).at(1).sequence});
    }
    SqliteOutbox reopened(path);
    const std::vector<OutboxRecord> batch = reopened.next_batch(10);
    REQUIRE(batch.size() == 1);
    CHECK(batch[0].event_id == "durable");
    CHECK(batch[0].payload == "payload");
    CHECK(reopened.published_count() == 1);
}

TEST_CASE("append_in joins the caller's transaction on the caller's connection") {
    TempDir dir;
    const std::string path = dir.file("outbox.db");
    bus_test::Db service(path);
    SqliteOutbox::create_schema(service.get());
    SqliteOutbox::create_schema(service.get()); // idempotent
    SqliteOutbox outbox(path);

    SECTION("rolled back: nothing is left") {
        service.exec("BEGIN");
        SqliteOutbox::append_in(service.get(), "rolled-back", "t", "p");
        service.exec("ROLLBACK");
        CHECK(outbox.pending_count() == 0);
    }
    SECTION("committed: the record is pending") {
        service.exec("BEGIN");
        SqliteOutbox::append_in(service.get(), "committed", "t", "p");
        CHECK(outbox.pending_count() == 0); // not visible before the commit
        service.exec("COMMIT");
        CHECK(ids_of(outbox.next_batch(10)) == std::vector<std::string>{"committed"});
    }
    SECTION("in a custom table") {
        OutboxOptions options;
        options.table = "custom_outbox";
        SqliteOutbox::create_schema(service.get(), options);
        SqliteOutbox::append_in(service.get(), "custom", "t", "p", options);
        SqliteOutbox custom(path, options);
        CHECK(ids_of(custom.next_batch(10)) == std::vector<std::string>{"custom"});
        CHECK(outbox.pending_count() == 0);
    }
    SECTION("before create_schema on a fresh file: SqliteError") {
        bus_test::Db other(dir.file("other.db"));
        CHECK_THROWS_AS(SqliteOutbox::append_in(other.get(), "x", "t", "p"), SqliteError);
    }
}

TEST_CASE("transaction() commits the body's writes together") {
    TempDir dir;
    SqliteOutbox outbox(dir.file("outbox.db"));
    const int result = outbox.transaction([&](sqlite3* db) {
        SqliteOutbox::append_in(db, "one", "t", "p", outbox.options());
        SqliteOutbox::append_in(db, "two", "t", "p", outbox.options());
        return 42;
    });
    CHECK(result == 42);
    CHECK(ids_of(outbox.next_batch(10)) == std::vector<std::string>{"one", "two"});
}

TEST_CASE("transaction() rolls back when the body throws and rethrows") {
    TempDir dir;
    SqliteOutbox outbox(dir.file("outbox.db"));
    struct BodyFailed {};
    CHECK_THROWS_AS(outbox.transaction([](sqlite3* db) {
        SqliteOutbox::append_in(db, "lost", "t", "p");
        throw BodyFailed{};
    }),
                    BodyFailed);
    CHECK(outbox.pending_count() == 0);
    outbox.append("after", "t", "p"); // the connection is usable again
    CHECK(outbox.pending_count() == 1);
}

TEST_CASE("transaction() refuses re-entrant calls and a body that ends the transaction") {
    TempDir dir;
    SqliteOutbox outbox(dir.file("outbox.db"));
    CHECK_THROWS_AS(outbox.transaction([&](sqlite3*) { outbox.append("x", "t", "p"); }),
                    std::logic_error);
    CHECK_THROWS_AS(outbox.transaction([](sqlite3* db) {
        SqliteOutbox::append_in(db, "y", "t", "p");
        sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    }),
                    std::logic_error);
    CHECK(outbox.pending_count() == 1); // the body's own COMMIT went through
}

TEST_CASE("a duplicate event id throws SqliteError naming the constraint and the id") {
    TempDir dir;
    SqliteOutbox outbox(dir.file("outbox.db"));
    outbox.append("same-id", "t", "p");
    try {
        outbox.append("same-id", "t", "other");
        FAIL("no exception");
    } catch (const SqliteError& error) {
        CHECK(error.code() == SQLITE_CONSTRAINT);
        CHECK(error.extended_code() == SQLITE_CONSTRAINT_UNIQUE);
        const std::string what = error.what();
        CHECK_THAT(what, Catch::Matchers::Contains("same-id"));
        CHECK_THAT(what, Catch::Matchers::Contains("UNIQUE constraint failed"));
        CHECK_THAT(what, Catch::Matchers::Contains("SQLITE_CONSTRAINT"));
    }
    CHECK(outbox.pending_count() == 1);
    CHECK_THROWS_AS(outbox.append("", "t", "p"), std::invalid_argument);
}

TEST_CASE("a write lock held past the busy timeout throws SqliteError with SQLITE_BUSY") {
    TempDir dir;
    OutboxOptions options;
    options.busy_timeout = std::chrono::milliseconds(0);
    SqliteOutbox outbox(dir.file("outbox.db"), options);
    bus_test::Db other(outbox.path());
    other.exec("BEGIN IMMEDIATE");
    try {
        outbox.append("blocked", "t", "p");
        FAIL("no exception");
    } catch (const SqliteError& error) {
        CHECK(error.code() == SQLITE_BUSY);
        CHECK(std::string(error.what()) ==
              "outbox: insert of event 'blocked' failed: database is locked (SQLITE_BUSY)");
    }
    other.exec("ROLLBACK");
    outbox.append("blocked", "t", "p");
    CHECK(outbox.pending_count() == 1);
}

TEST_CASE("invalid table names, in-memory and empty paths are rejected") {
    TempDir dir;
    for (const char* table : {"", "1abc", "bad-name", "x; DROP TABLE y", "a\"b", "sqlite_x"}) {
        INFO(table);
        OutboxOptions options;
        options.table = table;
        try {
            SqliteOutbox outbox(dir.file("outbox.db"), options);
            FAIL("no exception");
        } catch (const std::invalid_argument& error) {
            CHECK_THAT(error.what(), Catch::Matchers::Contains("table name"));
        }
        bus_test::Db db(dir.file("service.db"));
        CHECK_THROWS_AS(SqliteOutbox::create_schema(db.get(), options), std::invalid_argument);
    }
    OutboxOptions good;
    good.table = "_Outbox_2";
    CHECK_NOTHROW(SqliteOutbox(dir.file("outbox.db"), good));

    CHECK_THROWS_AS(SqliteOutbox(":memory:"), std::invalid_argument);
    CHECK_THROWS_AS(SqliteOutbox(""), std::invalid_argument);
    OutboxOptions negative;
    negative.busy_timeout = std::chrono::milliseconds(-1);
    CHECK_THROWS_AS(SqliteOutbox(dir.file("outbox.db"), negative), std::invalid_argument);
    CHECK_THROWS_AS(SqliteOutbox(dir.file("no/such/dir/outbox.db")), SqliteError);
}

TEST_CASE("record_failure counts attempts and keeps the record pending") {
    TempDir dir;
    SqliteOutbox outbox(dir.file("outbox.db"));
    outbox.append("a", "t", "p");
    outbox.append("b", "t", "p");
    const std::int64_t a = outbox.next_batch(1).at(0).sequence;
    outbox.record_failure({a}, "redis: connection refused");
    outbox.record_failure({a}, "redis: timeout");
    const std::vector<OutboxRecord> batch = outbox.next_batch(10);
    REQUIRE(batch.size() == 2);
    CHECK(batch[0].attempts == 2);
    CHECK(batch[1].attempts == 0);

    bus_test::Db db(outbox.path());
    CHECK(db.query_text("SELECT last_error FROM authevents_outbox WHERE event_id = 'a'") ==
          "redis: timeout");
}

TEST_CASE("prune_published deletes old published records only") {
    TempDir dir;
    SqliteOutbox outbox(dir.file("outbox.db"));
    outbox.append("published", "t", "p");
    outbox.append("pending", "t", "p");
    const std::int64_t first = outbox.next_batch(1).at(0).sequence;
    outbox.mark_published({first});

    CHECK(outbox.prune_published(std::chrono::hours(1)) == 0); // too recent
    CHECK(outbox.published_count() == 1);
    CHECK(outbox.prune_published(std::chrono::milliseconds(0)) == 1);
    CHECK(outbox.published_count() == 0);
    CHECK(outbox.pending_count() == 1);
    CHECK_THROWS_AS(outbox.prune_published(std::chrono::milliseconds(-1)), std::invalid_argument);

    // Sequences are never reused after pruning.
    outbox.append("later", "t", "p");
    const std::vector<OutboxRecord> batch = outbox.next_batch(10);
    REQUIRE(batch.size() == 2);
    CHECK(batch[1].sequence > batch[0].sequence);
    CHECK(batch[0].sequence > first);
}

TEST_CASE("concurrent appends from 4 threads are all kept, each thread's in order") {
    test_sync::Watchdog watchdog("outbox concurrent appends");
    TempDir dir;
    SqliteOutbox outbox(dir.file("outbox.db"), [] {
        OutboxOptions options;
        options.synchronous_full = false; // the test is about ordering, not power loss
        return options;
    }());
    constexpr std::size_t threads = 4;
    constexpr int per_thread = 250;
    test_sync::run_together(threads, [&](std::size_t t) {
        for (int i = 0; i < per_thread; ++i) {
            outbox.append(std::to_string(t) + ":" + std::to_string(i), "t", "p");
        }
    });

    const std::vector<OutboxRecord> batch = outbox.next_batch(2000);
    REQUIRE(batch.size() == threads * std::size_t{per_thread});
    const std::vector<std::string> ids = ids_of(batch);
    CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == ids.size());
    std::vector<int> next(threads, 0);
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (i > 0) {
            REQUIRE(batch[i].sequence > batch[i - 1].sequence);
        }
        const std::string& id = batch[i].event_id;
        const std::size_t colon = id.find(':');
        const auto t = static_cast<std::size_t>(std::stoi(id.substr(0, colon)));
        REQUIRE(std::stoi(id.substr(colon + 1)) == next[t]); // each thread's appends in order
        ++next[t];
    }
}

TEST_CASE("group commit: each concurrent append returns committed; a duplicate fails alone") {
    test_sync::Watchdog watchdog("outbox group commit");
    TempDir dir;
    const std::string path = dir.file("outbox.db");
    SqliteOutbox outbox(path);
    constexpr std::size_t threads = 8;
    constexpr int per_thread = 40;
    constexpr int shared_ids = 10; // every thread appends these too: one append of each wins
    std::vector<int> shared_wins(threads, 0);
    std::vector<int> invisible(threads, 0);
    std::vector<std::string> unexpected(threads);
    test_sync::run_together(threads, [&](std::size_t t) {
        bus_test::Db reader(path); // another connection, as another process would read
        for (int i = 0; i < per_thread; ++i) {
            const std::string id = std::to_string(t) + ":" + std::to_string(i);
            outbox.append(id, "t", "p");
            // Returned: committed, so visible to any other connection at once.
            if (reader.query_text("SELECT count(*) FROM authevents_outbox WHERE event_id = '" + id +
                                  "'") != "1") {
                ++invisible[t];
            }
            if (i % (per_thread / shared_ids) == 0) {
                try {
                    outbox.append("shared:" + std::to_string(i), "t", "p");
                    ++shared_wins[t];
                } catch (const SqliteError& e) {
                    if (e.code() != SQLITE_CONSTRAINT) {
                        unexpected[t] = e.what();
                    }
                }
            }
        }
    });
    for (std::size_t t = 0; t < threads; ++t) {
        CHECK(invisible[t] == 0);
        CHECK(unexpected[t].empty());
    }
    int wins = 0;
    for (const int w : shared_wins) {
        wins += w;
    }
    CHECK(wins == shared_ids);
    CHECK(outbox.pending_count() == threads * per_thread + shared_ids);
    const std::vector<std::string> ids = ids_of(outbox.next_batch(1000));
    CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == ids.size());
}

TEST_CASE("two outboxes on one file (as two processes) append concurrently") {
    test_sync::Watchdog watchdog("outbox two connections");
    TempDir dir;
    const std::string path = dir.file("outbox.db");
    OutboxOptions options;
    options.synchronous_full = false;
    options.busy_timeout = std::chrono::seconds(30);
    SqliteOutbox first(path, options);
    SqliteOutbox second(path, options);
    constexpr std::size_t per_outbox = 200;
    test_sync::Gate start;
    const auto append_all = [&](SqliteOutbox& outbox, const std::string& prefix) {
        start.wait();
        for (std::size_t i = 0; i < per_outbox; ++i) {
            outbox.append(prefix + std::to_string(i), "t", "p");
        }
    };
    std::thread a(append_all, std::ref(first), "first-");
    std::thread b(append_all, std::ref(second), "second-");
    start.open();
    a.join();
    b.join();

    CHECK(first.pending_count() == 2 * per_outbox);
    CHECK(second.pending_count() == 2 * per_outbox);
    const std::vector<OutboxRecord> batch = second.next_batch(1000);
    const std::vector<std::string> ids = ids_of(batch);
    CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == 2 * per_outbox);
    first.mark_published(sequences_of(batch));
    CHECK(second.pending_count() == 0);
}

TEST_CASE("the busy timeout option is honoured: an append waits for a lock released within it") {
    TempDir dir;
    OutboxOptions options;
    options.busy_timeout = std::chrono::seconds(30);
    SqliteOutbox outbox(dir.file("outbox.db"), options);
    bus_test::Db other(outbox.path());
    other.exec("BEGIN IMMEDIATE");
    std::thread release([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        other.exec("ROLLBACK");
    });
    outbox.append("waited", "t", "p"); // with busy_timeout 0 it throws (see above)
    release.join();
    CHECK(outbox.pending_count() == 1);
}

TEST_CASE("backlog counts unpublished records and dates the oldest") {
    TempDir dir;
    SqliteOutbox outbox(dir.file("outbox.db"));
    CHECK(outbox.backlog().count == 0);
    CHECK(outbox.backlog().oldest_created_at_ms == 0);
    CHECK(outbox.backlog().oldest_age.count() == 0);
    outbox.append("a", "t", "p");
    outbox.append("b", "t", "p");
    outbox.append("c", "t", "p");
    const std::vector<OutboxRecord> batch = outbox.next_batch(10);
    bus_test::Db db(outbox.path());
    db.exec("UPDATE authevents_outbox SET created_at_ms = created_at_ms - 60000 WHERE "
            "event_id = 'b'");
    outbox.mark_published({batch.at(0).sequence});
    const auto backlog = outbox.backlog();
    CHECK(backlog.count == 2);
    CHECK(backlog.oldest_created_at_ms == batch.at(1).created_at_ms - 60000);
    CHECK(backlog.oldest_age >= std::chrono::milliseconds(60000));
}

TEST_CASE("the relay lease has one holder at a time, renewed by it, free after release or "
          "expiry") {
    TempDir dir;
    SqliteOutbox first(dir.file("outbox.db"));
    SqliteOutbox second(dir.file("outbox.db"));
    CHECK_FALSE(first.lease().has_value());
    CHECK(first.acquire_lease("a", std::chrono::seconds(60)));
    CHECK_FALSE(second.acquire_lease("b", std::chrono::seconds(60)));
    CHECK(first.acquire_lease("a", std::chrono::seconds(60))); // renewal
    REQUIRE(second.lease().has_value());
    CHECK(second.lease()->owner == "a");

    second.release_lease("b"); // not b's: nothing changes
    CHECK_FALSE(second.acquire_lease("b", std::chrono::seconds(60)));
    first.release_lease("a");
    CHECK_FALSE(first.lease().has_value());
    CHECK(second.acquire_lease("b", std::chrono::milliseconds(1)));
    std::this_thread::sleep_for(std::chrono::milliseconds(20)); // b's lease lapses
    CHECK(first.acquire_lease("a", std::chrono::seconds(60)));
    CHECK(first.lease()->owner == "a");

    CHECK_THROWS_AS(first.acquire_lease("", std::chrono::seconds(1)), std::invalid_argument);
    CHECK_THROWS_AS(first.acquire_lease("a", std::chrono::milliseconds(0)), std::invalid_argument);
}

TEST_CASE("mark_published with a lease owner marks nothing once that owner lost the lease") {
    TempDir dir;
    SqliteOutbox outbox(dir.file("outbox.db"));
    outbox.append("a", "t", "p");
    const std::int64_t sequence = outbox.next_batch(1).at(0).sequence;
    CHECK(outbox.acquire_lease("other", std::chrono::seconds(60)));
    CHECK_THROWS_AS(outbox.mark_published({sequence}, "relay"), OutboxLeaseLost);
    CHECK(outbox.pending_count() == 1);
    outbox.release_lease("other");
    CHECK(outbox.acquire_lease("relay", std::chrono::seconds(60)));
    outbox.mark_published({sequence}, "relay");
    CHECK(outbox.pending_count() == 0);
}

namespace {

/// A dispatcher whose log lines go to `log`.
struct LoggedDispatcher : authevents::EventDispatcher {
    explicit LoggedDispatcher(LogCapture& log) { set_logger(log.logger()); }
};

/// A custom event with a description and nothing else: no registry is told about it.
struct SessionRevoked {
    static constexpr std::string_view name = "session_revoked";
    authevents::User user;
    int sessions = 0;
    std::optional<std::string> ip_address;
    static constexpr auto fields = std::make_tuple(
        authevents::field("user", &SessionRevoked::user),
        authevents::field("sessions", &SessionRevoked::sessions).in_range(1, 100, "a count"),
        authevents::field("ip_address", &SessionRevoked::ip_address,
                          authevents::FieldKind::ip_address));
};

/// A custom event without a description (and no EventCodec).
struct Unencodable {
    static constexpr std::string_view name = "unencodable";
    int value = 0;
};

} // namespace

TEST_CASE("a BusPublisher publishes a described custom event it was never told about; an "
          "event it cannot encode is reported, counted and logged") {
    using authevents::bus::BusPublisher;
    TempDir dir;
    SqliteOutbox outbox(dir.file("outbox.db"));
    LogCapture log;
    LoggedDispatcher dispatcher(log);
    BusPublisher publisher(dispatcher, outbox); // the default registry: built-in events only
    int handled = 0;
    dispatcher.connect<SessionRevoked>([&](const SessionRevoked&) { ++handled; });

    const SessionRevoked revoked{samples::ana(), 3, std::string("203.0.113.9")};
    CHECK(dispatcher.dispatch(revoked).observer_failures.empty());
    CHECK(handled == 1);
    const std::vector<OutboxRecord> batch = outbox.next_batch(10);
    REQUIRE(batch.size() == 1);
    CHECK(batch[0].type == "authevents.session_revoked.v1");
    const authevents::bus::CloudEvent cloud = authevents::bus::parse_cloud_event(batch[0].payload);
    CHECK(cloud.subject == std::optional<std::string>("user/42"));
    authevents::bus::EventTypeRegistry consumer;
    consumer.add<SessionRevoked>();
    authevents::EventDispatcher consumer_side;
    consumer_side.set_logger({});
    std::vector<SessionRevoked> decoded;
    consumer_side.connect<SessionRevoked>([&](const SessionRevoked& e) { decoded.push_back(e); });
    consumer.dispatch(cloud, consumer_side);
    REQUIRE(decoded.size() == 1);
    CHECK(authevents::equal(decoded[0], revoked));

    // Out of its declared range: not published, counted, reported, logged at error.
    const authevents::DispatchReport out_of_range =
        dispatcher.dispatch(SessionRevoked{samples::ana(), 0, std::nullopt});
    CHECK(handled == 2);
    REQUIRE(out_of_range.observer_failures.size() == 1);
    CHECK_THROWS_WITH(std::rethrow_exception(out_of_range.observer_failures[0].error),
                      Catch::Matchers::Contains("data.sessions") &&
                          Catch::Matchers::Contains("out of range for a count"));
    // No description and no codec: not published, counted, reported, logged at error.
    const authevents::DispatchReport undescribed = dispatcher.dispatch(Unencodable{1});
    REQUIRE(undescribed.observer_failures.size() == 1);
    CHECK_THROWS_WITH(std::rethrow_exception(undescribed.observer_failures[0].error),
                      Catch::Matchers::Contains("'unencodable' has no CloudEvent type"));
    CHECK(publisher.stats().appended == 1);
    CHECK(publisher.stats().encode_failures == 1);
    CHECK(publisher.stats().unregistered == 1);
    CHECK(outbox.pending_count() == 1);
    const auto errors = log.texts(authevents::LogLevel::error);
    REQUIRE(errors.size() == 2);
    CHECK_THAT(errors[0], Catch::Matchers::Contains("session_revoked observer failed"));
    CHECK_THAT(errors[1], Catch::Matchers::Contains("unencodable observer failed"));
}

TEST_CASE("a failed outbox append is in the DispatchReport, counted and logged; handlers run") {
    using authevents::bus::BusPublisher;
    TempDir dir;
    OutboxOptions options;
    options.busy_timeout = std::chrono::milliseconds(0);
    SqliteOutbox outbox(dir.file("outbox.db"), options);
    LogCapture log;
    LoggedDispatcher dispatcher(log);
    BusPublisher publisher(dispatcher, outbox);
    int handled = 0;
    dispatcher.user_registered.connect([&](const authevents::UserRegistered&) { ++handled; });

    bus_test::Db other(outbox.path());
    other.exec("BEGIN IMMEDIATE"); // the outbox stays locked
    const authevents::DispatchReport failed = dispatcher.dispatch(samples::user_registered());
    CHECK(handled == 1);
    CHECK(failed.ok()); // no handler threw
    REQUIRE(failed.observer_failures.size() == 1);
    CHECK(BusPublisher::publish_failed(failed));
    try {
        std::rethrow_exception(failed.observer_failures[0].error);
    } catch (const authevents::bus::PublishError& e) {
        CHECK_THAT(e.what(), Catch::Matchers::Contains("'user_registered'"));
        CHECK_THAT(e.what(), Catch::Matchers::Contains("not published"));
        CHECK_THAT(e.what(), Catch::Matchers::Contains("SQLITE_BUSY"));
        CHECK_THROWS_AS(std::rethrow_exception(e.cause()), SqliteError);
    }
    CHECK(publisher.stats().append_failures == 1);
    CHECK(publisher.stats().appended == 0);
    const auto errors = log.texts(authevents::LogLevel::error);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::Matchers::Contains("observer failed: bus publisher"));

    other.exec("ROLLBACK");
    const authevents::DispatchReport published = dispatcher.dispatch(samples::user_registered());
    CHECK(published.observer_failures.empty());
    CHECK_FALSE(BusPublisher::publish_failed(published));
    CHECK(outbox.pending_count() == 1);
    CHECK(publisher.stats().appended == 1);
}

TEST_CASE("AppendFailure::abort_dispatch: a failed append throws before any handler runs") {
    using authevents::bus::AppendFailure;
    using authevents::bus::BusPublisher;
    using authevents::bus::PublisherOptions;
    TempDir dir;
    OutboxOptions options;
    options.busy_timeout = std::chrono::milliseconds(0);
    SqliteOutbox outbox(dir.file("outbox.db"), options);
    LogCapture log;
    LoggedDispatcher dispatcher(log);
    PublisherOptions publishing;
    publishing.on_append_failure = AppendFailure::abort_dispatch;
    BusPublisher publisher(dispatcher, outbox, authevents::bus::EventTypeRegistry{}, publishing);
    int handled = 0;
    dispatcher.user_registered.connect([&](const authevents::UserRegistered&) { ++handled; });

    bus_test::Db other(outbox.path());
    other.exec("BEGIN IMMEDIATE");
    CHECK_THROWS_AS(dispatcher.dispatch(samples::user_registered()),
                    authevents::bus::PublishAborted);
    try {
        dispatcher.dispatch_user_registered(samples::ana(), true);
        FAIL("no exception");
    } catch (const authevents::DispatchAborted& e) {
        CHECK_THAT(e.what(), Catch::Matchers::Contains("SQLITE_BUSY"));
    }
    CHECK(handled == 0);
    CHECK(publisher.stats().append_failures == 2);
    CHECK(dispatcher.stats<authevents::UserRegistered>().dispatched == 0);

    other.exec("ROLLBACK");
    CHECK(dispatcher.dispatch(samples::user_registered()).observer_failures.empty());
    CHECK(handled == 1);
    CHECK(outbox.pending_count() == 1);
}
