// PostgresAccounts: the auth service's accounts kept in PostgreSQL, with the transactional
// outbox in the same database. Each operation writes its rows and appends its events
// (PostgresOutbox::append_in) in ONE transaction, so an event is published if and only if its
// data committed: a rolled-back registration publishes nothing, a committed one is published
// (at least once; consumers drop duplicates by id). After the commit the events are dispatched
// to the local handlers too, so they never see an event whose data was rolled back.
#pragma once

#include "auth_service.hpp"

#include <authevents/bus/cloudevent.hpp>
#include <authevents/bus/postgres_outbox.hpp>
#include <authevents/dispatcher.hpp>

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace authsvc {

/// Registration, email verification and password login on PostgreSQL: the `users` table and
/// the outbox table commit together. Not thread-safe: one connection, one thread at a time (a
/// service runs one per request worker, each with its own connection).
class PostgresAccounts {
public:
    /// Uses `conn` (the caller keeps it open) and dispatches committed events to
    /// `dispatcher`'s local handlers. Throws PostgresError if the schema cannot be made.
    PostgresAccounts(PGconn* conn, authevents::EventDispatcher& dispatcher,
                     authevents::bus::PostgresOutboxOptions outbox = {});

    /// Registers a user: the users row and user_registered in one transaction, then the local
    /// dispatch. `before_commit`, if set, runs inside the transaction after both writes (a
    /// throw from it, like a crash there, rolls both back). Throws ValidationError for bad
    /// input, ConflictError for a taken email; the transaction is rolled back on any throw.
    authevents::User register_user(const Registration& request,
                                   std::optional<std::string> ip_address = {},
                                   const std::function<void()>& before_commit = {});

    /// Marks the user's email verified, with user_email_verified. Throws NotFoundError.
    void verify_email(std::int64_t user_id, std::optional<std::string> ip_address = {});

    /// Checks the password: user_login_successful, or user_login_failed with the user's
    /// failed-login counter raised in the same transaction. Returns whether it matched.
    bool login(const std::string& email, const std::string& password,
               std::optional<std::string> ip_address = {});

    /// The CloudEvent ids of the events committed so far, in commit order.
    [[nodiscard]] const std::vector<std::string>& committed_event_ids() const noexcept {
        return committed_;
    }

private:
    // Runs `body` (which appends its events with `append`) in one transaction; on commit,
    // dispatches the appended events locally and records their ids.
    template <class Body> void in_transaction(Body&& body);
    template <class Event> void append(const Event& event);

    PGconn* conn_;
    authevents::EventDispatcher& dispatcher_;
    authevents::bus::PostgresOutboxOptions outbox_;
    authevents::bus::EventTypeRegistry registry_;
    PasswordHasher hasher_;
    std::vector<std::function<void()>> pending_dispatches_; // of the open transaction
    std::vector<std::string> pending_ids_;
    std::vector<std::string> committed_;
};

} // namespace authsvc
