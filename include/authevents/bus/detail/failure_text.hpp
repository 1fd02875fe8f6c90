/// @file
/// failure_text(): what a relay's or consumer's log line may show of an exception. Used by
/// relay.hpp, consumer.hpp and claim_keeper.hpp.
#pragma once

#include <authevents/bus/redis_endpoint.hpp>
#include <authevents/redaction.hpp>
#include <authevents/redaction_policy.hpp>

#include <cstddef>
#include <exception>
#include <string>

namespace authevents::detail {

/// `error.what()` as a log line may show it, escaped and capped at `max_bytes`.
///
/// A `bus::RedisConnectionError` is written as it is: its text is the Redis client's own (the
/// command, the configured endpoint, the socket's or TLS's reason) and holds no event data, and
/// an operator needs the real address (`10.0.4.7:6379`, not `10.0.4.0/24:6379`). Any other
/// error may quote data (a database's duplicate key, a handler's message): it is redacted by
/// `policy` first. Thread-safe.
/// @throws std::bad_alloc only.
inline std::string failure_text(const std::exception& error, const RedactionPolicy& policy,
                                std::size_t max_bytes) {
    if (dynamic_cast<const bus::RedisConnectionError*>(&error) != nullptr) {
        return escape_untrusted(error.what(), max_bytes);
    }
    return redact_text(error.what(), policy, max_bytes);
}

} // namespace authevents::detail
