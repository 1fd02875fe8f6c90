// The AuditStore contract: every behaviour any AuditStore implementation must show, as Catch2
// SECTIONs, run against a store factory. Each store kind runs it from one TEST_CASE:
//
//     TEST_CASE("SqliteAuditStore meets the AuditStore contract", "[audit][store]") {
//         bus_test::TempDir dir;
//         std::string path;
//         int made = 0;
//         audit_contract::StoreTarget target;
//         target.make_store = [&] {       // a store over a NEW, empty database
//             path = dir.file("audit" + std::to_string(made++) + ".db");
//             return std::make_unique<SqliteAuditStore>(path);
//         };
//         target.open_again = [&] {       // a second connection to the last one made
//             return std::make_unique<SqliteAuditStore>(path);
//         };
//         audit_contract::run_audit_store_contract(target);
//     }
//
// Catch2 runs the TEST_CASE once per leaf SECTION, so make_store() is called afresh for each
// (set up the server or directory outside the sections, as above, or once per process).
// open_again may be left empty when the store kind has no second connection; the
// two-connection section then checks threads only. The sections use bounded sizes (at most a
// few hundred records) and no timing. Helpers (entry(), expect_chain()) are reusable by a
// store's own tests.
#pragma once

#include <authevents/audit/hash_chain.hpp>
#include <authevents/audit/record.hpp>
#include <authevents/audit/store.hpp>
#include <authevents/audit/verify.hpp>

#include "catch_compat.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace audit_contract {

using authevents::audit::AuditEntry;
using authevents::audit::AuditQuery;
using authevents::audit::AuditRecord;
using authevents::audit::AuditStore;
using authevents::audit::AuditTime;
using authevents::audit::Microseconds;

/// What the contract runs against.
struct StoreTarget {
    /// A store over a new, empty database.
    std::function<std::unique_ptr<AuditStore>()> make_store;
    /// A second, independent connection to the database of the last make_store() (optional).
    std::function<std::unique_ptr<AuditStore>()> open_again;
};

/// 2026-01-01T00:00:00Z plus `seconds`.
inline AuditTime at(std::int64_t seconds) {
    return AuditTime(Microseconds((INT64_C(1767225600) + seconds) * 1000000));
}

/// A plausible entry: user `user` logged in (or failed to) at at(`second`).
inline AuditEntry entry(int user, std::int64_t second, const std::string& type = "user_logged_in") {
    AuditEntry e;
    e.time = at(second);
    e.event_type = type;
    e.event_version = 1;
    e.owasp = type == "user_logged_in" ? "authn_login_success" : "authn_login_fail";
    e.actor = "user:" + std::to_string(user);
    e.subject = "user:" + std::to_string(user);
    e.source_ip = "sealed:v1:ip" + std::to_string(user);
    e.ip_index = "ip" + std::to_string(user % 3);
    e.data = R"({"n":)" + std::to_string(second) + "}";
    e.key_scope = "user:" + std::to_string(user);
    return e;
}

/// The entry part of a record, to compare with what was appended.
inline AuditEntry as_entry(const AuditRecord& record) { return AuditEntry(record); }

inline bool same_entry(const AuditEntry& a, const AuditEntry& b) {
    return a.time == b.time && a.event_type == b.event_type && a.event_version == b.event_version &&
           a.owasp == b.owasp && a.actor == b.actor && a.subject == b.subject &&
           a.source_ip == b.source_ip && a.ip_index == b.ip_index && a.data == b.data &&
           a.cloud_event_id == b.cloud_event_id && a.key_scope == b.key_scope;
}

/// Every record of `store`, oldest first.
inline std::vector<AuditRecord> all_records(AuditStore& store) {
    std::vector<AuditRecord> records;
    std::int64_t after = std::numeric_limits<std::int64_t>::min();
    for (;;) {
        auto batch = store.read(after, 7); // small pages: the paging is exercised too
        if (batch.empty()) {
            return records;
        }
        after = batch.back().sequence;
        records.insert(records.end(), batch.begin(), batch.end());
    }
}

/// Checks that `records` are contiguous from `first` and each chains from its predecessor,
/// the first from `previous`.
inline void expect_chain(const std::vector<AuditRecord>& records, std::int64_t first,
                         authevents::audit::Sha256 previous) {
    std::int64_t expected = first;
    for (const AuditRecord& record : records) {
        REQUIRE(record.sequence == expected);
        REQUIRE(authevents::audit::chain_hash(record, previous) == record.hash);
        previous = record.hash;
        ++expected;
    }
}

/// Runs every query page by page and returns the sequences in the order returned.
inline std::vector<std::int64_t> query_all(AuditStore& store, AuditQuery query) {
    std::vector<std::int64_t> sequences;
    for (int pages = 0; pages < 1000; ++pages) {
        const auto page = store.query(query);
        REQUIRE(page.records.size() <= query.limit);
        for (const auto& record : page.records) {
            sequences.push_back(record.sequence);
        }
        if (!page.next_cursor) {
            return sequences;
        }
        REQUIRE(page.records.size() == query.limit);
        REQUIRE(*page.next_cursor == page.records.back().sequence);
        query.cursor = page.next_cursor;
    }
    FAIL("query pagination did not end");
    return sequences;
}

/// What `query` must return from `records`, in its order (ignoring cursor and limit).
inline std::vector<std::int64_t> expected_sequences(const std::vector<AuditRecord>& records,
                                                    const AuditQuery& query) {
    std::vector<std::int64_t> sequences;
    for (const auto& r : records) {
        if (query.user && r.actor != *query.user && r.subject != *query.user) {
            continue;
        }
        if (query.event_type && r.event_type != *query.event_type) {
            continue;
        }
        if (query.ip_index && r.ip_index != query.ip_index) {
            continue;
        }
        if ((query.from && r.time < *query.from) || (query.until && r.time >= *query.until)) {
            continue;
        }
        sequences.push_back(r.sequence);
    }
    if (query.newest_first) {
        std::reverse(sequences.begin(), sequences.end());
    }
    return sequences;
}

/// Appends entries from `threads` threads at once (`batches` batches of `batch` each) and
/// checks the chain stays one: contiguous, every hash chaining, verify() ok.
inline void check_concurrent_appends(const std::vector<AuditStore*>& stores, int threads,
                                     int batches, int batch) {
    std::vector<std::thread> workers;
    std::atomic<int> failures{0};
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            AuditStore& store = *stores[static_cast<std::size_t>(t) % stores.size()];
            try {
                for (int b = 0; b < batches; ++b) {
                    std::vector<AuditEntry> entries;
                    for (int i = 0; i < batch; ++i) {
                        entries.push_back(entry(t, b * batch + i));
                        entries.back().cloud_event_id = "t" + std::to_string(t) + "-" +
                                                        std::to_string(b) + "-" + std::to_string(i);
                    }
                    const auto result = store.append(entries);
                    if (result.appended != static_cast<std::size_t>(batch)) {
                        failures.fetch_add(1);
                    }
                }
            } catch (...) {
                failures.fetch_add(1);
            }
        });
    }
    for (auto& worker : workers) {
        worker.join();
    }
    REQUIRE(failures.load() == 0);
    AuditStore& store = *stores.front();
    const auto records = all_records(store);
    REQUIRE(records.size() == static_cast<std::size_t>(threads * batches * batch));
    expect_chain(records, 1, authevents::audit::zero_hash);
    // Each thread's batches stay contiguous and in order.
    for (std::size_t i = 0; i < records.size(); i += static_cast<std::size_t>(batch)) {
        for (std::size_t j = 1; j < static_cast<std::size_t>(batch); ++j) {
            REQUIRE(records[i + j].actor == records[i].actor);
            REQUIRE(records[i + j].time > records[i + j - 1].time);
        }
    }
    CHECK(authevents::audit::verify(store).ok);
}

/// Runs the whole contract (one SECTION per behaviour) against `target`.
inline void run_audit_store_contract(const StoreTarget& target) {
    using authevents::audit::chain_hash;
    using authevents::audit::ChainHead;
    using authevents::audit::zero_hash;
    std::unique_ptr<AuditStore> owned = target.make_store();
    REQUIRE(owned != nullptr);
    AuditStore& store = *owned;

    SECTION("an empty store has no records, head 0 with a zero hash, no checkpoints") {
        CHECK(store.count() == 0);
        CHECK(store.head().sequence == 0);
        CHECK(store.head().hash == zero_hash);
        CHECK(store.read(0, 10).empty());
        CHECK(store.checkpoints().empty());
        const auto page = store.query(AuditQuery{});
        CHECK(page.records.empty());
        CHECK_FALSE(page.next_cursor);
        CHECK(store.append({}).last_sequence == 0);
        CHECK_FALSE(store.prune(at(1000000), std::nullopt));
        CHECK(authevents::audit::verify(store).ok);
    }

    SECTION("append numbers records from 1 and chains each hash to the previous one") {
        const std::vector<AuditEntry> first = {entry(1, 1), entry(2, 2), entry(1, 3)};
        const auto result = store.append(first);
        CHECK(result.appended == 3);
        CHECK(result.duplicates == 0);
        CHECK(result.last_sequence == 3);
        const auto second = store.append({entry(3, 4)});
        CHECK(second.last_sequence == 4);
        const auto records = store.read(0, 100);
        REQUIRE(records.size() == 4);
        expect_chain(records, 1, zero_hash);
        for (std::size_t i = 0; i < first.size(); ++i) {
            CHECK(same_entry(as_entry(records[i]), first[i]));
        }
        CHECK(store.head().sequence == 4);
        CHECK(store.head().hash == records.back().hash);
        CHECK(store.count() == 4);
        CHECK(records[0].hash == chain_hash(first[0], 1, zero_hash));
    }

    SECTION("every field round-trips; an absent optional stays apart from an empty one") {
        AuditEntry full = entry(7, -5);                  // before the 2026 epoch offset too
        full.time = AuditTime(Microseconds(-123456789)); // before 1970
        full.event_version = -3;
        full.owasp = "";
        full.actor = "system";
        full.subject = "email:\xc3\xa9t\xc3\xa9";
        full.data = R"({"note":"sealed:v1:QUJD","n":[1,2,3]})";
        full.cloud_event_id = "ce-1";
        full.key_scope = "";
        AuditEntry bare = entry(8, 9);
        bare.source_ip.reset();
        bare.ip_index.reset();
        bare.cloud_event_id.reset();
        bare.event_version = std::numeric_limits<int>::max();
        REQUIRE(store.append({full, bare}).appended == 2);
        const auto records = store.read(0, 10);
        REQUIRE(records.size() == 2);
        CHECK(same_entry(as_entry(records[0]), full));
        CHECK(same_entry(as_entry(records[1]), bare));
        CHECK_FALSE(records[1].source_ip);
        CHECK_FALSE(records[1].ip_index);
        CHECK_FALSE(records[1].cloud_event_id);
        expect_chain(records, 1, zero_hash);
    }

    SECTION("a cloud_event_id is recorded once, across and within batches") {
        auto a = entry(1, 1);
        a.cloud_event_id = "ce-a";
        auto b = entry(2, 2);
        b.cloud_event_id = "ce-b";
        CHECK(store.append({a, b}).appended == 2);
        auto a_again = entry(9, 9); // same id, other content: still a duplicate
        a_again.cloud_event_id = "ce-a";
        auto c = entry(3, 3);
        c.cloud_event_id = "ce-c";
        const auto result = store.append({a_again, c, c, entry(4, 4)});
        CHECK(result.appended == 2);
        CHECK(result.duplicates == 2);
        CHECK(result.last_sequence == 4);
        const auto records = store.read(0, 10);
        REQUIRE(records.size() == 4);
        expect_chain(records, 1, zero_hash);
        CHECK(records[0].actor == "user:1");
        CHECK(records[2].cloud_event_id == std::optional<std::string>("ce-c"));
        CHECK(store.append({b}).duplicates == 1);
        CHECK(store.count() == 4);
    }

    SECTION("read returns records after a sequence, oldest first, up to the limit") {
        std::vector<AuditEntry> entries;
        for (int i = 0; i < 25; ++i) {
            entries.push_back(entry(i, i));
        }
        store.append(entries);
        const auto middle = store.read(10, 5);
        REQUIRE(middle.size() == 5);
        CHECK(middle.front().sequence == 11);
        CHECK(middle.back().sequence == 15);
        CHECK(store.read(24, 5).size() == 1);
        CHECK(store.read(25, 5).empty());
        CHECK(store.read(std::numeric_limits<std::int64_t>::min(), 3).front().sequence == 1);
        CHECK(all_records(store).size() == 25);
    }

    SECTION("bad arguments throw std::invalid_argument and record nothing") {
        auto bad = entry(1, 1);
        bad.event_type.clear();
        CHECK_THROWS_AS(store.append({entry(2, 2), bad}), std::invalid_argument);
        auto no_data = entry(1, 1);
        no_data.data.clear();
        CHECK_THROWS_AS(store.append({no_data}), std::invalid_argument);
        auto empty_id = entry(1, 1);
        empty_id.cloud_event_id = "";
        CHECK_THROWS_AS(store.append({empty_id}), std::invalid_argument);
        CHECK(store.count() == 0);
        CHECK_THROWS_AS(store.read(0, 0), std::invalid_argument);
        AuditQuery query;
        query.limit = 0;
        CHECK_THROWS_AS(store.query(query), std::invalid_argument);
        query.limit = 10001;
        CHECK_THROWS_AS(store.query(query), std::invalid_argument);
        query.limit = 10;
        query.user = "";
        CHECK_THROWS_AS(store.query(query), std::invalid_argument);
        query.user.reset();
        query.from = at(10);
        query.until = at(10);
        CHECK_THROWS_AS(store.query(query), std::invalid_argument);
        CHECK_THROWS_AS(store.prune(at(0), std::string(10, 'k')), std::invalid_argument);
        CHECK_THROWS_AS(store.insert_key("", "k"), std::invalid_argument);
        CHECK_THROWS_AS(store.insert_key("user:1", ""), std::invalid_argument);
        CHECK_THROWS_AS(store.find_key(""), std::invalid_argument);
        CHECK_THROWS_AS(store.erase_key(""), std::invalid_argument);
        try {
            store.read(0, 0);
        } catch (const std::invalid_argument& error) {
            CHECK(std::string(error.what()).find("limit") != std::string::npos);
        }
    }

    SECTION("queries filter by user, type, IP index and time, in both orders, page by page") {
        std::vector<AuditEntry> entries;
        for (int i = 0; i < 60; ++i) {
            auto e =
                entry(i % 5, (i * 37) % 61, i % 4 == 0 ? "user_login_failed" : "user_logged_in");
            if (i % 7 == 0) {
                e.actor = "user:100"; // an administrator acting on someone else
            }
            if (i % 11 == 0) {
                e.ip_index.reset();
            }
            entries.push_back(e);
        }
        store.append(entries);
        const auto records = all_records(store);
        std::vector<AuditQuery> queries;
        for (const bool newest : {true, false}) {
            for (const std::size_t limit : {std::size_t{1}, std::size_t{4}, std::size_t{100}}) {
                AuditQuery q;
                q.newest_first = newest;
                q.limit = limit;
                queries.push_back(q);
                auto by_user = q;
                by_user.user = "user:2";
                queries.push_back(by_user);
                auto by_admin = q;
                by_admin.user = "user:100";
                queries.push_back(by_admin);
                auto by_type = q;
                by_type.event_type = "user_login_failed";
                queries.push_back(by_type);
                auto by_ip = q;
                by_ip.ip_index = "ip1";
                queries.push_back(by_ip);
                auto by_time = q;
                by_time.from = at(10);
                by_time.until = at(40);
                queries.push_back(by_time);
                auto from_only = q;
                from_only.from = at(30);
                queries.push_back(from_only);
                auto until_only = q;
                until_only.until = at(30);
                queries.push_back(until_only);
                auto combined = by_user;
                combined.event_type = "user_logged_in";
                combined.from = at(5);
                combined.until = at(50);
                queries.push_back(combined);
                auto nobody = q;
                nobody.user = "user:999";
                queries.push_back(nobody);
                auto ip_and_type = by_ip;
                ip_and_type.event_type = "user_login_failed";
                queries.push_back(ip_and_type);
            }
        }
        for (const auto& q : queries) {
            INFO("user " << q.user.value_or("-") << ", type " << q.event_type.value_or("-")
                         << ", ip " << q.ip_index.value_or("-") << ", newest " << q.newest_first
                         << ", limit " << q.limit);
            CHECK(query_all(store, q) == expected_sequences(records, q));
        }
        AuditQuery q;
        q.user = "user:3";
        const auto page = store.query(q);
        REQUIRE_FALSE(page.records.empty());
        for (const auto& record : page.records) { // complete records, as read() gives them
            const auto& stored = records[static_cast<std::size_t>(record.sequence - 1)];
            CHECK(same_entry(as_entry(record), as_entry(stored)));
            CHECK(record.hash == stored.hash);
        }
    }

    SECTION("keys: insert never overwrites, find returns it, erase removes it once") {
        CHECK_FALSE(store.find_key("user:1"));
        CHECK(store.insert_key("user:1", std::string("k1\0\xff", 4)) == std::string("k1\0\xff", 4));
        CHECK(store.insert_key("user:1", "other") == std::string("k1\0\xff", 4));
        CHECK(store.find_key("user:1") == std::optional<std::string>(std::string("k1\0\xff", 4)));
        CHECK(store.insert_key("user:2", "k2") == "k2");
        CHECK(store.erase_key("user:1"));
        CHECK_FALSE(store.find_key("user:1"));
        CHECK_FALSE(store.erase_key("user:1"));
        CHECK(store.find_key("user:2") == std::optional<std::string>("k2"));
        CHECK(store.insert_key("user:1", "k1-new") == "k1-new"); // a new key after erasure
    }

    SECTION("erase_key clears the scope's IP index; every hash still verifies") {
        store.insert_key("user:1", "k1");
        store.insert_key("user:2", "k2");
        store.append({entry(1, 1), entry(2, 2), entry(1, 3)});
        const auto before = all_records(store);
        CHECK(store.erase_key("user:1"));
        const auto after = all_records(store);
        REQUIRE(after.size() == 3);
        CHECK_FALSE(after[0].ip_index);
        CHECK(after[1].ip_index == before[1].ip_index);
        CHECK_FALSE(after[2].ip_index);
        for (std::size_t i = 0; i < after.size(); ++i) {
            CHECK(after[i].hash == before[i].hash);
            CHECK(after[i].source_ip == before[i].source_ip); // sealed values stay, unreadable
        }
        AuditQuery by_ip;
        by_ip.ip_index = "ip1";
        CHECK(store.query(by_ip).records.empty());
        CHECK(authevents::audit::verify(store).ok);
    }

    SECTION("prune deletes the oldest records up to the first newer one and records a "
            "checkpoint the rest chains from") {
        std::vector<AuditEntry> entries;
        for (int i = 0; i < 10; ++i) {
            entries.push_back(entry(i, i * 10)); // times 0, 10, ..., 90
        }
        entries[8].time = at(5); // old, but after a newer record: kept (the chain is a suffix)
        store.append(entries);
        const auto head = store.head();
        const auto all = all_records(store);
        const auto checkpoint = store.prune(at(55), std::nullopt);
        REQUIRE(checkpoint);
        CHECK(checkpoint->sequence == 6);
        CHECK(checkpoint->hash == all[5].hash);
        CHECK(checkpoint->deleted == 6);
        CHECK(checkpoint->cut_before == at(55));
        CHECK(checkpoint->signature.empty());
        CHECK(store.count() == 4);
        CHECK(store.head().sequence == head.sequence);
        CHECK(store.head().hash == head.hash);
        const auto rest = all_records(store);
        REQUIRE(rest.size() == 4);
        expect_chain(rest, 7, checkpoint->hash);
        const auto checkpoints = store.checkpoints();
        REQUIRE(checkpoints.size() == 1);
        CHECK(checkpoints[0].sequence == 6);
        CHECK(checkpoints[0].hash == checkpoint->hash);
        CHECK(checkpoints[0].deleted == 6);
        CHECK(checkpoints[0].cut_before == checkpoint->cut_before);
        CHECK(checkpoints[0].made_at == checkpoint->made_at);
        CHECK_FALSE(store.prune(at(55), std::nullopt)); // nothing old enough any more
        const auto report = authevents::audit::verify(store, {head, {}, {}, 1000});
        CHECK(report.ok);
        CHECK(report.records_checked == 4);
        CHECK(report.head_checked);
        store.append({entry(1, 100)});
        expect_chain(all_records(store), 7, checkpoint->hash);
        CHECK(authevents::audit::verify(store).ok);
    }

    SECTION("a prune of everything keeps the head; appends chain on from the checkpoint") {
        store.append({entry(1, 1), entry(2, 2)});
        const auto head = store.head();
        const auto keys = authevents::audit::make_checkpoint_key_pair();
        const auto first = store.prune(at(10), keys.secret_key);
        REQUIRE(first);
        CHECK(first->deleted == 2);
        CHECK(authevents::audit::checkpoint_signature_valid(*first, keys.public_key));
        CHECK(store.count() == 0);
        CHECK(store.head().sequence == 2);
        CHECK(store.head().hash == head.hash);
        CHECK(store.append({entry(3, 20)}).last_sequence == 3);
        const auto rest = all_records(store);
        expect_chain(rest, 3, head.hash);
        const auto second = store.prune(at(30), keys.secret_key);
        REQUIRE(second);
        CHECK(second->sequence == 3);
        CHECK(second->deleted == 1);
        const auto checkpoints = store.checkpoints();
        REQUIRE(checkpoints.size() == 2);
        CHECK(checkpoints[0].signature == first->signature);
        CHECK(authevents::audit::checkpoint_signature_valid(checkpoints[1], keys.public_key));
        authevents::audit::VerifyOptions options;
        options.checkpoint_public_key = keys.public_key;
        options.expected_head = store.head();
        const auto report = authevents::audit::verify(store, options);
        CHECK(report.ok);
        CHECK(report.signatures_checked);
        CHECK(report.head_checked);
        CHECK(report.checkpoints == 2);
    }

    SECTION("concurrent appenders in threads never fork the chain") {
        check_concurrent_appends({&store}, 4, 12, 5);
    }

    SECTION("appenders on two connections never fork the chain") {
        if (target.open_again) {
            std::unique_ptr<AuditStore> second = target.open_again();
            check_concurrent_appends({&store, second.get()}, 4, 12, 5);
            CHECK(second->head().hash == store.head().hash);
        } else {
            check_concurrent_appends({&store}, 2, 12, 5);
        }
    }
}

} // namespace audit_contract
