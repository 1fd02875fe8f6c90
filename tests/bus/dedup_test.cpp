// Tests for authevents/bus/dedup.hpp: MemoryDedupStore and SqliteDedupStore, the inbox of a
// consumer group (per-group keys, atomic claims with leases, done marks).
#include <authevents/bus/dedup.hpp>

#include "catch_compat.hpp"
#include "sqlite_test_helpers.hpp"
#include "sync_helpers.hpp"

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using authevents::bus::ClaimState;
using authevents::bus::DedupKey;
using authevents::bus::DedupStore;
using authevents::bus::MemoryDedupStore;
using authevents::bus::SqliteDedupStore;
using bus_test::TempDir;
using std::chrono::milliseconds;

namespace {

using bus_test::dedup_key;

constexpr milliseconds long_lease{60000};

/// Claims then completes `id`, as a consumer does after its handlers succeeded.
void handle(DedupStore& store, const std::string& id) {
    REQUIRE(store.claim(dedup_key(id), "worker-1", long_lease) == ClaimState::claimed);
    store.complete(dedup_key(id));
}

/// The inbox contract every store keeps.
void check_contract(DedupStore& store) {
    // A claim excludes other owners until released, completed or expired.
    CHECK(store.claim(dedup_key("a"), "worker-1", long_lease) == ClaimState::claimed);
    CHECK(store.claim(dedup_key("a"), "worker-2", long_lease) == ClaimState::in_progress);
    CHECK_FALSE(store.done(dedup_key("a")));
    // Only the holder releases; then a retry claims it again.
    store.release(dedup_key("a"), "worker-2");
    CHECK(store.claim(dedup_key("a"), "worker-2", long_lease) == ClaimState::in_progress);
    store.release(dedup_key("a"), "worker-1");
    CHECK(store.claim(dedup_key("a"), "worker-2", long_lease) == ClaimState::claimed);
    store.complete(dedup_key("a"));
    store.complete(dedup_key("a")); // idempotent
    CHECK(store.done(dedup_key("a")));
    CHECK(store.claim(dedup_key("a"), "worker-1", long_lease) == ClaimState::done);
    store.release(dedup_key("a"), "worker-2"); // no effect on a done key
    CHECK(store.done(dedup_key("a")));

    // Keys are per group (and stream): another group's done key hides nothing.
    CHECK(store.claim(dedup_key("a", "analytics"), "worker-1", long_lease) == ClaimState::claimed);
    CHECK(store.claim(DedupKey{"other", "notifications", "a"}, "w", long_lease) ==
          ClaimState::claimed);
    // ':' in names cannot make two keys collide.
    CHECK(DedupKey{"a:b", "c", "d"}.text() != DedupKey{"a", "b:c", "d"}.text());
    CHECK(store.claim(DedupKey{"a:b", "c", "d"}, "w", long_lease) == ClaimState::claimed);
    CHECK(store.claim(DedupKey{"a", "b:c", "d"}, "x", long_lease) == ClaimState::claimed);

    // An expired lease can be taken over; the holder's own name re-takes it (a restart).
    CHECK(store.claim(dedup_key("b"), "worker-1", milliseconds(1)) == ClaimState::claimed);
    std::this_thread::sleep_for(milliseconds(20));
    CHECK(store.claim(dedup_key("b"), "worker-2", long_lease) == ClaimState::claimed);
    CHECK(store.claim(dedup_key("b"), "worker-2", long_lease) == ClaimState::claimed);
    // extend() keeps a short lease alive for its owner only.
    CHECK(store.claim(dedup_key("c"), "worker-1", milliseconds(50)) == ClaimState::claimed);
    store.extend(dedup_key("c"), "worker-1", long_lease);
    store.extend(dedup_key("c"), "worker-2", milliseconds(1));
    std::this_thread::sleep_for(milliseconds(80));
    CHECK(store.claim(dedup_key("c"), "worker-2", long_lease) == ClaimState::in_progress);
}

} // namespace

TEST_CASE("a memory store keeps the inbox contract") {
    MemoryDedupStore store;
    check_contract(store);
}

TEST_CASE("an SQLite store keeps the inbox contract") {
    TempDir dir;
    SqliteDedupStore store(dir.file("dedup.db"));
    check_contract(store);
}

TEST_CASE("a memory store forgets the oldest done keys beyond its capacity") {
    MemoryDedupStore store(3);
    CHECK(store.capacity() == 3);
    for (const char* id : {"1", "2", "3"}) {
        handle(store, id);
    }
    store.complete(dedup_key("1")); // already done: does not count as new
    handle(store, "4");
    CHECK(store.size() == 3);
    CHECK_FALSE(store.done(dedup_key("1")));
    CHECK(store.done(dedup_key("2")));
    CHECK(store.done(dedup_key("3")));
    CHECK(store.done(dedup_key("4")));
    for (int i = 0; i < 1000; ++i) {
        handle(store, "x" + std::to_string(i));
    }
    CHECK(store.size() == 3);
    CHECK(store.done(dedup_key("x999")));
    CHECK_FALSE(store.done(dedup_key("x996")));
}

TEST_CASE("a memory store of capacity 0 is rejected") {
    CHECK_THROWS_AS(MemoryDedupStore(0), std::invalid_argument);
}

TEST_CASE("an SQLite store survives reopening") {
    TempDir dir;
    const std::string path = dir.file("dedup.db");
    {
        SqliteDedupStore store(path);
        CHECK(store.path() == path);
        CHECK_FALSE(store.done(dedup_key("a")));
        handle(store, "a");
        handle(store, "b");
        CHECK(store.size() == 2);
    }
    SqliteDedupStore reopened(path);
    CHECK(reopened.done(dedup_key("a")));
    CHECK(reopened.done(dedup_key("b")));
    CHECK_FALSE(reopened.done(dedup_key("c")));
    CHECK(reopened.size() == 2);

    SqliteDedupStore other_table(path, "other_consumer");
    CHECK_FALSE(other_table.done(dedup_key("a")));
}

TEST_CASE("an SQLite store refuses a table of the old layout, naming the migration") {
    TempDir dir;
    const std::string path = dir.file("dedup.db");
    {
        bus_test::Db db(path);
        db.exec("CREATE TABLE authevents_consumed (event_id TEXT PRIMARY KEY, "
                "consumed_at_ms INTEGER NOT NULL) WITHOUT ROWID");
    }
    std::string error;
    try {
        SqliteDedupStore store(path, "authevents_consumed");
    } catch (const std::invalid_argument& e) {
        error = e.what();
    }
    CHECK(error.find("Migrating the inbox") != std::string::npos);
}

TEST_CASE("an SQLite store prunes old done keys only") {
    TempDir dir;
    SqliteDedupStore store(dir.file("dedup.db"));
    handle(store, "a");
    handle(store, "b");
    CHECK(store.claim(dedup_key("running"), "worker-1", long_lease) == ClaimState::claimed);
    CHECK(store.prune(std::chrono::hours(1)) == 0);
    CHECK(store.done(dedup_key("a")));
    CHECK(store.prune(milliseconds(0)) == 2); // the live claim stays
    CHECK_FALSE(store.done(dedup_key("a")));
    CHECK(store.size() == 0);
    CHECK(store.claim(dedup_key("running"), "worker-2", long_lease) == ClaimState::in_progress);
    CHECK_THROWS_AS(store.prune(milliseconds(-1)), std::invalid_argument);
}

TEST_CASE("an SQLite store validates its table name and path; :memory: works") {
    TempDir dir;
    CHECK_THROWS_AS(SqliteDedupStore(dir.file("dedup.db"), "bad name"), std::invalid_argument);
    CHECK_THROWS_AS(SqliteDedupStore(dir.file("dedup.db"), ""), std::invalid_argument);
    CHECK_THROWS_AS(SqliteDedupStore(""), std::invalid_argument);
    CHECK_THROWS_AS(SqliteDedupStore(dir.file("missing/dedup.db")), authevents::bus::SqliteError);
    SqliteDedupStore memory(":memory:");
    handle(memory, "a");
    CHECK(memory.done(dedup_key("a")));
}

TEST_CASE("dedup stores give each event to exactly one of many concurrent claimers") {
    test_sync::Watchdog watchdog("dedup concurrent");
    TempDir dir;
    std::unique_ptr<DedupStore> store;
    std::unique_ptr<DedupStore> second_connection; // for SQLite: another connection, one file
    SECTION("memory") { store = std::make_unique<MemoryDedupStore>(100000); }
    SECTION("sqlite") {
        store = std::make_unique<SqliteDedupStore>(dir.file("dedup.db"));
        second_connection = std::make_unique<SqliteDedupStore>(dir.file("dedup.db"));
    }

    constexpr std::size_t threads = 4;
    constexpr int events = 100;
    std::vector<std::atomic<int>> runs(events);
    test_sync::run_together(threads, [&](std::size_t t) {
        DedupStore& mine = second_connection && t % 2 == 1 ? *second_connection : *store;
        const std::string owner = "worker-" + std::to_string(t);
        for (int i = 0; i < events; ++i) {
            const DedupKey id = dedup_key("event-" + std::to_string(i));
            if (mine.claim(id, owner, long_lease) == ClaimState::claimed) {
                ++runs[static_cast<std::size_t>(i)];
                mine.complete(id);
            }
        }
    });
    for (int i = 0; i < events; ++i) {
        INFO(i);
        CHECK(runs[static_cast<std::size_t>(i)] == 1);
        CHECK(store->done(dedup_key("event-" + std::to_string(i))));
    }
}
