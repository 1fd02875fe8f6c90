/// @file
/// OutboxOptions and OutboxLease: how a SqliteOutbox (outbox.hpp) is stored, and who holds
/// its relay lease. Plain values; standard headers only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace authevents::bus {

/// How an outbox is stored. A plain value.
struct OutboxOptions {
    /// The table's name, validated as [A-Za-z_][A-Za-z0-9_]* (not starting with sqlite_);
    /// otherwise std::invalid_argument.
    std::string table = "authevents_outbox";
    /// How long a statement waits for another connection's lock before failing with
    /// SQLITE_BUSY. Negative: std::invalid_argument.
    std::chrono::milliseconds busy_timeout{5000};
    /// PRAGMA synchronous=FULL (else NORMAL): an appended event survives power loss, not only a
    /// crash of the process.
    bool synchronous_full = true;
};

/// Who holds an outbox's relay lease (see SqliteOutbox::acquire_lease()). A plain value.
struct OutboxLease {
    std::string owner;              ///< The holder's id (RelayOptions::relay_id).
    std::int64_t expires_at_ms = 0; ///< When it lapses unless renewed, ms since the Unix epoch.
};

} // namespace authevents::bus
