#include "catch_compat.hpp"
#include "redis_server.hpp"

#include <authevents/bus/redis.hpp>

#include <string>

using authevents::bus::RedisCommandError;
using authevents::bus::RedisConnection;
using authevents::bus::RedisConnectionError;
using authevents::bus::RedisReply;

TEST_CASE("redis: commands carry binary-safe arguments and return typed replies") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());

    CHECK(redis.command({"PING"}).kind == RedisReply::Kind::status);
    const std::string value("a\0b c\r\n\"quoted\"", 16);
    CHECK(redis.command({"SET", "key", value}).text == "OK");
    const RedisReply got = redis.command({"GET", "key"});
    CHECK(got.kind == RedisReply::Kind::string);
    CHECK(got.text == value);
    CHECK(redis.command({"GET", "missing"}).is_nil());
    CHECK(redis.command({"INCRBY", "counter", "41"}).integer == 41);
    const RedisReply list = redis.command({"MGET", "key", "missing"});
    REQUIRE(list.is_array());
    REQUIRE(list.elements.size() == 2);
    CHECK(list.elements[0].text == value);
    CHECK(list.elements[1].is_nil());
}

TEST_CASE("redis: an error reply throws RedisCommandError naming the command and the code") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    redis.command({"SET", "text", "x"});
    try {
        redis.command({"XADD", "text", "*", "f", "v"});
        FAIL("XADD on a string key must fail");
    } catch (const RedisCommandError& e) {
        CHECK(e.command() == "XADD");
        CHECK(e.is("WRONGTYPE"));
        CHECK_FALSE(e.is("WRONG"));
        CHECK(std::string(e.what()).find("redis XADD: WRONGTYPE") == 0);
    }
    CHECK(redis.connected());
    CHECK(redis.command({"PING"}).text == "PONG");
}

TEST_CASE("redis: a pipeline returns every reply in order, errors included") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    redis.command({"SET", "text", "x"});
    const auto replies = redis.pipeline({{"INCR", "n"}, {"INCR", "text"}, {"INCR", "n"}});
    REQUIRE(replies.size() == 3);
    CHECK(replies[0].integer == 1);
    CHECK(replies[1].is_error());
    CHECK(replies[2].integer == 2);
}

TEST_CASE("redis: an outage throws RedisConnectionError and the next command reconnects") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    redis.command({"SET", "kept", "1"});
    server.stop();
    try {
        redis.command({"GET", "kept"});
        FAIL("a command with the server stopped must fail");
    } catch (const RedisConnectionError& e) {
        CHECK(std::string(e.what()).find("127.0.0.1:" + std::to_string(server.port())) !=
              std::string::npos);
    }
    CHECK_FALSE(redis.connected());
    CHECK_THROWS_AS(redis.command({"PING"}), RedisConnectionError); // still down
    server.start();
    CHECK(redis.command({"GET", "kept"}).text == "1"); // append-only file kept it
    CHECK(redis.connected());
}

TEST_CASE("redis: connecting to a port nobody listens on names the endpoint") {
    authevents::bus::RedisEndpoint nowhere;
    nowhere.port = test_redis::free_loopback_port();
    try {
        RedisConnection redis(nowhere);
        FAIL("connecting must fail");
    } catch (const RedisConnectionError& e) {
        CHECK(std::string(e.what()).find("cannot connect to 127.0.0.1:" +
                                         std::to_string(nowhere.port)) != std::string::npos);
    }
}

TEST_CASE("redis: an empty command is rejected before anything is sent") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    CHECK_THROWS_AS(redis.command(std::vector<std::string>{}), std::invalid_argument);
}
