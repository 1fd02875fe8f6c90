// Tests for authevents/bus/dedup.hpp: MemoryDedupStore and SqliteDedupStore.
#include <authevents/bus/dedup.hpp>

#include "catch_compat.hpp"
#include "sqlite_test_helpers.hpp"
#include "sync_helpers.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using authevents::bus::DedupStore;
using authevents::bus::MemoryDedupStore;
using authevents::bus::SqliteDedupStore;
using bus_test::TempDir;

TEST_CASE("a memory store remembers ids, idempotently") {
    MemoryDedupStore store;
    CHECK_FALSE(store.seen("a"));
    store.remember("a");
    store.remember("a");
    CHECK(store.seen("a"));
    CHECK_FALSE(store.seen("b"));
    CHECK(store.size() == 1);
}

TEST_CASE("a memory store forgets the oldest ids beyond its capacity") {
    MemoryDedupStore store(3);
    CHECK(store.capacity() == 3);
    for (const char* id : {"1", "2", "3"}) {
        store.remember(id);
    }
    store.remember("1"); // already there: does not count as new
    store.remember("4");
    CHECK(store.size() == 3);
    CHECK_FALSE(store.seen("1"));
    CHECK(store.seen("2"));
    CHECK(store.seen("3"));
    CHECK(store.seen("4"));
    for (int i = 0; i < 1000; ++i) {
        store.remember("x" + std::to_string(i));
    }
    CHECK(store.size() == 3);
    CHECK(store.seen("x999"));
    CHECK_FALSE(store.seen("x996"));
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
        CHECK_FALSE(store.seen("a"));
        store.remember("a");
        store.remember("a");
        store.remember("b");
        CHECK(store.size() == 2);
    }
    SqliteDedupStore reopened(path);
    CHECK(reopened.seen("a"));
    CHECK(reopened.seen("b"));
    CHECK_FALSE(reopened.seen("c"));
    CHECK(reopened.size() == 2);

    SqliteDedupStore other_table(path, "other_consumer");
    CHECK_FALSE(other_table.seen("a"));
}

TEST_CASE("an SQLite store prunes old ids only") {
    TempDir dir;
    SqliteDedupStore store(dir.file("dedup.db"));
    store.remember("a");
    store.remember("b");
    CHECK(store.prune(std::chrono::hours(1)) == 0);
    CHECK(store.seen("a"));
    CHECK(store.prune(std::chrono::milliseconds(0)) == 2);
    CHECK_FALSE(store.seen("a"));
    CHECK(store.size() == 0);
    CHECK_THROWS_AS(store.prune(std::chrono::milliseconds(-1)), std::invalid_argument);
}

TEST_CASE("an SQLite store validates its table name and path; :memory: works") {
    TempDir dir;
    CHECK_THROWS_AS(SqliteDedupStore(dir.file("dedup.db"), "bad name"), std::invalid_argument);
    CHECK_THROWS_AS(SqliteDedupStore(dir.file("dedup.db"), ""), std::invalid_argument);
    CHECK_THROWS_AS(SqliteDedupStore(""), std::invalid_argument);
    CHECK_THROWS_AS(SqliteDedupStore(dir.file("missing/dedup.db")), authevents::bus::SqliteError);
    SqliteDedupStore memory(":memory:");
    memory.remember("a");
    CHECK(memory.seen("a"));
}

TEST_CASE("dedup stores take concurrent remember and seen calls") {
    test_sync::Watchdog watchdog("dedup concurrent");
    TempDir dir;
    std::unique_ptr<DedupStore> store;
    SECTION("memory") { store = std::make_unique<MemoryDedupStore>(100000); }
    SECTION("sqlite") { store = std::make_unique<SqliteDedupStore>(dir.file("dedup.db")); }

    constexpr std::size_t threads = 4;
    constexpr int per_thread = 100;
    std::atomic<int> missing{0};
    test_sync::run_together(threads, [&](std::size_t t) {
        for (int i = 0; i < per_thread; ++i) {
            // Every thread remembers the shared ids and its own; all must be seen after.
            const std::string shared = "shared-" + std::to_string(i);
            const std::string own = std::to_string(t) + "-" + std::to_string(i);
            store->remember(shared);
            store->remember(own);
            if (!store->seen(shared) || !store->seen(own)) {
                ++missing;
            }
            (void)store->seen("never");
        }
    });
    CHECK(missing == 0);
    CHECK_FALSE(store->seen("never"));
    for (int i = 0; i < per_thread; ++i) {
        CHECK(store->seen("shared-" + std::to_string(i)));
        CHECK(store->seen("3-" + std::to_string(i)));
    }
    if (auto* memory = dynamic_cast<MemoryDedupStore*>(store.get())) {
        CHECK(memory->size() == std::size_t{per_thread} * (threads + 1));
    }
    if (auto* sqlite = dynamic_cast<SqliteDedupStore*>(store.get())) {
        CHECK(sqlite->size() == std::size_t{per_thread} * (threads + 1));
    }
}
