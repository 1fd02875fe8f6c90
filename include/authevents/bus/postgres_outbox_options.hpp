/// @file
/// PostgresOutboxOptions and OutboxRetention: how a PostgresOutbox (postgres_outbox.hpp) is
/// stored and signalled, and what it does with published records; with their validation.
#pragma once

#include <authevents/bus/detail/postgres.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

namespace authevents::bus {

/// What a PostgresOutbox does with a record once it is published.
enum class OutboxRetention : unsigned char {
    /// Delete it in the transaction that marks it published (the default): the table holds
    /// only what is still to be published.
    delete_published,
    /// Move it to the table `<table>_archive` in that transaction, with the time it was
    /// published; archived records older than PostgresOutboxOptions::keep_for are deleted.
    archive,
    /// Keep it in the table, marked with the time it was published; deleted once older than
    /// PostgresOutboxOptions::keep_for.
    keep,
};

/// How a PostgresOutbox is stored and signalled. A plain value.
struct PostgresOutboxOptions {
    /// The table's name, [A-Za-z_][A-Za-z0-9_]* with at most 50 bytes (room for the derived
    /// names `<table>_archive`, `<table>_pending`), in the connection's search_path schema;
    /// otherwise std::invalid_argument.
    std::string table = "authevents_outbox";
    /// The LISTEN/NOTIFY channel each append notifies at commit, waking relays at once;
    /// empty: the table's name. Same rules as `table`.
    std::string channel;
    /// What happens to published records (see OutboxRetention); the table and its archive
    /// stay bounded whatever is chosen.
    OutboxRetention retention = OutboxRetention::delete_published;
    /// With archive or keep: how long published records are kept before the relay's
    /// pruning (or prune_published()) deletes them. Must be positive.
    std::chrono::milliseconds keep_for = std::chrono::hours(24 * 7);
    /// How often the relay's mark_published() also prunes (archive and keep).
    std::chrono::milliseconds prune_interval = std::chrono::minutes(1);
};

} // namespace authevents::bus

namespace authevents::detail {

/// @throws std::invalid_argument naming the option that is not valid.
inline void validate_outbox_options(const bus::PostgresOutboxOptions& options) {
    pg_validate_identifier(options.table, "postgres outbox: table");
    if (options.table.size() > 50) {
        throw std::invalid_argument("postgres outbox: table name '" + options.table +
                                    "' is longer than 50 bytes (no room for its derived names)");
    }
    if (!options.channel.empty()) {
        pg_validate_identifier(options.channel, "postgres outbox: channel");
    }
    if (options.keep_for.count() <= 0) {
        throw std::invalid_argument("postgres outbox: keep_for must be positive");
    }
    if (options.prune_interval.count() <= 0) {
        throw std::invalid_argument("postgres outbox: prune_interval must be positive");
    }
}

inline std::string outbox_channel(const bus::PostgresOutboxOptions& options) {
    return options.channel.empty() ? options.table : options.channel;
}

} // namespace authevents::detail
