// Tests for authevents/audit/postgres_store.hpp against a real PostgreSQL the test starts itself
// (postgres_server.hpp): the AuditStore contract every store meets (audit/store_contract.hpp),
// then what is particular to PostgreSQL: appenders on separate connections keep one chain, the
// server stopped mid-run, tampering done with SQL found by verify(), large batches, text that
// needs quoting, a least-privilege role.
#include <authevents/audit/hash_chain.hpp>
#include <authevents/audit/postgres_store.hpp>
#include <authevents/audit/verify.hpp>

#include "audit/store_contract.hpp"
#include "catch_compat.hpp"
#include "postgres_server.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using audit_contract::all_records;
using authevents::audit::AppendResult;
using authevents::audit::AuditEntry;
using authevents::audit::AuditQuery;
using authevents::audit::AuditRecord;
using authevents::audit::AuditStoreError;
using authevents::audit::AuditTime;
using authevents::audit::ChainBreakKind;
using authevents::audit::ChainHead;
using authevents::audit::Microseconds;
using authevents::audit::PostgresAuditStore;
using authevents::audit::PostgresAuditStoreOptions;
using authevents::audit::VerifyOptions;
using authevents::audit::VerifyReport;
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

// verify() with nothing to anchor against finds the chain intact (else shows the break).
void check_intact(PostgresAuditStore& store) {
    const VerifyReport report = authevents::audit::verify(store);
    INFO((report.first_break ? report.first_break->message : std::string("intact")));
    CHECK(report.ok);
}

} // namespace

TEST_CASE("PostgresAuditStore meets the AuditStore contract", "[audit][postgres]") {
    // One database; each section's store gets tables of its own.
    static const std::string info = test_postgres::shared_server().create_database();
    static int made = 0;
    PostgresAuditStoreOptions options;
    audit_contract::StoreTarget target;
    target.make_store = [&] {
        options.table = "contract_" + std::to_string(made++);
        return std::make_unique<PostgresAuditStore>(info, options);
    };
    target.open_again = [&] { return std::make_unique<PostgresAuditStore>(info, options); };
    audit_contract::run_audit_store_contract(target);
}

TEST_CASE("postgres audit: appenders on four connections keep one unforked chain") {
    // Four store objects are four sessions, as four processes would be.
    const std::string info = test_postgres::shared_server().create_database();
    std::vector<std::unique_ptr<PostgresAuditStore>> stores;
    std::vector<authevents::audit::AuditStore*> pointers;
    for (int i = 0; i < 4; ++i) {
        stores.push_back(std::make_unique<PostgresAuditStore>(info));
        pointers.push_back(stores.back().get());
    }
    audit_contract::check_concurrent_appends(pointers, 8, 20, 5);
    CHECK(stores[3]->head().sequence == 8 * 20 * 5);
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
    check_intact(first);
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
    const std::vector<AuditRecord> all = all_records(store);
    REQUIRE(all.size() == 1000);
    for (std::size_t i = 0; i < all.size(); ++i) {
        CHECK(all[i].sequence == static_cast<std::int64_t>(i) + 1);
        CHECK(static_cast<const AuditEntry&>(all[i]).data == entries[i].data);
        CHECK(all[i].cloud_event_id == entries[i].cloud_event_id);
    }
    check_intact(store);
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
    check_intact(store);
}

TEST_CASE("postgres audit: text that needs quoting round-trips exactly") {
    PostgresAuditStore store(test_postgres::shared_server().create_database());
    AuditEntry odd = login(1, "user:\"7\"");
    odd.event_type = "a,b{c}";
    odd.owasp = "";
    odd.data = R"({"q":"it's \"x\" \\ {1,2} NULL","u":"é€𝄞","nl":"a\nb","t":"\t"})";
    odd.source_ip = "\""; // a lone quote
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
    CHECK(back.source_ip == std::optional<std::string>("\""));
    CHECK_FALSE(back.ip_index);
    CHECK(back.cloud_event_id == std::optional<std::string>("NULL"));
    CHECK(back.key_scope.empty());
    CHECK_FALSE(records[1].source_ip);
    CHECK_FALSE(records[1].cloud_event_id);
    CHECK(records[1].actor == "NULL");
    check_intact(store);

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
    const std::vector<AuditRecord> all = all_records(store);
    std::set<std::string> stored;
    for (const auto& record : all) {
        stored.insert(record.cloud_event_id.value_or(""));
    }
    CHECK(stored.size() == all.size());
    for (const auto& id : acked_ids) {
        CHECK(stored.count(id) == 1);
    }
    check_intact(store);

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
    check_intact(store);
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
    check_intact(store);
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
    check_intact(store); // the hashes do not cover ip_index
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
    check_intact(owner);
    // Without the tables, a store that may not create them says so.
    PostgresAuditStoreOptions elsewhere = options;
    elsewhere.table = "missing_trail";
    CHECK_THROWS_WITH(PostgresAuditStore(info, elsewhere), Catch::Contains("missing_trail_head"));
}

TEST_CASE("postgres audit: tampering done with SQL is found by verify() at the right record") {
    static const std::string info = test_postgres::shared_server().create_database();
    static int made = 0;
    PostgresAuditStoreOptions options;
    options.table = "tampered_" + std::to_string(made++);
    PostgresAuditStore store(info, options);
    std::vector<AuditEntry> entries;
    for (int i = 1; i <= 20; ++i) {
        entries.push_back(login(i, "user:" + std::to_string(i % 4)));
    }
    store.append(entries);
    const ChainHead exported = store.head();
    PgConnection db(info, "test");
    const auto sql = [&](const std::string& statement) {
        std::string text = statement;
        for (std::size_t at = text.find("$t"); at != std::string::npos; at = text.find("$t")) {
            text.replace(at, 2, options.table);
        }
        db.exec(text, "test: tamper");
    };
    const auto first_break = [&](const VerifyOptions& verify_options = {}) {
        const VerifyReport report = authevents::audit::verify(store, verify_options);
        REQUIRE_FALSE(report.ok);
        REQUIRE(report.first_break);
        INFO(report.first_break->message);
        return std::pair{report.first_break->sequence, report.first_break->kind};
    };
    // Renumbers records from `from` on by `shift` (the primary key forbids doing it in one
    // step without a detour through negative numbers).
    const auto renumber = [&](int from, int shift) {
        sql("UPDATE $t SET sequence = -sequence WHERE sequence >= " + std::to_string(from));
        sql("UPDATE $t SET sequence = -sequence + " + std::to_string(shift) +
            " WHERE sequence < 0");
    };

    SECTION("a record's data edited") {
        sql("UPDATE $t SET data = '{\"n\":999}' WHERE sequence = 5");
        CHECK(first_break() == std::pair{std::int64_t{5}, ChainBreakKind::edited});
    }
    SECTION("a record's actor edited and its hash recomputed naively") {
        sql("UPDATE $t SET actor = 'user:0', hash = sha256(hash) WHERE sequence = 9");
        CHECK(first_break() == std::pair{std::int64_t{9}, ChainBreakKind::edited});
    }
    SECTION("a record deleted") {
        sql("DELETE FROM $t WHERE sequence = 7");
        CHECK(first_break() == std::pair{std::int64_t{7}, ChainBreakKind::deleted});
    }
    SECTION("a record deleted and the rest renumbered to close the gap") {
        sql("DELETE FROM $t WHERE sequence = 7");
        renumber(8, -1);
        CHECK(first_break() == std::pair{std::int64_t{7}, ChainBreakKind::deleted});
    }
    SECTION("two records swapped") {
        sql("UPDATE $t SET sequence = -1 WHERE sequence = 10");
        sql("UPDATE $t SET sequence = 10 WHERE sequence = 11");
        sql("UPDATE $t SET sequence = 11 WHERE sequence = -1");
        CHECK(first_break() == std::pair{std::int64_t{10}, ChainBreakKind::reordered});
    }
    SECTION("a forged record with a valid hash inserted, the rest renumbered") {
        // The forger computes the hash the chain expects at 12; the original 12, now 13, then
        // no longer chains.
        AuditEntry forged = login(12, "user:99");
        forged.source_ip.reset();
        forged.ip_index.reset();
        const auto hash = authevents::audit::chain_hash(forged, 12, store.read(10, 1).front().hash);
        renumber(12, 1);
        db.exec("INSERT INTO " + options.table +
                    " (sequence, time_us, event_type, event_version, owasp, actor, subject, "
                    "data, key_scope, hash) VALUES (12, $1, $2, 1, $3, $4, $4, $5, $4, "
                    "decode($6, 'hex'))",
                PgParams()
                    .int64(forged.time.time_since_epoch().count())
                    .text(forged.event_type)
                    .text(forged.owasp)
                    .text(forged.actor)
                    .text(forged.data)
                    .text(authevents::audit::to_hex(hash)),
                "test: insert a forged record");
        CHECK(first_break() == std::pair{std::int64_t{12}, ChainBreakKind::inserted});
    }
    SECTION("a forged record with a made-up hash inserted, the rest renumbered") {
        renumber(12, 1);
        sql("INSERT INTO $t SELECT 12, time_us, event_type, event_version, owasp, 'user:99', "
            "subject, source_ip, ip_index, data, NULL, key_scope, sha256(hash) FROM $t WHERE "
            "sequence = 13");
        CHECK(first_break() == std::pair{std::int64_t{12}, ChainBreakKind::inserted});
    }
    SECTION("the tail deleted: the exported head, and the store's own head row, tell") {
        sql("DELETE FROM $t WHERE sequence > 15");
        CHECK(authevents::audit::verify(store).ok); // a clean end, seen alone
        VerifyOptions anchored;
        anchored.expected_head = exported;
        CHECK(first_break(anchored) == std::pair{std::int64_t{16}, ChainBreakKind::truncated});
        // The head row was not touched by the DELETE: it still names record 20.
        anchored.expected_head = store.head();
        CHECK(first_break(anchored) == std::pair{std::int64_t{16}, ChainBreakKind::truncated});
        // The next append continues from the head row, so the hole shows without an anchor.
        store.append({login(30, "user:1")});
        CHECK(first_break() == std::pair{std::int64_t{16}, ChainBreakKind::deleted});
    }
    SECTION("a signed checkpoint forged after deleting more records") {
        const auto keys = authevents::audit::make_checkpoint_key_pair();
        REQUIRE(store.prune(at(5), keys.secret_key));
        sql("DELETE FROM $t WHERE sequence <= 8");
        sql("UPDATE $t_checkpoints SET sequence = 8, deleted = 8, hash = (SELECT hash FROM "
            "$t WHERE sequence = 9)");
        VerifyOptions signed_by;
        signed_by.checkpoint_public_key = keys.public_key;
        CHECK(first_break(signed_by).second == ChainBreakKind::bad_signature);
    }
}

TEST_CASE("postgres audit: a read-only store reads and verifies, and every write fails") {
    const std::string info = test_postgres::shared_server().create_database();
    PostgresAuditStore writer(info);
    writer.append({login(1, "user:1"), login(2, "user:2")});
    writer.insert_key("user:1", "key");
    PostgresAuditStoreOptions options;
    options.read_only = true;
    PostgresAuditStore reader(info, options);
    CHECK(reader.count() == 2);
    CHECK(reader.find_key("user:1") == std::optional<std::string>("key"));
    check_intact(reader);
    CHECK_THROWS_WITH(reader.append({login(3, "user:1")}), Catch::Contains("25006"));
    CHECK_THROWS_WITH(reader.insert_key("user:3", "key"), Catch::Contains("25006"));
    CHECK_THROWS_WITH(reader.erase_key("user:1"), Catch::Contains("25006"));
    CHECK_THROWS_WITH(reader.prune(at(2), std::nullopt), Catch::Contains("25006"));
    CHECK(writer.count() == 2);
    CHECK(writer.find_key("user:1"));
    options.table = "never_made";
    CHECK_THROWS_AS(PostgresAuditStore(info, options), AuditStoreError); // creates nothing
}

TEST_CASE("postgres audit: a connection lost during COMMIT is resolved by asking the server") {
    const std::string info = test_postgres::shared_server().create_database();
    PostgresAuditStore store(info);
    store.append({login(1, "user:1")});
    // A deferred trigger ends the session inside COMMIT, before the transaction commits.
    PgConnection admin(info, "test");
    admin.exec("CREATE FUNCTION end_session() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               "PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$; "
               "CREATE CONSTRAINT TRIGGER end_session_at_commit AFTER UPDATE ON "
               "authevents_audit_head DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE "
               "FUNCTION end_session()",
               "test: a trigger that ends the session at commit");
    CHECK_THROWS_WITH(store.append({login(2, "user:1"), login(3, "user:1")}),
                      Catch::Contains("during COMMIT") && Catch::Contains("did not commit"));
    CHECK(store.count() == 1);
    admin.exec("DROP TRIGGER end_session_at_commit ON authevents_audit_head", "test: drop it");
    CHECK(store.append({login(2, "user:1")}).last_sequence == 2);
    check_intact(store);
}

TEST_CASE("postgres audit: time-range pages are the same whichever index serves them") {
    // A time range alone is read from the time index or by walking the primary key, whichever
    // the planner's estimates make cheaper: ranges at either end, open or closed, in both
    // orders, page by page, must all give exactly the matching records.
    const std::string info = test_postgres::shared_server().create_database();
    PostgresAuditStore store(info);
    std::vector<AuditEntry> entries;
    for (int i = 0; i < 3000; ++i) {
        // Mostly in time order, with some records late by up to 20 seconds.
        entries.push_back(login(i % 50 == 7 ? i - 20 : i, "user:" + std::to_string(i % 9)));
    }
    store.append(entries);
    PgConnection(info, "test").exec("ANALYZE authevents_audit", "test: statistics");
    const std::vector<AuditRecord> all = all_records(store);
    const std::vector<std::pair<std::optional<int>, std::optional<int>>> ranges = {
        {0, 100},
        {2900, 3000},
        {1000, 1010},
        {std::nullopt, 50},
        {std::nullopt, 2990},
        {50, std::nullopt},
        {2950, std::nullopt},
        {10, 2990}};
    for (const auto& [from, until] : ranges) {
        for (const bool newest_first : {true, false}) {
            AuditQuery query;
            query.newest_first = newest_first;
            query.limit = 37;
            if (from) {
                query.from = at(*from);
            }
            if (until) {
                query.until = at(*until);
            }
            INFO("from " << from.value_or(-1) << " until " << until.value_or(-1) << " newest first "
                         << newest_first);
            CHECK(audit_contract::query_all(store, query) ==
                  audit_contract::expected_sequences(all, query));
        }
    }
}

TEST_CASE("postgres audit: prunes on one connection while another appends keep the chain whole") {
    const std::string info = test_postgres::shared_server().create_database();
    PostgresAuditStore appender(info);
    PostgresAuditStore pruner(info);
    const auto keys = authevents::audit::make_checkpoint_key_pair();
    constexpr int batches = 40;
    constexpr int per_batch = 5;
    std::atomic<int> appended_batches{0};
    std::atomic<int> failures{0};
    std::thread writer([&] {
        try {
            for (int batch = 0; batch < batches; ++batch) {
                std::vector<AuditEntry> entries;
                for (int i = 0; i < per_batch; ++i) {
                    entries.push_back(login(batch * per_batch + i, "user:1"));
                }
                appender.append(entries);
                ++appended_batches;
            }
        } catch (...) {
            ++failures;
        }
    });
    std::size_t pruned = 0;
    for (int round = 1; round <= 10; ++round) {
        // Wait (bounded) until the writer is past this round's cut, then cut.
        for (int i = 0; i < 2000 && appended_batches < round * 3; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        if (const auto checkpoint = pruner.prune(at(round * 3 * per_batch), keys.secret_key)) {
            pruned += checkpoint->deleted;
        }
    }
    writer.join();
    REQUIRE(failures == 0);
    CHECK(pruned > 0);
    CHECK(appender.count() + static_cast<std::int64_t>(pruned) == batches * per_batch);
    CHECK(appender.head().sequence == batches * per_batch);
    VerifyOptions options;
    options.checkpoint_public_key = keys.public_key;
    const VerifyReport report = authevents::audit::verify(appender, options);
    INFO((report.first_break ? report.first_break->message : std::string("intact")));
    CHECK(report.ok);
    CHECK(report.signatures_checked);
}
