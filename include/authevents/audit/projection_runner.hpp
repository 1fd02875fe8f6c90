/// @file
/// ProjectionRunner: feeds Projections (read_model.hpp) from the audit trail into a SQLite
/// read-model database.
///
/// The runner keeps, per projection, a checkpoint: the sequence of the last audit record it
/// applied. The projection's state and its checkpoint are written in one SQLite transaction,
/// so after a crash they always agree: the records after the checkpoint are applied again
/// (from the audit store), the ones up to it never twice. The runner is fed live (apply(),
/// connected to the audit log's committed() signal), notices a gap between its checkpoint and
/// the records it is given and closes it from an AuditStore, and rebuilds every projection
/// from scratch by replaying the store (rebuild()).
///
/// Part of authevents::audit (CMake target authevents::audit): SQLite, nlohmann-json, fmt.
#pragma once

#include <authevents/audit/detail/projection_checkpoints.hpp>
#include <authevents/audit/detail/projection_record_data.hpp>
#include <authevents/audit/read_model.hpp>
#include <authevents/audit/record.hpp>
#include <authevents/audit/store.hpp>
#include <authevents/bus/detail/sqlite.hpp>
#include <authevents/logging.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace authevents::audit {

/// Options of a ProjectionRunner. A plain value.
struct ProjectionRunnerOptions {
    /// How long SQLite waits for a lock held by another connection (a ReadModelReader).
    std::chrono::milliseconds busy_timeout{5000};
    /// Records per store read and per transaction during catch-up and rebuild, 1 to 100000.
    std::size_t batch_size = 1000;
    /// Where apply() closes a gap from (normally the audit log's own store); not owned, must
    /// outlive the runner. Without one, a gap leaves the projection behind until catch_up().
    AuditStore* source = nullptr;
    /// Receives error lines (rejected records, failing projections, lost records) and
    /// warnings; empty: stderr_logger().
    Logger logger;
    /// Bounds on each record's data JSON.
    RecordDataLimits limits;
};

/// What one apply(), catch_up() or rebuild() did. Counts are per projection and record (a
/// record applied to three projections counts three times). A plain value.
struct ApplyReport {
    std::size_t applied = 0;    ///< Records applied (or skipped as not handled) and committed.
    std::size_t duplicates = 0; ///< Records at or before a checkpoint: already applied.
    std::size_t rejected = 0;   ///< Records whose data a projection could not use.
    std::size_t failed = 0;     ///< Projection batches undone because the projection threw.
    std::size_t read = 0;       ///< Records read from an audit store (catch-up, rebuild).
    /// Records a projection could not apply because the store no longer holds them: pruned
    /// after the projection had started, or missing from the chain. Logged at error.
    std::size_t lost = 0;
    /// Records skipped because a prune removed them before the projection started (a new
    /// projection or a rebuild after retention): expected, not an error.
    std::size_t pruned = 0;
    /// Another thread was running the projections: these records are applied from the source
    /// store by that thread before it returns.
    bool deferred = false;
    /// A gap is still open (no source store, or the store failed): call catch_up().
    bool gap = false;

    /// Adds `other`'s counts to this report.
    ApplyReport& operator+=(const ApplyReport& other) noexcept {
        applied += other.applied;
        duplicates += other.duplicates;
        rejected += other.rejected;
        failed += other.failed;
        read += other.read;
        lost += other.lost;
        pruned += other.pruned;
        deferred = deferred || other.deferred;
        gap = gap || other.gap;
        return *this;
    }
};

/// Progress of a catch-up or rebuild, passed to its callback after each committed batch.
struct ReplayProgress {
    std::int64_t sequence = 0; ///< The last sequence read from the store.
    std::size_t read = 0;      ///< Records read so far.
    std::int64_t total = 0;    ///< Records the store held when the replay started (count()).
};

/// Called on the replaying thread after each committed batch; exceptions it throws propagate
/// out of catch_up()/rebuild() (what was committed stays).
using ReplayCallback = std::function<void(const ReplayProgress&)>;

/// One projection's state, as ProjectionRunner::status() reports it.
struct ProjectionStatus {
    std::string name;            ///< Projection::name().
    int version = 0;             ///< Projection::version().
    std::int64_t checkpoint = 0; ///< The last applied audit sequence (0: none).
    std::uint64_t rejected = 0;  ///< Records rejected since the last reset (persisted).
    std::uint64_t failures = 0;  ///< Batches undone since this runner started.
    std::uint64_t lost = 0;      ///< Records lost since this runner started (see ApplyReport).
    bool behind = false;         ///< A gap is open: records after the checkpoint are missing.
    std::string last_error;      ///< The last failure's message (empty: none).
};

/// Runs projections over a SQLite read-model database file.
///
/// For each projection the database holds its tables and a row in authevents_projections with
/// its version and checkpoint. Every write of a projection (its state, its checkpoint, its
/// rejected records) happens inside one transaction with the checkpoint, so a crash, a failing
/// commit or a projection that throws never leaves a state without its checkpoint or the
/// reverse. Projections are isolated: one that throws is rolled back alone (a savepoint) and
/// the others commit.
///
/// Thread-safety: every member may be called from any thread. Work on the projections is
/// serialised by an internal mutex. With a source store, apply() never waits for it: when
/// another thread (a rebuild, a catch-up) holds it, apply() returns at once with `deferred`
/// and that thread applies the records from the store before returning, so an audit log's
/// writer thread is never held up. Without a source store, apply() waits.
///
/// Exceptions: apply() does not throw for bad records, failing projections or a failing
/// source store (they are reported, counted and logged); members throw ProjectionError when
/// the read-model database itself fails (nothing of the batch is then committed), and
/// std::bad_alloc.
class ProjectionRunner {
public:
    /// Opens (creating) the read-model database at `path`.
    /// @throws std::invalid_argument for an empty or in-memory path or invalid options.
    /// @throws ProjectionError when the database cannot be opened or set up.
    explicit ProjectionRunner(const std::string& path, ProjectionRunnerOptions options = {})
        : path_(path), options_(std::move(options)) {
        if (options_.batch_size == 0 || options_.batch_size > 100000) {
            throw std::invalid_argument("projection runner: batch_size must be 1 to 100000, not " +
                                        std::to_string(options_.batch_size));
        }
        if (!options_.logger) {
            options_.logger = stderr_logger();
        }
        wrap_database("open", [&] {
            db_ = authevents::detail::open_read_model(path_, "projection runner",
                                                      options_.busy_timeout);
            authevents::detail::execute(db_.get(), detail::projection_schema_sql,
                                        "projection runner: create tables");
        });
        session_ = std::make_unique<ReadModelSession>(db_.get());
    }

    ProjectionRunner(const ProjectionRunner&) = delete;
    ProjectionRunner& operator=(const ProjectionRunner&) = delete;

    /// Registers `projection`: creates its schema and checkpoint row, or, when the database
    /// holds another version of it, resets its state and checkpoint (logged at warning; the
    /// next catch_up() or live gap replays it). Its checkpoint starts where the database left
    /// it. Returns the projection.
    /// @throws std::invalid_argument for a null projection, an invalid or duplicate name.
    /// @throws ProjectionError when the database fails (nothing is registered).
    Projection& add(std::unique_ptr<Projection> projection) {
        if (!projection) {
            throw std::invalid_argument("projection runner: add() got a null projection");
        }
        const std::string name = projection->name();
        authevents::detail::validate_identifier(name, "projection runner: projection name");
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& entry : entries_) {
            if (entry->name == name) {
                throw std::invalid_argument("projection runner: a projection named '" + name +
                                            "' is already registered");
            }
        }
        auto entry = std::make_unique<Entry>();
        entry->projection = std::move(projection);
        entry->name = name;
        entry->version = entry->projection->version();
        wrap_database("register projection '" + name + "'", [&] {
            authevents::detail::Transaction tx(db_.get(), "projection runner: register");
            const std::optional<detail::ProjectionRow> stored =
                detail::load_projection_row(*session_, name);
            if (stored) {
                entry->checkpoint = stored->checkpoint;
                entry->rejected = stored->rejected;
            }
            entry->projection->create_schema(*session_);
            if (stored && stored->version != entry->version) {
                log(LogLevel::warning,
                    "projection '" + name + "': the database holds version " +
                        std::to_string(stored->version) + ", this is version " +
                        std::to_string(entry->version) +
                        ": its state is reset and replayed from the audit store");
                reset_entry(*entry);
            }
            detail::store_projection_row(
                *session_, name,
                detail::ProjectionRow{entry->version, entry->checkpoint, entry->rejected});
            tx.commit();
        });
        Projection& added = *entry->projection;
        entries_.push_back(std::move(entry));
        publish_status();
        return added;
    }

    /// Constructs a `P` from `args` and registers it (see add()). Returns it.
    template <class P, class... Args> P& emplace(Args&&... args) {
        static_assert(std::is_base_of_v<Projection, P>,
                      "ProjectionRunner::emplace<P>: P must derive from audit::Projection");
        return static_cast<P&>(add(std::make_unique<P>(std::forward<Args>(args)...)));
    }

    /// Applies live records (as committed to the audit store, ascending sequences), e.g. from
    /// the audit log's committed() signal. Records at or before a projection's checkpoint are
    /// skipped (re-applying is harmless). When the records do not follow a projection's
    /// checkpoint (a batch was missed), the projection is not advanced past the gap: with a
    /// source store the runner catches up from it (which also applies these records), else the
    /// report says `gap` and the projection waits for catch_up().
    /// @throws ProjectionError when the read-model database fails.
    ApplyReport apply(const std::vector<AuditRecord>& records) {
        ApplyReport report;
        std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
        if (options_.source != nullptr) {
            if (!lock.try_lock()) {
                pending_.store(true);
                if (!lock.try_lock()) {
                    report.deferred = true;
                    return report; // the holder sees pending_ after it unlocks
                }
            }
        } else {
            lock.lock();
        }
        bool gap = false;
        report += run_batch(records, Mode::live, &gap, nullptr);
        if (gap) {
            if (options_.source != nullptr) {
                report += catch_up_from_source();
            } else {
                report.gap = true;
                log(LogLevel::error,
                    "projection runner: records are missing before sequence " +
                        std::to_string(records.empty() ? 0 : records.front().sequence) +
                        " and no source store is set: call catch_up()");
            }
        }
        finish(lock, report);
        return report;
    }

    /// Applies every record of `store` after each projection's checkpoint, in batches of
    /// `batch_size`, each batch committed with the checkpoints; calls `progress` after each.
    /// Records the store no longer holds are skipped and counted (`pruned` when the
    /// projection had not started, else `lost`, logged at error).
    /// @throws AuditStoreError when the store fails (committed batches stay).
    /// @throws ProjectionError when the read-model database fails, or the store returns
    /// records out of order (not after the sequence asked for).
    ApplyReport catch_up(AuditStore& store, const ReplayCallback& progress = {}) {
        std::unique_lock<std::mutex> lock(mutex_);
        ApplyReport report = replay(store, progress);
        finish(lock, report);
        return report;
    }

    /// Rebuilds every projection from scratch: resets its state, checkpoint and rejections in
    /// one transaction, then replays `store` from its first record (after a prune, the first
    /// remaining one) as catch_up() does. Live records arriving meanwhile are deferred and
    /// applied before it returns. Readers see the state replayed so far while it runs.
    /// @throws AuditStoreError when the store fails (a later catch_up() resumes).
    /// @throws ProjectionError when the read-model database fails.
    ApplyReport rebuild(AuditStore& store, const ReplayCallback& progress = {}) {
        std::unique_lock<std::mutex> lock(mutex_);
        wrap_database("rebuild: reset", [&] {
            authevents::detail::Transaction tx(db_.get(), "projection runner: reset");
            for (auto& entry : entries_) {
                reset_entry(*entry);
                write_checkpoint(*entry, entry->checkpoint, 0);
            }
            tx.commit();
        });
        for (auto& entry : entries_) {
            entry->rejected = 0;
            entry->behind = false;
        }
        publish_status();
        ApplyReport report = replay(store, progress);
        finish(lock, report);
        return report;
    }

    /// Each registered projection's name, version, checkpoint and counters, in registration
    /// order. Never waits for a running batch (it reports the last committed one).
    [[nodiscard]] std::vector<ProjectionStatus> status() const {
        std::lock_guard<std::mutex> lock(status_mutex_);
        return status_;
    }

    /// The read-model database's path.
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    enum class Mode { live, replay };

    using Entry = detail::ProjectionEntry;
    using Pending = detail::ProjectionPending;

    void log(LogLevel level, const std::string& line) const noexcept {
        try {
            options_.logger(level, line);
        } catch (...) { // a logger's failure must not fail the read model
        }
    }

    // Runs `work`, turning SQLite failures into ProjectionError naming the database.
    template <class F> void wrap_database(const std::string& what, F&& work) {
        try {
            work();
        } catch (const authevents::bus::SqliteError& error) {
            throw ProjectionError("projection runner '" + path_ + "': " + what + ": " +
                                  error.what());
        }
    }

    void reset_entry(Entry& entry) {
        session_->clear_statements();
        entry.projection->reset(*session_);
        entry.projection->create_schema(*session_);
        session_->clear_statements();
        detail::clear_projection_rejects(*session_, entry.name);
        entry.checkpoint = 0;
        entry.rejected = 0;
    }

    void write_checkpoint(const Entry& entry, std::int64_t checkpoint, std::uint64_t rejected) {
        detail::write_projection_checkpoint(*session_, entry.name, checkpoint, rejected);
    }

    void savepoint(const char* sql) { detail::run_savepoint(*session_, sql); }

    // Applies `records` to one projection inside its savepoint (the caller's transaction).
    // Optimistic first: no savepoint per record. A RecordDataError thrown by the projection
    // (it may have written part of that record) undoes the pass, and the batch is applied
    // again with a savepoint around each record, so only the bad record's writes are undone.
    Pending apply_to(Entry& entry, const std::vector<AuditRecord>& records,
                     std::vector<detail::ParsedRecordData>& parsed, Mode mode,
                     detail::StorePrunedPrefix* prune, ApplyReport& report) {
        for (const bool careful : {false, true}) {
            Pending pending;
            pending.checkpoint = entry.checkpoint;
            ApplyReport local;
            bool again = false;
            savepoint("SAVEPOINT authevents_projection");
            try {
                for (std::size_t i = 0; i < records.size() && !again; ++i) {
                    const AuditRecord& record = records[i];
                    if (record.sequence <= pending.checkpoint) {
                        ++local.duplicates;
                        continue;
                    }
                    if (record.sequence > pending.checkpoint + 1) {
                        if (mode == Mode::live) {
                            pending.gap = true;
                            break;
                        }
                        detail::account_projection_gap(entry.name, pending, record.sequence, prune,
                                                       local.pruned, local.lost);
                    }
                    if (entry.projection->handles(record.event_type)) {
                        again = !apply_record(
                            entry, pending, record,
                            detail::parse_record_data(record, options_.limits, parsed[i]), careful);
                        if (again) {
                            break;
                        }
                    }
                    pending.checkpoint = record.sequence;
                    ++local.applied;
                }
                if (again) {
                    savepoint("ROLLBACK TO authevents_projection");
                    savepoint("RELEASE authevents_projection");
                    continue;
                }
                if (pending.checkpoint != entry.checkpoint || pending.rejected != 0) {
                    write_checkpoint(entry, pending.checkpoint, entry.rejected + pending.rejected);
                }
                savepoint("RELEASE authevents_projection");
            } catch (...) {
                pending = Pending{};
                pending.checkpoint = entry.checkpoint;
                pending.failed = true;
                pending.error = authevents::detail::projection_bounded_text(
                    authevents::detail::describe_exception(std::current_exception()), 300);
                // Undo the projection's writes; if even that fails the commit will fail too.
                try {
                    savepoint("ROLLBACK TO authevents_projection");
                    savepoint("RELEASE authevents_projection");
                } catch (const authevents::bus::SqliteError& error) {
                    throw ProjectionError("projection runner '" + path_ + "': rolling back '" +
                                          entry.name + "' failed: " + error.what());
                }
                ++report.failed;
                return pending;
            }
            local.rejected = static_cast<std::size_t>(pending.rejected);
            report += local;
            return pending;
        }
        throw std::logic_error("projection runner: the careful pass cannot ask for another");
    }

    // Applies one handled record; false when the projection rejected it in an optimistic pass
    // (the caller undoes the pass and applies the batch again carefully).
    bool apply_record(Entry& entry, Pending& pending, const AuditRecord& record,
                      const detail::ParsedRecordData& data, bool careful) {
        if (!data.error.empty()) {
            detail::reject_projection_record(*session_, entry.name, pending, record, data.error);
            return true;
        }
        if (!careful) {
            try {
                entry.projection->apply(*session_, RecordData(record, data.json));
            } catch (const RecordDataError&) {
                return false;
            }
            return true;
        }
        savepoint("SAVEPOINT authevents_record");
        try {
            entry.projection->apply(*session_, RecordData(record, data.json));
            savepoint("RELEASE authevents_record");
        } catch (const RecordDataError& error) {
            savepoint("ROLLBACK TO authevents_record");
            savepoint("RELEASE authevents_record");
            detail::reject_projection_record(*session_, entry.name, pending, record, error.what());
        }
        return true;
    }

    // One transaction: `records` applied to every projection (each in its savepoint).
    ApplyReport run_batch(const std::vector<AuditRecord>& records, Mode mode, bool* gap,
                          detail::StorePrunedPrefix* prune) {
        ApplyReport report;
        if (records.empty() || entries_.empty()) {
            return report;
        }
        std::vector<detail::ParsedRecordData> parsed(records.size());
        std::vector<Pending> pending(entries_.size());
        wrap_database("apply", [&] {
            authevents::detail::Transaction tx(db_.get(), "projection runner: apply");
            for (std::size_t i = 0; i < entries_.size(); ++i) {
                if (mode == Mode::replay && entries_[i]->skip_replay) {
                    pending[i].checkpoint = entries_[i]->checkpoint;
                    continue;
                }
                pending[i] = apply_to(*entries_[i], records, parsed, mode, prune, report);
            }
            tx.commit();
        });
        // Committed: publish.
        for (std::size_t i = 0; i < entries_.size(); ++i) {
            Entry& entry = *entries_[i];
            const Pending& done = pending[i];
            if (done.failed) {
                ++entry.failures;
                entry.last_error = done.error;
                entry.skip_replay = mode == Mode::replay;
                log(LogLevel::error, "projection '" + entry.name +
                                         "' failed; its batch is undone and retried from its "
                                         "checkpoint " +
                                         std::to_string(entry.checkpoint) + ": " + done.error);
                continue;
            }
            for (const std::string& line : done.errors) {
                log(LogLevel::error, line);
            }
            entry.checkpoint = done.checkpoint;
            entry.rejected += done.rejected;
            entry.lost += done.lost;
            entry.behind = done.gap;
            if (done.gap && gap != nullptr) {
                *gap = true;
            }
        }
        publish_status();
        return report;
    }

    // Replays `store` after the lowest checkpoint until it returns nothing new.
    ApplyReport replay(AuditStore& store, const ReplayCallback& progress) {
        ApplyReport report;
        detail::StorePrunedPrefix prune;
        prune.store = &store;
        ReplayProgress state;
        state.total = store.count();
        for (auto& entry : entries_) {
            entry->skip_replay = false;
        }
        for (;;) {
            std::optional<std::int64_t> after;
            for (const auto& entry : entries_) {
                if (!entry->skip_replay) {
                    after = std::min(after.value_or(entry->checkpoint), entry->checkpoint);
                }
            }
            if (!after) {
                break;
            }
            const std::vector<AuditRecord> records = store.read(*after, options_.batch_size);
            if (records.empty()) {
                break;
            }
            if (records.back().sequence <= *after) { // would never advance: a broken store
                throw ProjectionError("projection runner '" + path_ +
                                      "': the audit store returned records up to sequence " +
                                      std::to_string(records.back().sequence) +
                                      " when asked for those after " + std::to_string(*after));
            }
            report.read += records.size();
            report += run_batch(records, Mode::replay, nullptr, &prune);
            state.sequence = records.back().sequence;
            state.read += records.size();
            if (progress) {
                progress(state);
            }
        }
        for (auto& entry : entries_) {
            entry->skip_replay = false;
        }
        return report;
    }

    // apply()'s catch-up: a failing source store leaves the gap open (logged, reported).
    ApplyReport catch_up_from_source() {
        try {
            return replay(*options_.source, {});
        } catch (const ProjectionError&) {
            throw;                              // the read model's own database
        } catch (const std::exception& error) { // AuditStoreError and what else a store throws
            log(LogLevel::error,
                std::string("projection runner: catching up from the audit store failed; the "
                            "projections stay behind until the next batch or catch_up(): ") +
                    error.what());
            ApplyReport report;
            report.gap = true;
            return report;
        }
    }

    // Unlocks; then, while apply() calls deferred records meanwhile, catches up for them.
    void finish(std::unique_lock<std::mutex>& lock, ApplyReport& report) {
        for (;;) {
            lock.unlock();
            if (options_.source == nullptr || !pending_.load() || !lock.try_lock()) {
                return;
            }
            if (pending_.exchange(false)) {
                report += catch_up_from_source();
            }
        }
    }

    void publish_status() {
        std::vector<ProjectionStatus> status;
        status.reserve(entries_.size());
        for (const auto& entry : entries_) {
            status.push_back(ProjectionStatus{entry->name, entry->version, entry->checkpoint,
                                              entry->rejected, entry->failures, entry->lost,
                                              entry->behind, entry->last_error});
        }
        std::lock_guard<std::mutex> lock(status_mutex_);
        status_ = std::move(status);
    }

    std::string path_;
    ProjectionRunnerOptions options_;
    authevents::detail::SqliteConnection db_;
    std::unique_ptr<ReadModelSession> session_;
    std::vector<std::unique_ptr<Entry>> entries_;
    std::mutex mutex_;
    std::atomic<bool> pending_{false};
    mutable std::mutex status_mutex_;
    std::vector<ProjectionStatus> status_;
};

} // namespace authevents::audit
