/// @file
/// RedisDedupStore: the handled-ids memory of a consumer group kept in Redis itself, shared by
/// every member of the group, wherever it runs.
#pragma once

#include <authevents/bus/dedup.hpp>
#include <authevents/bus/redis.hpp>

#include <chrono>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace authevents::bus {

/// A DedupStore in Redis: remember(id) sets the key `<key_prefix><id>` with a time to live,
/// seen(id) checks that it exists. Members of one consumer group on different machines share
/// it, so a duplicate that reaches another member is still skipped.
///
/// Keep `ttl` longer than any redelivery can take (the relay's longest outage plus the
/// consumers' longest backlog). With Redis's append-only file on, the ids survive Redis
/// restarts like the stream itself. Two members handling two copies of one event at the same
/// moment can both run it (both see it unseen); duplicates are rare and normally arrive long
/// after the first copy, but handlers should stay idempotent.
///
/// Thread-safety: thread-safe (one connection behind a mutex). seen() and remember() throw
/// RedisConnectionError or RedisCommandError when Redis fails; the consumer then leaves the
/// entry pending and retries.
class RedisDedupStore final : public DedupStore {
public:
    /// A store on `endpoint` (connected lazily) using keys `<key_prefix><event id>` that
    /// expire after `ttl`. @throws std::invalid_argument for an empty prefix or a ttl under
    /// one second.
    explicit RedisDedupStore(RedisEndpoint endpoint,
                             std::string key_prefix = "authevents:consumed:",
                             std::chrono::seconds ttl = std::chrono::hours(24 * 7))
        : endpoint_(std::move(endpoint)), key_prefix_(std::move(key_prefix)), ttl_(ttl) {
        if (key_prefix_.empty()) {
            throw std::invalid_argument("RedisDedupStore: key_prefix must not be empty");
        }
        if (ttl_.count() < 1) {
            throw std::invalid_argument("RedisDedupStore: ttl must be at least one second");
        }
    }

    /// True when the id's key exists.
    [[nodiscard]] bool seen(std::string_view event_id) override {
        std::lock_guard<std::mutex> lock(mutex_);
        return connection().command({"EXISTS", key(event_id)}).integer == 1;
    }

    /// Sets the id's key (again) with the time to live.
    void remember(std::string_view event_id) override {
        std::lock_guard<std::mutex> lock(mutex_);
        connection().command({"SET", key(event_id), "1", "EX", std::to_string(ttl_.count())});
    }

    /// The key an id is stored under.
    [[nodiscard]] std::string key(std::string_view event_id) const {
        std::string result = key_prefix_;
        result.append(event_id);
        return result;
    }

private:
    RedisConnection& connection() {
        if (!connection_) {
            connection_.emplace(endpoint_);
        }
        return *connection_;
    }

    RedisEndpoint endpoint_;
    std::string key_prefix_;
    std::chrono::seconds ttl_;
    std::mutex mutex_;
    std::optional<RedisConnection> connection_;
};

} // namespace authevents::bus
