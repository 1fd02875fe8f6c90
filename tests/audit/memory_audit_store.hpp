// Test doubles of AuditStore for the audit log's tests: MemoryAuditStore (in memory, with
// dedup by cloud_event_id, keys and the four query filters) and FailingStore (wraps any store
// and fails on demand, as a store that is down or full does).
#pragma once

#include <authevents/audit/store.hpp>

#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace authevents::audit::testing {

/// An in-memory AuditStore: enough of the contract for the audit log's tests. Its hash is a
/// SHA-256 over a simple serialisation and the previous hash (not the canonical form).
class MemoryAuditStore : public AuditStore {
public:
    AppendResult append(const std::vector<AuditEntry>& entries) override {
        std::lock_guard<std::mutex> lock(mutex_);
        AppendResult result;
        std::set<std::string> batch_ids;
        std::vector<AuditRecord> added;
        for (const AuditEntry& entry : entries) {
            if (entry.cloud_event_id && (ids_.count(*entry.cloud_event_id) != 0 ||
                                         !batch_ids.insert(*entry.cloud_event_id).second)) {
                ++result.duplicates;
                continue;
            }
            AuditRecord record;
            static_cast<AuditEntry&>(record) = entry;
            record.sequence = next_ + static_cast<std::int64_t>(added.size());
            const Sha256 previous = added.empty()
                                        ? (records_.empty() ? Sha256{} : records_.back().hash)
                                        : added.back().hash;
            const std::string content = std::to_string(record.sequence) + '\0' + entry.event_type +
                                        '\0' + entry.actor + '\0' + entry.subject + '\0' +
                                        entry.data + '\0' +
                                        std::string(previous.begin(), previous.end());
            crypto_hash_sha256(record.hash.data(),
                               reinterpret_cast<const unsigned char*>(content.data()),
                               content.size());
            added.push_back(std::move(record));
        }
        for (AuditRecord& record : added) {
            if (record.cloud_event_id) {
                ids_.insert(*record.cloud_event_id);
            }
            records_.push_back(std::move(record));
        }
        next_ += static_cast<std::int64_t>(added.size());
        result.appended = added.size();
        result.last_sequence = next_ - 1;
        return result;
    }

    std::vector<AuditRecord> read(std::int64_t after, std::size_t limit) override {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<AuditRecord> result;
        for (const AuditRecord& record : records_) {
            if (record.sequence > after && result.size() < limit) {
                result.push_back(record);
            }
        }
        return result;
    }

    AuditPage query(const AuditQuery& query) override {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<const AuditRecord*> matching;
        for (const AuditRecord& record : records_) {
            if ((query.user && record.actor != *query.user && record.subject != *query.user) ||
                (query.event_type && record.event_type != *query.event_type) ||
                (query.ip_index && record.ip_index != query.ip_index) ||
                (query.from && record.time < *query.from) ||
                (query.until && record.time >= *query.until) ||
                (query.cursor && (query.newest_first ? record.sequence >= *query.cursor
                                                     : record.sequence <= *query.cursor))) {
                continue;
            }
            matching.push_back(&record);
        }
        if (query.newest_first) {
            std::reverse(matching.begin(), matching.end());
        }
        AuditPage page;
        for (const AuditRecord* record : matching) {
            if (page.records.size() == query.limit) {
                page.next_cursor = page.records.back().sequence;
                break;
            }
            page.records.push_back(*record);
        }
        return page;
    }

    ChainHead head() override {
        std::lock_guard<std::mutex> lock(mutex_);
        ChainHead head;
        if (!records_.empty()) {
            head.sequence = records_.back().sequence;
            head.hash = records_.back().hash;
        }
        return head;
    }

    std::int64_t count() override {
        std::lock_guard<std::mutex> lock(mutex_);
        return static_cast<std::int64_t>(records_.size());
    }

    std::vector<Checkpoint> checkpoints() override { return {}; }

    std::optional<Checkpoint> prune(AuditTime, const std::optional<std::string>&) override {
        throw std::logic_error("MemoryAuditStore: prune is not part of this double");
    }

    std::optional<std::string> find_key(const std::string& scope) override {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = keys_.find(scope);
        return found == keys_.end() ? std::nullopt : std::optional<std::string>(found->second);
    }

    std::string insert_key(const std::string& scope, const std::string& key) override {
        std::lock_guard<std::mutex> lock(mutex_);
        return keys_.emplace(scope, key).first->second;
    }

    bool erase_key(const std::string& scope) override {
        std::lock_guard<std::mutex> lock(mutex_);
        for (AuditRecord& record : records_) {
            if (record.key_scope == scope) {
                record.ip_index.reset();
            }
        }
        return keys_.erase(scope) != 0;
    }

    /// Every stored column of every record and key, concatenated: what a file would hold.
    std::string dump() {
        std::lock_guard<std::mutex> lock(mutex_);
        std::string bytes;
        for (const AuditRecord& r : records_) {
            bytes += r.event_type + '|' + r.owasp + '|' + r.actor + '|' + r.subject + '|' +
                     r.source_ip.value_or("") + '|' + r.ip_index.value_or("") + '|' + r.data +
                     '|' + r.cloud_event_id.value_or("") + '|' + r.key_scope + '\n';
        }
        for (const auto& key : keys_) {
            bytes += key.first + '=' + key.second + '\n';
        }
        return bytes;
    }

private:
    std::mutex mutex_;
    std::vector<AuditRecord> records_;
    std::set<std::string> ids_;
    std::map<std::string, std::string> keys_;
    std::int64_t next_ = 1;
};

/// Wraps a store; while failing() is set, append() and the key calls throw AuditStoreError
/// ("database is full"), as a store that is down or out of disk does. Counts the failures.
class FailingStore : public AuditStore {
public:
    explicit FailingStore(AuditStore& inner) : inner_(inner) {}

    void set_failing(bool failing) { failing_.store(failing); }
    [[nodiscard]] std::uint64_t failures() const { return failures_.load(); }

    AppendResult append(const std::vector<AuditEntry>& entries) override {
        check();
        return inner_.append(entries);
    }
    std::vector<AuditRecord> read(std::int64_t after, std::size_t limit) override {
        check();
        return inner_.read(after, limit);
    }
    AuditPage query(const AuditQuery& query) override { return inner_.query(query); }
    ChainHead head() override { return inner_.head(); }
    std::int64_t count() override { return inner_.count(); }
    std::vector<Checkpoint> checkpoints() override { return inner_.checkpoints(); }
    std::optional<Checkpoint> prune(AuditTime cut, const std::optional<std::string>& key) override {
        return inner_.prune(cut, key);
    }
    std::optional<std::string> find_key(const std::string& scope) override {
        check();
        return inner_.find_key(scope);
    }
    std::string insert_key(const std::string& scope, const std::string& key) override {
        check();
        return inner_.insert_key(scope, key);
    }
    bool erase_key(const std::string& scope) override { return inner_.erase_key(scope); }

private:
    void check() {
        if (failing_.load()) {
            failures_.fetch_add(1);
            throw AuditStoreError("test store: database or disk is full");
        }
    }

    AuditStore& inner_;
    std::atomic<bool> failing_{false};
    std::atomic<std::uint64_t> failures_{0};
};

} // namespace authevents::audit::testing
