// The stores the audit log's tests run against: make_test_store() (a SqliteAuditStore in a
// temporary directory), FailingStore (wraps a store and fails on demand, as a store that is
// down or out of disk does), TestStoreFiles (a store whose raw file bytes a test can search)
// and check_chain_verifies().
#pragma once

#include "bus/sqlite_test_helpers.hpp"
#include "catch_compat.hpp"

#include <authevents/audit/sqlite_store.hpp>
#include <authevents/audit/store.hpp>
#include <authevents/audit/verify.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace authevents::audit::testing {

/// Forwards every member to another store.
class ForwardingStore : public AuditStore {
public:
    explicit ForwardingStore(AuditStore& inner) : inner_(inner) {}

    AppendResult append(const std::vector<AuditEntry>& entries) override {
        before_write();
        return inner_.append(entries);
    }
    std::vector<AuditRecord> read(std::int64_t after, std::size_t limit) override {
        before_write();
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
        before_write();
        return inner_.find_key(scope);
    }
    std::string insert_key(const std::string& scope, const std::string& key) override {
        before_write();
        return inner_.insert_key(scope, key);
    }
    bool erase_key(const std::string& scope) override { return inner_.erase_key(scope); }

protected:
    /// Called before each call the audit log's writer makes.
    virtual void before_write() {}

private:
    AuditStore& inner_;
};

/// While failing is set, append(), read() and the key lookups throw AuditStoreError
/// ("database or disk is full"), as a full disk or a database that is down does.
class FailingStore : public ForwardingStore {
public:
    using ForwardingStore::ForwardingStore;

    void set_failing(bool failing) { failing_.store(failing); }
    [[nodiscard]] std::uint64_t failures() const { return failures_.load(); }

protected:
    void before_write() override {
        if (failing_.load()) {
            failures_.fetch_add(1);
            throw AuditStoreError("test store: database or disk is full");
        }
    }

private:
    std::atomic<bool> failing_{false};
    std::atomic<std::uint64_t> failures_{0};
};

namespace detail {
struct TempSqlite {
    bus_test::TempDir dir;
    SqliteAuditStore store{dir.file("audit.db")};
};
} // namespace detail

/// A SqliteAuditStore in a temporary directory removed with it.
class TempSqliteStore : private detail::TempSqlite, public ForwardingStore {
public:
    TempSqliteStore() : detail::TempSqlite(), ForwardingStore(detail::TempSqlite::store) {}
};

/// A fresh, empty store (SQLite, in a temporary directory).
inline std::unique_ptr<AuditStore> make_test_store() { return std::make_unique<TempSqliteStore>(); }

/// A SQLite store in a temporary directory whose files' raw bytes a test can search.
class TestStoreFiles {
public:
    /// A store over the directory's database (close it before raw_bytes()).
    std::unique_ptr<AuditStore> open() const {
        return std::make_unique<SqliteAuditStore>(dir_.file("audit.db"));
    }
    /// Every byte of every file in the directory (the database, its WAL and shared memory).
    std::string raw_bytes() const {
        std::string bytes;
        for (const auto& file : std::filesystem::directory_iterator(
                 std::filesystem::path(dir_.file("audit.db")).parent_path())) {
            bytes += bus_test::file_bytes(file.path().string());
        }
        return bytes;
    }

private:
    bus_test::TempDir dir_;
};

/// Checks that `store`'s chain verifies.
inline void check_chain_verifies(AuditStore& store) {
    const VerifyReport report = verify(store);
    CHECK(report.ok);
    CHECK_FALSE(report.first_break.has_value());
    CHECK(report.records_checked == store.count());
}

} // namespace authevents::audit::testing
