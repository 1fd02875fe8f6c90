// Tests for authevents/audit/projection.hpp (ProjectionRunner, ReadModelReader) and
// projections.hpp (LoginHistory, FailedLoginsPerIpHour, SellerFunnel): a rebuild from the
// audit store equals the live state; a projection's state and checkpoint commit together; re-
// applying is harmless; gaps are closed from the store; records after a prune; hostile record
// data is rejected, counted and reported. Each case runs against an in-memory AuditStore
// double (which can also fail reads and lose a record) and against SqliteAuditStore.
#include <authevents/audit/projection.hpp>
#include <authevents/audit/projections.hpp>
#include <authevents/audit/sqlite_store.hpp>

#include "../bus/redis_server.hpp"
#include "../catch_compat.hpp"
#include "../log_capture.hpp"
#include "../text_helpers.hpp"

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using authevents::LogLevel;
using authevents::audit::ApplyReport;
using authevents::audit::AuditEntry;
using authevents::audit::AuditPage;
using authevents::audit::AuditQuery;
using authevents::audit::AuditRecord;
using authevents::audit::AuditStore;
using authevents::audit::AuditStoreError;
using authevents::audit::AuditTime;
using authevents::audit::ChainHead;
using authevents::audit::Checkpoint;
using authevents::audit::FailedLoginsPerIpHour;
using authevents::audit::LoginHistory;
using authevents::audit::Microseconds;
using authevents::audit::Projection;
using authevents::audit::ProjectionError;
using authevents::audit::ProjectionRunner;
using authevents::audit::ProjectionRunnerOptions;
using authevents::audit::ReadModelReader;
using authevents::audit::ReadModelSession;
using authevents::audit::RecordData;
using authevents::audit::ReplayProgress;
using authevents::audit::SellerFunnel;
using nlohmann::json;

namespace {

// An AuditStore in memory: sequences, prune with checkpoints, keys; hashes are left zero (the
// projections never read them). `fail_reads` makes read() throw AuditStoreError.
class MemoryAuditStore : public AuditStore {
public:
    bool fail_reads = false;
    bool ignore_after = false; // read() starts at the first record whatever `after` is

    authevents::audit::AppendResult append(const std::vector<AuditEntry>& entries) override {
        std::lock_guard<std::mutex> lock(mutex_);
        authevents::audit::AppendResult result;
        for (const AuditEntry& entry : entries) {
            AuditRecord record;
            static_cast<AuditEntry&>(record) = entry;
            record.sequence = ++last_;
            records_.push_back(record);
            ++result.appended;
        }
        result.last_sequence = last_;
        return result;
    }
    std::vector<AuditRecord> read(std::int64_t after, std::size_t limit) override {
        std::lock_guard<std::mutex> lock(mutex_);
        if (fail_reads) {
            throw AuditStoreError("memory store: read failed (test)");
        }
        std::vector<AuditRecord> result;
        for (const AuditRecord& record : records_) {
            if ((record.sequence > after || ignore_after) && result.size() < limit) {
                result.push_back(record);
            }
        }
        return result;
    }
    AuditPage query(const AuditQuery& query) override {
        std::lock_guard<std::mutex> lock(mutex_);
        AuditPage page;
        for (const AuditRecord& record : records_) {
            if ((!query.event_type || record.event_type == *query.event_type) &&
                page.records.size() < query.limit) {
                page.records.push_back(record);
            }
        }
        return page;
    }
    ChainHead head() override {
        std::lock_guard<std::mutex> lock(mutex_);
        return ChainHead{last_, {}};
    }
    std::int64_t count() override {
        std::lock_guard<std::mutex> lock(mutex_);
        return static_cast<std::int64_t>(records_.size());
    }
    std::vector<Checkpoint> checkpoints() override {
        std::lock_guard<std::mutex> lock(mutex_);
        return checkpoints_;
    }
    std::optional<Checkpoint> prune(AuditTime cut_before,
                                    const std::optional<std::string>& /*key*/) override {
        std::lock_guard<std::mutex> lock(mutex_);
        Checkpoint checkpoint;
        while (!records_.empty() && records_.front().time < cut_before) {
            checkpoint.sequence = records_.front().sequence;
            records_.erase(records_.begin());
            ++checkpoint.deleted;
        }
        if (checkpoint.deleted == 0) {
            return std::nullopt;
        }
        checkpoint.cut_before = cut_before;
        checkpoints_.push_back(checkpoint);
        return checkpoint;
    }
    std::optional<std::string> find_key(const std::string& scope) override {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = keys_.find(scope);
        return found == keys_.end() ? std::nullopt : std::optional<std::string>(found->second);
    }
    std::string insert_key(const std::string& scope, const std::string& key) override {
        std::lock_guard<std::mutex> lock(mutex_);
        return keys_.emplace(scope, key).first->second;
    }
    bool erase_key(const std::string& scope) override {
        std::lock_guard<std::mutex> lock(mutex_);
        return keys_.erase(scope) > 0;
    }

    // Deletes one record without a checkpoint (a damaged chain).
    void remove(std::int64_t sequence) {
        std::lock_guard<std::mutex> lock(mutex_);
        records_.erase(std::remove_if(records_.begin(), records_.end(),
                                      [&](const AuditRecord& r) { return r.sequence == sequence; }),
                       records_.end());
    }

private:
    std::mutex mutex_;
    std::vector<AuditRecord> records_;
    std::vector<Checkpoint> checkpoints_;
    std::map<std::string, std::string> keys_;
    std::int64_t last_ = 0;
};

const AuditTime base_time = AuditTime(Microseconds(1'800'000'000'000'000LL)); // 2027-01-15
constexpr std::int64_t minute_us = 60LL * 1000000LL;

AuditTime at_minute(std::int64_t minute) { return base_time + Microseconds(minute * minute_us); }

std::string sealed(const std::string& what) { return "sealed:v1:" + what; }

json user_json(std::int64_t id) {
    return json{{"id", id},
                {"email", sealed("e" + std::to_string(id))},
                {"first_name", sealed("f")},
                {"last_name", sealed("l")},
                {"language", "en"}};
}

AuditEntry entry(const std::string& type, AuditTime time, const std::string& subject, json data,
                 std::optional<std::string> ip_index = std::nullopt) {
    AuditEntry e;
    e.time = time;
    e.event_type = type;
    e.actor = subject;
    e.subject = subject;
    if (ip_index) {
        e.source_ip = sealed("ip-" + *ip_index);
        e.ip_index = ip_index;
        data["ip_address"] = *e.source_ip;
    }
    e.data = data.dump();
    e.key_scope = subject;
    return e;
}

AuditEntry login_ok(std::int64_t user, AuditTime time, const std::string& ip, bool twofa = false) {
    return entry("user_login_successful", time, "user:" + std::to_string(user),
                 json{{"user", user_json(user)}, {"required_2fa", twofa}}, ip);
}

AuditEntry login_failed(const std::string& email_index, const std::string& reason, AuditTime time,
                        std::optional<std::string> ip) {
    return entry("user_login_failed", time, "email:" + email_index,
                 json{{"email", sealed(email_index)}, {"reason", reason}}, std::move(ip));
}

json application_json(std::int64_t id, std::int64_t applicant, const std::string& type) {
    return json{{"id", id}, {"applicant", user_json(applicant)}, {"seller_type", type}};
}

AuditEntry submitted(std::int64_t id, const std::string& type, AuditTime time,
                     bool resubmission = false) {
    return entry("seller_application_submitted", time, "user:" + std::to_string(100 + id),
                 json{{"application", application_json(id, 100 + id, type)},
                      {"is_resubmission", resubmission}});
}

AuditEntry decided(std::int64_t id, const std::string& type, AuditTime time, bool approved) {
    json data{{"application", application_json(id, 100 + id, type)}, {"admin_user", user_json(1)}};
    if (approved) {
        data["new_seller"] = user_json(100 + id);
    } else {
        data["reason"] = sealed("why");
    }
    return entry(approved ? "seller_application_approved" : "seller_application_rejected", time,
                 "user:" + std::to_string(100 + id), data);
}

AuditEntry raw(const std::string& type, const std::string& data, AuditTime time = base_time) {
    AuditEntry e;
    e.time = time;
    e.event_type = type;
    e.actor = "anonymous";
    e.subject = "email:abc";
    e.data = data;
    return e;
}

// A deterministic mix of every handled event type (and one the projections ignore).
std::vector<AuditEntry> workload(std::size_t count, unsigned seed) {
    std::mt19937 random(seed);
    const std::vector<std::string> reasons = {"wrong_password", "user_not_found", "rate_limited"};
    const std::vector<std::string> types = {"individual", "business"};
    std::vector<AuditEntry> entries;
    for (std::size_t i = 0; i < count; ++i) {
        const auto minute = static_cast<std::int64_t>(i);
        const auto pick = random() % 10;
        const std::string ip = "ip" + std::to_string(random() % 5);
        if (pick < 3) {
            entries.push_back(login_ok(static_cast<std::int64_t>(random() % 7), at_minute(minute),
                                       ip, random() % 2 == 0));
        } else if (pick < 6) {
            entries.push_back(
                login_failed("m" + std::to_string(random() % 9), reasons[random() % reasons.size()],
                             at_minute(minute),
                             random() % 4 == 0 ? std::nullopt : std::optional<std::string>(ip)));
        } else if (pick < 9) {
            const auto id = static_cast<std::int64_t>(random() % 12);
            const std::string& type = types[static_cast<std::size_t>(id) % types.size()];
            const auto step = random() % 4;
            entries.push_back(step < 2 ? submitted(id, type, at_minute(minute), step == 1)
                                       : decided(id, type, at_minute(minute), step == 2));
        } else {
            entries.push_back(entry("profile_updated", at_minute(minute), "user:3",
                                    json{{"user", user_json(3)},
                                         {"updated_fields", json::array({"language"})},
                                         {"profile_completion", 50}}));
        }
    }
    return entries;
}

// The records that append(entries) created (as the audit log's committed() hands them on).
std::vector<AuditRecord> append(AuditStore& store, const std::vector<AuditEntry>& entries) {
    const std::int64_t before = store.head().sequence;
    store.append(entries);
    return store.read(before, entries.size());
}

// Every row of every read-model table, as text, ordered: equal dumps = equal state.
std::string dump(const std::string& path) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    std::string text;
    for (const char* table :
         {"authevents_projections", "authevents_projection_rejects", "login_history",
          "failed_logins_ip_hour", "failed_logins_ip_hour_targets", "seller_funnel",
          "seller_applications"}) {
        text += std::string("== ") + table + "\n";
        const std::string sql = std::string("SELECT * FROM ") + table + " ORDER BY 1, 2, 3";
        sqlite3_stmt* statement = nullptr;
        REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr) == SQLITE_OK);
        while (sqlite3_step(statement) == SQLITE_ROW) {
            for (int column = 0; column < sqlite3_column_count(statement); ++column) {
                const unsigned char* value = sqlite3_column_text(statement, column);
                text += value == nullptr ? "NULL" : reinterpret_cast<const char*>(value);
                text += '|';
            }
            text += '\n';
        }
        sqlite3_finalize(statement);
    }
    sqlite3_close(db);
    return text;
}

// A fresh directory for read-model files (removed with the object).
class Files {
public:
    std::string path(const std::string& name) const { return (dir_.path() / name).string(); }

private:
    test_redis::TempDir dir_{"authevents-projections"};
};

// The three shipped projections on a runner at `path`.
std::unique_ptr<ProjectionRunner> make_runner(const std::string& path,
                                              ProjectionRunnerOptions options = {}) {
    auto runner = std::make_unique<ProjectionRunner>(path, std::move(options));
    runner->emplace<LoginHistory>();
    runner->emplace<FailedLoginsPerIpHour>();
    runner->emplace<SellerFunnel>();
    return runner;
}

ProjectionRunnerOptions quiet(LogCapture& log, AuditStore* source = nullptr) {
    ProjectionRunnerOptions options;
    options.logger = log.logger();
    options.source = source;
    options.batch_size = 64;
    return options;
}

// Feeds `entries` to `store` in batches of `batch`, each batch's records to `runner` live.
ApplyReport feed_live(AuditStore& store, ProjectionRunner& runner,
                      const std::vector<AuditEntry>& entries, std::size_t batch) {
    ApplyReport total;
    for (std::size_t i = 0; i < entries.size(); i += batch) {
        const std::vector<AuditEntry> part(
            entries.begin() + static_cast<std::ptrdiff_t>(i),
            entries.begin() + static_cast<std::ptrdiff_t>(std::min(i + batch, entries.size())));
        total += runner.apply(append(store, part));
    }
    return total;
}

// A projection that keeps the sequences of one type in its table and, after writing the row
// of the record whose sequence is `throw_at` (`reject_at`), throws std::runtime_error
// (RecordDataError).
class Flaky : public Projection {
public:
    std::int64_t throw_at = -1;
    std::int64_t reject_at = -1;

    std::string name() const override { return "flaky"; }
    int version() const override { return version_; }
    bool handles(std::string_view type) const override { return type == "user_login_failed"; }
    void create_schema(ReadModelSession& session) override {
        session.execute("CREATE TABLE IF NOT EXISTS flaky (sequence INTEGER PRIMARY KEY)");
    }
    void reset(ReadModelSession& session) override { session.execute("DELETE FROM flaky"); }
    void apply(ReadModelSession& session, const RecordData& data) override {
        auto& insert = session.statement("INSERT INTO flaky (sequence) VALUES (?)");
        {
            authevents::detail::Statement::Use use(insert);
            insert.bind_int64(1, data.record().sequence);
            insert.step();
        }
        if (data.record().sequence == throw_at) {
            throw std::runtime_error("flaky projection fails at " + std::to_string(throw_at));
        }
        if (data.record().sequence == reject_at) {
            data.fail("data", "is refused after a write (test)");
        }
    }
    explicit Flaky(int version = 1) : version_(version) {}

private:
    int version_;
};

std::int64_t row_count(const std::string& path, const std::string& table) {
    ReadModelReader reader(path);
    return reader.read([&](ReadModelSession& session) {
        auto& select = session.statement("SELECT count(*) FROM " + table);
        authevents::detail::Statement::Use use(select);
        select.step();
        return select.column_int64(0);
    });
}

std::int64_t checkpoint_of(ProjectionRunner& runner, const std::string& name) {
    for (const auto& status : runner.status()) {
        if (status.name == name) {
            return status.checkpoint;
        }
    }
    FAIL("no projection " << name);
    return -1;
}

using test_text::contains;

// Runs every case below against one store factory.
template <class MakeStore> void projection_cases(MakeStore make_store) {
    Files files;
    LogCapture log;

    SECTION("a rebuild from the store equals the state the live feed built") {
        auto store = make_store(files);
        auto live = make_runner(files.path("live.db"), quiet(log));
        const auto entries = workload(700, 7);
        const ApplyReport report = feed_live(*store, *live, entries, 37);
        CHECK(report.applied == 3 * entries.size());
        CHECK(report.rejected == 0);
        CHECK_FALSE(report.gap);
        const std::string live_state = dump(files.path("live.db"));

        auto rebuilt = make_runner(files.path("rebuilt.db"), quiet(log));
        std::vector<ReplayProgress> progress;
        const ApplyReport replay =
            rebuilt->rebuild(*store, [&](const ReplayProgress& p) { progress.push_back(p); });
        CHECK(replay.read == entries.size());
        CHECK(replay.applied == 3 * entries.size());
        CHECK(dump(files.path("rebuilt.db")) == live_state);
        REQUIRE(progress.size() == (entries.size() + 63) / 64);
        CHECK(progress.back().read == entries.size());
        CHECK(progress.back().total == static_cast<std::int64_t>(entries.size()));
        CHECK(progress.back().sequence == store->head().sequence);

        // Rebuilding the live database in place gives the same state again.
        live->rebuild(*store);
        CHECK(dump(files.path("live.db")) == live_state);
        for (const auto& status : live->status()) {
            CHECK(status.checkpoint == store->head().sequence);
            CHECK_FALSE(status.behind);
        }
        CHECK(log.texts(LogLevel::error).empty());
    }

    SECTION("the queries answer from the read models") {
        auto store = make_store(files);
        auto runner = make_runner(files.path("q.db"), quiet(log));
        std::vector<AuditEntry> entries;
        entries.push_back(login_ok(42, at_minute(0), "ipA", true));
        entries.push_back(login_ok(42, at_minute(5), "ipB"));
        entries.push_back(login_ok(7, at_minute(6), "ipA"));
        // ipX: 3 failures in the previous hour (minutes 10..12), 4 in the current (70..73);
        // ipY: 5 failures two hours ago only.
        for (int i = 0; i < 3; ++i) {
            entries.push_back(login_failed("t" + std::to_string(i), "wrong_password",
                                           at_minute(10 + i), std::string("ipX")));
        }
        for (int i = 0; i < 4; ++i) {
            entries.push_back(login_failed("t0", i == 0 ? "user_not_found" : "wrong_password",
                                           at_minute(70 + i), std::string("ipX")));
        }
        for (int i = 0; i < 5; ++i) {
            entries.push_back(
                login_failed("u", "wrong_password", at_minute(i - 60), std::string("ipY")));
        }
        entries.push_back(login_failed("n", "rate_limited", at_minute(71), std::nullopt));
        entries.push_back(submitted(1, "individual", at_minute(0)));
        entries.push_back(decided(1, "individual", at_minute(30), false));
        entries.push_back(submitted(1, "individual", at_minute(40), true));
        entries.push_back(decided(1, "individual", at_minute(60), true));
        entries.push_back(submitted(2, "individual", at_minute(1)));
        entries.push_back(submitted(3, "business", at_minute(2)));
        entries.push_back(decided(3, "business", at_minute(12), false));
        runner->apply(append(*store, entries));

        ReadModelReader reader(files.path("q.db"));
        const auto history = LoginHistory::for_user(reader, 42);
        REQUIRE(history.size() == 2);
        CHECK(history[0].time == at_minute(5)); // newest first
        CHECK(history[0].succeeded);
        CHECK(history[0].required_2fa == std::optional<bool>(false));
        CHECK(history[0].ip_index == std::optional<std::string>("ipB"));
        CHECK(history[0].source_ip == std::optional<std::string>(sealed("ip-ipB")));
        CHECK(history[1].required_2fa == std::optional<bool>(true));
        CHECK(LoginHistory::for_user(reader, 42, 10, history[0].sequence).size() == 1);
        CHECK(LoginHistory::last_login(reader, 7)->ip_index == std::optional<std::string>("ipA"));
        CHECK_FALSE(LoginHistory::last_login(reader, 8).has_value());
        const auto failures = LoginHistory::for_subject(reader, "email:t0");
        REQUIRE(failures.size() == 5);
        CHECK_FALSE(failures[0].succeeded);
        CHECK(failures[0].reason == std::optional<std::string>("wrong_password"));
        CHECK_FALSE(failures[0].required_2fa.has_value());
        const auto no_ip = LoginHistory::for_subject(reader, "email:n");
        REQUIRE(no_ip.size() == 1);
        CHECK_FALSE(no_ip[0].ip_index.has_value());
        CHECK_FALSE(no_ip[0].source_ip.has_value());

        // At minute 90 (half of the current hour gone): ipX = 4 + 3 * 0.5 = 5.5.
        const auto suspects = FailedLoginsPerIpHour::suspects(reader, at_minute(90), 5);
        REQUIRE(suspects.size() == 1);
        CHECK(suspects[0].ip_index == "ipX");
        CHECK(suspects[0].current_hour == 4);
        CHECK(suspects[0].previous_hour == 3);
        CHECK(suspects[0].failures == Approx(5.5));
        CHECK(suspects[0].last == at_minute(73));
        CHECK(FailedLoginsPerIpHour::suspects(reader, at_minute(90), 6).empty());
        // At minute 61 only the previous hour's 3 count, weighted by 59/60.
        const auto early = FailedLoginsPerIpHour::suspects(reader, at_minute(61), 2);
        REQUIRE(early.size() == 1);
        CHECK(early[0].current_hour == 0);
        CHECK(early[0].failures == Approx(3.0 * 59 / 60));
        CHECK(FailedLoginsPerIpHour::suspects(reader, at_minute(0), 5).size() == 1); // ipY
        const auto hours =
            FailedLoginsPerIpHour::hours(reader, "ipX", at_minute(0), at_minute(120));
        REQUIRE(hours.size() == 2);
        CHECK(hours[0].failures == 3);
        CHECK(hours[0].targets == 3);
        CHECK(hours[1].failures == 4);
        CHECK(hours[1].unknown_user == 1);
        CHECK(hours[1].targets == 1);
        CHECK(hours[1].first == at_minute(70));
        CHECK(hours[1].last == at_minute(73));
        CHECK_THROWS_AS(FailedLoginsPerIpHour::suspects(reader, at_minute(0), 0),
                        std::invalid_argument);
        CHECK_THROWS_AS(LoginHistory::for_user(reader, 1, 0), std::invalid_argument);

        const auto individual = SellerFunnel::stage(reader, "individual");
        CHECK(individual.submitted == 2);
        CHECK(individual.resubmitted == 1);
        CHECK(individual.approved == 1);
        CHECK(individual.rejected == 1);
        CHECK(individual.pending == 1);
        CHECK(individual.conversion == Approx(0.5));
        REQUIRE(individual.mean_time_to_decision.has_value());
        CHECK(*individual.mean_time_to_decision == Microseconds(60 * minute_us));
        const auto business = SellerFunnel::stage(reader, "business");
        CHECK(business.rejected == 1);
        CHECK(business.conversion == Approx(0.0));
        CHECK(SellerFunnel::summary(reader).size() == 2);
        CHECK_FALSE(SellerFunnel::stage(reader, "none").conversion.has_value());
    }

    SECTION("re-applying records already applied changes nothing") {
        auto store = make_store(files);
        auto runner = make_runner(files.path("idem.db"), quiet(log));
        const auto records = append(*store, workload(120, 3));
        runner->apply(records);
        const std::string state = dump(files.path("idem.db"));
        const ApplyReport again = runner->apply(records);
        CHECK(again.applied == 0);
        CHECK(again.duplicates == 3 * records.size());
        const std::vector<AuditRecord> tail(records.begin() + 100, records.end());
        CHECK(runner->apply(tail).duplicates == 3 * tail.size());
        runner->catch_up(*store);
        CHECK(dump(files.path("idem.db")) == state);
        // A new runner on the same database resumes from the checkpoints.
        runner.reset();
        auto reopened = make_runner(files.path("idem.db"), quiet(log));
        CHECK(checkpoint_of(*reopened, "login_history") == records.back().sequence);
        CHECK(reopened->apply(records).duplicates == 3 * records.size());
        CHECK(dump(files.path("idem.db")) == state);
    }

    SECTION("a projection that throws mid-batch keeps neither its state nor its checkpoint") {
        auto store = make_store(files);
        ProjectionRunner runner(files.path("flaky.db"), quiet(log));
        auto& flaky = runner.emplace<Flaky>();
        runner.emplace<LoginHistory>();
        const auto first = append(*store, {login_failed("a", "wrong_password", at_minute(0), {})});
        runner.apply(first);
        std::vector<AuditEntry> batch;
        for (int i = 1; i <= 5; ++i) {
            batch.push_back(login_failed("a", "wrong_password", at_minute(i), {}));
        }
        const auto records = append(*store, batch);
        flaky.throw_at = records[2].sequence; // after writing rows for records[0..2]
        const ApplyReport report = runner.apply(records);
        CHECK(report.failed == 1);
        CHECK(report.applied == records.size()); // login_history's share
        CHECK(row_count(files.path("flaky.db"), "flaky") == 1);
        CHECK(checkpoint_of(runner, "flaky") == first.back().sequence);
        ReadModelReader reader(files.path("flaky.db"));
        CHECK(reader.checkpoint("flaky") == first.back().sequence);
        CHECK(checkpoint_of(runner, "login_history") == records.back().sequence);
        CHECK(row_count(files.path("flaky.db"), "login_history") == 6);
        const auto status = runner.status();
        CHECK(status[0].failures == 1);
        CHECK(contains(status[0].last_error, "flaky projection fails at"));
        REQUIRE(log.texts(LogLevel::error).size() == 1);
        CHECK(contains(log.texts(LogLevel::error)[0], "projection 'flaky' failed"));

        // Fixed, it catches up from its checkpoint: every record once.
        flaky.throw_at = -1;
        const ApplyReport retry = runner.catch_up(*store);
        CHECK(retry.failed == 0);
        CHECK(row_count(files.path("flaky.db"), "flaky") == 6);
        CHECK(checkpoint_of(runner, "flaky") == records.back().sequence);
    }

    SECTION("a record rejected after the projection wrote part of it leaves nothing of it") {
        auto store = make_store(files);
        ProjectionRunner runner(files.path("partial.db"), quiet(log));
        auto& flaky = runner.emplace<Flaky>();
        std::vector<AuditEntry> batch;
        for (int i = 0; i < 6; ++i) {
            batch.push_back(login_failed("a", "wrong_password", at_minute(i), {}));
        }
        const auto records = append(*store, batch);
        flaky.reject_at = records[3].sequence;
        const ApplyReport report = runner.apply(records);
        CHECK(report.rejected == 1);
        CHECK(report.applied == records.size());
        CHECK(report.failed == 0);
        CHECK(row_count(files.path("partial.db"), "flaky") == 5);
        CHECK(checkpoint_of(runner, "flaky") == records.back().sequence);
        ReadModelReader reader(files.path("partial.db"));
        const auto rejections = reader.rejections("flaky");
        REQUIRE(rejections.size() == 1);
        CHECK(rejections[0].sequence == records[3].sequence);
        CHECK(contains(rejections[0].reason, "is refused after a write (test)"));
        REQUIRE(log.texts(LogLevel::error).size() == 1); // logged once, not per pass
    }

    SECTION("a read-model database that cannot commit applies nothing and says so") {
        auto store = make_store(files);
        ProjectionRunnerOptions options = quiet(log);
        options.busy_timeout = std::chrono::milliseconds(10);
        auto runner = make_runner(files.path("locked.db"), options);
        const auto records = append(*store, workload(20, 5));
        const std::string before = dump(files.path("locked.db"));
        sqlite3* other = nullptr;
        REQUIRE(sqlite3_open(files.path("locked.db").c_str(), &other) == SQLITE_OK);
        REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
        try {
            runner->apply(records);
            FAIL("apply() did not throw");
        } catch (const ProjectionError& error) {
            CHECK(contains(error.what(), "locked.db"));
            CHECK(contains(error.what(), "SQLITE_BUSY"));
        }
        sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
        sqlite3_close(other);
        CHECK(dump(files.path("locked.db")) == before);
        CHECK(checkpoint_of(*runner, "seller_funnel") == 0);
        CHECK(runner->apply(records).applied == 3 * records.size());
    }

    SECTION("a gap in the live feed is closed from the store, or waits for catch_up()") {
        auto store = make_store(files);
        const auto entries = workload(90, 11);
        const auto one = append(*store, {entries.begin(), entries.begin() + 30});
        const auto two = append(*store, {entries.begin() + 30, entries.begin() + 60});
        const auto three = append(*store, {entries.begin() + 60, entries.end()});

        auto without = make_runner(files.path("nosource.db"), quiet(log));
        without->apply(one);
        const ApplyReport gap = without->apply(three); // two was missed
        CHECK(gap.gap);
        CHECK(gap.applied == 0);
        CHECK(checkpoint_of(*without, "login_history") == one.back().sequence);
        CHECK(without->status()[0].behind);
        CHECK(contains(log.texts(LogLevel::error).at(0), "call catch_up()"));
        without->catch_up(*store);
        CHECK_FALSE(without->status()[0].behind);

        auto with = make_runner(files.path("source.db"), quiet(log, store.get()));
        with->apply(one);
        const ApplyReport closed = with->apply(three);
        CHECK_FALSE(closed.gap);
        CHECK(closed.read == two.size() + three.size());
        CHECK(checkpoint_of(*with, "seller_funnel") == three.back().sequence);

        auto rebuilt = make_runner(files.path("all.db"), quiet(log));
        rebuilt->rebuild(*store);
        CHECK(dump(files.path("nosource.db")) == dump(files.path("all.db")));
        CHECK(dump(files.path("source.db")) == dump(files.path("all.db")));
    }

    SECTION("after a prune, a rebuild starts at the first remaining record") {
        auto store = make_store(files);
        const auto entries = workload(200, 13); // minute i for entry i
        const auto records = append(*store, entries);
        auto behind = make_runner(files.path("behind.db"), quiet(log));
        behind->apply({records.begin(), records.begin() + 10});
        REQUIRE(store->prune(at_minute(50), std::nullopt).has_value());

        auto rebuilt = make_runner(files.path("pruned.db"), quiet(log));
        const ApplyReport report = rebuilt->rebuild(*store);
        CHECK(report.pruned == 3 * 50);
        CHECK(report.lost == 0);
        CHECK(report.read == 150);
        CHECK(checkpoint_of(*rebuilt, "login_history") == records.back().sequence);
        CHECK(log.texts(LogLevel::error).empty());
        ReadModelReader reader(files.path("pruned.db"));
        const std::int64_t oldest = reader.read([](ReadModelSession& session) {
            auto& select = session.statement("SELECT min(sequence) FROM login_history");
            authevents::detail::Statement::Use use(select);
            select.step();
            return select.column_int64(0);
        });
        CHECK(oldest > records[49].sequence);

        // A read model that had applied records 1..10 lost 11..50 to the prune: reported.
        const ApplyReport lost = behind->catch_up(*store);
        CHECK(lost.lost == 3 * 40);
        CHECK(behind->status()[0].lost == 40);
        REQUIRE(log.texts(LogLevel::error).size() == 3);
        CHECK(contains(log.texts(LogLevel::error)[0], "pruned from the store"));

        // Live records after the prune go on from the checkpoint.
        const auto more = append(*store, workload(10, 17));
        CHECK(rebuilt->apply(more).applied == 3 * more.size());
    }

    SECTION("hostile record data is rejected, counted and reported, never a crash") {
        auto store = make_store(files);
        auto runner = make_runner(files.path("hostile.db"), quiet(log));
        const std::string deep = std::string(40, '[') + std::string(40, ']');
        const std::vector<AuditEntry> bad = {
            raw("user_login_failed", "{not json"),
            raw("user_login_failed", "[1, 2]"),
            raw("user_login_failed", deep),
            raw("user_login_failed", "{\"reason\": \"" + std::string(20000, 'x') + "\"}"),
            raw("user_login_failed", R"({"reason": 5})"),
            raw("user_login_failed", R"({"reason": "bad_pin"})"),
            raw("user_login_failed", R"({"email": "sealed:v1:x"})"),
            raw("user_login_successful", R"({"user": {"id": "42"}, "required_2fa": false})"),
            raw("user_login_successful", R"({"user": {"id": 1e30}, "required_2fa": false})"),
            raw("user_login_successful",
                R"({"user": {"id": 18446744073709551615}, "required_2fa": false})"),
            raw("user_login_successful", R"({"user": 3, "required_2fa": false})"),
            raw("user_login_successful", R"({"user": {"id": 1}, "required_2fa": "yes"})"),
            raw("seller_application_submitted", R"({"application": null})"),
            raw("seller_application_approved",
                R"({"application": {"id": 1, "applicant": {"id": 2}, "seller_type": []}})"),
            raw("seller_application_rejected", "\"\\ud800\""),
            raw("unknown_event", "{not json either"), // not handled: never parsed
        };
        auto records = append(*store, bad);
        records.push_back(
            append(*store, {login_failed("ok", "wrong_password", at_minute(1), std::string("ipZ"))})
                .front());
        const ApplyReport report = runner->apply(records);
        // Failed logins are handled by two projections; the other types by one.
        CHECK(report.rejected == 2 * 7 + 5 + 3);
        CHECK(report.applied == 3 * records.size());
        CHECK(report.failed == 0);
        for (const auto& status : runner->status()) {
            CHECK(status.checkpoint == records.back().sequence);
        }
        CHECK(runner->status()[0].rejected == 12);
        CHECK(log.texts(LogLevel::error).size() == report.rejected);

        ReadModelReader reader(files.path("hostile.db"));
        const auto rejections = reader.rejections("login_history");
        REQUIRE(rejections.size() == 12);
        CHECK(rejections.back().sequence == records[0].sequence); // newest first
        CHECK(contains(rejections.back().reason, "not valid JSON"));
        const auto reason_of = [&](std::size_t index) {
            for (const auto& rejection : rejections) {
                if (rejection.sequence == records[index].sequence) {
                    return rejection.reason;
                }
            }
            return std::string("<none>");
        };
        CHECK(contains(reason_of(1), "expected a JSON object"));
        CHECK(contains(reason_of(2), "max_depth"));
        CHECK(contains(reason_of(3), "max_string_bytes"));
        CHECK(contains(reason_of(4), "data.reason is a number, expected a string"));
        CHECK(contains(reason_of(5), "not a login failure reason"));
        CHECK(contains(reason_of(6), "data.reason is missing"));
        CHECK(contains(reason_of(7), "data.user.id is a string, expected an integer"));
        CHECK(contains(reason_of(8), "expected an integer"));
        CHECK(contains(reason_of(9), "out of range"));
        CHECK(contains(reason_of(10), "data.user is a number, expected an object"));
        CHECK(contains(reason_of(11), "expected a boolean"));
        CHECK(reader.rejections("seller_funnel").size() == 3);
        CHECK(row_count(files.path("hostile.db"), "login_history") == 1);
        CHECK(row_count(files.path("hostile.db"), "failed_logins_ip_hour") == 1);

        // The same counts after a rebuild; the rejections are kept, not duplicated.
        runner->rebuild(*store);
        CHECK(runner->status()[0].rejected == 12);
        CHECK(reader.rejections("login_history").size() == 12);
    }

    SECTION("a new projection version resets and replays") {
        auto store = make_store(files);
        const auto records = append(*store, workload(50, 19));
        {
            ProjectionRunner runner(files.path("version.db"), quiet(log));
            runner.emplace<Flaky>(1);
            runner.apply(records);
        }
        const std::int64_t rows = row_count(files.path("version.db"), "flaky");
        CHECK(rows > 0);
        ProjectionRunner runner(files.path("version.db"), quiet(log, store.get()));
        runner.emplace<Flaky>(2);
        CHECK(runner.status()[0].checkpoint == 0);
        CHECK(row_count(files.path("version.db"), "flaky") == 0);
        REQUIRE(log.texts(LogLevel::warning).size() == 1);
        CHECK(contains(log.texts(LogLevel::warning)[0], "holds version 1, this is version 2"));
        runner.catch_up(*store);
        CHECK(row_count(files.path("version.db"), "flaky") == rows);
    }

    SECTION("live records arriving during a rebuild are deferred, then applied") {
        auto store = make_store(files);
        append(*store, workload(300, 23));
        auto runner = make_runner(files.path("defer.db"), quiet(log, store.get()));
        std::vector<AuditRecord> late;
        ApplyReport during;
        bool fed = false;
        runner->rebuild(*store, [&](const ReplayProgress&) {
            if (fed) {
                return;
            }
            fed = true;
            late = append(*store, workload(5, 29));
            // The audit log's writer thread: must not wait for the rebuild.
            std::thread writer([&] { during = runner->apply(late); });
            writer.join();
        });
        CHECK(during.deferred);
        CHECK(during.applied == 0);
        for (const auto& status : runner->status()) {
            CHECK(status.checkpoint == late.back().sequence);
        }
        auto rebuilt = make_runner(files.path("defer-check.db"), quiet(log));
        rebuilt->rebuild(*store);
        CHECK(dump(files.path("defer.db")) == dump(files.path("defer-check.db")));
    }

    SECTION("a live feed and rebuilds on two threads end in the rebuilt state") {
        auto store = make_store(files);
        append(*store, workload(100, 41));
        auto runner = make_runner(files.path("race.db"), quiet(log, store.get()));
        std::size_t deferred = 0;
        std::thread writer([&] {
            const auto entries = workload(200, 43);
            for (std::size_t i = 0; i < entries.size(); i += 10) {
                const std::vector<AuditEntry> part(entries.begin() + static_cast<std::ptrdiff_t>(i),
                                                   entries.begin() +
                                                       static_cast<std::ptrdiff_t>(i + 10));
                if (runner->apply(append(*store, part)).deferred) {
                    ++deferred;
                }
            }
        });
        for (int i = 0; i < 3; ++i) {
            runner->rebuild(*store);
        }
        writer.join();
        INFO("deferred batches: " << deferred);
        for (const auto& status : runner->status()) {
            CHECK(status.checkpoint == store->head().sequence);
        }
        auto rebuilt = make_runner(files.path("race-check.db"), quiet(log));
        rebuilt->rebuild(*store);
        CHECK(dump(files.path("race.db")) == dump(files.path("race-check.db")));
        CHECK(log.texts(LogLevel::error).empty());
    }

    SECTION("a failing source store leaves the gap open and is reported") {
        auto store = make_store(files);
        const auto records = append(*store, workload(40, 31));
        auto runner = make_runner(files.path("fail.db"), quiet(log, store.get()));
        if (auto* memory = dynamic_cast<MemoryAuditStore*>(store.get())) {
            memory->fail_reads = true;
            const ApplyReport report = runner->apply({records.begin() + 20, records.end()});
            CHECK(report.gap);
            CHECK(checkpoint_of(*runner, "login_history") == 0);
            CHECK(contains(log.texts(LogLevel::error).at(0), "catching up from the audit store"));
            CHECK_THROWS_AS(runner->catch_up(*store), AuditStoreError);
            memory->fail_reads = false;
            CHECK_FALSE(runner->apply({records.begin() + 20, records.end()}).gap);
            CHECK(checkpoint_of(*runner, "login_history") == records.back().sequence);
            const auto more = append(*store, workload(3, 33));
            CHECK(runner->apply(more).applied == 3 * more.size());
            // A store that answers with records not after the sequence asked for.
            memory->ignore_after = true;
            try {
                runner->catch_up(*store);
                FAIL("catch_up() did not throw");
            } catch (const ProjectionError& error) {
                CHECK(contains(error.what(), "returned records up to sequence"));
            }
        }
    }

    SECTION("records missing from the store without a prune are reported as lost") {
        auto store = make_store(files);
        const auto records = append(*store, workload(30, 37));
        if (auto* memory = dynamic_cast<MemoryAuditStore*>(store.get())) {
            memory->remove(records[9].sequence);
            auto runner = make_runner(files.path("missing.db"), quiet(log));
            const ApplyReport report = runner->rebuild(*store);
            CHECK(report.lost == 3);
            CHECK(contains(log.texts(LogLevel::error).at(0), "missing from the audit store"));
        }
    }
}

} // namespace

TEST_CASE("projections: registration and options are checked", "[audit][projection]") {
    Files files;
    LogCapture log;
    ProjectionRunnerOptions options = quiet(log);
    options.batch_size = 0;
    CHECK_THROWS_AS(ProjectionRunner(files.path("x.db"), options), std::invalid_argument);
    CHECK_THROWS_AS(ProjectionRunner("", quiet(log)), std::invalid_argument);
    CHECK_THROWS_AS(ProjectionRunner(":memory:", quiet(log)), std::invalid_argument);
    CHECK_THROWS_AS(ProjectionRunner(files.path("missing-dir/x.db"), quiet(log)), ProjectionError);
    ProjectionRunner runner(files.path("r.db"), quiet(log));
    runner.emplace<LoginHistory>();
    CHECK_THROWS_AS(runner.emplace<LoginHistory>(), std::invalid_argument);
    CHECK_THROWS_AS(runner.add(nullptr), std::invalid_argument);
    struct BadName : Flaky {
        std::string name() const override { return "bad name"; }
    };
    CHECK_THROWS_AS(runner.emplace<BadName>(), std::invalid_argument);
    CHECK(runner.status().size() == 1);
    CHECK(runner.apply({}).applied == 0);
    CHECK_THROWS_AS(ReadModelReader(files.path("none.db")), ProjectionError);
    CHECK_FALSE(std::filesystem::exists(files.path("none.db")));
    {
        sqlite3* other = nullptr;
        REQUIRE(sqlite3_open(files.path("other.db").c_str(), &other) == SQLITE_OK);
        REQUIRE(sqlite3_exec(other, "CREATE TABLE t (x)", nullptr, nullptr, nullptr) == SQLITE_OK);
        sqlite3_close(other);
    }
    try {
        ReadModelReader reader(files.path("other.db"));
        FAIL("a database without the runner's tables was accepted");
    } catch (const ProjectionError& error) {
        CHECK(contains(error.what(), "is not a read-model database"));
    }
}

TEST_CASE("projections over an in-memory audit store", "[audit][projection]") {
    projection_cases(
        [](Files&) -> std::unique_ptr<AuditStore> { return std::make_unique<MemoryAuditStore>(); });
}

TEST_CASE("projections over SqliteAuditStore", "[audit][projection]") {
    projection_cases([](Files& files) -> std::unique_ptr<AuditStore> {
        return std::make_unique<authevents::audit::SqliteAuditStore>(files.path("audit.db"));
    });
}
