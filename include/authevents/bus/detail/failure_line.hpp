/// @file
/// failure_line(): a relay's or consumer's log line that quotes an exception, as the log may
/// show it. Used by relay.hpp and consumer.hpp.
#pragma once

#include <authevents/bus/redis_endpoint.hpp>
#include <authevents/redaction.hpp>
#include <authevents/redaction_policy.hpp>

#include <cstddef>
#include <exception>
#include <string>
#include <string_view>

namespace authevents::detail {

/// `line`, a log line that quotes `error.what()`, as the log may show it: escaped and capped at
/// `max_bytes`, once.
///
/// When `error` is a `bus::RedisConnectionError` the line is not redacted: the error's text
/// is the Redis client's own (the command, the configured endpoint, the socket's or TLS's
/// reason) and holds no event data, and an operator needs the real address (`10.0.4.7:6379`,
/// not `10.0.4.0/24:6379`). Any other error may quote data (a database's duplicate key, a
/// handler's message): the line is redacted by `policy`. Thread-safe.
/// @throws std::bad_alloc only.
inline std::string failure_line(std::string_view line, const std::exception& error,
                                const RedactionPolicy& policy, std::size_t max_bytes) {
    if (dynamic_cast<const bus::RedisConnectionError*>(&error) != nullptr) {
        return escape_untrusted(line, max_bytes);
    }
    return redact_text(line, policy, max_bytes);
}

} // namespace authevents::detail
