// Tests for the PostgreSQL plumbing (authevents/bus/detail/postgres.hpp) against a real server
// the test starts itself (postgres_server.hpp).
#include <authevents/bus/detail/postgres.hpp>

#include "catch_compat.hpp"
#include "postgres_server.hpp"

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

using authevents::bus::PostgresError;
using authevents::detail::PgConnection;
using authevents::detail::PgParams;
using authevents::detail::PgTransaction;

TEST_CASE("postgres: parameters go in as text, NULL stays NULL, results read back") {
    PgConnection db(test_postgres::shared_server().create_database(), "test");
    db.exec("CREATE TABLE t (id bigint PRIMARY KEY, name text)", "create");
    db.exec("INSERT INTO t VALUES ($1, $2), ($3, $4)",
            PgParams().int64(-7).text("it's \"quoted\"").int64(9).null(), "insert");
    const auto rows = db.exec("SELECT id, name FROM t ORDER BY id", "select");
    REQUIRE(rows.rows() == 2);
    CHECK(rows.int64(0, 0) == -7);
    CHECK(rows.text(0, 1) == "it's \"quoted\"");
    CHECK(rows.int64(1, 0) == 9);
    CHECK(rows.is_null(1, 1));
    CHECK(db.exec("DELETE FROM t", "delete").affected_rows() == 2);
}

TEST_CASE("postgres: an error names the operation, the server's message and the SQLSTATE") {
    PgConnection db(test_postgres::shared_server().create_database(), "test");
    db.exec("CREATE TABLE t (id bigint PRIMARY KEY)", "create");
    db.exec("INSERT INTO t VALUES (1)", "insert");
    try {
        db.exec("INSERT INTO t VALUES ($1)", PgParams().int64(1), "test: insert again");
        FAIL("a duplicate key was accepted");
    } catch (const PostgresError& e) {
        CHECK(e.sqlstate() == "23505");
        CHECK_FALSE(e.connection_lost());
        const std::string what = e.what();
        CHECK(what.find("test: insert again failed: ") == 0);
        CHECK(what.find("duplicate key") != std::string::npos);
        CHECK(what.find("(SQLSTATE 23505)") != std::string::npos);
    }
    CHECK_THROWS_WITH(db.exec("SELEC 1", "test: typo"),
                      Catch::Contains("test: typo failed") && Catch::Contains("SQLSTATE 42601"));
}

TEST_CASE("postgres: a connection that cannot be made throws 08001 naming the context") {
    const int port = test_redis::free_loopback_port(); // nobody listens there
    try {
        PgConnection db("host=127.0.0.1 port=" + std::to_string(port) + " connect_timeout=2",
                        "test: open");
        FAIL("connected to a closed port");
    } catch (const PostgresError& e) {
        CHECK(e.sqlstate() == "08001");
        CHECK(e.connection_lost());
        CHECK(std::string(e.what()).find("test: open: connect failed") == 0);
    }
}

TEST_CASE("postgres: a transaction rolls back unless committed") {
    PgConnection db(test_postgres::shared_server().create_database(), "test");
    db.exec("CREATE TABLE t (id bigint)", "create");
    {
        PgTransaction transaction(db.get(), "test");
        db.exec("INSERT INTO t VALUES (1)", "insert");
    }
    CHECK(db.exec("SELECT count(*) FROM t", "count").int64(0, 0) == 0);
    {
        PgTransaction transaction(db.get(), "test");
        db.exec("INSERT INTO t VALUES (2)", "insert");
        transaction.commit();
    }
    CHECK(db.exec("SELECT count(*) FROM t", "count").int64(0, 0) == 1);
}

TEST_CASE("postgres: notifications arrive on a listening connection") {
    const std::string info = test_postgres::shared_server().create_database();
    PgConnection listener(info, "test");
    PgConnection sender(info, "test");
    listener.exec("LISTEN wake", "listen");
    CHECK(authevents::detail::pg_wait_notifications(listener.get(), std::chrono::milliseconds(0),
                                                    "wait")
              .empty());
    sender.exec("NOTIFY wake", "notify");
    std::vector<std::string> channels;
    for (int attempt = 0; attempt < 100 && channels.empty(); ++attempt) {
        channels = authevents::detail::pg_wait_notifications(
            listener.get(), std::chrono::milliseconds(100), "wait");
    }
    REQUIRE(channels == std::vector<std::string>{"wake"});
}

TEST_CASE("postgres: a server that stops and restarts shows as a lost connection, then serves") {
    test_postgres::PostgresServer server;
    PgConnection db(server.conninfo(), "test");
    db.exec("CREATE TABLE t (id bigint)", "create");
    db.exec("INSERT INTO t VALUES (1)", "insert");
    server.kill(); // a crash: no checkpoint, recovery at start
    try {
        db.exec("SELECT 1", "test: after crash");
        FAIL("a query succeeded on a dead server");
    } catch (const PostgresError& e) {
        CHECK(e.connection_lost());
    }
    CHECK_FALSE(db.ok());
    server.start();
    PgConnection again(server.conninfo(), "test");
    CHECK(again.exec("SELECT count(*) FROM t", "count").int64(0, 0) == 1);
    CHECK_THROWS_AS(authevents::detail::pg_validate_identifier("bad name", "test"),
                    std::invalid_argument);
}
