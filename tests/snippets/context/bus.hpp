// What the fragments of docs/bus.md use without declaring: the reader's own services.
// Declarations only: the fragments are compiled, not linked.
#pragma once

#include <authevents/authevents.hpp>
#include <authevents/bus.hpp>
#include <authevents/bus/postgres_outbox.hpp>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;

namespace docs_bus {

struct Request {};
class AuthService {
public:
    explicit AuthService(authevents::EventDispatcher& dispatcher);
    void register_user(const Request& request, const std::optional<std::string>& ip);
};
struct PasswordChanged {
    static constexpr std::string_view name = "password_changed";
    std::int64_t user_id = 0;
};

extern authevents::EventDispatcher events;
extern authevents::bus::SqliteOutbox outbox;
extern authevents::bus::RedisEndpoint redis;
extern Request request;
extern std::optional<std::string> ip;
extern sqlite3* db;
extern authevents::User user;
void exec(sqlite3* db, const char* sql);
extern PGconn* conn; // the service's PostgreSQL connection
void exec(PGconn* conn, const char* sql);
void insert_user(PGconn* conn, const authevents::User& user);
void insert_user(sqlite3* db, const authevents::User& user);
void send_welcome_email(const authevents::UserRegistered& event);
void add_welcome_credit(sqlite3* db, std::int64_t user_id);
void alert_on_failed_login(const authevents::UserLoginFailed& event);

} // namespace docs_bus

using namespace docs_bus;
