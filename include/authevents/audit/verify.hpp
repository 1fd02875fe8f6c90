/// @file
/// verify(): checks an AuditStore's hash chain from its newest checkpoint (or its first
/// record) to its head, and reports the first record where the chain breaks and how (edited,
/// deleted, inserted, reordered, truncated against an exported head, rewritten history, a
/// changed or unsigned checkpoint), plus the gap records the audit log wrote for entries it
/// had to drop.
///
///     auto report = authevents::audit::verify(store, {exported_head});
///     if (!report.ok) std::cerr << report.first_break->message << '\n';
///
/// Part of authevents::audit. Standard headers, libsodium and the store interface.
#pragma once

#include <authevents/audit/hash_chain.hpp>
#include <authevents/audit/record.hpp>
#include <authevents/audit/store.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace authevents::audit {

/// The event type of the record the audit log appends when it had to drop entries (its data
/// states how many and the time range); verify() lists these records in VerifyReport::gaps.
inline constexpr std::string_view audit_gap_event_type = "audit_gap";

/// How the chain breaks at VerifyReport::first_break.
enum class ChainBreakKind {
    /// The record's content or its stored hash was changed.
    edited,
    /// Records are missing before this sequence (a gap in the sequence numbers, or the records
    /// after it were renumbered to close the gap).
    deleted,
    /// This record was not appended by the store: it is a forged row (the rest renumbered to
    /// make room), or lies at a sequence a prune already removed.
    inserted,
    /// The record that belongs at this sequence is stored at another one.
    reordered,
    /// The chain ends before the exported head's sequence: its newest records were removed.
    truncated,
    /// The record at the exported head's sequence has another hash: the history up to it was
    /// rewritten (and rehashed) after the head was exported.
    head_mismatch,
    /// The checkpoints contradict each other or the records (a checkpoint's deleted count, or
    /// the first remaining record does not chain from the newest checkpoint).
    checkpoint_mismatch,
    /// A checkpoint carries no valid signature for the public key given.
    bad_signature,
};

/// The kind's name as written in reports: "edited", "deleted", "inserted", "reordered",
/// "truncated", "head_mismatch", "checkpoint_mismatch", "bad_signature". Thread-safe.
constexpr std::string_view to_string(ChainBreakKind kind) noexcept {
    switch (kind) {
    case ChainBreakKind::edited:
        return "edited";
    case ChainBreakKind::deleted:
        return "deleted";
    case ChainBreakKind::inserted:
        return "inserted";
    case ChainBreakKind::reordered:
        return "reordered";
    case ChainBreakKind::truncated:
        return "truncated";
    case ChainBreakKind::head_mismatch:
        return "head_mismatch";
    case ChainBreakKind::checkpoint_mismatch:
        return "checkpoint_mismatch";
    case ChainBreakKind::bad_signature:
        return "bad_signature";
    }
    return "unknown";
}

/// Where and how the chain breaks.
struct ChainBreak {
    /// The first sequence where the chain is not what the store appended: the changed,
    /// inserted or misplaced record, the first missing one, or the checkpoint's sequence.
    std::int64_t sequence = 0;
    ChainBreakKind kind = ChainBreakKind::edited; ///< How it breaks.
    std::string message; ///< A sentence for people, naming the sequence(s).
};

/// Progress of a verify() run, reported after every batch.
struct VerifyProgress {
    std::int64_t records_read = 0; ///< Records read so far.
    std::int64_t total = 0;        ///< The store's count() when the run began.
};

/// What verify() checks beyond the chain itself.
struct VerifyOptions {
    /// A head exported earlier (AuditStore::head()): the chain must still hold a record (or
    /// a checkpoint) with this sequence and hash. Detects truncation and rewritten history.
    std::optional<ChainHead> expected_head;
    /// The Ed25519 public key (32 bytes) of the checkpoint signer: every checkpoint must carry
    /// a valid signature by it. Without it signatures are not checked.
    std::optional<std::string> checkpoint_public_key;
    /// Called on the calling thread after every batch (e.g. to print progress on stderr);
    /// an exception it throws ends verify() with that exception.
    std::function<void(const VerifyProgress&)> progress;
    /// Records read per AuditStore::read() call, 1 to 10000.
    std::size_t batch_size = 1000;
    /// At most this many gap records are kept in VerifyReport::gaps (all are counted), so a
    /// store full of them cannot exhaust memory.
    std::size_t max_gaps = 1000;
};

/// The outcome of verify().
struct VerifyReport {
    /// True when the chain is intact: no break, and every option's check passed.
    bool ok = true;
    /// Records whose hash was checked and matched (up to the break).
    std::int64_t records_checked = 0;
    /// The first break, when the chain is not intact.
    std::optional<ChainBreak> first_break;
    /// The audit log's gap records (event type audit_gap_event_type), oldest first, at most
    /// options.max_gaps of them: entries were lost there, although the chain is intact.
    std::vector<AuditRecord> gaps;
    /// How many gap records the store holds (also those beyond max_gaps).
    std::int64_t gap_count = 0;
    /// The last verified link: the newest record (or checkpoint) up to the break.
    ChainHead verified_head;
    /// How many checkpoints there are (all were checked for consistency).
    std::size_t checkpoints = 0;
    /// Whether every checkpoint was found consistent and its signature valid for the public
    /// key given (false without a key).
    bool signatures_checked = false;
    /// Whether options.expected_head was found and matched. False when none was given, when
    /// the chain broke before it, or when it lies in a pruned range at no checkpoint.
    bool head_checked = false;
};

namespace detail {

// Reads a store's records in order, batch by batch, with look-ahead for classifying a break.
class ChainReader {
public:
    ChainReader(AuditStore& store, std::size_t batch_size) : store_(store), batch_(batch_size) {}

    // Makes at least `count` records available unless the chain ends first; returns how many
    // are available.
    std::size_t fill(std::size_t count) {
        while (buffer_.size() < count && !done_) {
            std::vector<AuditRecord> batch = store_.read(after_, batch_);
            done_ = batch.size() < batch_;
            if (batch.empty()) {
                break;
            }
            for (const AuditRecord& record : batch) { // a store bug must not loop forever
                if (record.sequence <= after_) {
                    throw AuditStoreError("audit verify: the store's read(" +
                                          std::to_string(after_) + ", ...) returned record " +
                                          std::to_string(record.sequence) +
                                          " out of order (records must ascend past `after`)");
                }
                after_ = record.sequence;
            }
            read_ += static_cast<std::int64_t>(batch.size());
            for (auto& record : batch) {
                buffer_.push_back(std::move(record));
            }
            batches_ += 1;
        }
        return buffer_.size();
    }

    const AuditRecord& at(std::size_t index) const { return buffer_[index]; }
    void pop() { buffer_.pop_front(); }
    [[nodiscard]] std::int64_t records_read() const noexcept { return read_; }
    [[nodiscard]] std::int64_t batches() const noexcept { return batches_; }

private:
    AuditStore& store_;
    std::size_t batch_;
    std::deque<AuditRecord> buffer_;
    std::int64_t after_ = std::numeric_limits<std::int64_t>::min();
    std::int64_t read_ = 0;
    std::int64_t batches_ = 0;
    bool done_ = false;
};

// How many records after a break are searched for the misplaced or shifted original.
inline constexpr std::size_t verify_look_ahead = 64;

inline std::string sequence_text(std::int64_t sequence) { return std::to_string(sequence); }

// Classifies the break at `reader.at(0)` (sequence `expected`, which does not chain from
// `previous`). `before_previous` is what the previous record chains from, when the previous
// link is a record (not a checkpoint or the start).
inline ChainBreak classify_break(ChainReader& reader, std::int64_t expected, const Sha256& previous,
                                 const std::optional<Sha256>& before_previous,
                                 bool previous_is_unverified_checkpoint) {
    const std::size_t available = reader.fill(verify_look_ahead + 1);
    const AuditRecord& record = reader.at(0);
    if (available > 1) {
        // The next record is the original of this position: either this one was slipped in
        // (the rest renumbered up), or the two were swapped (then this one is the original of
        // the next position).
        const AuditRecord& next = reader.at(1);
        if (chain_hash(next, expected, previous) == next.hash) {
            if (chain_hash(record, expected + 1, next.hash) == record.hash) {
                return {expected, ChainBreakKind::reordered,
                        "records " + sequence_text(expected) + " and " +
                            sequence_text(expected + 1) + " were swapped"};
            }
            return {expected, ChainBreakKind::inserted,
                    "record " + sequence_text(expected) +
                        " was inserted: the record after it is the original " +
                        sequence_text(expected) + ", renumbered"};
        }
    }
    // The original of this position elsewhere in the window: rows (or their contents, the
    // hashes left in place) swapped.
    for (std::size_t i = 1; i < available; ++i) {
        const AuditRecord& other = reader.at(i);
        const Sha256 placed = chain_hash(other, expected, previous);
        if (placed == other.hash || placed == record.hash) {
            return {expected, ChainBreakKind::reordered,
                    "record " + sequence_text(expected) +
                        " is out of place: the record that belongs at " + sequence_text(expected) +
                        " is stored at sequence " + sequence_text(other.sequence)};
        }
    }
    if (available > 1) {
        const AuditRecord& next = reader.at(1);
        // The next record chains from this one at a higher sequence: records before this one
        // were deleted and the rest renumbered down.
        for (std::int64_t shift = 1; shift <= static_cast<std::int64_t>(verify_look_ahead);
             ++shift) {
            if (chain_hash(next, next.sequence + shift, record.hash) == next.hash) {
                return {expected, ChainBreakKind::deleted,
                        sequence_text(shift) + " record(s) before record " +
                            sequence_text(expected) +
                            " were deleted and the records from there on renumbered"};
            }
        }
    }
    // The previous record (which matched) was forged with a valid hash: this one is the
    // original of that position.
    if (before_previous && chain_hash(record, expected - 1, *before_previous) == record.hash) {
        return {expected - 1, ChainBreakKind::inserted,
                "record " + sequence_text(expected - 1) + " was inserted: record " +
                    sequence_text(expected) + " is the original " + sequence_text(expected - 1) +
                    ", renumbered"};
    }
    std::string how = "record " + sequence_text(expected) + " does not match its hash";
    if (available > 1) {
        const AuditRecord& next = reader.at(1);
        if (chain_hash(next, record.hash) == next.hash) {
            how = "record " + sequence_text(expected) +
                  "'s content was changed: it no longer matches its stored hash";
        } else if (chain_hash(next, chain_hash(record, previous)) == next.hash) {
            how = "record " + sequence_text(expected) + "'s stored hash was changed";
        }
    }
    if (previous_is_unverified_checkpoint) {
        return {expected, ChainBreakKind::checkpoint_mismatch,
                "record " + sequence_text(expected) + " does not chain from the checkpoint at " +
                    sequence_text(expected - 1) + ": the record or the checkpoint was changed (" +
                    how + ", or the checkpoint's hash was)"};
    }
    return {expected, ChainBreakKind::edited, how};
}

// Checks the checkpoints' consistency and signatures; returns the first problem.
inline std::optional<ChainBreak> check_checkpoints(const std::vector<Checkpoint>& checkpoints,
                                                   const VerifyOptions& options) {
    std::int64_t previous = 0;
    for (const Checkpoint& checkpoint : checkpoints) {
        if (checkpoint.sequence <= previous) {
            return ChainBreak{checkpoint.sequence, ChainBreakKind::checkpoint_mismatch,
                              "the checkpoint at " + sequence_text(checkpoint.sequence) +
                                  " does not follow the one at " + sequence_text(previous)};
        }
        const std::int64_t between = checkpoint.sequence - previous;
        if (static_cast<std::int64_t>(checkpoint.deleted) != between) {
            return ChainBreak{checkpoint.sequence, ChainBreakKind::checkpoint_mismatch,
                              "the checkpoint at " + sequence_text(checkpoint.sequence) +
                                  " deleted " + std::to_string(checkpoint.deleted) +
                                  " record(s) where " + sequence_text(between) + " lay since " +
                                  (previous == 0 ? std::string("the start")
                                                 : "the checkpoint at " + sequence_text(previous)) +
                                  ": records were missing when the prune ran, or the "
                                  "checkpoint was changed"};
        }
        if (options.checkpoint_public_key &&
            !checkpoint_signature_valid(checkpoint, *options.checkpoint_public_key)) {
            return ChainBreak{checkpoint.sequence, ChainBreakKind::bad_signature,
                              "the checkpoint at " + sequence_text(checkpoint.sequence) +
                                  (checkpoint.signature.empty()
                                       ? std::string(" is not signed")
                                       : std::string(" has a signature that does not verify "
                                                     "with the public key given"))};
        }
        previous = checkpoint.sequence;
    }
    return std::nullopt;
}

} // namespace detail

/// Verifies `store`'s hash chain: the checkpoints (each deleted count consistent, each
/// signature valid when a public key is given), then every record in sequence order from the
/// newest checkpoint (or from sequence 1) to the head, then the exported head if one is given.
/// Reads options.batch_size records at a time, so memory stays bounded on any chain length.
/// Stops checking hashes at the first break (gap records are still collected to the end).
///
/// Thread-safety: as the store's members (any thread); appends running meanwhile are either
/// seen or not, both verify. Exceptions: whatever the store throws (AuditStoreError),
/// std::invalid_argument for a batch_size outside 1 to 10000, a public key that is not 32
/// bytes or an expected head with a negative sequence, and what options.progress throws.
/// @returns the report; `ok` is false exactly when `first_break` is set.
inline VerifyReport verify(AuditStore& store, const VerifyOptions& options = {}) {
    if (options.batch_size == 0 || options.batch_size > 10000) {
        throw std::invalid_argument("audit verify: batch_size " +
                                    std::to_string(options.batch_size) + " is outside 1 to 10000");
    }
    if (options.checkpoint_public_key &&
        options.checkpoint_public_key->size() != checkpoint_public_key_bytes) {
        throw std::invalid_argument("audit verify: the checkpoint public key has " +
                                    std::to_string(options.checkpoint_public_key->size()) +
                                    " bytes, an Ed25519 " + "public key has " +
                                    std::to_string(checkpoint_public_key_bytes));
    }
    if (options.expected_head && options.expected_head->sequence < 0) {
        throw std::invalid_argument("audit verify: the expected head's sequence " +
                                    std::to_string(options.expected_head->sequence) +
                                    " is negative");
    }
    VerifyReport report;
    const std::int64_t total = store.count();
    const std::vector<Checkpoint> checkpoints = store.checkpoints();
    report.checkpoints = checkpoints.size();
    report.first_break = detail::check_checkpoints(checkpoints, options);
    report.signatures_checked = options.checkpoint_public_key.has_value() && !report.first_break;

    ChainHead previous;
    if (!checkpoints.empty()) {
        previous = ChainHead{checkpoints.back().sequence, checkpoints.back().hash};
    }
    std::optional<Sha256> before_previous; // what `previous` chains from, once it is a record
    bool previous_is_checkpoint = !checkpoints.empty();
    const std::optional<ChainHead>& anchor = options.expected_head;
    std::optional<Sha256> anchor_found; // the hash found at the anchor's sequence
    if (anchor) {
        for (const Checkpoint& checkpoint : checkpoints) {
            if (checkpoint.sequence == anchor->sequence) {
                anchor_found = checkpoint.hash;
            }
        }
        if (anchor->sequence == 0) {
            anchor_found = zero_hash;
        }
    }

    detail::ChainReader reader(store, options.batch_size);
    std::int64_t reported_batches = 0;
    while (reader.fill(1) > 0) {
        const AuditRecord& record = reader.at(0);
        if (record.event_type == audit_gap_event_type) {
            report.gap_count += 1;
            if (report.gaps.size() < options.max_gaps) {
                report.gaps.push_back(record);
            }
        }
        if (!report.first_break) {
            const std::int64_t expected = previous.sequence + 1;
            if (record.sequence < expected) {
                report.first_break = ChainBreak{
                    record.sequence, ChainBreakKind::inserted,
                    "record " + detail::sequence_text(record.sequence) + " lies at or before " +
                        (previous_is_checkpoint ? "the newest checkpoint (" : "sequence (") +
                        detail::sequence_text(previous.sequence) +
                        "): the store never appended it there"};
            } else if (record.sequence > expected) {
                report.first_break =
                    ChainBreak{expected, ChainBreakKind::deleted,
                               "records " + detail::sequence_text(expected) +
                                   (record.sequence - 1 > expected
                                        ? " to " + detail::sequence_text(record.sequence - 1)
                                        : std::string()) +
                                   " are missing (the chain goes on at " +
                                   detail::sequence_text(record.sequence) + ")"};
            } else if (chain_hash(record, previous.hash) == record.hash) {
                before_previous = previous.hash;
                previous = ChainHead{record.sequence, record.hash};
                previous_is_checkpoint = false;
                report.records_checked += 1;
                if (anchor && anchor->sequence == record.sequence) {
                    anchor_found = record.hash;
                }
            } else {
                report.first_break =
                    detail::classify_break(reader, expected, previous.hash, before_previous,
                                           previous_is_checkpoint && !report.signatures_checked);
            }
        }
        reader.pop();
        if (options.progress && reader.batches() > reported_batches) {
            reported_batches = reader.batches();
            options.progress(VerifyProgress{reader.records_read(), total});
        }
    }
    report.verified_head = previous;

    if (anchor && !report.first_break) {
        if (anchor->sequence > previous.sequence) {
            report.first_break = ChainBreak{
                previous.sequence + 1, ChainBreakKind::truncated,
                "the chain ends at " + detail::sequence_text(previous.sequence) +
                    " but the exported head is at " + detail::sequence_text(anchor->sequence) +
                    ": records " + detail::sequence_text(previous.sequence + 1) + " to " +
                    detail::sequence_text(anchor->sequence) + " were removed"};
        } else if (anchor_found && *anchor_found != anchor->hash) {
            report.first_break =
                ChainBreak{anchor->sequence, ChainBreakKind::head_mismatch,
                           "record " + detail::sequence_text(anchor->sequence) +
                               " has another hash than the exported head: the history up to it was "
                               "rewritten after the head was exported"};
        } else {
            report.head_checked = anchor_found.has_value();
        }
    }
    report.ok = !report.first_break;
    return report;
}

} // namespace authevents::audit
