// The auth service's audit trail (built when authevents::audit is): every event its dispatcher
// sees is appended to a hash-chained SQLite store by an AuditLog, and three read models
// (login history, failed logins per IP and hour, the seller funnel) are fed live from the
// records it commits. summary() verifies the chain and reads the read models.
#pragma once

#include <authevents/audit/audit_log.hpp>
#include <authevents/audit/projection_runner.hpp>
#include <authevents/audit/projections.hpp>
#include <authevents/audit/reader.hpp>
#include <authevents/audit/sqlite_store.hpp>
#include <authevents/dispatcher.hpp>
#include <authevents/signal.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace authsvc {

/// What the audit trail holds, verified, and what its read models say.
struct AuditSummary {
    bool chain_ok = false;    ///< verify() found the chain intact.
    std::string verify_text;  ///< verify()'s verdict, for people.
    std::int64_t records = 0; ///< Records in the store.
    std::string head;         ///< The head to anchor: "<sequence>:<hash hex>".
    /// Successful logins per user id (from the login history read model).
    std::vector<std::pair<std::int64_t, std::size_t>> logins_per_user;
    /// Failed logins in the last hour per IP (from the per-IP read model), most first.
    std::vector<std::pair<std::string, std::int64_t>> failures_per_ip;
    /// The seller funnel per seller type.
    std::vector<authevents::audit::FunnelStage> funnel;
};

/// The audit trail of one service process: audit.db (the chain) and read_models.db in `dir`.
///
/// Thread-safety: attach() and summary() from one thread (the demo's); the AuditLog writes on
/// its own thread and feeds the read models there. Exceptions: the constructor throws
/// AuditStoreError or ProjectionError when a database cannot be opened; summary() throws what
/// verify() and the read models throw.
class AuditTrail {
public:
    explicit AuditTrail(const std::filesystem::path& dir);

    /// Records every event `dispatcher` dispatches from now on.
    void attach(authevents::EventDispatcher& dispatcher);

    /// Waits for the log to write what is queued, verifies the chain and reads the read
    /// models. `users` are the ids to report logins of; `ips` the addresses to look up in the
    /// failed-login read model (which keeps only their blind index).
    AuditSummary summary(const std::vector<std::int64_t>& users,
                         const std::vector<std::string>& ips);

    /// Rebuilds the read models from the audit log alone (reset, then replay from record 1).
    void rebuild();

    /// Erases user `user_id` (and the failed logins of `emails`) by crypto-shredding; returns
    /// how many keys were erased.
    std::size_t erase_user(std::int64_t user_id, const std::vector<std::string>& emails);

    /// The newest `limit` records about user `user_id`, opened: e-mail, names and IP readable,
    /// or [erased].
    authevents::audit::OpenedPage records_of(std::int64_t user_id, std::size_t limit);

    /// The audit database's path.
    [[nodiscard]] std::string database() const { return store_.path(); }
    /// The audit log's counters.
    [[nodiscard]] authevents::audit::AuditLogStats stats() const noexcept { return log_.stats(); }

private:
    authevents::audit::SqliteAuditStore store_;
    authevents::audit::ProjectionRunner runner_;
    authevents::audit::AuditLog log_;
    authevents::audit::AuditReader reader_;
    authevents::ScopedConnection feed_; // log_.committed() -> runner_.apply()
};

} // namespace authsvc
