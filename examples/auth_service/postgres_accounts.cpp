#include "postgres_accounts.hpp"

#include "errors.hpp"
#include "validation.hpp"

#include <authevents/bus/detail/postgres.hpp>

#include <exception>
#include <utility>

namespace authsvc {

namespace {

using authevents::bus::PostgresError;
using authevents::detail::pg_exec;
using authevents::detail::PgParams;
using authevents::detail::PgResult;

constexpr const char* unique_violation = "23505";

authevents::User user_from(const PgResult& row) {
    return authevents::User{row.int64(0, 0), row.text(0, 1), row.text(0, 2), row.text(0, 3),
                            row.text(0, 4)};
}

} // namespace

PostgresAccounts::PostgresAccounts(PGconn* conn, authevents::EventDispatcher& dispatcher,
                                   authevents::bus::PostgresOutboxOptions outbox)
    : conn_(conn), dispatcher_(dispatcher), outbox_(std::move(outbox)) {
    pg_exec(conn_,
            "CREATE TABLE IF NOT EXISTS users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY "
            "KEY, email text NOT NULL UNIQUE, password_hash text NOT NULL, first_name text NOT "
            "NULL, last_name text NOT NULL, language text NOT NULL, email_verified boolean NOT "
            "NULL DEFAULT false, failed_logins integer NOT NULL DEFAULT 0)",
            "accounts: create users");
    authevents::bus::PostgresOutbox::create_schema(conn_, outbox_);
}

template <class Event> void PostgresAccounts::append(const Event& event) {
    const authevents::bus::CloudEvent cloud_event = registry_.encode(event);
    authevents::bus::PostgresOutbox::append_in(conn_, cloud_event, outbox_);
    pending_ids_.push_back(cloud_event.id);
    pending_dispatches_.emplace_back([this, event] { dispatcher_.dispatch(event); });
}

template <class Body> void PostgresAccounts::in_transaction(Body&& body) {
    pending_dispatches_.clear();
    pending_ids_.clear();
    {
        authevents::detail::PgTransaction transaction(conn_, "accounts");
        body();
        transaction.commit();
    }
    // Committed: the events are in the outbox for the relay; now the local handlers.
    committed_.insert(committed_.end(), pending_ids_.begin(), pending_ids_.end());
    for (const auto& dispatch : pending_dispatches_) {
        dispatch();
    }
    pending_dispatches_.clear();
    pending_ids_.clear();
}

authevents::User PostgresAccounts::register_user(const Registration& request,
                                                 std::optional<std::string> ip_address,
                                                 const std::function<void()>& before_commit) {
    const std::string email = normalize_email(request.email);
    validate_email(email);
    validate_password(request.password, email);
    validate_language(request.language);
    validate_names(request.first_name, request.last_name);
    const std::string hash = hasher_.hash(request.password); // slow: before the transaction

    authevents::User user;
    in_transaction([&] {
        try {
            user = user_from(
                pg_exec(conn_,
                        "INSERT INTO users (email, password_hash, first_name, last_name, language) "
                        "VALUES ($1, $2, $3, $4, $5) RETURNING id, email, first_name, last_name, "
                        "language",
                        PgParams()
                            .text(email)
                            .text(hash)
                            .text(request.first_name)
                            .text(request.last_name)
                            .text(request.language),
                        "accounts: insert user"));
        } catch (const PostgresError& e) {
            if (e.sqlstate() == unique_violation) {
                throw ConflictError("email " + email + " is already registered");
            }
            throw;
        }
        append(authevents::UserRegistered{user, false, ip_address});
        if (before_commit) {
            before_commit();
        }
    });
    return user;
}

void PostgresAccounts::verify_email(std::int64_t user_id, std::optional<std::string> ip_address) {
    in_transaction([&] {
        const PgResult row =
            pg_exec(conn_,
                    "UPDATE users SET email_verified = true WHERE id = $1 RETURNING id, email, "
                    "first_name, last_name, language",
                    PgParams().int64(user_id), "accounts: verify email");
        if (row.rows() == 0) {
            throw NotFoundError("no user with id " + std::to_string(user_id));
        }
        append(authevents::UserEmailVerified{user_from(row), ip_address});
    });
}

bool PostgresAccounts::login(const std::string& email, const std::string& password,
                             std::optional<std::string> ip_address) {
    const std::string normalized = normalize_email(email);
    bool matched = false;
    in_transaction([&] {
        // FOR UPDATE: concurrent logins of one user count their failures one after another.
        const PgResult row = pg_exec(conn_,
                                     "SELECT id, email, first_name, last_name, language, "
                                     "password_hash FROM users WHERE email = $1 FOR UPDATE",
                                     PgParams().text(normalized), "accounts: find user");
        if (row.rows() == 0) {
            append(authevents::UserLoginFailed{
                normalized, authevents::LoginFailureReason::user_not_found, ip_address});
            return;
        }
        matched = hasher_.verify(row.text(0, 5), password);
        if (matched) {
            append(authevents::UserLoginSuccessful{user_from(row), ip_address, false});
            return;
        }
        pg_exec(conn_, "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1",
                PgParams().int64(row.int64(0, 0)), "accounts: count failed login");
        append(authevents::UserLoginFailed{
            normalized, authevents::LoginFailureReason::wrong_password, ip_address});
    });
    return matched;
}

} // namespace authsvc
