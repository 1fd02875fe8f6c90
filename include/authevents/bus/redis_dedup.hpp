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

/// A DedupStore in Redis, shared by every member of a consumer group wherever it runs. Per
/// DedupKey one Redis key `<key_prefix><DedupKey::text()>`: `running:<owner>` with the lease as
/// its time to live while a member holds the event, then `done` with time to live `ttl`.
/// claim() is `SET ... NX PX`, so two members never both hold one event; extend() and
/// release() act only on the caller's own claim (a compare-and-set script).
///
/// Keep `ttl` longer than any redelivery can take (the relay's longest outage plus the
/// consumers' longest backlog). With Redis's append-only file on, the keys survive Redis
/// restarts like the stream itself.
///
/// Thread-safety: thread-safe (one connection behind a mutex). Every call throws
/// RedisConnectionError or RedisCommandError when Redis fails; the consumer then leaves the
/// entry pending and retries.
class RedisDedupStore final : public DedupStore {
public:
    /// A store on `endpoint` (connected lazily) using keys `<key_prefix><key text>` that
    /// expire `ttl` after the event is done. @throws std::invalid_argument for an empty prefix
    /// or a ttl under one second.
    explicit RedisDedupStore(RedisEndpoint endpoint, std::string key_prefix = "authevents:inbox:",
                             std::chrono::seconds ttl = std::chrono::hours(24 * 7))
        : endpoint_(std::move(endpoint)), key_prefix_(std::move(key_prefix)), ttl_(ttl) {
        if (key_prefix_.empty()) {
            throw std::invalid_argument("RedisDedupStore: key_prefix must not be empty");
        }
        if (ttl_.count() < 1) {
            throw std::invalid_argument("RedisDedupStore: ttl must be at least one second");
        }
    }

    /// See DedupStore::claim(): `SET NX PX`, then `GET` to tell done from in progress.
    [[nodiscard]] ClaimState claim(const DedupKey& key, std::string_view owner,
                                   std::chrono::milliseconds lease) override {
        const std::string name = redis_key(key);
        const std::string value = "running:" + std::string(owner);
        const std::lock_guard<std::mutex> lock(mutex_);
        for (int attempt = 0; attempt < 2; ++attempt) {
            if (!connection()
                     .command({"SET", name, value, "NX", "PX", std::to_string(lease.count())})
                     .is_nil()) {
                return ClaimState::claimed;
            }
            const RedisReply current = connection().command({"GET", name});
            if (current.text == "done") {
                return ClaimState::done;
            }
            if (current.text == value) { // our own claim from before a restart
                connection().command({"PEXPIRE", name, std::to_string(lease.count())});
                return ClaimState::claimed;
            }
            if (!current.is_nil()) {
                return ClaimState::in_progress;
            }
            // Expired or released between the two commands: try once more.
        }
        return ClaimState::in_progress;
    }

    /// See DedupStore::extend().
    void extend(const DedupKey& key, std::string_view owner,
                std::chrono::milliseconds lease) override {
        const std::lock_guard<std::mutex> lock(mutex_);
        connection().command({"EVAL",
                              "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                              "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0",
                              "1", redis_key(key), "running:" + std::string(owner),
                              std::to_string(lease.count())});
    }

    /// See DedupStore::complete(): sets the key to `done` with the ttl.
    void complete(const DedupKey& key) override {
        const std::lock_guard<std::mutex> lock(mutex_);
        connection().command({"SET", redis_key(key), "done", "EX", std::to_string(ttl_.count())});
    }

    /// See DedupStore::release().
    void release(const DedupKey& key, std::string_view owner) override {
        const std::lock_guard<std::mutex> lock(mutex_);
        connection().command({"EVAL",
                              "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                              "return redis.call('DEL', KEYS[1]) end return 0",
                              "1", redis_key(key), "running:" + std::string(owner)});
    }

    /// See DedupStore::done().
    [[nodiscard]] bool done(const DedupKey& key) override {
        const std::lock_guard<std::mutex> lock(mutex_);
        return connection().command({"GET", redis_key(key)}).text == "done";
    }

    /// The Redis key `key` is stored under.
    [[nodiscard]] std::string redis_key(const DedupKey& key) const {
        return key_prefix_ + key.text();
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
