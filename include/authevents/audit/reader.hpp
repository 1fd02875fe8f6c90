/// @file
/// AuditReader: queries the audit trail by user, e-mail address, event type, time range and
/// plaintext IP address (through its blind index), page by page, and returns records with
/// their sealed values opened, or marked as erased; erase_user() crypto-shreds a user.
///
/// Part of authevents::audit (CMake target authevents::audit); uses nlohmann-json, libsodium.
#pragma once

#include <authevents/audit/record.hpp>
#include <authevents/audit/sealing.hpp>
#include <authevents/audit/store.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace authevents::audit {

/// What an erased (or otherwise unreadable) personal value reads as.
inline constexpr std::string_view erased_value = "[erased]";

/// Which records AuditReader::query() returns: AuditQuery with plaintext filters.
struct ReaderQuery {
    std::optional<std::int64_t> user_id; ///< Records whose actor or subject is "user:<id>".
    /// Records whose actor or subject is this e-mail address's scope (failed logins for it).
    /// Not together with user_id.
    std::optional<std::string> email;
    std::optional<std::string> event_type; ///< Records of this event type.
    std::optional<std::string> ip;         ///< Records whose source IP is this (plaintext).
    std::optional<AuditTime> from;         ///< Records at or after this time.
    std::optional<AuditTime> until;        ///< Records strictly before this time.
    bool newest_first = true;              ///< Order by sequence, descending when true.
    std::optional<std::int64_t> cursor;    ///< A previous page's next_cursor.
    std::size_t limit = 100;               ///< Page size, 1 to 10000.
};

/// A record with its personal values opened.
struct OpenedRecord {
    AuditRecord record;                   ///< As stored (sealed values, hash).
    nlohmann::json data;                  ///< The fields; sealed values opened or "[erased]".
    std::optional<std::string> source_ip; ///< Opened, "[erased]", or nullopt when none.
    bool erased = false; ///< True when a sealed value could not be opened (its key is erased).
};

/// One page of AuditReader::query().
struct OpenedPage {
    std::vector<OpenedRecord> records;       ///< In the query's order.
    std::optional<std::int64_t> next_cursor; ///< Set when more records may follow.
};

/// What erase_user() erased.
struct ErasureReport {
    bool user_key = false;      ///< Whether the user's key existed (and is now erased).
    std::size_t email_keys = 0; ///< How many of the given addresses' keys existed.
};

/// Reads and erases the audit trail's personal data.
///
/// Thread-safety: every member may be called from any number of threads at once (the store
/// and KeyRing are thread-safe). Exceptions: AuditStoreError from the store;
/// std::invalid_argument for an invalid query; std::runtime_error for an unreadable stored key.
class AuditReader {
public:
    /// A reader over `keys`' store (share the KeyRing of the AuditLog).
    /// @throws std::invalid_argument for null `keys`.
    explicit AuditReader(std::shared_ptr<KeyRing> keys) : keys_(std::move(keys)) {
        if (!keys_) {
            throw std::invalid_argument("authevents::audit::AuditReader: the KeyRing is null");
        }
    }

    /// A reader over `store` with its own KeyRing (keys wrapped with `master_key` if given).
    /// @throws as KeyRing's constructor.
    explicit AuditReader(AuditStore& store, std::optional<std::string> master_key = std::nullopt)
        : AuditReader(std::make_shared<KeyRing>(store, std::move(master_key))) {}

    /// The records matching `query`, one page, opened.
    /// @throws std::invalid_argument for user_id together with email, or a limit outside
    /// 1..10000; AuditStoreError; std::runtime_error for an unreadable stored key.
    OpenedPage query(const ReaderQuery& query) {
        if (query.user_id && query.email) {
            throw std::invalid_argument(
                "authevents::audit::AuditReader::query: give user_id or email, not both");
        }
        if (query.limit == 0 || query.limit > 10000) {
            throw std::invalid_argument("authevents::audit::AuditReader::query: limit must be 1 "
                                        "to 10000, got " +
                                        std::to_string(query.limit));
        }
        AuditQuery raw;
        if (query.user_id) {
            raw.user = "user:" + std::to_string(*query.user_id);
        } else if (query.email) {
            raw.user = keys_->email_scope(*query.email);
        }
        raw.event_type = query.event_type;
        if (query.ip) {
            raw.ip_index = keys_->ip_index(*query.ip);
        }
        raw.from = query.from;
        raw.until = query.until;
        raw.newest_first = query.newest_first;
        raw.cursor = query.cursor;
        raw.limit = query.limit;
        AuditPage page = keys_->store().query(raw);
        OpenedPage result;
        result.next_cursor = page.next_cursor;
        result.records.reserve(page.records.size());
        std::map<std::string, std::optional<std::string>> cache;
        for (AuditRecord& record : page.records) {
            result.records.push_back(open(std::move(record), cache));
        }
        for (auto& entry : cache) {
            if (entry.second) {
                detail::wipe(*entry.second);
            }
        }
        return result;
    }

    /// `record` with its sealed values opened.
    /// @throws AuditStoreError; std::runtime_error for an unreadable stored key.
    OpenedRecord open(AuditRecord record) {
        std::map<std::string, std::optional<std::string>> cache;
        OpenedRecord opened = open(std::move(record), cache);
        for (auto& entry : cache) {
            if (entry.second) {
                detail::wipe(*entry.second);
            }
        }
        return opened;
    }

    /// Erases user `user_id`'s personal data from the audit trail (crypto-shredding): the key
    /// of "user:<id>" and those of the scopes of `known_emails` (the addresses the user ever
    /// had, whose failed logins are sealed with the address's own key). Their records stay and
    /// still verify; their sealed values read as "[erased]" and their IP blind indexes are
    /// cleared. Idempotent. Events recorded for the user later get a new key.
    /// @throws AuditStoreError (an erasure may then be partial: call it again).
    ErasureReport erase_user(std::int64_t user_id, const std::vector<std::string>& known_emails) {
        ErasureReport report;
        report.user_key = keys_->erase("user:" + std::to_string(user_id));
        for (const std::string& email : known_emails) {
            if (keys_->erase(keys_->email_scope(email))) {
                ++report.email_keys;
            }
        }
        return report;
    }

    /// The key ring.
    [[nodiscard]] const std::shared_ptr<KeyRing>& keys() const noexcept { return keys_; }

private:
    using KeyCache = std::map<std::string, std::optional<std::string>>;

    const std::optional<std::string>& key_of(const std::string& scope, KeyCache& cache) {
        auto found = cache.find(scope);
        if (found == cache.end()) {
            found = cache.emplace(scope, keys_->find(scope)).first;
        }
        return found->second;
    }

    /// The opened form of `value`; flags `erased` when it cannot be opened.
    static void open_value(nlohmann::json& value, const std::optional<std::string>& key,
                           bool& erased) {
        if (value.is_string()) {
            const auto& text = value.get_ref<const std::string&>();
            if (is_sealed(text)) {
                auto plain = key ? open_sealed(text, *key) : std::nullopt;
                if (plain) {
                    value = std::move(*plain);
                } else {
                    value = std::string(erased_value);
                    erased = true;
                }
            }
        } else if (value.is_structured()) {
            for (auto& element : value) {
                open_value(element, key, erased);
            }
        }
    }

    OpenedRecord open(AuditRecord record, KeyCache& cache) {
        OpenedRecord opened;
        static const std::optional<std::string> no_key;
        const std::optional<std::string>& key =
            record.key_scope.empty() ? no_key : key_of(record.key_scope, cache);
        try {
            opened.data = nlohmann::json::parse(record.data);
        } catch (const nlohmann::json::exception&) {
            opened.data = nullptr; // not JSON: verify() reports it; nothing to open
        }
        open_value(opened.data, key, opened.erased);
        if (record.source_ip) {
            nlohmann::json ip = *record.source_ip;
            open_value(ip, key, opened.erased);
            opened.source_ip = ip.get<std::string>();
        }
        opened.record = std::move(record);
        return opened;
    }

    std::shared_ptr<KeyRing> keys_;
};

} // namespace authevents::audit
