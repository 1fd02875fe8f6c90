/// @file
/// ProjectionRunner's bookkeeping of each projection (audit/projection_runner.hpp): its row in
/// authevents_projections (version, checkpoint, rejected count), its rejected records in
/// authevents_projection_rejects, the savepoints that isolate it within a batch, the work a
/// batch leaves pending until it commits, and how a gap after its checkpoint is counted (the
/// audit store's pruned prefix tells a pruned gap from a lost one). Nothing here is public API.
///
/// Part of authevents::audit (SQLite). Not thread-safe: the runner calls these under its
/// mutex, inside its transaction.
#pragma once

#include <authevents/audit/read_model.hpp>
#include <authevents/audit/record.hpp>
#include <authevents/audit/store.hpp>
#include <authevents/bus/detail/sqlite.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace authevents::audit::detail {

/// The runner's bookkeeping tables: one row per projection, and its rejected records.
inline constexpr const char* projection_schema_sql =
    "CREATE TABLE IF NOT EXISTS authevents_projections ("
    " name TEXT PRIMARY KEY, version INTEGER NOT NULL, checkpoint INTEGER NOT NULL,"
    " rejected INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS authevents_projection_rejects ("
    " projection TEXT NOT NULL, sequence INTEGER NOT NULL, event_type TEXT NOT NULL,"
    " reason TEXT NOT NULL, PRIMARY KEY (projection, sequence)) WITHOUT ROWID;";

/// A projection's row in authevents_projections.
struct ProjectionRow {
    int version = 0;
    std::int64_t checkpoint = 0;
    std::uint64_t rejected = 0;
};

/// The row of the projection `name`, or std::nullopt when it was never registered.
inline std::optional<ProjectionRow> load_projection_row(ReadModelSession& session,
                                                        const std::string& name) {
    auto& select = session.statement(
        "SELECT version, checkpoint, rejected FROM authevents_projections WHERE name = ?");
    const authevents::detail::Statement::Use use(select);
    select.bind_text(1, name);
    if (!select.step()) {
        return std::nullopt;
    }
    return ProjectionRow{static_cast<int>(select.column_int64(0)), select.column_int64(1),
                         static_cast<std::uint64_t>(select.column_int64(2))};
}

/// Writes the row of the projection `name`, inserting it if missing.
inline void store_projection_row(ReadModelSession& session, const std::string& name,
                                 const ProjectionRow& row) {
    auto& upsert =
        session.statement("INSERT INTO authevents_projections (name, version, checkpoint, rejected)"
                          " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET version ="
                          " excluded.version, checkpoint = excluded.checkpoint, rejected = "
                          "excluded.rejected");
    const authevents::detail::Statement::Use use(upsert);
    upsert.bind_text(1, name);
    upsert.bind_int64(2, row.version);
    upsert.bind_int64(3, row.checkpoint);
    upsert.bind_int64(4, static_cast<std::int64_t>(row.rejected));
    upsert.step();
}

/// Sets the checkpoint and rejected count of the registered projection `name`.
inline void write_projection_checkpoint(ReadModelSession& session, const std::string& name,
                                        std::int64_t checkpoint, std::uint64_t rejected) {
    auto& update = session.statement(
        "UPDATE authevents_projections SET checkpoint = ?, rejected = ? WHERE name = ?");
    const authevents::detail::Statement::Use use(update);
    update.bind_int64(1, checkpoint);
    update.bind_int64(2, static_cast<std::int64_t>(rejected));
    update.bind_text(3, name);
    update.step();
}

/// Forgets the rejected records of the projection `name`.
inline void clear_projection_rejects(ReadModelSession& session, const std::string& name) {
    auto& erase =
        session.statement("DELETE FROM authevents_projection_rejects WHERE projection = ?");
    const authevents::detail::Statement::Use use(erase);
    erase.bind_text(1, name);
    erase.step();
}

/// One registered projection and its counters, as the runner keeps it.
struct ProjectionEntry {
    std::unique_ptr<Projection> projection;
    std::string name;
    int version = 0;
    std::int64_t checkpoint = 0; ///< Committed.
    std::uint64_t rejected = 0;  ///< Committed, persisted.
    std::uint64_t failures = 0;
    std::uint64_t lost = 0;
    bool behind = false;
    std::string last_error;
    bool skip_replay = false; ///< Failed during the current replay.
};

/// Work done on one projection inside a batch, published once the transaction commits.
struct ProjectionPending {
    std::int64_t checkpoint = 0;
    std::uint64_t rejected = 0;
    std::uint64_t lost = 0;
    bool failed = false;
    bool gap = false;
    std::string error;
    std::vector<std::string> errors; ///< Logged once the transaction commits.
};

/// Records that the projection `name` rejected `record` for `reason`: a row in
/// authevents_projection_rejects (event type and reason bounded on a UTF-8 boundary) and an
/// error line in `pending`, logged once the batch commits.
inline void reject_projection_record(ReadModelSession& session, const std::string& name,
                                     ProjectionPending& pending, const AuditRecord& record,
                                     const std::string& reason) {
    // Bound before binding: SQLite reads bound text at step(), not at bind.
    const std::string bounded = authevents::detail::projection_bounded_text(reason, 300);
    const std::string event_type =
        authevents::detail::projection_bounded_text(record.event_type, 100);
    auto& insert = session.statement(
        "INSERT OR REPLACE INTO authevents_projection_rejects (projection, sequence,"
        " event_type, reason) VALUES (?, ?, ?, ?)");
    {
        const authevents::detail::Statement::Use use(insert);
        insert.bind_text(1, name);
        insert.bind_int64(2, record.sequence);
        insert.bind_text(3, event_type);
        insert.bind_text(4, bounded);
        insert.step();
    }
    ++pending.rejected;
    pending.errors.push_back("projection '" + name + "' rejected audit record " +
                             std::to_string(record.sequence) + ": " + bounded);
}

/// Runs one SAVEPOINT, RELEASE or ROLLBACK TO statement.
inline void run_savepoint(ReadModelSession& session, const char* sql) {
    auto& statement = session.statement(sql);
    const authevents::detail::Statement::Use use(statement);
    statement.step();
}

/// The audit store's pruned prefix (its newest checkpoint's sequence), read at most once per
/// replay: records missing up to it were pruned, not lost.
struct StorePrunedPrefix {
    AuditStore* store = nullptr;
    std::optional<std::int64_t> pruned_through;
    bool loaded = false;

    /// The last pruned sequence (0: none). @throws what the store's checkpoints() throws.
    std::int64_t get() {
        if (!loaded && store != nullptr) {
            loaded = true;
            for (const Checkpoint& checkpoint : store->checkpoints()) {
                pruned_through = std::max(pruned_through.value_or(0), checkpoint.sequence);
            }
        }
        return pruned_through.value_or(0);
    }
};

/// A replay of the projection `name` found the records between its pending checkpoint and
/// `sequence` missing. Records the store pruned before the projection started are expected:
/// added to `pruned`. Any other gap is added to `lost` and to the pending work, with an error
/// line saying whether the store pruned them or lacks them.
inline void account_projection_gap(const std::string& name, ProjectionPending& pending,
                                   std::int64_t sequence, StorePrunedPrefix* prune,
                                   std::size_t& pruned, std::size_t& lost) {
    const std::int64_t first_missing = pending.checkpoint + 1;
    const auto missing = static_cast<std::size_t>(sequence - first_missing);
    const bool was_pruned = prune != nullptr && sequence - 1 <= prune->get();
    if (was_pruned && pending.checkpoint == 0) {
        pruned += missing;
        return;
    }
    lost += missing;
    pending.lost += missing;
    pending.errors.push_back(
        "projection '" + name + "': audit records " + std::to_string(first_missing) + " to " +
        std::to_string(sequence - 1) + " are " +
        (was_pruned ? "pruned from the store before the projection applied them"
                    : "missing from the audit store (verify it)") +
        "; its state lacks them (rebuild() to match the store)");
}

} // namespace authevents::audit::detail
