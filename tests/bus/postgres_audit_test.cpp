// Tests for authevents/audit/postgres_store.hpp against a real PostgreSQL the test starts itself
// (postgres_server.hpp): concurrent appenders on separate connections keep one chain, the
// server stopped mid-run, tampering done with SQL, large batches, text that needs quoting.
#include <authevents/audit/hash_chain.hpp>
#include <authevents/audit/postgres_store.hpp>

#include "catch_compat.hpp"
#include "postgres_server.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using authevents::audit::AppendResult;
using authevents::audit::AuditEntry;
using authevents::audit::AuditQuery;
using authevents::audit::AuditRecord;
using authevents::audit::AuditStoreError;
using authevents::audit::AuditTime;
using authevents::audit::Microseconds;
using authevents::audit::PostgresAuditStore;
using authevents::audit::PostgresAuditStoreOptions;
using authevents::detail::PgConnection;
using authevents::detail::PgParams;

namespace {

AuditTime at(std::int64_t second) {
    return AuditTime(Microseconds(1'780'000'000'000'000 + second * 1'000'000));
}

AuditEntry login(std::int64_t second, const std::string& user,
                 std::optional<std::string> cloud_event_id = std::nullopt) {
    AuditEntry entry;
    entry.time = at(second);
    entry.event_type = "user_logged_in";
    entry.owasp = "authn_login_success";
    entry.actor = user;
    entry.subject = user;
    entry.source_ip = "sealed:v1:AAAA" + std::to_string(second);
    entry.ip_index = "ip" + std::to_string(second % 7);
    entry.data = R"({"n":)" + std::to_string(second) + "}";
    entry.cloud_event_id = std::move(cloud_event_id);
    entry.key_scope = user;
    return entry;
}

// Every record continues the chain from the one before (from the zero hash, or from the newest
// checkpoint after a prune) and sequences have no gaps. Returns the first sequence that does
// not, or 0.
std::int64_t first_break(PostgresAuditStore& store) {
    const auto checkpoints = store.checkpoints();
    authevents::audit::Sha256 previous =
        checkpoints.empty() ? authevents::audit::zero_hash : checkpoints.back().hash;
    std::int64_t expected = checkpoints.empty() ? 1 : checkpoints.back().sequence + 1;
    std::int64_t after = 0;
    for (;;) {
        const std::vector<AuditRecord> batch = store.read(after, 500);
        if (batch.empty()) {
            return 0;
        }
        for (const AuditRecord& record : batch) {
            if (record.sequence != expected ||
                authevents::audit::chain_hash(record, previous) != record.hash) {
                return expected;
            }
            previous = record.hash;
            ++expected;
        }
        after = batch.back().sequence;
    }
}

std::vector<AuditRecord> read_all(PostgresAuditStore& store) {
    std::vector<AuditRecord> all;
    for (;;) {
        auto batch = store.read(all.empty() ? 0 : all.back().sequence, 1000);
        if (batch.empty()) {
            return all;
        }
        all.insert(all.end(), batch.begin(), batch.end());
    }
}

} // namespace

TEST_CASE("postgres audit: appenders on separate connections keep one unforked chain") {
    const std::string info = test_postgres::shared_server().create_database();
    constexpr int writers = 4;
    constexpr int batches = 25;
    constexpr int per_batch = 4;
    // Two writers share one store (its mutex), two have a store (a connection) each, like
    // separate processes.
    auto shared = std::make_shared<PostgresAuditStore>(info);
    std::vector<std::shared_ptr<PostgresAuditStore>> stores{
        shared, shared, std::make_shared<PostgresAuditStore>(info),
        std::make_shared<PostgresAuditStore>(info)};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int writer = 0; writer < writers; ++writer) {
        threads.emplace_back([&, writer] {
            try {
                for (int batch = 0; batch < batches; ++batch) {
                    std::vector<AuditEntry> entries;
                    for (int i = 0; i < per_batch; ++i) {
                        entries.push_back(
                            login(batch * per_batch + i, "user:" + std::to_string(writer)));
                    }
                    if (stores[static_cast<std::size_t>(writer)]->append(entries).appended !=
                        per_batch) {
                        ++failures;
                    }
                }
            } catch (const std::exception&) {
                ++failures;
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    REQUIRE(failures == 0);
    PostgresAuditStore reader(info);
    CHECK(reader.count() == writers * batches * per_batch);
    CHECK(reader.head().sequence == writers * batches * per_batch);
    CHECK(first_break(reader) == 0);
    // Each writer's entries are in its own order, and each batch is contiguous.
    const std::vector<AuditRecord> all = read_all(reader);
    std::map<std::string, std::vector<const AuditRecord*>> by_writer;
    for (const AuditRecord& record : all) {
        by_writer[record.actor].push_back(&record);
    }
    REQUIRE(by_writer.size() == writers);
    for (const auto& [actor, records] : by_writer) {
        REQUIRE(records.size() == batches * per_batch);
        for (std::size_t i = 0; i < records.size(); ++i) {
            CHECK(records[i]->time == at(static_cast<std::int64_t>(i)));
            if (i % per_batch != 0) {
                CHECK(records[i]->sequence == records[i - 1]->sequence + 1);
            }
        }
    }
}

TEST_CASE("postgres audit: a CloudEvent id appended by two connections at once is recorded once") {
    const std::string info = test_postgres::shared_server().create_database();
    PostgresAuditStore first(info);
    PostgresAuditStore second(info);
    std::vector<AuditEntry> entries;
    for (int i = 0; i < 50; ++i) {
        entries.push_back(login(i, "user:1", "ce-" + std::to_string(i)));
    }
    AppendResult a;
    AppendResult b;
    std::thread other([&] { b = second.append(entries); });
    a = first.append(entries);
    other.join();
    CHECK(a.appended + b.appended == 50);
    CHECK(a.duplicates + b.duplicates == 50);
    CHECK(first.count() == 50);
    CHECK(first_break(first) == 0);
}

TEST_CASE("postgres audit: a 1000-entry batch appends in one transaction") {
    PostgresAuditStore store(test_postgres::shared_server().create_database());
    std::vector<AuditEntry> entries;
    for (int i = 0; i < 1000; ++i) {
        entries.push_back(login(i, "user:" + std::to_string(i % 10), "id-" + std::to_string(i)));
    }
    const AppendResult result = store.append(entries);
    CHECK(result.appended == 1000);
    CHECK(result.duplicates == 0);
    CHECK(result.last_sequence == 1000);
    const std::vector<AuditRecord> all = read_all(store);
    REQUIRE(all.size() == 1000);
    for (std::size_t i = 0; i < all.size(); ++i) {
        CHECK(all[i].sequence == static_cast<std::int64_t>(i) + 1);
        CHECK(static_cast<const AuditEntry&>(all[i]).data == entries[i].data);
        CHECK(all[i].cloud_event_id == entries[i].cloud_event_id);
    }
    CHECK(first_break(store) == 0);
    // The next batch: half of it repeats ids already recorded, and an id twice within it.
    std::vector<AuditEntry> next(entries.begin() + 500, entries.end());
    for (int i = 1000; i < 1500; ++i) {
        next.push_back(login(i, "user:1", "id-" + std::to_string(i)));
    }
    next.push_back(login(2000, "user:1", "id-1000"));
    const AppendResult again = store.append(next);
    CHECK(again.appended == 500);
    CHECK(again.duplicates == 501);
    CHECK(again.last_sequence == 1500);
    CHECK(first_break(store) == 0);
}

TEST_CASE("postgres audit: text that needs quoting round-trips exactly") {
    PostgresAuditStore store(test_postgres::shared_server().create_database());
    AuditEntry odd = login(1, "user:\"7\"");
    odd.event_type = "a,b{c}";
    odd.owasp = "";
    odd.data = R"({"q":"it's \"x\" \\ {1,2} NULL","u":"é€𝄞","nl":"a\nb","t":"\t"})";
    odd.source_ip = ""; // present but empty: not NULL
    odd.ip_index = std::nullopt;
    odd.cloud_event_id = "NULL"; // the word, not a NULL
    odd.key_scope = "";
    AuditEntry plain = login(2, "NULL");
    plain.source_ip = std::nullopt;
    plain.cloud_event_id = std::nullopt;
    REQUIRE(store.append({odd, plain}).appended == 2);
    const auto records = store.read(0, 10);
    REQUIRE(records.size() == 2);
    const AuditEntry& back = records[0];
    CHECK(back.event_type == odd.event_type);
    CHECK(back.owasp.empty());
    CHECK(back.actor == odd.actor);
    CHECK(back.data == odd.data);
    CHECK(back.source_ip == std::optional<std::string>(""));
    CHECK_FALSE(back.ip_index);
    CHECK(back.cloud_event_id == std::optional<std::string>("NULL"));
    CHECK(back.key_scope.empty());
    CHECK_FALSE(records[1].source_ip);
    CHECK_FALSE(records[1].cloud_event_id);
    CHECK(records[1].actor == "NULL");
    CHECK(first_break(store) == 0);

    // PostgreSQL text cannot hold NUL: refused before anything is sent.
    AuditEntry nul = login(3, "user:1");
    nul.data = std::string("{\"a\":\"x\0y\"}", 11);
    CHECK_THROWS_WITH(store.append({nul}), Catch::Contains("NUL byte") && Catch::Contains("data"));
    // Invalid UTF-8: the server refuses the whole batch.
    AuditEntry latin = login(4, "user:1");
    latin.data = "{\"a\":\"\xff\"}";
    CHECK_THROWS_AS(store.append({login(5, "user:1"), latin}), AuditStoreError);
    CHECK(store.count() == 2);
    CHECK(store.head().sequence == 2);
}

TEST_CASE("postgres audit: a user query matches actor or subject once, paged") {
    PostgresAuditStore store(test_postgres::shared_server().create_database());
    std::vector<AuditEntry> entries;
    for (int i = 0; i < 30; ++i) {
        AuditEntry entry = login(i, "user:1");
        if (i % 3 == 1) {
            entry.actor = "user:2"; // user:2 acted on user:1
        } else if (i % 3 == 2) {
            entry.subject = "user:3"; // user:1 acted on user:3
        }
        entries.push_back(entry);
    }
    store.append(entries);
    AuditQuery query;
    query.user = "user:1";
    query.limit = 7;
    std::vector<std::int64_t> seen;
    for (int page = 0; page < 10; ++page) {
        const auto result = store.query(query);
        for (const auto& record : result.records) {
            seen.push_back(record.sequence);
        }
        if (!result.next_cursor) {
            break;
        }
        query.cursor = result.next_cursor;
    }
    REQUIRE(seen.size() == 30);
    CHECK(std::is_sorted(seen.rbegin(), seen.rend()));
    CHECK(std::set<std::int64_t>(seen.begin(), seen.end()).size() == 30);
    query = AuditQuery();
    query.user = "user:2";
    query.newest_first = false;
    query.from = at(4);
    query.until = at(29);
    query.ip_index = "ip0"; // seconds 7, 14, 21, 28; user:2 acted at 4, 7, 10, ..., 28
    const auto result = store.query(query);
    REQUIRE(result.records.size() == 2);
    CHECK(result.records[0].time == at(7));
    CHECK(result.records[1].time == at(28));
    CHECK_FALSE(result.next_cursor);
    query.limit = 0;
    CHECK_THROWS_AS(store.query(query), std::invalid_argument);
}

TEST_CASE("postgres audit: the server stopped mid-run gives AuditStoreError, then recovers") {
    test_postgres::PostgresServer server;
    const std::string info = server.conninfo();
    PostgresAuditStore store(info);
    std::atomic<int> acknowledged{0};
    std::atomic<int> store_errors{0};
    std::atomic<int> other_errors{0};
    std::atomic<bool> restarted{false};
    std::vector<std::string> acked_ids; // written by the writer only, read after join
    std::thread writer([&] {
        int acked_after_restart = 0;
        for (int batch = 0; batch < 3000 && acked_after_restart < 20; ++batch) {
            const std::string id = "b" + std::to_string(batch);
            try {
                store.append({login(batch, "user:1", id)});
                acked_ids.push_back(id);
                ++acknowledged;
                if (restarted) {
                    ++acked_after_restart;
                }
            } catch (const AuditStoreError&) {
                ++store_errors;
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            } catch (...) {
                ++other_errors;
            }
        }
    });
    const auto wait_for = [](const std::function<bool()>& done) {
        for (int i = 0; i < 3000 && !done(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return done();
    };
    CHECK(wait_for([&] { return acknowledged >= 20; }));
    server.kill(); // a crash: the writer's sessions end at once
    CHECK(wait_for([&] { return store_errors >= 3; }));
    server.start();
    restarted = true;
    writer.join();
    CHECK(other_errors == 0);
    CHECK(store_errors >= 3);
    // Everything acknowledged is stored once; the chain has no fork and no gap.
    const std::vector<AuditRecord> all = read_all(store);
    std::set<std::string> stored;
    for (const auto& record : all) {
        stored.insert(record.cloud_event_id.value_or(""));
    }
    CHECK(stored.size() == all.size());
    for (const auto& id : acked_ids) {
        CHECK(stored.count(id) == 1);
    }
    CHECK(first_break(store) == 0);

    // Every operation fails cleanly while the server is down, and works once it is back.
    server.stop();
    CHECK_THROWS_AS(store.append({login(9000, "user:1")}), AuditStoreError);
    CHECK_THROWS_AS(store.read(0, 10), AuditStoreError);
    CHECK_THROWS_AS(store.query(AuditQuery()), AuditStoreError);
    CHECK_THROWS_AS(store.head(), AuditStoreError);
    CHECK_THROWS_AS(store.count(), AuditStoreError);
    CHECK_THROWS_AS(store.checkpoints(), AuditStoreError);
    CHECK_THROWS_AS(store.prune(at(5), std::nullopt), AuditStoreError);
    CHECK_THROWS_AS(store.find_key("user:1"), AuditStoreError);
    CHECK_THROWS_AS(store.insert_key("user:1", "k"), AuditStoreError);
    CHECK_THROWS_AS(store.erase_key("user:1"), AuditStoreError);
    CHECK_THROWS_WITH(PostgresAuditStore(info),
                      Catch::Contains("postgres audit store") && Catch::Contains("08001"));
    server.start();
    const std::int64_t before = store.count();
    const AppendResult appended = store.append({login(9001, "user:1")});
    CHECK(appended.last_sequence == store.head().sequence);
    CHECK(store.count() == before + 1);
    CHECK(first_break(store) == 0);
}

TEST_CASE("postgres audit: a connection the server dropped is replaced on the next call") {
    const std::string info = test_postgres::shared_server().create_database();
    PostgresAuditStore store(info);
    store.append({login(1, "user:1")});
    PgConnection admin(info, "test");
    const auto terminated =
        admin.exec("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
                   "current_database() AND pid <> pg_backend_pid()",
                   "test: terminate the store's session");
    REQUIRE(terminated.int64(0, 0) >= 1);
    CHECK(store.append({login(2, "user:1")}).last_sequence == 2);
    admin.exec("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
               "current_database() AND pid <> pg_backend_pid()",
               "test: terminate again");
    CHECK(store.read(0, 10).size() == 2);
    CHECK(first_break(store) == 0);
}

TEST_CASE("postgres audit: schema creation is idempotent, versioned and named by the options") {
    const std::string info = test_postgres::shared_server().create_database();
    PostgresAuditStoreOptions options;
    options.table = "security_trail";
    {
        std::vector<std::thread> threads;
        std::atomic<int> failures{0};
        for (int i = 0; i < 3; ++i) {
            threads.emplace_back([&] {
                try {
                    PostgresAuditStore store(info, options);
                } catch (...) {
                    ++failures;
                }
            });
        }
        for (auto& thread : threads) {
            thread.join();
        }
        CHECK(failures == 0);
    }
    PostgresAuditStore store(info, options);
    store.append({login(1, "user:1")});
    PgConnection db(info, "test");
    CHECK(db.exec("SELECT count(*) FROM security_trail", "test").int64(0, 0) == 1);
    for (const char* table :
         {"security_trail_head", "security_trail_checkpoints", "security_trail_keys"}) {
        CHECK(db.exec("SELECT to_regclass($1) IS NOT NULL", PgParams().text(table), "test")
                  .text(0, 0) == "t");
    }
    CHECK(db.exec("SELECT count(*) FROM pg_indexes WHERE tablename = 'security_trail'", "test")
              .int64(0, 0) >= 7);
    db.exec("UPDATE security_trail_head SET schema_version = 2", "test");
    CHECK_THROWS_WITH(PostgresAuditStore(info, options), Catch::Contains("schema version 2"));

    options.table = "bad name";
    CHECK_THROWS_AS(PostgresAuditStore(info, options), std::invalid_argument);
    options.table = std::string(41, 'a');
    CHECK_THROWS_AS(PostgresAuditStore(info, options), std::invalid_argument);
    options.table = "ok";
    options.lock_timeout = std::chrono::milliseconds(0);
    CHECK_THROWS_AS(PostgresAuditStore(info, options), std::invalid_argument);
    CHECK_THROWS_AS(PostgresAuditStore("host='unterminated"), std::invalid_argument);
    // A URI works as well as key=value.
    PostgresAuditStore by_uri(
        "postgresql://authevents@127.0.0.1:" +
        std::to_string(test_postgres::shared_server().port()) + "/" +
        info.substr(info.find("dbname=") + 7,
                    info.find(' ', info.find("dbname=")) - info.find("dbname=") - 7));
    CHECK(by_uri.count() == 0);
}

TEST_CASE("postgres audit: an appender waiting for the chain's lock past lock_timeout fails") {
    const std::string info = test_postgres::shared_server().create_database();
    PostgresAuditStoreOptions options;
    options.lock_timeout = std::chrono::milliseconds(200);
    PostgresAuditStore store(info, options);
    PgConnection holder(info, "test");
    holder.exec("BEGIN", "test");
    holder.exec("SELECT * FROM authevents_audit_head FOR UPDATE", "test: hold the chain's lock");
    CHECK_THROWS_WITH(store.append({login(1, "user:1")}), Catch::Contains("55P03"));
    holder.exec("ROLLBACK", "test");
    CHECK(store.append({login(1, "user:1")}).appended == 1);
}

TEST_CASE("postgres audit: erase_key deletes the key and clears the scope's ip_index") {
    const std::string info = test_postgres::shared_server().create_database();
    PostgresAuditStore store(info);
    PostgresAuditStore other(info);
    const std::string key(32, '\x01');
    CHECK(store.insert_key("user:1", key) == key);
    CHECK(other.insert_key("user:1", std::string(32, '\x02')) == key); // never overwritten
    store.insert_key("user:2", std::string(32, '\0'));
    store.append({login(1, "user:1"), login(2, "user:2")});
    CHECK(store.erase_key("user:1"));
    CHECK_FALSE(store.erase_key("user:1"));
    CHECK_FALSE(other.find_key("user:1"));
    CHECK(other.find_key("user:2") == std::string(32, '\0'));
    const auto records = store.read(0, 10);
    REQUIRE(records.size() == 2);
    CHECK_FALSE(records[0].ip_index);
    CHECK(records[1].ip_index);
    CHECK(first_break(store) == 0); // the hashes do not cover ip_index
}

TEST_CASE("postgres audit: a role that may only append can run the store without a schema "
          "privilege, and cannot rewrite records") {
    const std::string info = test_postgres::shared_server().create_database();
    PostgresAuditStore owner(info); // creates the tables
    PgConnection admin(info, "test");
    admin.exec("CREATE ROLE audit_writer LOGIN; "
               "GRANT SELECT, INSERT ON authevents_audit TO audit_writer; "
               "GRANT SELECT, UPDATE ON authevents_audit_head TO audit_writer; "
               "GRANT SELECT, INSERT ON authevents_audit_keys TO audit_writer; "
               "GRANT SELECT ON authevents_audit_checkpoints TO audit_writer",
               "test: the writer role");
    const std::string as_writer = info + " user=audit_writer";
    PostgresAuditStoreOptions options;
    CHECK_THROWS_AS(PostgresAuditStore(as_writer, options), AuditStoreError); // may not create
    options.create_schema = false;
    PostgresAuditStore writer(as_writer, options);
    CHECK(writer.append({login(1, "user:1"), login(2, "user:2")}).appended == 2);
    CHECK(writer.insert_key("user:1", "key") == "key");
    CHECK(writer.read(0, 10).size() == 2);
    CHECK_THROWS_WITH(writer.prune(at(2), std::nullopt), Catch::Contains("42501"));
    CHECK_THROWS_WITH(writer.erase_key("user:1"), Catch::Contains("42501"));
    PgConnection raw(as_writer, "test");
    CHECK_THROWS_WITH(raw.exec("UPDATE authevents_audit SET data = '{}'", "test: rewrite"),
                      Catch::Contains("42501"));
    CHECK_THROWS_WITH(raw.exec("DELETE FROM authevents_audit", "test: delete"),
                      Catch::Contains("42501"));
    CHECK(owner.count() == 2);
    CHECK(first_break(owner) == 0);
    // Without the tables, a store that may not create them says so.
    PostgresAuditStoreOptions elsewhere = options;
    elsewhere.table = "missing_trail";
    CHECK_THROWS_WITH(PostgresAuditStore(info, elsewhere), Catch::Contains("missing_trail_head"));
}
