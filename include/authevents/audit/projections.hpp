/// @file
/// The three shipped read models: LoginHistory (logins per user or attempted address),
/// FailedLoginsPerIpHour (failed logins per IP blind index and hour, with the brute-force
/// query) and SellerFunnel (seller applications by seller type: submitted, resubmitted,
/// approved, rejected, pending, conversion).
///
/// Register them with a ProjectionRunner (projection.hpp); query them through a
/// ReadModelReader with their static query functions. They read the records' data as the audit
/// log writes it: the event's fields as a JSON object, nested User and SellerApplication as
/// objects, the failure reason as its word, personal values sealed ("sealed:v1:..."). They
/// keep personal values only in the sealed form the audit store holds, and IPs as the store's
/// blind index; after an erasure or a prune, rebuild() makes them forget what the store no
/// longer has.
///
/// Part of authevents::audit (CMake target authevents::audit). Thread-safety: a projection
/// object is used by its runner's thread only; the static queries are thread-safe as
/// ReadModelReader is. Exceptions: queries throw ProjectionError when the database fails,
/// std::invalid_argument for invalid arguments, and std::bad_alloc.
#pragma once

#include <authevents/audit/read_model.hpp>
#include <authevents/events.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace authevents::detail {

// Microseconds since the epoch of `time`.
inline std::int64_t projection_micros(audit::AuditTime time) noexcept {
    return time.time_since_epoch().count();
}
// The AuditTime of `micros` since the epoch.
inline audit::AuditTime projection_time(std::int64_t micros) noexcept {
    return audit::AuditTime(audit::Microseconds(micros));
}
// The hour (since the epoch, floored) that `time` falls in.
inline std::int64_t projection_hour(audit::AuditTime time) noexcept {
    constexpr std::int64_t hour = 3600LL * 1000000LL;
    const std::int64_t us = projection_micros(time);
    return us >= 0 ? us / hour : -((-us + hour - 1) / hour);
}
// Checked page size for queries (1 to 10000).
inline std::int64_t projection_page_limit(std::size_t limit, const char* what) {
    if (limit == 0 || limit > 10000) {
        throw std::invalid_argument(std::string(what) + ": limit must be 1 to 10000, not " +
                                    std::to_string(limit));
    }
    return static_cast<std::int64_t>(limit);
}

// The LoginFailureReason word in data.reason.
// @throws audit::RecordDataError when it is missing, not a string or not a reason.
inline std::string projection_failure_reason(const audit::RecordData& data) {
    std::string reason = data.text({"reason"}, 64);
    if (!parse_login_failure_reason(reason)) {
        data.fail("data.reason",
                  "is " + quote_for_message(reason) + ", not a login failure reason");
    }
    return reason;
}
} // namespace authevents::detail

namespace authevents::audit {

/// One login attempt in LoginHistory.
struct LoginAttempt {
    std::int64_t sequence = 0; ///< The audit record's sequence.
    AuditTime time{};          ///< When it happened.
    /// Whose history it is in: "user:<id>" for a successful login, the audit record's subject
    /// ("email:<blind index>") for a failed one.
    std::string subject;
    bool succeeded = false;            ///< Whether the login succeeded.
    std::optional<bool> required_2fa;  ///< For a success: whether a second factor was required.
    std::optional<std::string> reason; ///< For a failure: the LoginFailureReason word.
    /// The source IP, sealed as in the audit store (open it with the audit log's key ring;
    /// after an erasure it stays unreadable); std::nullopt when the event had none.
    std::optional<std::string> source_ip;
    std::optional<std::string> ip_index; ///< The IP's blind index, as in the audit store.
};

/// Read model: every login attempt, by whose history it belongs to. Successful logins are
/// filed under "user:<id>" (the data's user.id); failed logins under the audit record's
/// subject, which the audit log makes "email:<blind index>" of the attempted address, so a
/// user's failed attempts are found with the blind index of their address.
///
/// Table login_history (sequence PRIMARY KEY, subject, user_id, time_us, succeeded,
/// required_2fa, reason, source_ip, ip_index), indexed by (subject, sequence).
class LoginHistory : public Projection {
public:
    /// "login_history".
    [[nodiscard]] std::string name() const override { return "login_history"; }
    /// 1.
    [[nodiscard]] int version() const override { return 1; }
    /// user_login_successful and user_login_failed.
    [[nodiscard]] bool handles(std::string_view event_type) const override {
        return event_type == "user_login_successful" || event_type == "user_login_failed";
    }
    /// Creates login_history and its index.
    void create_schema(ReadModelSession& session) override {
        session.execute("CREATE TABLE IF NOT EXISTS login_history ("
                        " sequence INTEGER PRIMARY KEY, subject TEXT NOT NULL, user_id INTEGER,"
                        " time_us INTEGER NOT NULL, succeeded INTEGER NOT NULL,"
                        " required_2fa INTEGER, reason TEXT, source_ip TEXT, ip_index TEXT);"
                        "CREATE INDEX IF NOT EXISTS login_history_subject"
                        " ON login_history (subject, sequence)");
    }
    /// Drops login_history.
    void reset(ReadModelSession& session) override {
        session.execute("DROP TABLE IF EXISTS login_history");
    }
    /// Files the attempt. @throws RecordDataError for a missing or ill-typed member.
    void apply(ReadModelSession& session, const RecordData& data) override {
        const AuditRecord& record = data.record();
        const bool succeeded = record.event_type == "user_login_successful";
        std::string subject;
        std::optional<std::int64_t> user_id;
        std::optional<bool> required_2fa;
        std::optional<std::string> reason;
        if (succeeded) {
            user_id = data.integer({"user", "id"});
            subject = "user:" + std::to_string(*user_id);
            required_2fa = data.boolean({"required_2fa"});
        } else {
            reason = authevents::detail::projection_failure_reason(data);
            subject = record.subject;
            if (subject.empty() || subject.size() > 256) {
                data.fail("the subject", "is empty or longer than 256 bytes");
            }
        }
        check_optional("the source_ip", record.source_ip, data);
        check_optional("the ip_index", record.ip_index, data);
        auto& insert = session.statement(
            "INSERT OR REPLACE INTO login_history (sequence, subject, user_id, time_us,"
            " succeeded, required_2fa, reason, source_ip, ip_index)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
        authevents::detail::Statement::Use use(insert);
        insert.bind_int64(1, record.sequence);
        insert.bind_text(2, subject);
        if (user_id) {
            insert.bind_int64(3, *user_id);
        }
        insert.bind_int64(4, authevents::detail::projection_micros(record.time));
        insert.bind_int64(5, succeeded ? 1 : 0);
        if (required_2fa) {
            insert.bind_int64(6, *required_2fa ? 1 : 0);
        }
        if (reason) {
            insert.bind_text(7, *reason);
        }
        if (record.source_ip) {
            insert.bind_text(8, *record.source_ip);
        }
        if (record.ip_index) {
            insert.bind_text(9, *record.ip_index);
        }
        insert.step();
    }

    /// The attempts filed under `subject` ("user:42", "email:<blind index>"), newest first, at
    /// most `limit` (1 to 10000), only those before `before_sequence` when given (paging).
    /// @throws std::invalid_argument for a bad limit. @throws ProjectionError.
    static std::vector<LoginAttempt>
    for_subject(ReadModelReader& reader, const std::string& subject, std::size_t limit = 100,
                std::optional<std::int64_t> before_sequence = std::nullopt) {
        const std::int64_t checked =
            authevents::detail::projection_page_limit(limit, "LoginHistory::for_subject");
        return reader.read([&](ReadModelSession& session) {
            auto& select = session.statement(
                "SELECT sequence, time_us, subject, succeeded, required_2fa, reason, source_ip,"
                " ip_index, required_2fa IS NULL, reason IS NULL, source_ip IS NULL,"
                " ip_index IS NULL FROM login_history WHERE subject = ? AND sequence < ?"
                " ORDER BY sequence DESC LIMIT ?");
            authevents::detail::Statement::Use use(select);
            select.bind_text(1, subject);
            select.bind_int64(2,
                              before_sequence.value_or(std::numeric_limits<std::int64_t>::max()));
            select.bind_int64(3, checked);
            std::vector<LoginAttempt> result;
            while (select.step()) {
                LoginAttempt attempt;
                attempt.sequence = select.column_int64(0);
                attempt.time = authevents::detail::projection_time(select.column_int64(1));
                attempt.subject = select.column_text(2);
                attempt.succeeded = select.column_int64(3) != 0;
                if (select.column_int64(8) == 0) {
                    attempt.required_2fa = select.column_int64(4) != 0;
                }
                if (select.column_int64(9) == 0) {
                    attempt.reason = select.column_text(5);
                }
                if (select.column_int64(10) == 0) {
                    attempt.source_ip = select.column_text(6);
                }
                if (select.column_int64(11) == 0) {
                    attempt.ip_index = select.column_text(7);
                }
                result.push_back(std::move(attempt));
            }
            return result;
        });
    }

    /// The attempts filed under "user:<user_id>" (its successful logins), as for_subject().
    static std::vector<LoginAttempt>
    for_user(ReadModelReader& reader, std::int64_t user_id, std::size_t limit = 100,
             std::optional<std::int64_t> before_sequence = std::nullopt) {
        return for_subject(reader, "user:" + std::to_string(user_id), limit, before_sequence);
    }

    /// The user's newest successful login, or std::nullopt. @throws ProjectionError.
    static std::optional<LoginAttempt> last_login(ReadModelReader& reader, std::int64_t user_id) {
        auto attempts = for_user(reader, user_id, 1);
        if (attempts.empty()) {
            return std::nullopt;
        }
        return std::move(attempts.front());
    }

private:
    static void check_optional(const char* what, const std::optional<std::string>& value,
                               const RecordData& data) {
        if (value && value->size() > 1024) {
            data.fail(what, "is longer than 1024 bytes");
        }
    }
};

/// Failed logins of one IP (by blind index) in one hour.
struct IpHourFailures {
    std::string ip_index;          ///< The IP's blind index ("" for attempts without an IP).
    std::int64_t hour = 0;         ///< Hours since the epoch (UTC).
    std::int64_t failures = 0;     ///< Failed logins.
    std::int64_t unknown_user = 0; ///< Of which with reason user_not_found.
    std::int64_t targets = 0;      ///< Distinct subjects (attempted addresses).
    AuditTime first{};             ///< The first failure's time.
    AuditTime last{};              ///< The last failure's time.
};

/// An IP that crossed the brute-force threshold, as FailedLoginsPerIpHour::suspects() returns.
struct BruteForceSuspect {
    std::string ip_index; ///< The IP's blind index (look it up with the audit log's reader).
    /// Failures in the hour before `now`, estimated from the hourly counts: the current hour's
    /// count plus the previous hour's weighted by the part of it still inside the window.
    double failures = 0;
    std::int64_t current_hour = 0;  ///< Failures in the hour `now` falls in, up to now.
    std::int64_t previous_hour = 0; ///< Failures in the hour before it.
    std::int64_t targets = 0;       ///< Distinct subjects in both hours (upper bound).
    AuditTime last{};               ///< The latest failure's time.
};

/// Read model: failed logins per IP and hour, feeding a brute-force monitor. Keyed by the
/// record's ip_index (the keyed blind index of the IP, never the IP itself) and the UTC hour;
/// failures without an IP are counted under "". It also counts user_not_found failures and
/// distinct attempted subjects (credential stuffing tries many addresses from one IP).
///
/// Tables failed_logins_ip_hour (ip_index, hour, failures, unknown_user, targets, first_us,
/// last_us; primary key (ip_index, hour), index on hour) and failed_logins_ip_hour_targets.
class FailedLoginsPerIpHour : public Projection {
public:
    /// "failed_logins_ip_hour".
    [[nodiscard]] std::string name() const override { return "failed_logins_ip_hour"; }
    /// 1.
    [[nodiscard]] int version() const override { return 1; }
    /// user_login_failed.
    [[nodiscard]] bool handles(std::string_view event_type) const override {
        return event_type == "user_login_failed";
    }
    /// Creates the tables.
    void create_schema(ReadModelSession& session) override {
        session.execute(
            "CREATE TABLE IF NOT EXISTS failed_logins_ip_hour ("
            " ip_index TEXT NOT NULL, hour INTEGER NOT NULL, failures INTEGER NOT NULL,"
            " unknown_user INTEGER NOT NULL, targets INTEGER NOT NULL, first_us INTEGER NOT NULL,"
            " last_us INTEGER NOT NULL, PRIMARY KEY (ip_index, hour)) WITHOUT ROWID;"
            "CREATE INDEX IF NOT EXISTS failed_logins_ip_hour_by_hour"
            " ON failed_logins_ip_hour (hour, failures);"
            "CREATE TABLE IF NOT EXISTS failed_logins_ip_hour_targets ("
            " ip_index TEXT NOT NULL, hour INTEGER NOT NULL, subject TEXT NOT NULL,"
            " PRIMARY KEY (ip_index, hour, subject)) WITHOUT ROWID");
    }
    /// Drops the tables.
    void reset(ReadModelSession& session) override {
        session.execute("DROP TABLE IF EXISTS failed_logins_ip_hour;"
                        "DROP TABLE IF EXISTS failed_logins_ip_hour_targets");
    }
    /// Counts the failure. @throws RecordDataError for a bad reason, subject or ip_index.
    void apply(ReadModelSession& session, const RecordData& data) override {
        const AuditRecord& record = data.record();
        const std::string reason = authevents::detail::projection_failure_reason(data);
        const std::string ip = record.ip_index.value_or("");
        if (ip.size() > 256) {
            data.fail("the ip_index", "is longer than 256 bytes");
        }
        if (record.subject.size() > 256) {
            data.fail("the subject", "is longer than 256 bytes");
        }
        const std::int64_t hour = authevents::detail::projection_hour(record.time);
        const std::int64_t time = authevents::detail::projection_micros(record.time);
        std::int64_t new_target = 0;
        {
            auto& insert = session.statement("INSERT OR IGNORE INTO failed_logins_ip_hour_targets"
                                             " (ip_index, hour, subject) VALUES (?, ?, ?)");
            authevents::detail::Statement::Use use(insert);
            insert.bind_text(1, ip);
            insert.bind_int64(2, hour);
            insert.bind_text(3, record.subject);
            insert.step();
            new_target = sqlite3_changes(session.handle()) > 0 ? 1 : 0;
        }
        auto& upsert = session.statement(
            "INSERT INTO failed_logins_ip_hour (ip_index, hour, failures, unknown_user, targets,"
            " first_us, last_us) VALUES (?1, ?2, 1, ?3, ?4, ?5, ?5)"
            " ON CONFLICT (ip_index, hour) DO UPDATE SET failures = failures + 1,"
            " unknown_user = unknown_user + ?3, targets = targets + ?4,"
            " first_us = min(first_us, ?5), last_us = max(last_us, ?5)");
        authevents::detail::Statement::Use use(upsert);
        upsert.bind_text(1, ip);
        upsert.bind_int64(2, hour);
        upsert.bind_int64(3, reason == "user_not_found" ? 1 : 0);
        upsert.bind_int64(4, new_target);
        upsert.bind_int64(5, time);
        upsert.step();
    }

    /// IPs with at least `min_failures` failed logins in the hour before `now` (see
    /// BruteForceSuspect::failures for the estimate from hourly counts), most failures first,
    /// at most `limit` (1 to 10000). Attempts without an IP are not included.
    /// @throws std::invalid_argument for min_failures < 1 or a bad limit.
    /// @throws ProjectionError.
    static std::vector<BruteForceSuspect> suspects(ReadModelReader& reader, AuditTime now,
                                                   std::int64_t min_failures,
                                                   std::size_t limit = 100) {
        if (min_failures < 1) {
            throw std::invalid_argument(
                "FailedLoginsPerIpHour::suspects: min_failures must be at least 1");
        }
        const auto checked = static_cast<std::size_t>(
            authevents::detail::projection_page_limit(limit, "FailedLoginsPerIpHour::suspects"));
        const std::int64_t hour = authevents::detail::projection_hour(now);
        constexpr double hour_us = 3600.0 * 1e6;
        const double into_hour = static_cast<double>(authevents::detail::projection_micros(now) -
                                                     hour * 3600LL * 1000000LL) /
                                 hour_us;
        const double previous_weight = 1.0 - std::clamp(into_hour, 0.0, 1.0);
        std::vector<BruteForceSuspect> result = reader.read([&](ReadModelSession& session) {
            // Both hours' counts reaching the threshold is necessary for the estimate to.
            auto& select = session.statement(
                "SELECT ip_index, sum(CASE WHEN hour = ?1 THEN failures ELSE 0 END),"
                " sum(CASE WHEN hour = ?1 - 1 THEN failures ELSE 0 END), sum(targets),"
                " max(last_us) FROM failed_logins_ip_hour"
                " WHERE hour IN (?1 - 1, ?1) AND ip_index <> '' AND first_us <= ?3"
                " GROUP BY ip_index HAVING sum(failures) >= ?2");
            authevents::detail::Statement::Use use(select);
            select.bind_int64(1, hour);
            select.bind_int64(2, min_failures);
            select.bind_int64(3, authevents::detail::projection_micros(now));
            std::vector<BruteForceSuspect> rows;
            while (select.step()) {
                BruteForceSuspect suspect;
                suspect.ip_index = select.column_text(0);
                suspect.current_hour = select.column_int64(1);
                suspect.previous_hour = select.column_int64(2);
                suspect.targets = select.column_int64(3);
                suspect.last = authevents::detail::projection_time(select.column_int64(4));
                suspect.failures = static_cast<double>(suspect.current_hour) +
                                   static_cast<double>(suspect.previous_hour) * previous_weight;
                if (suspect.failures >= static_cast<double>(min_failures)) {
                    rows.push_back(std::move(suspect));
                }
            }
            return rows;
        });
        std::sort(result.begin(), result.end(), [](const auto& a, const auto& b) {
            return a.failures != b.failures ? a.failures > b.failures : a.ip_index < b.ip_index;
        });
        if (result.size() > checked) {
            result.resize(checked);
        }
        return result;
    }

    /// The hourly counts of one IP (blind index) for hours in [from, until), oldest first.
    /// @throws ProjectionError.
    static std::vector<IpHourFailures> hours(ReadModelReader& reader, const std::string& ip_index,
                                             AuditTime from, AuditTime until) {
        return reader.read([&](ReadModelSession& session) {
            auto& select = session.statement(
                "SELECT ip_index, hour, failures, unknown_user, targets, first_us, last_us"
                " FROM failed_logins_ip_hour WHERE ip_index = ? AND hour >= ? AND hour < ?"
                " ORDER BY hour LIMIT 100000");
            authevents::detail::Statement::Use use(select);
            select.bind_text(1, ip_index);
            select.bind_int64(2, authevents::detail::projection_hour(from));
            select.bind_int64(3, authevents::detail::projection_hour(until - Microseconds(1)) + 1);
            std::vector<IpHourFailures> rows;
            while (select.step()) {
                rows.push_back(IpHourFailures{
                    select.column_text(0), select.column_int64(1), select.column_int64(2),
                    select.column_int64(3), select.column_int64(4),
                    authevents::detail::projection_time(select.column_int64(5)),
                    authevents::detail::projection_time(select.column_int64(6))});
            }
            return rows;
        });
    }
};

/// The seller-application funnel of one seller type.
struct FunnelStage {
    std::string seller_type;      ///< e.g. "individual".
    std::int64_t submitted = 0;   ///< First submissions.
    std::int64_t resubmitted = 0; ///< Resubmissions after a rejection.
    std::int64_t approved = 0;    ///< Approvals.
    std::int64_t rejected = 0;    ///< Rejections.
    std::int64_t pending = 0;     ///< Applications whose last event is a (re)submission.
    /// approved / submitted; std::nullopt when nothing was submitted.
    std::optional<double> conversion;
    /// Mean time from an application's first submission to its approval or rejection, over
    /// the decided applications whose submission is in the read model.
    std::optional<Microseconds> mean_time_to_decision;
};

/// Read model: the seller-application funnel per seller type (seller_application_submitted,
/// _approved, _rejected). Tables seller_funnel (per seller type counters) and
/// seller_applications (per application: seller type, status, submissions, times).
class SellerFunnel : public Projection {
public:
    /// "seller_funnel".
    [[nodiscard]] std::string name() const override { return "seller_funnel"; }
    /// 1.
    [[nodiscard]] int version() const override { return 1; }
    /// The three seller application events.
    [[nodiscard]] bool handles(std::string_view event_type) const override {
        return event_type == "seller_application_submitted" ||
               event_type == "seller_application_approved" ||
               event_type == "seller_application_rejected";
    }
    /// Creates the tables.
    void create_schema(ReadModelSession& session) override {
        session.execute(
            "CREATE TABLE IF NOT EXISTS seller_funnel (seller_type TEXT PRIMARY KEY,"
            " submitted INTEGER NOT NULL DEFAULT 0, resubmitted INTEGER NOT NULL DEFAULT 0,"
            " approved INTEGER NOT NULL DEFAULT 0, rejected INTEGER NOT NULL DEFAULT 0);"
            "CREATE TABLE IF NOT EXISTS seller_applications (application_id INTEGER PRIMARY KEY,"
            " seller_type TEXT NOT NULL, applicant_id INTEGER NOT NULL, status TEXT NOT NULL,"
            " submissions INTEGER NOT NULL, first_submitted_us INTEGER, decided_us INTEGER,"
            " last_sequence INTEGER NOT NULL)");
    }
    /// Drops the tables.
    void reset(ReadModelSession& session) override {
        session.execute("DROP TABLE IF EXISTS seller_funnel;"
                        "DROP TABLE IF EXISTS seller_applications");
    }
    /// Counts the event. @throws RecordDataError for a missing or ill-typed member.
    void apply(ReadModelSession& session, const RecordData& data) override {
        const AuditRecord& record = data.record();
        const std::int64_t id = data.integer({"application", "id"});
        const std::int64_t applicant = data.integer({"application", "applicant", "id"});
        const std::string type = data.text({"application", "seller_type"}, 128);
        const std::int64_t time = authevents::detail::projection_micros(record.time);
        std::string column;
        std::string status;
        bool submission = false;
        if (record.event_type == "seller_application_submitted") {
            submission = true;
            column = data.boolean({"is_resubmission"}) ? "resubmitted" : "submitted";
            status = "pending";
        } else if (record.event_type == "seller_application_approved") {
            column = "approved";
            status = "approved";
        } else {
            column = "rejected";
            status = "rejected";
        }
        {
            auto& counter = session.statement(
                "INSERT INTO seller_funnel (seller_type, " + column + ") VALUES (?, 1)" +
                " ON CONFLICT (seller_type) DO UPDATE SET " + column + " = " + column + " + 1");
            authevents::detail::Statement::Use use(counter);
            counter.bind_text(1, type);
            counter.step();
        }
        auto& upsert = session.statement(
            "INSERT INTO seller_applications (application_id, seller_type, applicant_id, status,"
            " submissions, first_submitted_us, decided_us, last_sequence)"
            " VALUES (?1, ?2, ?3, ?4, ?5, CASE WHEN ?5 = 1 THEN ?6 END,"
            " CASE WHEN ?5 = 0 THEN ?6 END, ?7)"
            " ON CONFLICT (application_id) DO UPDATE SET seller_type = ?2, applicant_id = ?3,"
            " status = ?4, submissions = submissions + ?5,"
            " first_submitted_us = CASE WHEN ?5 = 1 THEN coalesce(first_submitted_us, ?6)"
            " ELSE first_submitted_us END,"
            " decided_us = CASE WHEN ?5 = 0 THEN ?6 ELSE decided_us END, last_sequence = ?7");
        authevents::detail::Statement::Use use(upsert);
        upsert.bind_int64(1, id);
        upsert.bind_text(2, type);
        upsert.bind_int64(3, applicant);
        upsert.bind_text(4, status);
        upsert.bind_int64(5, submission ? 1 : 0);
        upsert.bind_int64(6, time);
        upsert.bind_int64(7, record.sequence);
        upsert.step();
    }

    /// The funnel of every seller type, ordered by seller type. @throws ProjectionError.
    static std::vector<FunnelStage> summary(ReadModelReader& reader) {
        return reader.read([&](ReadModelSession& session) {
            auto& select = session.statement(
                "SELECT f.seller_type, f.submitted, f.resubmitted, f.approved, f.rejected,"
                " (SELECT count(*) FROM seller_applications a WHERE a.seller_type ="
                " f.seller_type AND a.status = 'pending'),"
                " d.mean_us, coalesce(d.decided, 0) FROM seller_funnel f LEFT JOIN"
                " (SELECT seller_type, CAST(avg(decided_us - first_submitted_us) AS INTEGER)"
                " AS mean_us, count(*) AS decided FROM seller_applications WHERE status <>"
                " 'pending' AND first_submitted_us IS NOT NULL AND decided_us IS NOT NULL"
                " GROUP BY seller_type) d ON d.seller_type = f.seller_type"
                " ORDER BY f.seller_type LIMIT 10000");
            authevents::detail::Statement::Use use(select);
            std::vector<FunnelStage> rows;
            while (select.step()) {
                FunnelStage stage;
                stage.seller_type = select.column_text(0);
                stage.submitted = select.column_int64(1);
                stage.resubmitted = select.column_int64(2);
                stage.approved = select.column_int64(3);
                stage.rejected = select.column_int64(4);
                stage.pending = select.column_int64(5);
                if (stage.submitted > 0) {
                    stage.conversion =
                        static_cast<double>(stage.approved) / static_cast<double>(stage.submitted);
                }
                if (select.column_int64(7) > 0) {
                    stage.mean_time_to_decision = Microseconds(select.column_int64(6));
                }
                rows.push_back(std::move(stage));
            }
            return rows;
        });
    }

    /// The funnel of one seller type (all zero when it has none). @throws ProjectionError.
    static FunnelStage stage(ReadModelReader& reader, const std::string& seller_type) {
        for (FunnelStage& stage : summary(reader)) {
            if (stage.seller_type == seller_type) {
                return std::move(stage);
            }
        }
        FunnelStage empty;
        empty.seller_type = seller_type;
        return empty;
    }
};

} // namespace authevents::audit
