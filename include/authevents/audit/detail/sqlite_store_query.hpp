/// @file
/// SqliteAuditStore's queries (audit/sqlite_store.hpp): the SQL of one page of an AuditQuery,
/// with the index each filter walks, and the binding of its parameters. Nothing here is
/// public API.
///
/// Part of authevents::audit (SQLite). Thread-safety: pure functions, apart from the statement
/// being bound, which the caller serialises.
#pragma once

#include <authevents/audit/detail/sqlite_store_schema.hpp>
#include <authevents/audit/store.hpp>
#include <authevents/bus/detail/sqlite.hpp>

#include <cstdint>
#include <string>

namespace authevents::audit::detail {

/// The SQL of one page of `query` (checked already) over `tables`: sqlite_audit_columns of at
/// most limit + 1 records (the extra one says there is a next page), in the query's order.
/// Parameters: ?1 user, ?2 event_type, ?3 ip_index, ?4 from, ?5 until, ?6 cursor, ?7 the row
/// limit; bind them with bind_sqlite_query().
///
/// The sequences of a page come from one index, chosen by the most selective filter present
/// (a user, then an IP, then a type, then a time range); the other filters are checked on its
/// entries. Only then are the page's rows read.
inline std::string sqlite_audit_query_sql(const SqliteAuditTables& tables,
                                          const AuditQuery& query) {
    const std::string order = query.newest_first ? " DESC" : " ASC";
    std::string conditions;
    if (query.event_type) {
        conditions += " AND event_type = ?2";
    }
    if (query.ip_index) {
        conditions += " AND ip_index = ?3";
    }
    if (query.from) {
        conditions += " AND time_us >= ?4";
    }
    if (query.until) {
        conditions += " AND time_us < ?5";
    }
    if (query.cursor) {
        conditions += query.newest_first ? " AND sequence < ?6" : " AND sequence > ?6";
    }
    const std::string tail = " ORDER BY sequence" + order + " LIMIT ?7";
    const auto walk = [&](const char* index, const std::string& filter) {
        return "SELECT sequence FROM (SELECT sequence FROM " + tables.records + " INDEXED BY " +
               tables.index(index) + " WHERE " + filter + conditions + tail + ")";
    };
    std::string sequences;
    if (query.user) {
        // An ordered walk of the actor index and one of the subject index, each a page long.
        sequences =
            walk("_by_actor", "actor = ?1") + " UNION ALL " + walk("_by_subject", "subject = ?1");
    } else if (query.ip_index) {
        sequences = walk("_by_ip", "1");
    } else if (query.event_type) {
        sequences = walk("_by_type", "1");
    } else if (query.from || query.until) {
        sequences = walk("_by_time", "1"); // the range, then the page's top sequences
    }
    const std::string columns = sqlite_audit_columns;
    return "SELECT " + columns + " FROM " + tables.records + " WHERE " +
           (sequences.empty() ? "1" + conditions : "sequence IN (" + sequences + ")") + tail;
}

/// Binds `query`'s filters and limit + 1 to `statement`, prepared from sqlite_audit_query_sql().
/// `query` must outlive the statement's step()s.
inline void bind_sqlite_query(Statement& statement, const AuditQuery& query) {
    if (query.user) {
        statement.bind_text(1, *query.user);
    }
    if (query.event_type) {
        statement.bind_text(2, *query.event_type);
    }
    if (query.ip_index) {
        statement.bind_text(3, *query.ip_index);
    }
    if (query.from) {
        statement.bind_int64(4, query.from->time_since_epoch().count());
    }
    if (query.until) {
        statement.bind_int64(5, query.until->time_since_epoch().count());
    }
    if (query.cursor) {
        statement.bind_int64(6, *query.cursor);
    }
    statement.bind_int64(7, static_cast<std::int64_t>(query.limit) + 1);
}

} // namespace authevents::audit::detail
