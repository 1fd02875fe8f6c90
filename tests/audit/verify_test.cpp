// Tests for authevents/audit/hash_chain.hpp (the canonical form, chain hash, hex helpers,
// checkpoint signatures) and authevents/audit/verify.hpp: each kind of tampering, done with raw
// SQL on a SqliteAuditStore's file, is reported at the right record; retention keeps the rest
// verifiable; truncation and rewritten history are caught against an exported head.
#include <authevents/audit/hash_chain.hpp>
#include <authevents/audit/sqlite_store.hpp>
#include <authevents/audit/verify.hpp>

#include "audit/store_contract.hpp"
#include "bus/sqlite_test_helpers.hpp"
#include "catch_compat.hpp"

#include <sodium.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using audit_contract::at;
using audit_contract::entry;
using authevents::audit::AuditEntry;
using authevents::audit::AuditRecord;
using authevents::audit::ChainBreakKind;
using authevents::audit::ChainHead;
using authevents::audit::Sha256;
using authevents::audit::SqliteAuditStore;
using authevents::audit::to_hex;
using authevents::audit::verify;
using authevents::audit::VerifyOptions;
using authevents::audit::VerifyReport;

namespace {

// A store with 20 records (sequences 1-20, times 10 s apart) and a raw connection to tamper.
struct Tampering {
    bus_test::TempDir dir;
    std::string path = dir.file("audit.db");
    SqliteAuditStore store{path};
    bus_test::Db raw{path};
    std::vector<AuditRecord> original;

    Tampering() {
        std::vector<AuditEntry> entries;
        for (int i = 1; i <= 20; ++i) {
            entries.push_back(entry(i % 4, i * 10));
        }
        store.append(entries);
        original = store.read(0, 100);
    }

    void sql(const std::string& statement) { raw.exec(statement); }

    // Columns of the records table other than sequence, for copying rows around.
    static std::string columns() {
        return "time_us, event_type, event_version, owasp, actor, subject, source_ip, ip_index,"
               " data, cloud_event_id, key_scope, hash";
    }

    // Shifts the records at `from` and later up by one sequence number (making room).
    void shift_up(std::int64_t from) {
        sql("UPDATE authevents_audit_records SET sequence = -sequence WHERE sequence >= " +
            std::to_string(from));
        sql("UPDATE authevents_audit_records SET sequence = 1 - sequence WHERE sequence < 0");
    }

    // Inserts a row at `sequence` holding `e` with hash `hash`.
    void insert_row(std::int64_t sequence, const AuditEntry& e, const Sha256& hash) {
        sql("INSERT INTO authevents_audit_records (sequence, " + columns() + ") VALUES (" +
            std::to_string(sequence) + ", " + std::to_string(e.time.time_since_epoch().count()) +
            ", '" + e.event_type + "', " + std::to_string(e.event_version) + ", '" + e.owasp +
            "', '" + e.actor + "', '" + e.subject + "', '" + e.source_ip.value_or("") +
            "', NULL, '" + e.data + "', NULL, '" + e.key_scope + "', '" + to_hex(hash) + "')");
    }
};

VerifyReport verify_against(SqliteAuditStore& store, const ChainHead& head) {
    VerifyOptions options;
    options.expected_head = head;
    return verify(store, options);
}

void expect_break(const VerifyReport& report, std::int64_t sequence, ChainBreakKind kind) {
    REQUIRE_FALSE(report.ok);
    REQUIRE(report.first_break);
    INFO(report.first_break->message);
    CHECK(report.first_break->sequence == sequence);
    CHECK(to_string(report.first_break->kind) == to_string(kind));
    CHECK(report.first_break->message.find(std::to_string(sequence)) != std::string::npos);
}

std::string byte_string(std::initializer_list<int> bytes) {
    std::string out;
    for (const int b : bytes) {
        out += static_cast<char>(b);
    }
    return out;
}

} // namespace

TEST_CASE("The canonical content is the documented byte layout", "[audit][hash_chain]") {
    AuditEntry e;
    e.time = authevents::audit::AuditTime(authevents::audit::Microseconds(-2));
    e.event_type = "t";
    e.event_version = 258;
    e.owasp = "";
    e.actor = "a";
    e.subject = "s";
    e.source_ip = "ip";
    e.ip_index = "not hashed";
    e.data = "{}";
    e.key_scope = "k";
    const std::string zeros7(7, '\0');
    const std::string expected =
        byte_string({0, 0, 0, 0, 0, 0, 0, 5}) +                         // sequence 5
        byte_string({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}) + // time -2
        zeros7 + byte_string({1}) + "t" +                               // event_type
        byte_string({0, 0, 0, 0, 0, 0, 1, 2}) +                         // version 258
        zeros7 + byte_string({0}) +                                     // owasp ""
        zeros7 + byte_string({1}) + "a" +                               // actor
        zeros7 + byte_string({1}) + "s" +                               // subject
        byte_string({1}) + zeros7 + byte_string({2}) + "ip" +           // source_ip present
        zeros7 + byte_string({2}) + "{}" +                              // data
        byte_string({0}) +                                              // cloud_event_id absent
        zeros7 + byte_string({1}) + "k";                                // key_scope
    CHECK(authevents::audit::canonical_content(e, 5) == expected);

    // hash = SHA-256(domain || canonical || previous)
    Sha256 previous{};
    previous.fill(0xab);
    const std::string input = "authevents.audit.v1" + expected +
                              std::string(reinterpret_cast<const char*>(previous.data()), 32);
    Sha256 digest{};
    crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(input.data()),
                       input.size());
    CHECK(authevents::audit::chain_hash(e, 5, previous) == digest);

    // ip_index is not hashed; everything else is.
    auto other = e;
    other.ip_index.reset();
    CHECK(authevents::audit::chain_hash(other, 5, previous) == digest);
    other.source_ip.reset();
    CHECK(authevents::audit::chain_hash(other, 5, previous) != digest);
    CHECK(authevents::audit::chain_hash(e, 6, previous) != digest);
    CHECK(authevents::audit::chain_hash(e, 5, authevents::audit::zero_hash) != digest);
}

TEST_CASE("Hex helpers round-trip and reject what is not hex", "[audit][hash_chain]") {
    CHECK(to_hex(std::string("\x00\xff\x10", 3)) == "00ff10");
    CHECK(authevents::audit::from_hex("00FF10") ==
          std::optional<std::string>(std::string("\x00\xff\x10", 3)));
    CHECK(authevents::audit::from_hex("") == std::optional<std::string>(""));
    CHECK_FALSE(authevents::audit::from_hex("abc"));
    CHECK_FALSE(authevents::audit::from_hex("zz"));
    CHECK_FALSE(authevents::audit::from_hex("0a 1b"));
    Sha256 digest{};
    digest[0] = 1;
    digest[31] = 0xfe;
    CHECK(authevents::audit::sha256_from_hex(to_hex(digest)) == digest);
    CHECK_FALSE(authevents::audit::sha256_from_hex(to_hex(digest).substr(2)));
    CHECK_FALSE(authevents::audit::sha256_from_hex(std::string(64, 'g')));
}

TEST_CASE("A checkpoint signature covers every field of the checkpoint", "[audit][hash_chain]") {
    const auto keys = authevents::audit::make_checkpoint_key_pair();
    authevents::audit::Checkpoint checkpoint;
    checkpoint.sequence = 10;
    checkpoint.hash.fill(7);
    checkpoint.cut_before = at(100);
    checkpoint.made_at = at(200);
    checkpoint.deleted = 10;
    CHECK_FALSE(authevents::audit::checkpoint_signature_valid(checkpoint, keys.public_key));
    checkpoint.signature = authevents::audit::sign_checkpoint(checkpoint, keys.secret_key);
    CHECK(checkpoint.signature.size() == 64);
    CHECK(authevents::audit::checkpoint_signature_valid(checkpoint, keys.public_key));
    const auto tampered = [&](auto change) {
        auto copy = checkpoint;
        change(copy);
        return authevents::audit::checkpoint_signature_valid(copy, keys.public_key);
    };
    CHECK_FALSE(tampered([](auto& c) { c.sequence = 11; }));
    CHECK_FALSE(tampered([](auto& c) { c.hash[3] = 8; }));
    CHECK_FALSE(tampered([](auto& c) { c.cut_before = at(101); }));
    CHECK_FALSE(tampered([](auto& c) { c.made_at = at(201); }));
    CHECK_FALSE(tampered([](auto& c) { c.deleted = 9; }));
    const auto other = authevents::audit::make_checkpoint_key_pair();
    CHECK_FALSE(authevents::audit::checkpoint_signature_valid(checkpoint, other.public_key));
    CHECK_THROWS_AS(authevents::audit::sign_checkpoint(checkpoint, keys.public_key),
                    std::invalid_argument);
    CHECK_THROWS_AS(authevents::audit::checkpoint_signature_valid(checkpoint, keys.secret_key),
                    std::invalid_argument);
}

TEST_CASE("verify reports each kind of tampering at the right record", "[audit][verify]") {
    Tampering t;
    const ChainHead head = t.store.head();
    const std::string records = "authevents_audit_records";

    SECTION("an intact chain verifies") {
        const auto report = verify_against(t.store, head);
        CHECK(report.ok);
        CHECK_FALSE(report.first_break);
        CHECK(report.records_checked == 20);
        CHECK(report.verified_head.sequence == 20);
        CHECK(report.verified_head.hash == head.hash);
        CHECK(report.head_checked);
        CHECK(report.gaps.empty());
    }
    SECTION("edited content") {
        t.sql("UPDATE " + records + " SET data = '{\"n\":999}' WHERE sequence = 7");
        const auto report = verify(t.store);
        expect_break(report, 7, ChainBreakKind::edited);
        CHECK(report.first_break->message.find("content") != std::string::npos);
        CHECK(report.records_checked == 6);
        CHECK(report.verified_head.sequence == 6);
    }
    SECTION("each hashed field, edited, breaks the chain there") {
        for (const std::string change :
             {"time_us = time_us + 1", "event_type = 'user_logged_out'", "event_version = 2",
              "owasp = 'authz_change'", "actor = 'user:99'", "subject = 'user:99'",
              "source_ip = NULL", "cloud_event_id = 'forged'", "key_scope = 'user:99'"}) {
            INFO(change);
            bus_test::TempDir dir;
            SqliteAuditStore store(dir.file("a.db"));
            store.append({entry(1, 1), entry(2, 2), entry(3, 3)});
            bus_test::Db raw(dir.file("a.db"));
            raw.exec("UPDATE " + records + " SET " + change + " WHERE sequence = 2");
            expect_break(verify(store), 2, ChainBreakKind::edited);
        }
    }
    SECTION("ip_index is an index, not content: clearing it keeps the chain intact") {
        t.sql("UPDATE " + records + " SET ip_index = NULL WHERE sequence = 7");
        CHECK(verify(t.store).ok);
    }
    SECTION("an edited hash") {
        Sha256 forged = t.original[6].hash;
        forged[0] ^= 1U;
        t.sql("UPDATE " + records + " SET hash = '" + to_hex(forged) + "' WHERE sequence = 7");
        const auto report = verify(t.store);
        expect_break(report, 7, ChainBreakKind::edited);
        CHECK(report.first_break->message.find("stored hash") != std::string::npos);
    }
    SECTION("the newest record edited") {
        t.sql("UPDATE " + records + " SET actor = 'user:9' WHERE sequence = 20");
        expect_break(verify(t.store), 20, ChainBreakKind::edited);
    }
    SECTION("a deleted record") {
        t.sql("DELETE FROM " + records + " WHERE sequence = 7");
        expect_break(verify(t.store), 7, ChainBreakKind::deleted);
    }
    SECTION("deleted records, the first one included") {
        t.sql("DELETE FROM " + records + " WHERE sequence IN (1, 2, 3)");
        const auto report = verify(t.store);
        expect_break(report, 1, ChainBreakKind::deleted);
        CHECK(report.first_break->message.find("1 to 3") != std::string::npos);
    }
    SECTION("a deleted record with the rest renumbered to close the gap") {
        t.sql("DELETE FROM " + records + " WHERE sequence = 7");
        t.sql("UPDATE " + records + " SET sequence = sequence - 1 WHERE sequence > 7");
        expect_break(verify(t.store), 7, ChainBreakKind::deleted);
    }
    SECTION("an inserted record, the rest renumbered to make room") {
        t.shift_up(7);
        t.insert_row(7, entry(3, 65), t.original[6].hash); // a plausible row with a copied hash
        expect_break(verify(t.store), 7, ChainBreakKind::inserted);
    }
    SECTION("an inserted record with a correctly computed hash") {
        t.shift_up(7);
        const auto forged = entry(3, 65);
        t.insert_row(7, forged, authevents::audit::chain_hash(forged, 7, t.original[5].hash));
        const auto report = verify(t.store);
        expect_break(report, 7, ChainBreakKind::inserted);
        CHECK(report.records_checked == 7); // the forged row itself chains
    }
    SECTION("a row at a sequence the store never uses") {
        t.insert_row(0, entry(3, 65), authevents::audit::zero_hash);
        expect_break(verify(t.store), 0, ChainBreakKind::inserted);
    }
    SECTION("two rows swapped with their hashes") {
        t.sql("UPDATE " + records + " SET sequence = -7 WHERE sequence = 7");
        t.sql("UPDATE " + records + " SET sequence = 7 WHERE sequence = 9");
        t.sql("UPDATE " + records + " SET sequence = 9 WHERE sequence = -7");
        const auto report = verify(t.store);
        expect_break(report, 7, ChainBreakKind::reordered);
        CHECK(report.first_break->message.find("9") != std::string::npos);
    }
    SECTION("two rows' contents swapped, the hashes left in place") {
        t.sql("CREATE TEMP TABLE keep AS SELECT * FROM " + records + " WHERE sequence IN (7, 9)");
        for (const auto& [to, from] : {std::pair<int, int>{7, 9}, {9, 7}}) {
            t.sql("UPDATE " + records +
                  " SET (time_us, event_type, actor, subject, source_ip, data, key_scope) = "
                  "(SELECT time_us, event_type, actor, subject, source_ip, data, key_scope "
                  "FROM keep WHERE sequence = " +
                  std::to_string(from) + ") WHERE sequence = " + std::to_string(to));
        }
        expect_break(verify(t.store), 7, ChainBreakKind::reordered);
    }
    SECTION("a truncated tail is seen against the exported head only") {
        t.sql("DELETE FROM " + records + " WHERE sequence > 17");
        CHECK(verify(t.store).ok); // nothing in the store itself shows it
        const auto report = verify_against(t.store, head);
        expect_break(report, 18, ChainBreakKind::truncated);
        CHECK(report.first_break->message.find("20") != std::string::npos);
    }
    SECTION("a rewritten and rehashed history is seen against the exported head") {
        t.sql("UPDATE " + records + " SET data = '{\"n\":1}' WHERE sequence = 12");
        // Rehash from 12 on, as an attacker with the code would.
        Sha256 previous = t.original[10].hash;
        for (const auto& record : t.store.read(11, 100)) {
            const Sha256 hash = authevents::audit::chain_hash(record, previous);
            t.sql("UPDATE " + records + " SET hash = '" + to_hex(hash) +
                  "' WHERE sequence = " + std::to_string(record.sequence));
            previous = hash;
        }
        CHECK(verify(t.store).ok);
        expect_break(verify_against(t.store, head), 20, ChainBreakKind::head_mismatch);
        // An older exported head (at 15) is caught too.
        expect_break(verify_against(t.store, {15, t.original[14].hash}), 15,
                     ChainBreakKind::head_mismatch);
    }
    SECTION("a head from the future counts as truncation; an older head still verifies") {
        CHECK(verify_against(t.store, {10, t.original[9].hash}).ok);
        expect_break(verify_against(t.store, {21, head.hash}), 21, ChainBreakKind::truncated);
    }
}

TEST_CASE("Retention: a pruned chain verifies from its checkpoint, and a changed checkpoint "
          "is caught",
          "[audit][verify]") {
    Tampering t;
    const ChainHead head = t.store.head();
    const auto keys = authevents::audit::make_checkpoint_key_pair();
    const auto checkpoint = t.store.prune(at(85), keys.secret_key); // records 1-8 (times 10-80)
    REQUIRE(checkpoint);
    REQUIRE(checkpoint->sequence == 8);
    VerifyOptions signed_options;
    signed_options.checkpoint_public_key = keys.public_key;
    signed_options.expected_head = head;
    const std::string checkpoints = "authevents_audit_checkpoints";
    const std::string records = "authevents_audit_records";

    SECTION("the rest verifies, against the head exported before the prune, signature checked") {
        const auto report = verify(t.store, signed_options);
        CHECK(report.ok);
        CHECK(report.records_checked == 12);
        CHECK(report.signatures_checked);
        CHECK(report.head_checked);
        // A head exported at the cut is checked against the checkpoint.
        CHECK(verify_against(t.store, {8, t.original[7].hash}).head_checked);
        expect_break(verify_against(t.store, {8, t.original[6].hash}), 8,
                     ChainBreakKind::head_mismatch);
        // A head inside the pruned range cannot be checked: not claimed.
        const auto pruned = verify_against(t.store, {5, t.original[4].hash});
        CHECK(pruned.ok);
        CHECK_FALSE(pruned.head_checked);
    }
    SECTION("a checkpoint's hash changed: bad signature with the key, mismatch without") {
        Sha256 forged = checkpoint->hash;
        forged[5] ^= 4U;
        t.sql("UPDATE " + checkpoints + " SET hash = '" + to_hex(forged) + "'");
        expect_break(verify(t.store, signed_options), 8, ChainBreakKind::bad_signature);
        expect_break(verify(t.store), 9, ChainBreakKind::checkpoint_mismatch);
    }
    SECTION("the first remaining record edited: edited when the checkpoint is signed") {
        t.sql("UPDATE " + records + " SET data = '{}' WHERE sequence = 9");
        expect_break(verify(t.store, signed_options), 9, ChainBreakKind::edited);
        expect_break(verify(t.store), 9, ChainBreakKind::checkpoint_mismatch);
    }
    SECTION("an unsigned checkpoint is refused when a key is given") {
        t.sql("UPDATE " + checkpoints + " SET signature = ''");
        const auto report = verify(t.store, signed_options);
        expect_break(report, 8, ChainBreakKind::bad_signature);
        CHECK(report.first_break->message.find("not signed") != std::string::npos);
        CHECK(verify(t.store).ok);
    }
    SECTION("a deleted count that does not add up") {
        t.sql("UPDATE " + checkpoints + " SET deleted = 7");
        expect_break(verify(t.store), 8, ChainBreakKind::checkpoint_mismatch);
    }
    SECTION("records deleted ahead of a prune are caught by its deleted count") {
        Tampering u;
        u.sql("DELETE FROM " + records + " WHERE sequence = 3");
        REQUIRE(u.store.prune(at(85), std::nullopt));
        expect_break(verify(u.store), 8, ChainBreakKind::checkpoint_mismatch);
    }
    SECTION("a pruned record put back is an insertion") {
        t.insert_row(5, t.original[4], t.original[4].hash);
        expect_break(verify(t.store), 5, ChainBreakKind::inserted);
    }
    SECTION("records after the checkpoint deleted") {
        t.sql("DELETE FROM " + records + " WHERE sequence = 9");
        expect_break(verify(t.store), 9, ChainBreakKind::deleted);
    }
    SECTION("a second prune continues the checkpoints") {
        REQUIRE(t.store.prune(at(125), keys.secret_key));
        const auto report = verify(t.store, signed_options);
        CHECK(report.ok);
        CHECK(report.checkpoints == 2);
        CHECK(report.records_checked == 8);
    }
}

TEST_CASE("verify lists gap records, reports progress and rejects bad options", "[audit][verify]") {
    bus_test::TempDir dir;
    SqliteAuditStore store(dir.file("audit.db"));
    auto gap = entry(0, 5, std::string(authevents::audit::audit_gap_event_type));
    gap.data = R"({"lost":3})";
    std::vector<AuditEntry> entries;
    for (int i = 0; i < 10; ++i) {
        entries.push_back(i == 4 ? gap : entry(i, i));
    }
    store.append(entries);
    std::vector<authevents::audit::VerifyProgress> calls;
    VerifyOptions options;
    options.batch_size = 3;
    options.progress = [&](const authevents::audit::VerifyProgress& p) { calls.push_back(p); };
    const auto report = verify(store, options);
    CHECK(report.ok);
    REQUIRE(report.gaps.size() == 1);
    CHECK(report.gaps[0].sequence == 5);
    CHECK(report.gaps[0].data == R"({"lost":3})");
    CHECK(report.gap_count == 1);
    REQUIRE(calls.size() >= 4);
    for (std::size_t i = 1; i < calls.size(); ++i) {
        CHECK(calls[i].records_read > calls[i - 1].records_read);
    }
    CHECK(calls.back().records_read == 10);
    CHECK(calls.back().total == 10);

    store.append({gap, gap, gap});
    options.max_gaps = 2;
    const auto capped = verify(store, options);
    CHECK(capped.ok);
    CHECK(capped.gaps.size() == 2);
    CHECK(capped.gap_count == 4);

    options.batch_size = 0;
    CHECK_THROWS_AS(verify(store, options), std::invalid_argument);
    options.batch_size = 10001;
    CHECK_THROWS_AS(verify(store, options), std::invalid_argument);
    options.batch_size = 100;
    options.checkpoint_public_key = std::string(31, 'k');
    CHECK_THROWS_AS(verify(store, options), std::invalid_argument);
    options.checkpoint_public_key.reset();
    options.expected_head = ChainHead{-1, {}};
    CHECK_THROWS_AS(verify(store, options), std::invalid_argument);
}

TEST_CASE("verify stops with AuditStoreError when a store's read() does not ascend",
          "[audit][verify]") {
    // A broken store that returns the same record forever: verify must not loop.
    class RepeatingStore final : public authevents::audit::AuditStore {
    public:
        authevents::audit::AppendResult append(const std::vector<AuditEntry>&) override {
            return {};
        }
        std::vector<AuditRecord> read(std::int64_t, std::size_t limit) override {
            AuditRecord record;
            record.sequence = 1;
            return std::vector<AuditRecord>(limit, record);
        }
        authevents::audit::AuditPage query(const authevents::audit::AuditQuery&) override {
            return {};
        }
        ChainHead head() override { return {}; }
        std::int64_t count() override { return 1; }
        std::vector<authevents::audit::Checkpoint> checkpoints() override { return {}; }
        std::optional<authevents::audit::Checkpoint>
        prune(authevents::audit::AuditTime, const std::optional<std::string>&) override {
            return std::nullopt;
        }
        std::optional<std::string> find_key(const std::string&) override { return std::nullopt; }
        std::string insert_key(const std::string&, const std::string& key) override { return key; }
        bool erase_key(const std::string&) override { return false; }
    };
    RepeatingStore store;
    VerifyOptions options;
    options.batch_size = 2;
    CHECK_THROWS_AS(verify(store, options), authevents::audit::AuditStoreError);
}
