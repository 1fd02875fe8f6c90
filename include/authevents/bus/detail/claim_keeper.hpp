/// @file
/// ClaimKeeper: keeps the entries a StreamConsumer has in hand claimed while its handlers run
/// (a helper thread touching them on its own connection). Used by consumer.hpp.
#pragma once

#include <authevents/bus/consumer_options.hpp>
#include <authevents/bus/dedup.hpp>
#include <authevents/bus/redis.hpp>
#include <authevents/bus/redis_endpoint.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace authevents::detail {

using bus::ConsumerOptions;
using bus::DedupKey;
using bus::DedupStore;
using bus::RedisConnection;
using bus::RedisEndpoint;

/// Keeps a consumer's entries in hand claimed while its handlers run: every `interval` a
/// helper thread, on its own connection, touches them (`XCLAIM <ids> JUSTID`, which resets
/// their idle time without counting a delivery) and extends the inbox claim of the event
/// running. Quiet while nothing is held for an interval. Thread-safe; started on first use,
/// stopped by the destructor.
class ClaimKeeper {
public:
    /// Told of each failed refresh, on the keeper's thread.
    using Report = std::function<void(const std::exception&)>;

    ClaimKeeper(RedisEndpoint endpoint, const ConsumerOptions& options, DedupStore& dedup,
                std::chrono::milliseconds interval, Report report)
        : endpoint_(std::move(endpoint)), options_(options), dedup_(dedup), interval_(interval),
          report_(std::move(report)) {}

    ClaimKeeper(const ClaimKeeper&) = delete;
    ClaimKeeper& operator=(const ClaimKeeper&) = delete;

    ~ClaimKeeper() {
        {
            const std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (thread_.joinable()) {
            thread_.join();
        }
    }

    /// The entries now in hand (replacing the previous ones); clears the running event.
    void hold(std::vector<std::string> ids) {
        const std::lock_guard<std::mutex> lock(mutex_);
        ids_ = std::move(ids);
        key_.reset();
        touched_ = std::chrono::steady_clock::now();
        if (!thread_.joinable() && !ids_.empty()) {
            thread_ = std::thread([this] { run(); });
        }
    }

    /// The event whose handlers run now (its inbox claim is extended too), or none.
    void running(std::optional<DedupKey> key) {
        const std::lock_guard<std::mutex> lock(mutex_);
        key_ = std::move(key);
    }

    /// `id` is no longer in hand.
    void drop(const std::string& id) {
        const std::lock_guard<std::mutex> lock(mutex_);
        ids_.erase(std::remove(ids_.begin(), ids_.end(), id), ids_.end());
    }

    /// How many times the entries in hand were touched. Thread-safe.
    [[nodiscard]] std::uint64_t refreshes() const noexcept {
        return refreshes_.load(std::memory_order_relaxed);
    }

private:
    void run() noexcept {
        std::unique_lock<std::mutex> lock(mutex_);
        while (!stopping_) {
            wake_.wait_for(lock, interval_ / 4, [this] { return stopping_; });
            if (stopping_ || ids_.empty() ||
                std::chrono::steady_clock::now() - touched_ < interval_) {
                continue;
            }
            std::vector<std::string> command = {"XCLAIM", options_.stream, options_.group,
                                                options_.consumer, "0"};
            command.insert(command.end(), ids_.begin(), ids_.end());
            command.emplace_back("JUSTID");
            const std::optional<DedupKey> key = key_;
            touched_ = std::chrono::steady_clock::now();
            lock.unlock();
            try {
                if (!connection_) {
                    connection_.emplace(endpoint_);
                }
                connection_->command(command);
                if (key) {
                    dedup_.extend(*key, options_.consumer, options_.claim_min_idle);
                }
                refreshes_.fetch_add(1, std::memory_order_relaxed);
            } catch (const std::exception& e) {
                report_(e);
            }
            lock.lock();
        }
    }

    RedisEndpoint endpoint_;
    const ConsumerOptions& options_;
    DedupStore& dedup_;
    std::chrono::milliseconds interval_;
    Report report_;
    std::optional<RedisConnection> connection_; // the helper thread's only

    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::vector<std::string> ids_;
    std::optional<DedupKey> key_;
    std::chrono::steady_clock::time_point touched_{};
    std::atomic<std::uint64_t> refreshes_{0};
    std::thread thread_;
};

} // namespace authevents::detail
