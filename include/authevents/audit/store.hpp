/// @file
/// AuditStore: the interface of an append-only, hash-chained audit store, implemented by
/// SqliteAuditStore (sqlite_store.hpp, the embedded default) and PostgresAuditStore
/// (postgres_store.hpp, target authevents::audit_postgres).
///
/// Part of authevents::audit (CMake target authevents::audit). Standard headers only.
#pragma once

#include <authevents/audit/record.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace authevents::audit {

/// A store operation failed (the database is unavailable, full, locked past its timeout, or
/// holds data this version cannot read). The message names the store and the operation.
class AuditStoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// What append() did with a batch.
struct AppendResult {
    std::size_t appended = 0;       ///< Entries that became records.
    std::size_t duplicates = 0;     ///< Entries skipped: their cloud_event_id was already recorded.
    std::int64_t last_sequence = 0; ///< The chain's last sequence after the append (0: empty).
};

/// The newest record of the chain, to export and anchor elsewhere (a ticket, a WORM bucket, a
/// second system): a later verify() against it detects rewritten or truncated history.
struct ChainHead {
    std::int64_t sequence = 0; ///< 0 when the store has never held a record.
    Sha256 hash{};             ///< The record's hash (all zero for sequence 0).
};

/// Where a prune cut the chain: the last deleted record. The remaining chain verifies from it.
struct Checkpoint {
    std::int64_t sequence = 0; ///< The last deleted record's sequence.
    Sha256 hash{};             ///< Its hash: the first remaining record chains from it.
    AuditTime cut_before{};    ///< The prune's cut-off: records older than this were deleted.
    AuditTime made_at{};       ///< When the prune ran.
    std::size_t deleted = 0;   ///< How many records this prune deleted.
    /// An Ed25519 signature (libsodium, 64 bytes) over the checkpoint's content, when the
    /// prune was given a signing key; empty otherwise.
    std::string signature;
};

/// Which records query() returns. Every filter set must match (AND); unset filters match all.
struct AuditQuery {
    /// Records whose actor or subject is this reference ("user:42").
    std::optional<std::string> user;
    std::optional<std::string> event_type; ///< Records of this event type.
    std::optional<std::string> ip_index;   ///< Records whose ip_index is this blind index.
    std::optional<AuditTime> from;         ///< Records at or after this time.
    std::optional<AuditTime> until;        ///< Records strictly before this time.
    bool newest_first = true;              ///< Order by sequence, descending when true.
    /// Keyset pagination: only records after this sequence in the query's order (a page's
    /// next_cursor).
    std::optional<std::int64_t> cursor;
    std::size_t limit = 100; ///< Page size, 1 to 10000.
};

/// One page of query() results.
struct AuditPage {
    std::vector<AuditRecord> records;        ///< In the query's order.
    std::optional<std::int64_t> next_cursor; ///< Set when more records may follow.
};

/// An append-only, hash-chained audit store. Appends assign sequence numbers and chain hashes
/// inside one transaction, so concurrent appenders (threads or processes) never fork the chain.
///
/// Thread-safety: every member may be called from any number of threads at once (an
/// implementation serialises what must be serialised). Exceptions: every member may throw
/// AuditStoreError (the message names the problem) and std::bad_alloc; invalid arguments throw
/// std::invalid_argument. A throwing append() recorded nothing of its batch.
class AuditStore {
public:
    virtual ~AuditStore() = default;

    /// Appends `entries` in order as one transaction: each gets the next sequence number and
    /// its chain hash. An entry whose cloud_event_id is already recorded (or appears earlier in
    /// the batch) is skipped and counted as a duplicate.
    virtual AppendResult append(const std::vector<AuditEntry>& entries) = 0;

    /// Up to `limit` records with a sequence greater than `after`, oldest first: the raw chain
    /// for verify(), export and replay.
    virtual std::vector<AuditRecord> read(std::int64_t after, std::size_t limit) = 0;

    /// The records matching `query`, one page at a time.
    virtual AuditPage query(const AuditQuery& query) = 0;

    /// The newest record's sequence and hash.
    virtual ChainHead head() = 0;

    /// How many records the store holds now (after prunes).
    virtual std::int64_t count() = 0;

    /// Every prune's checkpoint, oldest first (empty when nothing was ever pruned).
    virtual std::vector<Checkpoint> checkpoints() = 0;

    /// Deletes the oldest records whose time is before `cut_before`, stopping at the first
    /// record that is not (the chain stays a contiguous suffix), and records a checkpoint at
    /// the cut, signed with `signing_secret_key` (a libsodium Ed25519 secret key, 64 bytes)
    /// when one is given. Returns the checkpoint, or std::nullopt when nothing was old enough.
    /// @throws std::invalid_argument for a key of the wrong size.
    virtual std::optional<Checkpoint>
    prune(AuditTime cut_before, const std::optional<std::string>& signing_secret_key) = 0;

    /// The sealing key stored for `scope` ("user:42"), or std::nullopt when there is none (never
    /// created, or erased).
    virtual std::optional<std::string> find_key(const std::string& scope) = 0;

    /// Stores `key` for `scope` unless the scope already has one, and returns the scope's key
    /// (the existing one, if another appender created it first). Never overwrites a key.
    virtual std::string insert_key(const std::string& scope, const std::string& key) = 0;

    /// Erases the key of `scope` (crypto-shredding: its sealed values become unreadable) and
    /// clears the ip_index of the scope's records. Returns whether a key was erased.
    virtual bool erase_key(const std::string& scope) = 0;
};

} // namespace authevents::audit
