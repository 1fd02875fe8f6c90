// authevents-audit, the command-line tool, run as a process on audit databases the tests make
// (through the real entry builder, so values are sealed as in production) and then tamper with
// through SQLite: exit codes, what it prints, and that it points at the right record.
#ifdef AUTHEVENTS_AUDIT_TOOL

#include <authevents/audit/entry.hpp>
#include <authevents/audit/hash_chain.hpp>
#include <authevents/audit/sealing.hpp>
#include <authevents/audit/sqlite_store.hpp>
#include <authevents/bus/time.hpp>
#include <authevents/events.hpp>

#include "audit/tool_runner.hpp"
#include "bus/sqlite_test_helpers.hpp"
#include "catch_compat.hpp"
#include "text_helpers.hpp"

#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace audit = authevents::audit;
using audit_tool_test::run_tool;
using audit_tool_test::ToolRun;
using authevents::LoginFailureReason;
using authevents::User;
using bus_test::file_bytes;
using bus_test::TempDir;

using test_text::contains;

std::vector<nlohmann::json> json_lines(const std::string& text) {
    std::vector<nlohmann::json> lines;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty()) {
            lines.push_back(nlohmann::json::parse(line));
        }
    }
    return lines;
}

std::vector<std::int64_t> sequences(const std::vector<nlohmann::json>& lines) {
    std::vector<std::int64_t> found;
    for (const auto& line : lines) {
        found.push_back(line.at("sequence").get<std::int64_t>());
    }
    return found;
}

User user(std::int64_t id, const std::string& email, const std::string& first,
          const std::string& last) {
    return {id, email, first, last, "en"};
}

/// An audit database of 20 records made through the entry builder, one an hour; the first
/// five are two years old (for prune), the rest from yesterday.
///
///  1 user_registered user 1 (ana@example.com) from 203.0.113.7
///  2 user_registered user 2 (bob@example.com) from 203.0.113.8
///  3 user_login_successful user 1 from 203.0.113.7
///  4-5 user_login_failed ana@example.com wrong_password from 198.51.100.23
///  6-9 the same (yesterday)
/// 10 user_login_failed nobody@example.net user_not_found from 198.51.100.23
/// 11 user_login_successful user 2 from 203.0.113.8
/// 12 seller_application_submitted by user 1; 13 approved by user 3
/// 14 profile_updated user 1; 15 user_2fa_enabled user 2
/// 16-20 user_login_successful user 1 from 203.0.113.7
struct AuditDatabase {
    TempDir dir;
    std::string path = dir.file("audit.db");
    std::vector<audit::AuditTime> times; // times[n - 1]: record n's time

    AuditDatabase() {
        audit::SqliteAuditStore store(path);
        audit::KeyRing ring(store);
        const auto now =
            std::chrono::time_point_cast<audit::Microseconds>(std::chrono::system_clock::now());
        const User ana = user(1, "ana@example.com", "Ana", "Silva");
        const User bob = user(2, "bob@example.com", "Bob", "Jones");
        const User admin = user(3, "grace@example.com", "Grace", "Hopper");
        const authevents::SellerApplication application{7, ana, "individual"};
        std::vector<audit::AuditEntry> entries;
        const auto add = [&](const auto& event) {
            const auto n = static_cast<std::int64_t>(entries.size()) + 1;
            const audit::AuditTime time = n <= 5 ? now - std::chrono::hours(2 * 365 * 24 - n)
                                                 : now - std::chrono::hours(30 - n);
            times.push_back(time);
            entries.push_back(audit::make_entry(event, ring, time));
        };
        add(authevents::UserRegistered{ana, true, std::string("203.0.113.7")});
        add(authevents::UserRegistered{bob, true, std::string("203.0.113.8")});
        add(authevents::UserLoginSuccessful{ana, std::string("203.0.113.7"), false});
        for (int i = 0; i < 6; ++i) {
            add(authevents::UserLoginFailed{"ana@example.com", LoginFailureReason::wrong_password,
                                            std::string("198.51.100.23")});
        }
        add(authevents::UserLoginFailed{"nobody@example.net", LoginFailureReason::user_not_found,
                                        std::string("198.51.100.23")});
        add(authevents::UserLoginSuccessful{bob, std::string("203.0.113.8"), false});
        add(authevents::SellerApplicationSubmitted{application, false});
        add(authevents::SellerApplicationApproved{application, admin, ana});
        add(authevents::ProfileUpdated{ana, {"bio"}, 50});
        add(authevents::User2faEnabled{bob});
        for (int i = 0; i < 5; ++i) {
            add(authevents::UserLoginSuccessful{ana, std::string("203.0.113.7"), false});
        }
        REQUIRE(store.append(entries).appended == 20);
    }

    ToolRun run(std::vector<std::string> args) const {
        args.insert(args.begin(), {"--db", path});
        return run_tool(dir, args);
    }

    std::string head() const {
        audit::SqliteAuditStore store(path);
        const audit::ChainHead head = store.head();
        return std::to_string(head.sequence) + ":" + audit::to_hex(head.hash);
    }

    /// Runs SQL on the database, as someone with write access to the file would.
    void tamper(const std::string& sql) const {
        bus_test::Db db(path);
        db.exec(sql);
    }
};

constexpr const char* records_table = "authevents_audit_records";

std::string rfc3339(audit::AuditTime time) {
    return authevents::bus::format_rfc3339(
        std::chrono::time_point_cast<std::chrono::milliseconds>(time));
}

} // namespace

TEST_CASE("authevents-audit verify, head and export: an intact chain, exported raw") {
    const AuditDatabase db;
    const ToolRun verify = db.run({"verify"});
    INFO(verify.text());
    CHECK(verify.status == 0);
    CHECK(contains(verify.out, "chain ok: 20 records verified"));
    CHECK(contains(verify.out, "head " + db.head()));

    const ToolRun head = db.run({"head"});
    CHECK(head.status == 0);
    CHECK(head.out == db.head() + "\n");

    const ToolRun anchored = db.run({"verify", "--head", db.head()});
    INFO(anchored.text());
    CHECK(anchored.status == 0);
    CHECK(contains(anchored.out, "holds the expected head"));

    // The export holds every record as stored: recomputing the chain from its lines alone
    // arrives at the head line's hash.
    const ToolRun exported = db.run({"export"});
    REQUIRE(exported.status == 0);
    const auto lines = json_lines(exported.out);
    REQUIRE(lines.size() == 21);
    audit::Sha256 previous = audit::zero_hash;
    for (std::size_t i = 0; i < 20; ++i) {
        const nlohmann::json& record = lines[i].at("record");
        audit::AuditEntry entry;
        entry.time =
            audit::AuditTime(audit::Microseconds(record.at("time_us").get<std::int64_t>()));
        entry.event_type = record.at("event_type").get<std::string>();
        entry.event_version = record.at("event_version").get<int>();
        entry.owasp = record.at("owasp").get<std::string>();
        entry.actor = record.at("actor").get<std::string>();
        entry.subject = record.at("subject").get<std::string>();
        if (!record.at("source_ip").is_null()) {
            entry.source_ip = record.at("source_ip").get<std::string>();
            CHECK(audit::is_sealed(*entry.source_ip)); // raw: sealed, never plaintext
        }
        entry.data = record.at("data").get<std::string>();
        if (!record.at("cloud_event_id").is_null()) {
            entry.cloud_event_id = record.at("cloud_event_id").get<std::string>();
        }
        entry.key_scope = record.at("key_scope").get<std::string>();
        CHECK(record.at("sequence").get<std::int64_t>() == static_cast<std::int64_t>(i) + 1);
        previous = audit::chain_hash(entry, static_cast<std::int64_t>(i) + 1, previous);
        CHECK(record.at("hash").get<std::string>() == audit::to_hex(previous));
    }
    CHECK_FALSE(contains(exported.out, "ana@example.com"));
    CHECK_FALSE(contains(exported.out, "203.0.113.7"));
    const nlohmann::json& head_line = lines.back().at("head");
    CHECK(head_line.at("sequence").get<std::int64_t>() == 20);
    CHECK(head_line.at("hash").get<std::string>() == audit::to_hex(previous));
    CHECK(head_line.at("records").get<std::int64_t>() == 20);

    const ToolRun to_file = db.run({"export", "--output", db.dir.file("export.jsonl")});
    CHECK(to_file.status == 0);
    const auto file_lines = json_lines(file_bytes(db.dir.file("export.jsonl")));
    REQUIRE(file_lines.size() == 21);
    CHECK(file_lines.back().at("head").at("hash") == head_line.at("hash"));
}

TEST_CASE("authevents-audit verify: tampering exits 1 and names the first bad record") {
    const AuditDatabase db;
    const std::string table = records_table;

    SECTION("a record's data edited") {
        db.tamper("UPDATE " + table +
                  " SET data = replace(data, 'wrong_password', 'locked_out') WHERE sequence = 7");
        const ToolRun run = db.run({"verify"});
        INFO(run.text());
        CHECK(run.status == 1);
        CHECK(contains(run.out, "chain BROKEN at sequence 7: edited"));
        CHECK(contains(run.out, "record 7 as stored now: "));
        CHECK(contains(run.out, "locked_out"));
        CHECK(contains(run.out, "intact up to 6:"));
    }
    SECTION("a record deleted") {
        db.tamper("DELETE FROM " + table + " WHERE sequence = 7");
        const ToolRun run = db.run({"verify"});
        INFO(run.text());
        CHECK(run.status == 1);
        CHECK(contains(run.out, "chain BROKEN at sequence 7: deleted"));
    }
    SECTION("two records swapped") {
        db.tamper("UPDATE " + table +
                  " SET sequence = -sequence WHERE sequence IN (11, 12);"
                  "UPDATE " +
                  table +
                  " SET sequence = 12 WHERE sequence = -11;"
                  "UPDATE " +
                  table + " SET sequence = 11 WHERE sequence = -12;");
        const ToolRun run = db.run({"verify"});
        INFO(run.text());
        CHECK(run.status == 1);
        CHECK(contains(run.out, "chain BROKEN at sequence 11: reordered"));
    }
    SECTION("a forged record inserted with a valid hash, the rest renumbered") {
        // The attacker computes the forged record's hash (the algorithm is public), so the
        // chain up to it verifies; the original record 12, now at 13, no longer does.
        audit::AuditRecord eleventh;
        {
            audit::SqliteAuditStore store(db.path);
            eleventh = store.read(10, 1).at(0);
        }
        audit::AuditEntry forged;
        forged.time = eleventh.time + audit::Microseconds(1);
        forged.event_type = "user_login_successful";
        forged.owasp = "authn_login_success";
        forged.actor = "user:2";
        forged.subject = "user:2";
        forged.data = "{}";
        const audit::Sha256 hash = audit::chain_hash(forged, 12, eleventh.hash);
        db.tamper("UPDATE " + table +
                  " SET sequence = -sequence - 1 WHERE sequence >= 12;"
                  "UPDATE " +
                  table +
                  " SET sequence = -sequence WHERE sequence < 0;"
                  "INSERT INTO " +
                  table +
                  " (sequence, time_us, event_type, event_version, owasp, actor, subject,"
                  " source_ip, ip_index, data, cloud_event_id, key_scope, hash) VALUES (12, " +
                  std::to_string(forged.time.time_since_epoch().count()) +
                  ", 'user_login_successful', 1, 'authn_login_success', 'user:2', 'user:2', NULL,"
                  " NULL, '{}', NULL, '', '" +
                  audit::to_hex(hash) + "')");
        const ToolRun run = db.run({"verify"});
        INFO(run.text());
        CHECK(run.status == 1);
        CHECK(contains(run.out, "chain BROKEN at sequence 12: inserted"));
        CHECK(contains(run.out, "record 12 as stored now: "));
        CHECK(contains(run.out, "\"data\":\"{}\""));
    }
    SECTION("the newest records cut off: only the exported head shows it") {
        const std::string head = db.head();
        db.tamper("DELETE FROM " + table + " WHERE sequence >= 19");
        CHECK(db.run({"verify"}).status == 0); // the rest is a valid chain on its own
        const ToolRun run = db.run({"verify", "--head", head});
        INFO(run.text());
        CHECK(run.status == 1);
        CHECK(contains(run.out, "chain BROKEN at sequence"));
        CHECK(contains(run.out, "truncated"));
    }
}

TEST_CASE("authevents-audit query: filters, opened values, formats and pages") {
    const AuditDatabase db;

    const ToolRun failures = db.run({"query", "--type", "user_login_failed", "--format", "jsonl"});
    INFO(failures.text());
    REQUIRE(failures.status == 0);
    const auto failed = json_lines(failures.out);
    CHECK(sequences(failed) == std::vector<std::int64_t>{10, 9, 8, 7, 6, 5, 4});
    for (const auto& record : failed) {
        CHECK(record.at("owasp") == "authn_login_fail");
        CHECK(record.at("source_ip") == "198.51.100.23"); // opened
    }

    const ToolRun ana = db.run({"query", "--user", "1", "--type", "user_login_successful",
                                "--oldest", "--format", "jsonl"});
    REQUIRE(ana.status == 0);
    const auto logins = json_lines(ana.out);
    CHECK(sequences(logins) == std::vector<std::int64_t>{3, 16, 17, 18, 19, 20});
    CHECK(logins.front().at("data").at("user").at("email") == "ana@example.com");

    const ToolRun by_ip = db.run({"query", "--ip", "198.51.100.23", "--format", "jsonl"});
    CHECK(sequences(json_lines(by_ip.out)) == std::vector<std::int64_t>{10, 9, 8, 7, 6, 5, 4});
    const ToolRun by_email = db.run({"query", "--email", "ANA@example.com", "--format", "jsonl"});
    CHECK(sequences(json_lines(by_email.out)) == std::vector<std::int64_t>{9, 8, 7, 6, 5, 4});

    const ToolRun range = db.run({"query", "--from", rfc3339(db.times[11]), "--until",
                                  rfc3339(db.times[13]), "--oldest", "--format", "jsonl"});
    INFO(range.text());
    CHECK(sequences(json_lines(range.out)) == std::vector<std::int64_t>{12, 13});

    // Pages: two at a time, the next cursor on stderr.
    const ToolRun first =
        db.run({"query", "--type", "user_login_failed", "--limit", "2", "--format", "jsonl"});
    CHECK(sequences(json_lines(first.out)) == std::vector<std::int64_t>{10, 9});
    CHECK(contains(first.err, "next page: --cursor 9"));
    const ToolRun second = db.run({"query", "--type", "user_login_failed", "--limit", "2",
                                   "--cursor", "9", "--format", "jsonl"});
    CHECK(sequences(json_lines(second.out)) == std::vector<std::int64_t>{8, 7});
    const ToolRun all = db.run(
        {"query", "--type", "user_login_failed", "--limit", "2", "--all", "--format", "jsonl"});
    CHECK(json_lines(all.out).size() == 7);
    CHECK_FALSE(contains(all.err, "--cursor"));

    const ToolRun table = db.run({"query", "--user", "user:2"});
    INFO(table.text());
    CHECK(table.status == 0);
    CHECK(contains(table.out, "SEQ"));
    CHECK(contains(table.out, "user_2fa_enabled"));
    CHECK(contains(table.out, "bob@example.com"));
    CHECK_FALSE(contains(table.out, "ana@example.com"));
}

TEST_CASE("authevents-audit erase-user: values read as erased, the chain still verifies") {
    const AuditDatabase db;
    const ToolRun erase = db.run({"erase-user", "1", "--email", "ana@example.com"});
    INFO(erase.text());
    REQUIRE(erase.status == 0);
    CHECK(contains(erase.out, "erased user:1"));

    const ToolRun records = db.run({"query", "--all", "--format", "jsonl"});
    REQUIRE(records.status == 0);
    CHECK_FALSE(contains(records.out, "ana@example.com"));
    CHECK_FALSE(contains(records.out, "203.0.113.7"));
    CHECK_FALSE(contains(records.out, "Silva\""));
    for (const auto& record : json_lines(records.out)) {
        const auto sequence = record.at("sequence").get<std::int64_t>();
        const bool anas = record.at("subject") == "user:1" || (sequence >= 4 && sequence <= 9);
        INFO(record.dump());
        CHECK(record.at("erased").get<bool>() == anas);
    }
    CHECK(contains(records.out, "bob@example.com"));
    CHECK(contains(records.out, "nobody@example.net"));
    // The IP index of the erased records is gone too.
    CHECK(json_lines(db.run({"query", "--ip", "203.0.113.7", "--format", "jsonl"}).out).empty());

    const ToolRun verify = db.run({"verify"});
    CHECK(verify.status == 0);
    CHECK(contains(verify.out, "chain ok: 20 records verified"));

    const ToolRun again = db.run({"erase-user", "1"});
    CHECK(again.status == 1);
    CHECK(contains(again.out, "nothing to erase"));
}

TEST_CASE("authevents-audit prune and keygen: signed checkpoints verify, others do not") {
    const AuditDatabase db;
    const std::string secret = db.dir.file("prune.key");
    const std::string public_key = db.dir.file("prune.pub");
    REQUIRE(db.run({"keygen", "--secret-key", secret, "--public-key", public_key}).status == 0);
    struct stat info {};
    REQUIRE(::stat(secret.c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0600);
    CHECK(db.run({"keygen", "--secret-key", secret, "--public-key", public_key}).status == 2);

    const ToolRun prune = db.run({"prune", "--before", "365d", "--signing-key", secret});
    INFO(prune.text());
    REQUIRE(prune.status == 0);
    CHECK(contains(prune.out, "pruned 5 records"));
    CHECK(contains(prune.out, "(signed)"));
    CHECK(db.run({"prune", "--before", "365d"}).out.find("nothing to prune") == 0);

    const ToolRun verify = db.run({"verify", "--public-key", public_key});
    INFO(verify.text());
    CHECK(verify.status == 0);
    CHECK(contains(verify.out, "chain ok: 15 records verified, 1 checkpoint (signatures valid)"));

    const std::string other_secret = db.dir.file("other.key");
    const std::string other_public = db.dir.file("other.pub");
    REQUIRE(db.run({"keygen", "--secret-key", other_secret, "--public-key", other_public}).status ==
            0);
    const ToolRun forged = db.run({"verify", "--public-key", other_public});
    INFO(forged.text());
    CHECK(forged.status == 1);
    CHECK(contains(forged.out, "bad_signature"));

    const auto lines = json_lines(db.run({"export"}).out);
    REQUIRE(lines.size() == 17); // the checkpoint, 15 records, the head
    CHECK(lines.front().at("checkpoint").at("sequence") == 5);
    CHECK(lines[1].at("record").at("sequence") == 6);
}

TEST_CASE("authevents-audit: usage errors exit 2, store errors exit 3") {
    const AuditDatabase db;
    const ToolRun help = db.run({"--help"});
    CHECK(help.status == 0);
    CHECK(contains(help.out, "exit status"));
    CHECK(run_tool(db.dir, {}).status == 2);
    CHECK(db.run({"frobnicate"}).status == 2);
    CHECK(db.run({"query", "--limit", "0"}).status == 2);
    CHECK(db.run({"query", "--limit", "10001"}).status == 2);
    CHECK(db.run({"query", "--from", "yesterday"}).status == 2);
    CHECK(db.run({"query", "--from", "1h", "--until", "2h"}).status == 2);
    CHECK(db.run({"query", "--format", "xml"}).status == 2);
    CHECK(db.run({"query", "--newest", "--oldest"}).status == 2);
    CHECK(db.run({"verify", "--head", "12:abc"}).status == 2);
    CHECK(db.run({"verify", "--public-key", db.dir.file("missing.pub")}).status == 2);
    CHECK(db.run({"prune"}).status == 2);
    CHECK(db.run({"head", "--user", "1"}).status == 2);
    CHECK(db.run({"erase-user"}).status == 2);
    CHECK(db.run({"erase-user", "ana"}).status == 2);
    const ToolRun unknown = db.run({"verify", "--frobnicate"});
    CHECK(unknown.status == 2);
    CHECK(contains(unknown.err, "unknown option --frobnicate"));

    const ToolRun missing = run_tool(db.dir, {"--db", db.dir.file("missing.db"), "verify"});
    CHECK(missing.status == 3);
    CHECK(contains(missing.err, "no audit database at"));
    {
        std::ofstream garbage(db.dir.file("garbage.db"));
        garbage << "this is not a database\n";
    }
    CHECK(run_tool(db.dir, {"--db", db.dir.file("garbage.db"), "verify"}).status == 3);
    {
        bus_test::Db other(db.dir.file("other.db"));
        other.exec("CREATE TABLE users (id INTEGER PRIMARY KEY)");
    }
    CHECK(run_tool(db.dir, {"--db", db.dir.file("other.db"), "erase-user", "1"}).status == 3);
    bus_test::Db other(db.dir.file("other.db"));
    CHECK(other.query_text("SELECT count(*) FROM sqlite_master WHERE name LIKE 'authevents%'") ==
          "0");
}

#endif
