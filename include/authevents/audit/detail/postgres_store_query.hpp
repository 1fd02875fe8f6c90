/// @file
/// PostgresAuditStore's queries (audit/postgres_store.hpp): the SQL of one page of an
/// AuditQuery, and for a time range alone the choice between the time index and a walk of
/// the sequence. Nothing here is public API.
///
/// Part of authevents::audit_postgres (libpq). Thread-safety: pure functions, apart from the
/// connection pg_time_index_is_cheaper() asks, which the caller serialises.
#pragma once

#include <authevents/audit/detail/postgres_store_schema.hpp>
#include <authevents/audit/record.hpp>
#include <authevents/audit/store.hpp>
#include <authevents/bus/detail/postgres.hpp>

#include <libpq-fe.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace authevents::audit::detail {

// One page of a query: its SQL (pg_audit_columns of at most limit + 1 records, the extra one
// saying there is a next page) and its parameters.
struct PgAuditQuerySql {
    std::string sql;
    // Set for a time range alone: the page's sequences from the time index, then their rows.
    // Use it when pg_time_index_is_cheaper() says so.
    std::string indexed_sql;
    std::string where; // the conditions, " AND ..." each, over `params`
    authevents::detail::PgParams params;
};

// The SQL of one page of `query` (checked already) over the quoted records table `table`.
// A user filter matches actor or subject through two index scans.
inline PgAuditQuerySql pg_audit_query_sql(const std::string& table, const AuditQuery& query) {
    PgAuditQuerySql page;
    int next = 1;
    const auto add = [&](const std::string& condition) {
        page.where += " AND " + condition + std::to_string(next++);
    };
    if (query.event_type) {
        add("event_type = $");
        page.params.text(*query.event_type);
    }
    if (query.ip_index) {
        add("ip_index = $");
        page.params.text(*query.ip_index);
    }
    if (query.from) {
        add("time_us >= $");
        page.params.int64(query.from->time_since_epoch().count());
    }
    if (query.until) {
        add("time_us < $");
        page.params.int64(query.until->time_since_epoch().count());
    }
    if (query.cursor) {
        add(query.newest_first ? "sequence < $" : "sequence > $");
        page.params.int64(*query.cursor);
    }
    const std::string& where = page.where;
    const std::string order = query.newest_first ? " ORDER BY sequence DESC" : " ORDER BY sequence";
    const std::string limit = " LIMIT " + std::to_string(query.limit + 1);
    if (query.user) {
        const std::string user = "$" + std::to_string(next++);
        page.params.text(*query.user);
        page.sql = "SELECT " + pg_audit_columns("matched.") + " FROM ((SELECT * FROM " + table +
                   " WHERE actor = " + user + where + order + limit + ") UNION (SELECT * FROM " +
                   table + " WHERE subject = " + user + where + order + limit + ")) AS matched" +
                   order + limit;
        return page;
    }
    page.sql =
        "SELECT " + pg_audit_columns("") + " FROM " + table + " WHERE true" + where + order + limit;
    if ((query.from || query.until) && !query.event_type && !query.ip_index) {
        // The page's sequences from the time index (an index-only scan of the range), then
        // their rows; "sequence + 0" keeps the planner off the primary key.
        page.indexed_sql = "SELECT " + pg_audit_columns("") + " FROM " + table +
                           " WHERE sequence IN (SELECT sequence FROM " + table + " WHERE true" +
                           where + " ORDER BY sequence + 0" + (query.newest_first ? " DESC" : "") +
                           limit + ")" + order;
    }
    return page;
}

// For a query filtering by time alone: whether to read the page from the time index (cost:
// the records in the range) rather than walk the primary key in the page's order (cost:
// the records it passes beyond the range's near end before it reaches the range). The
// planner cannot tell: it prices the walk as if times were spread at random over the
// sequences, while they grow with them, so for a range at the far end of the walk it
// would scan most of the table. Its row estimates for each side (from EXPLAIN, planning
// only) are good, so compare those. `page` is pg_audit_query_sql(table, query).
// @throws bus::PostgresError if the server fails.
inline bool pg_time_index_is_cheaper(PGconn* conn, const std::string& table,
                                     const AuditQuery& query, const PgAuditQuerySql& page) {
    // What the walk passes first: records newer than the range (newest first), older than
    // it (oldest first); nothing when the range is open on that side.
    const std::optional<AuditTime>& near_end = query.newest_first ? query.until : query.from;
    if (!near_end) {
        return false;
    }
    authevents::detail::PgParams beyond;
    beyond.int64(near_end->time_since_epoch().count());
    std::string beyond_where = query.newest_first ? " AND time_us >= $1" : " AND time_us < $1";
    if (query.cursor) {
        beyond.int64(*query.cursor);
        beyond_where += query.newest_first ? " AND sequence < $2" : " AND sequence > $2";
    }
    const auto estimate = [&](const std::string& conditions,
                              const authevents::detail::PgParams& values) {
        const std::string plan =
            authevents::detail::pg_exec(
                conn, "EXPLAIN (FORMAT JSON) SELECT 1 FROM " + table + " WHERE true" + conditions,
                values, "postgres audit store: query: plan")
                .text(0, 0);
        const std::string key = "\"Plan Rows\": ";
        const std::size_t at = plan.find(key);
        return at == std::string::npos ? 0.0 : std::atof(plan.c_str() + at + key.size());
    };
    return estimate(page.where, page.params) <= estimate(beyond_where, beyond);
}

} // namespace authevents::audit::detail
