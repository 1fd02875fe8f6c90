/// @file
/// InboxOptions: what the options of every transactional inbox (SqliteInboxOptions,
/// PostgresInboxOptions) have in common, and the checks every inbox runs on them. Standard
/// headers only.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace authevents::bus {

/// The options every transactional inbox has; SqliteInboxOptions and PostgresInboxOptions
/// derive from it and add how long a claim waits for another member's lock. A plain value.
struct InboxOptions {
    /// The inbox table, in the database your handlers write to; must match
    /// [A-Za-z_][A-Za-z0-9_]* (each database adds its own limits, see the derived options).
    std::string table = "authevents_inbox_handled";
};

} // namespace authevents::bus

namespace authevents::detail {

/// Checks the options common to every inbox: `options.table` with `validate_identifier` (the
/// database's rule, called as `validate_identifier(table, "inbox")`) and `wait`, the option
/// named `wait_name`, not negative.
/// @throws std::invalid_argument naming the table or the option.
template <class ValidateIdentifier>
void validate_inbox_options(const bus::InboxOptions& options, std::chrono::milliseconds wait,
                            std::string_view wait_name, ValidateIdentifier&& validate_identifier) {
    std::forward<ValidateIdentifier>(validate_identifier)(options.table, "inbox");
    if (wait.count() < 0) {
        throw std::invalid_argument("inbox: " + std::string(wait_name) + " is negative");
    }
}

} // namespace authevents::detail
