// The audit trail end to end on PostgreSQL: the AuditLog checks every store passes
// (audit/audit_log_contract.hpp: every event recorded once, CloudEvent dedup, a failing store
// retried, overflow and its gap record, erasure), and the read models fed live from an
// AuditLog over a PostgresAuditStore equal the read models rebuilt from that store.
#include <authevents/audit/audit_log.hpp>
#include <authevents/audit/postgres_store.hpp>
#include <authevents/audit/projection.hpp>
#include <authevents/audit/projections.hpp>

#include "audit/audit_log_contract.hpp"
#include "audit/tool_runner.hpp"
#include "bus/sqlite_test_helpers.hpp"
#include "catch_compat.hpp"
#include "postgres_server.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace {

using authevents::audit::PostgresAuditStore;
using authevents::audit::PostgresAuditStoreOptions;

// A fresh store with tables of its own in the shared test database.
std::unique_ptr<PostgresAuditStore> fresh_store() {
    static const std::string info = test_postgres::shared_server().create_database();
    static int made = 0;
    PostgresAuditStoreOptions options;
    options.table = "audit_log_" + std::to_string(made++);
    return std::make_unique<PostgresAuditStore>(info, options);
}

// Every row of every read-model table of the SQLite file at `path`, as sorted text lines:
// two read models hold the same state exactly when their dumps are equal.
std::vector<std::string> read_model_rows(const std::string& path) {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, &sqlite3_close);
    std::vector<std::string> tables;
    const auto each_row = [&](const std::string& sql, const auto& on_row) {
        sqlite3_stmt* statement = nullptr;
        REQUIRE(sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &statement, nullptr) == SQLITE_OK);
        while (sqlite3_step(statement) == SQLITE_ROW) {
            on_row(statement);
        }
        sqlite3_finalize(statement);
    };
    each_row("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
             "AND name NOT LIKE 'authevents_%' ORDER BY name",
             [&](sqlite3_stmt* statement) {
                 tables.emplace_back(
                     reinterpret_cast<const char*>(sqlite3_column_text(statement, 0)));
             });
    std::vector<std::string> rows;
    for (const std::string& table : tables) {
        each_row("SELECT * FROM \"" + table + "\"", [&](sqlite3_stmt* statement) {
            std::string row = table;
            for (int column = 0; column < sqlite3_column_count(statement); ++column) {
                const unsigned char* text = sqlite3_column_text(statement, column);
                row += '|';
                row += text != nullptr ? reinterpret_cast<const char*>(text) : "NULL";
            }
            rows.push_back(std::move(row));
        });
    }
    std::sort(rows.begin(), rows.end());
    return rows;
}

} // namespace

TEST_CASE("postgres audit log: every event, built-in or custom, is recorded exactly once") {
    audit_log_contract::every_event_recorded_once(*fresh_store());
}

TEST_CASE("postgres audit log: a CloudEvent is recorded once however often it is delivered") {
    audit_log_contract::cloud_event_recorded_once(*fresh_store());
}

TEST_CASE("postgres audit log: a failing store never fails the dispatch; entries are retried") {
    audit_log_contract::failing_store_retried(*fresh_store());
}

TEST_CASE("postgres audit log: an overflow is counted, logged and recorded as an audit_gap") {
    audit_log_contract::overflow_counted_and_gap_recorded(*fresh_store());
}

TEST_CASE("postgres audit log: erase_user leaves nothing of the user readable; chain verifies") {
    audit_log_contract::erasure_keeps_chain(*fresh_store());
}

TEST_CASE("postgres audit log: read models fed live equal read models rebuilt from the store") {
    using namespace authevents;
    using namespace authevents::audit;
    const auto store = fresh_store();
    const bus_test::TempDir files;
    const auto make_runner = [&](const std::string& name) {
        ProjectionRunnerOptions options;
        options.source = store.get();
        options.logger = Logger();
        auto runner = std::make_unique<ProjectionRunner>(files.file(name), options);
        runner->emplace<LoginHistory>();
        runner->emplace<FailedLoginsPerIpHour>();
        runner->emplace<SellerFunnel>();
        return runner;
    };
    const auto live = make_runner("live.db");
    {
        EventDispatcher dispatcher;
        AuditLog log(*store, audit_log_contract::quick_options());
        const ScopedConnection feed = log.committed().connect(
            [&](const std::vector<AuditRecord>& records) { live->apply(records); });
        log.attach(dispatcher);
        audit_log_contract::dispatch_everything(dispatcher);
        for (int attempt = 0; attempt < 5; ++attempt) {
            dispatcher.dispatch(UserLoginFailed{"mallory@example.org",
                                                LoginFailureReason::wrong_password,
                                                std::string("198.51.100.7")});
        }
        REQUIRE(log.flush(std::chrono::seconds(30)));
    }
    const auto rebuilt = make_runner("rebuilt.db");
    const ApplyReport report = rebuilt->rebuild(*store);
    CHECK(report.rejected == 0);
    CHECK(report.lost == 0);
    const std::vector<std::string> live_rows = read_model_rows(files.file("live.db"));
    CHECK(live_rows.size() > 10);
    CHECK(live_rows == read_model_rows(files.file("rebuilt.db")));
}

#ifdef AUTHEVENTS_AUDIT_TOOL
TEST_CASE("postgres audit log: authevents-audit --postgres verifies, queries and finds tampering") {
    using namespace authevents;
    using namespace authevents::audit;
    const std::string info = test_postgres::shared_server().create_database();
    {
        PostgresAuditStore store(info); // the tool's default tables
        EventDispatcher dispatcher;
        AuditLog log(store, audit_log_contract::quick_options());
        log.attach(dispatcher);
        audit_log_contract::dispatch_everything(dispatcher);
        REQUIRE(log.flush(std::chrono::seconds(30)));
    }
    const bus_test::TempDir dir;
    const auto run = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {"--postgres", info});
        return audit_tool_test::run_tool(dir, args);
    };
    const audit_tool_test::ToolRun intact = run({"verify"});
    INFO(intact.text());
    CHECK(intact.status == 0);
    const audit_tool_test::ToolRun query =
        run({"query", "--user", "7", "--format", "jsonl", "--all"});
    CHECK(query.status == 0);
    CHECK(query.out.find("\"user:7\"") != std::string::npos);

    authevents::detail::PgConnection(info, "test")
        .exec("UPDATE authevents_audit SET data = '{\"edited\":true}' WHERE sequence = 3",
              "test: edit a record");
    const audit_tool_test::ToolRun broken = run({"verify"});
    INFO(broken.text());
    CHECK(broken.status == 1);
    CHECK(broken.out.find("chain BROKEN at sequence 3: edited") != std::string::npos);
}
#endif
