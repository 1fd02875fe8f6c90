// Tests for authevents/audit/sqlite_store.hpp: the AuditStore contract on SQLite, plus what is
// SQLite's own: options, reopening, table prefixes, a read-only or full database, a write lock
// held elsewhere, erased keys leaving the file, and the query plans using the indexes.
#include <authevents/audit/sqlite_store.hpp>
#include <authevents/audit/verify.hpp>

#include "audit/store_contract.hpp"
#include "bus/sqlite_test_helpers.hpp"
#include "catch_compat.hpp"
#include "text_helpers.hpp"

#include <sqlite3.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using audit_contract::at;
using audit_contract::entry;
using authevents::audit::AuditQuery;
using authevents::audit::AuditStoreError;
using authevents::audit::SqliteAuditStore;
using authevents::audit::SqliteAuditStoreOptions;
using bus_test::TempDir;

namespace {

// The message of the exception `body` throws as `Exception` ("" if it throws none).
template <class Exception, class Body> std::string error_of(Body&& body) {
    try {
        body();
    } catch (const Exception& error) {
        return error.what();
    }
    return "";
}

using test_text::contains;

using bus_test::file_bytes;

// The EXPLAIN QUERY PLAN lines of `sql` (with parameters unbound), joined by newlines.
std::string query_plan(sqlite3* db, const std::string& sql) {
    sqlite3_stmt* statement = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &statement,
                               nullptr) == SQLITE_OK);
    std::string plan;
    while (sqlite3_step(statement) == SQLITE_ROW) {
        plan += reinterpret_cast<const char*>(sqlite3_column_text(statement, 3));
        plan += '\n';
    }
    sqlite3_finalize(statement);
    return plan;
}

} // namespace

TEST_CASE("SqliteAuditStore meets the AuditStore contract", "[audit][store][thread]") {
    TempDir dir;
    std::string path;
    int made = 0;
    audit_contract::StoreTarget target;
    target.make_store = [&] {
        path = dir.file("audit" + std::to_string(made++) + ".db");
        return std::make_unique<SqliteAuditStore>(path);
    };
    target.open_again = [&] { return std::make_unique<SqliteAuditStore>(path); };
    audit_contract::run_audit_store_contract(target);
}

TEST_CASE("SqliteAuditStore stores text fields byte for byte, NUL bytes included",
          "[audit][store]") {
    TempDir dir;
    SqliteAuditStore store(dir.file("audit.db"));
    auto odd = entry(1, 1);
    odd.actor = std::string("user:\0x", 7);
    odd.data = std::string("{\"a\":\"\xff\xfe\"}"); // not UTF-8: kept as given
    store.append({odd});
    const auto records = store.read(0, 1);
    REQUIRE(records.size() == 1);
    CHECK(records[0].actor == odd.actor);
    CHECK(records[0].data == odd.data);
    CHECK(authevents::audit::verify(store).ok);
}

TEST_CASE("SqliteAuditStore rejects bad options with a message naming the problem",
          "[audit][store]") {
    TempDir dir;
    const std::string path = dir.file("audit.db");
    CHECK(contains(error_of<std::invalid_argument>([] { SqliteAuditStore store(""); }), "empty"));
    CHECK(contains(error_of<std::invalid_argument>([] { SqliteAuditStore store(":memory:"); }),
                   "in-memory"));
    SqliteAuditStoreOptions bad_prefix;
    bad_prefix.table_prefix = "audit; DROP TABLE x";
    CHECK(
        contains(error_of<std::invalid_argument>([&] { SqliteAuditStore store(path, bad_prefix); }),
                 "invalid table name"));
    SqliteAuditStoreOptions negative;
    negative.busy_timeout = std::chrono::milliseconds(-1);
    CHECK(contains(error_of<std::invalid_argument>([&] { SqliteAuditStore store(path, negative); }),
                   "busy_timeout"));
    SqliteAuditStoreOptions no_pages;
    no_pages.max_page_count = 0;
    CHECK(contains(error_of<std::invalid_argument>([&] { SqliteAuditStore store(path, no_pages); }),
                   "max_page_count"));
    {
        std::ofstream garbage(dir.file("garbage.db"), std::ios::binary);
        garbage << std::string(8192, 'x');
    }
    CHECK(
        contains(error_of<AuditStoreError>([&] { SqliteAuditStore store(dir.file("garbage.db")); }),
                 "not a database"));
    {
        bus_test::Db other(path);
        other.exec("CREATE TABLE authevents_audit_records (id INTEGER PRIMARY KEY, what TEXT)");
    }
    CHECK(contains(error_of<std::invalid_argument>([&] { SqliteAuditStore store(path); }),
                   "another layout"));
}

TEST_CASE("SqliteAuditStore keeps its chain across reopening, per table prefix", "[audit][store]") {
    TempDir dir;
    const std::string path = dir.file("audit.db");
    authevents::audit::ChainHead head;
    {
        SqliteAuditStore store(path);
        store.append({entry(1, 1), entry(2, 2)});
        store.insert_key("user:1", "key-1");
        head = store.head();
    }
    SqliteAuditStore store(path);
    CHECK(store.head().sequence == head.sequence);
    CHECK(store.head().hash == head.hash);
    CHECK(store.find_key("user:1") == std::optional<std::string>("key-1"));
    CHECK(store.append({entry(3, 3)}).last_sequence == 3);

    SqliteAuditStoreOptions tenant;
    tenant.table_prefix = "tenant_b_audit";
    SqliteAuditStore other(path, tenant);
    CHECK(other.count() == 0);
    CHECK(other.append({entry(1, 1)}).last_sequence == 1);
    CHECK(store.count() == 3);
    CHECK(authevents::audit::verify(store, {head, {}, {}, 1000}).ok);
    CHECK(authevents::audit::verify(other).ok);
}

TEST_CASE("A read-only SqliteAuditStore reads and verifies, and names the operation a write "
          "fails in",
          "[audit][store]") {
    TempDir dir;
    const std::string path = dir.file("audit.db");
    SqliteAuditStoreOptions read_only;
    read_only.read_only = true;
    CHECK(contains(error_of<AuditStoreError>([&] { SqliteAuditStore store(path, read_only); }),
                   "no table authevents_audit_records"));
    {
        SqliteAuditStore writer(path);
        writer.append({entry(1, 1), entry(2, 2)});
    }
    SqliteAuditStore store(path, read_only);
    CHECK(store.count() == 2);
    CHECK(authevents::audit::verify(store).ok);
    const std::string append_error =
        error_of<AuditStoreError>([&] { store.append({entry(3, 3)}); });
    CHECK(contains(append_error, "audit store '" + path + "'"));
    CHECK(contains(append_error, "append"));
    CHECK(contains(append_error, "readonly"));
    CHECK(
        contains(error_of<AuditStoreError>([&] { store.prune(at(100), std::nullopt); }), "prune"));
    CHECK(contains(error_of<AuditStoreError>([&] { store.insert_key("user:1", "k"); }),
                   "insert key"));
    CHECK(store.count() == 2);

    if (geteuid() != 0) { // root writes a mode 0444 file anyway
        {
            SqliteAuditStore writer(path); // checkpoint the WAL into the file before chmod
        }
        REQUIRE(chmod(path.c_str(), 0444) == 0);
        CHECK_THROWS_AS(SqliteAuditStore(path).append({entry(3, 3)}), AuditStoreError);
        chmod(path.c_str(), 0644);
    }
}

TEST_CASE("A full SqliteAuditStore fails the append with AuditStoreError and keeps its chain",
          "[audit][store]") {
    TempDir dir;
    const std::string path = dir.file("audit.db");
    { SqliteAuditStore create(path); }
    SqliteAuditStoreOptions small;
    small.max_page_count = 40; // the schema takes about a dozen 4 KiB pages
    SqliteAuditStore store(path, small);
    std::string error;
    std::int64_t last = 0;
    for (int batch = 0; batch < 200 && error.empty(); ++batch) {
        std::vector<authevents::audit::AuditEntry> entries;
        for (int i = 0; i < 20; ++i) {
            auto e = entry(i, batch * 20 + i);
            e.data = R"({"padding":")" + std::string(400, 'x') + "\"}";
            entries.push_back(e);
        }
        try {
            last = store.append(entries).last_sequence;
        } catch (const AuditStoreError& failure) {
            error = failure.what();
        }
    }
    INFO(error);
    REQUIRE_FALSE(error.empty());
    CHECK(contains(error, "append"));
    CHECK(contains(error, "full"));
    CHECK(store.head().sequence == last); // nothing of the failed batch
    CHECK(store.count() == last);
    CHECK(authevents::audit::verify(store).ok);
    // Room again (a store without the cap): the chain goes on.
    SqliteAuditStore roomy(path);
    CHECK(roomy.append({entry(1, 100000)}).last_sequence == last + 1);
    CHECK(authevents::audit::verify(roomy).ok);
}

TEST_CASE("An append waiting for another connection's write lock fails after busy_timeout",
          "[audit][store]") {
    TempDir dir;
    const std::string path = dir.file("audit.db");
    SqliteAuditStoreOptions impatient;
    impatient.busy_timeout = std::chrono::milliseconds(50);
    SqliteAuditStore store(path, impatient);
    bus_test::Db other(path);
    other.exec("BEGIN IMMEDIATE");
    const std::string error = error_of<AuditStoreError>([&] { store.append({entry(1, 1)}); });
    CHECK(contains(error, "append"));
    CHECK(contains(error, "SQLITE_BUSY"));
    other.exec("ROLLBACK");
    CHECK(store.append({entry(1, 1)}).last_sequence == 1);
}

TEST_CASE("An erased key's bytes leave the database file", "[audit][store]") {
    TempDir dir;
    const std::string path = dir.file("audit.db");
    SqliteAuditStore store(path);
    const std::string key = "0123456789abcdefSECRETKEYBYTES!!";
    const std::string stored = authevents::audit::to_hex(key); // keys are kept as hex
    store.insert_key("user:1", key);
    store.insert_key("user:2", "another key");
    store.append({entry(1, 1)});
    { SqliteAuditStore flush(path); } // a second connection's close checkpoints the log
    REQUIRE(contains(file_bytes(path) + file_bytes(path + "-wal"), stored));
    CHECK(store.erase_key("user:1"));
    CHECK_FALSE(contains(file_bytes(path) + file_bytes(path + "-wal"), stored));
    CHECK(store.find_key("user:2") == std::optional<std::string>("another key"));
}

TEST_CASE("SqliteAuditStore's prune and erase_key walk an index, not the table", "[audit][store]") {
    // (query() names its index with INDEXED BY: SQLite refuses to run it if the index could
    // not serve it, so the contract's query section covers the query plans.)
    TempDir dir;
    const std::string path = dir.file("audit.db");
    SqliteAuditStore store(path);
    bus_test::Db db(path);
    const std::string& table = store.records_table();
    CHECK(contains(query_plan(db.get(), "SELECT sequence FROM " + table +
                                            " WHERE time_us >= ?1 ORDER BY sequence LIMIT 1"),
                   "_by_time"));
    CHECK(contains(query_plan(db.get(), "UPDATE " + table +
                                            " SET ip_index = NULL WHERE key_scope = ?1 AND "
                                            "ip_index IS NOT NULL"),
                   "_by_scope"));
}

TEST_CASE("Appenders in two processes on one SqliteAuditStore file never fork the chain",
          "[audit][store]") {
    TempDir dir;
    const std::string path = dir.file("audit.db");
    { SqliteAuditStore create(path); } // the tables exist before the processes start
    constexpr int processes = 2;
    constexpr int batches = 15;
    constexpr int batch = 4;
    std::vector<pid_t> children;
    for (int p = 0; p < processes; ++p) {
        const pid_t child = fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            int status = 0;
            try {
                SqliteAuditStore store(path);
                for (int b = 0; b < batches; ++b) {
                    std::vector<authevents::audit::AuditEntry> entries;
                    for (int i = 0; i < batch; ++i) {
                        entries.push_back(entry(p, b * batch + i));
                    }
                    if (store.append(entries).appended != batch) {
                        status = 2;
                    }
                }
            } catch (...) {
                status = 1;
            }
            _exit(status); // no Catch2 or static destructors in the child
        }
        children.push_back(child);
    }
    for (const pid_t child : children) {
        int status = -1;
        REQUIRE(waitpid(child, &status, 0) == child);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    SqliteAuditStore store(path);
    const auto records = audit_contract::all_records(store);
    CHECK(records.size() == static_cast<std::size_t>(processes * batches * batch));
    audit_contract::expect_chain(records, 1, authevents::audit::zero_hash);
    for (std::size_t i = 0; i < records.size(); i += batch) { // each batch stays contiguous
        for (std::size_t j = 1; j < batch; ++j) {
            CHECK(records[i + j].actor == records[i].actor);
        }
    }
    CHECK(authevents::audit::verify(store).ok);
}
