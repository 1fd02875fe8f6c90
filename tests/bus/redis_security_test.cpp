// RedisConnection over TLS (certificates made by the `openssl` command), over a Unix socket,
// with ACL users, and the relay and consumer end to end with least-privilege users: the ACL
// of docs/bus.md, for the stream "authevents".
#include "bus_test_support.hpp"
#include "catch_compat.hpp"
#include "consumer_test_support.hpp"
#include "event_samples.hpp"
#include "redis_server.hpp"
#include "sync_helpers.hpp"

#include <authevents/bus.hpp>
#include <authevents/dispatcher.hpp>
#include <authevents/testing.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

using authevents::bus::RedisCommandError;
using authevents::bus::RedisConnection;
using authevents::bus::RedisConnectionError;
using authevents::bus::RedisEndpoint;
using authevents::bus::RedisReply;
using test_bus::contains;
using test_bus::error_of;

namespace {

// Made once: a CA and its certificates take a few openssl runs.
const test_redis::TestCertificates& certificates() {
    static const test_redis::TestCertificates made;
    return made;
}

test_redis::RedisServerOptions tls_options() {
    test_redis::RedisServerOptions options;
    options.certificates = &certificates();
    return options;
}

// The server presents `name`.crt from now on (Redis reloads its TLS setup on CONFIG SET).
void present(test_redis::RedisServer& server, const std::string& name) {
    RedisConnection admin(server.endpoint());
    admin.command({"CONFIG", "SET", "tls-cert-file", certificates().file(name + ".crt"),
                   "tls-key-file", certificates().file(name + ".key")});
}

// A loopback TCP port that accepts connections (the kernel completes them) and never answers.
class SilentListener {
public:
    SilentListener() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof(address);
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
            ::listen(fd_, 8) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
            throw std::runtime_error("SilentListener: cannot listen on loopback");
        }
        port_ = ntohs(address.sin_port);
    }
    SilentListener(const SilentListener&) = delete;
    SilentListener& operator=(const SilentListener&) = delete;
    ~SilentListener() { ::close(fd_); }
    [[nodiscard]] int port() const noexcept { return port_; }

private:
    int fd_;
    int port_ = 0;
};

// The least-privilege users of docs/bus.md for the stream "authevents", plus an administrator.
const char* const role_acl =
    "user default off\n"
    "user admin on >admin-secret ~* &* +@all\n"
    "user relay on >relay-secret resetchannels ~authevents -@all +ping +xadd +xtrim +xlen "
    "+xinfo|groups +xpending +wait\n"
    "user consumer on >consumer-secret resetchannels ~authevents -@all +ping +xgroup|create "
    "+xreadgroup +xack +xclaim +xpending +xrange (~authevents.dead -@all +xadd +xlen) "
    "(~authevents:inbox:* -@all +get +set +pexpire +del +eval)\n"
    "user dead-letters on >dead-letters-secret resetchannels ~authevents.dead -@all +ping +xlen "
    "+xrange +xdel +del (~authevents -@all +xadd)\n";

test_redis::RedisServerOptions acl_options() {
    test_redis::RedisServerOptions options;
    options.acl = role_acl;
    options.user = "admin";
    options.password = "admin-secret";
    return options;
}

RedisEndpoint as(RedisEndpoint endpoint, const std::string& user, const std::string& password) {
    endpoint.user = user;
    endpoint.password = password;
    return endpoint;
}

} // namespace

TEST_CASE("redis tls: mutual TLS carries commands, pipelines and large values") {
    test_redis::RedisServer server(tls_options());
    RedisConnection redis(server.tls_endpoint());
    CHECK(redis.connected());
    CHECK(redis.command({"PING"}).text == "PONG");
    const std::string large(3 * 1024 * 1024 + 17, 'x'); // many TLS records each way
    CHECK(redis.command({"SET", "large", large}).text == "OK");
    CHECK(redis.command({"GET", "large"}).text == large);
    const auto replies = redis.pipeline({{"INCR", "n"}, {"INCR", "large"}, {"INCR", "n"}});
    REQUIRE(replies.size() == 3);
    CHECK(replies[0].integer == 1);
    CHECK(replies[1].is_error());
    CHECK(replies[2].integer == 2);

    // The server saw a TLS client with our certificate: its plain port shows the same data.
    RedisConnection plain(server.endpoint());
    CHECK(plain.command({"GET", "n"}).text == "2");

    // Verified by host name (SNI and DNS SAN) as well as by IP address (the default here).
    RedisEndpoint by_name = server.tls_endpoint();
    by_name.tls->server_name = "localhost";
    RedisConnection named(by_name);
    CHECK(named.command({"GET", "n"}).text == "2");
}

TEST_CASE("redis tls: a restart drops the TLS connection and the next command reconnects") {
    test_redis::RedisServer server(tls_options());
    RedisConnection redis(server.tls_endpoint());
    redis.command({"SET", "kept", "1"});
    server.stop();
    const std::string error = error_of([&] { redis.command({"GET", "kept"}); });
    CHECK(contains(error, "(TLS)"));
    CHECK_FALSE(redis.connected());
    server.start();
    CHECK(redis.command({"GET", "kept"}).text == "1");
}

TEST_CASE("redis tls: bad server certificates are refused with the reason") {
    test_redis::RedisServer server(tls_options());
    auto refusal = [&](const RedisEndpoint& endpoint) {
        try {
            RedisConnection redis(endpoint);
        } catch (const RedisConnectionError& e) {
            return std::string(e.what());
        }
        return std::string("<connected>");
    };

    SECTION("expired") {
        present(server, "expired");
        const std::string error = refusal(server.tls_endpoint());
        INFO(error);
        CHECK(contains(error, "cannot connect to 127.0.0.1:" + std::to_string(server.tls_port()) +
                                  " (TLS): TLS handshake failed: the server's certificate was "
                                  "refused: certificate has expired"));
    }
    SECTION("issued for another host name") {
        present(server, "wrong-host");
        RedisEndpoint by_name = server.tls_endpoint();
        by_name.tls->server_name = "localhost";
        const std::string error = refusal(by_name);
        INFO(error);
        CHECK(contains(error, "certificate was refused: hostname mismatch (expected 'localhost')"));
        const std::string by_ip = refusal(server.tls_endpoint());
        INFO(by_ip);
        CHECK(contains(by_ip, "certificate was refused: IP address mismatch (expected "
                              "'127.0.0.1')"));
    }
    SECTION("signed by a CA the client does not trust") {
        present(server, "rogue-server");
        const std::string error = refusal(server.tls_endpoint());
        INFO(error);
        CHECK(contains(error, "certificate was refused: unable to get local issuer certificate"));
    }
    SECTION("a plain server on the other end") {
        RedisEndpoint plain_port = server.tls_endpoint();
        plain_port.port = server.port();
        plain_port.connect_timeout = std::chrono::milliseconds(300);
        const std::string error = refusal(plain_port);
        INFO(error);
        CHECK(contains(error, "(TLS): TLS handshake timed out"));
    }
    SECTION("the good certificate again") {
        present(server, "server");
        CHECK(refusal(server.tls_endpoint()) == "<connected>");
    }
}

TEST_CASE("redis tls: the server refuses clients without a certificate it trusts") {
    test_redis::RedisServer server(tls_options());
    SECTION("no client certificate") {
        RedisEndpoint endpoint = server.tls_endpoint();
        endpoint.tls->cert_file.clear();
        endpoint.tls->key_file.clear();
        const std::string error = error_of([&] { RedisConnection redis(endpoint); });
        INFO(error);
        CHECK(contains(error, "127.0.0.1:" + std::to_string(server.tls_port()) + " (TLS)"));
        CHECK(contains(error, "certificate required"));
    }
    SECTION("a client certificate from an unknown CA") {
        RedisEndpoint endpoint = server.tls_endpoint();
        endpoint.tls->cert_file = certificates().file("rogue-client.crt");
        endpoint.tls->key_file = certificates().file("rogue-client.key");
        const std::string error = error_of([&] { RedisConnection redis(endpoint); });
        INFO(error);
        CHECK(contains(error, "unknown ca"));
    }
}

TEST_CASE("redis tls: settings that cannot work are named before or while connecting") {
    test_redis::RedisServer server(tls_options());
    RedisEndpoint endpoint = server.tls_endpoint();
    endpoint.tls->key_file.clear();
    CHECK(error_of([&] { RedisConnection redis(endpoint); }) ==
          "RedisEndpoint: tls.cert_file and tls.key_file must be given together");
    CHECK_THROWS_AS(RedisConnection(endpoint), std::invalid_argument);

    endpoint = server.tls_endpoint();
    endpoint.tls->ca_file = (server.dir() / "missing-ca.crt").string();
    const std::string missing = error_of([&] { RedisConnection redis(endpoint); });
    INFO(missing);
    CHECK(contains(missing, "cannot load the CA file '" + endpoint.tls->ca_file + "'"));

    endpoint = server.tls_endpoint();
    endpoint.tls->key_file = certificates().file("server.key"); // not the client's key
    const std::string mismatch = error_of([&] { RedisConnection redis(endpoint); });
    INFO(mismatch);
    CHECK(contains(mismatch, "cannot load the client key"));

    endpoint = server.tls_endpoint();
    endpoint.tls->key_file = certificates().file("client-encrypted.key"); // refused, no prompt
    const std::string encrypted = error_of([&] { RedisConnection redis(endpoint); });
    INFO(encrypted);
    CHECK(contains(encrypted, "cannot load the client key '" + endpoint.tls->key_file + "'"));

    endpoint = server.tls_endpoint();
    endpoint.unix_socket = (server.dir() / "redis.sock").string();
    CHECK_THROWS_AS(RedisConnection(endpoint), std::invalid_argument);
}

TEST_CASE("redis: a server that never answers times out instead of wedging") {
    SilentListener silent;
    RedisEndpoint endpoint;
    endpoint.port = silent.port();
    endpoint.connect_timeout = std::chrono::milliseconds(200);
    endpoint.command_timeout = std::chrono::milliseconds(200);
    SECTION("a plain connection waiting for the PING reply") {
        const std::string error = error_of([&] { RedisConnection redis(endpoint); });
        CHECK(error == "redis PING on 127.0.0.1:" + std::to_string(silent.port()) +
                           ": waiting for the reply timed out");
    }
    SECTION("a TLS handshake") {
        endpoint.tls = authevents::bus::RedisTls{};
        endpoint.tls->ca_file = certificates().file("ca.crt");
        const std::string error = error_of([&] { RedisConnection redis(endpoint); });
        CHECK(error == "redis: cannot connect to 127.0.0.1:" + std::to_string(silent.port()) +
                           " (TLS): TLS handshake timed out");
    }
}

TEST_CASE("redis: a Unix socket works like TCP") {
    test_redis::RedisServerOptions options;
    options.unix_socket = true;
    test_redis::RedisServer server(options);
    RedisConnection redis(server.unix_endpoint());
    CHECK(redis.command({"SET", "k", "v"}).text == "OK");
    RedisConnection tcp(server.endpoint());
    CHECK(tcp.command({"GET", "k"}).text == "v");
    server.stop();
    const std::string error = error_of([&] { redis.command({"GET", "k"}); });
    CHECK(contains(error, "redis GET on unix:" + (server.dir() / "redis.sock").string()));
    CHECK(contains(error_of([&] { RedisConnection again(server.unix_endpoint()); }),
                   "cannot connect to unix:"));
}

TEST_CASE("redis acl: AUTH user password; a refused AUTH leaves no connection behind") {
    test_redis::RedisServer server(acl_options());
    RedisConnection admin(server.endpoint());
    const auto clients = [&] { return admin.command({"CLIENT", "LIST"}).text; };

    RedisConnection relay(as(server.endpoint(), "relay", "relay-secret"));
    CHECK(relay.command({"PING"}).text == "PONG");
    CHECK(contains(clients(), "user=relay"));

    try {
        RedisConnection wrong(as(server.endpoint(), "relay", "not-the-password"));
        FAIL("a wrong password must be refused");
    } catch (const RedisCommandError& e) {
        CHECK(e.command() == "AUTH");
        CHECK(e.is("WRONGPASS"));
        CHECK_FALSE(contains(e.what(), "not-the-password"));
    }
    try {
        RedisConnection anonymous(as(server.endpoint(), "", ""));
        FAIL("the default user is off");
    } catch (const RedisCommandError& e) {
        CHECK(e.command() == "PING");
        CHECK(e.is("NOAUTH"));
    }
    // Only the administrator's and the relay's connections remain: nothing half-open.
    CHECK(test_sync::eventually([&] {
        const std::string list = clients();
        std::size_t count = 0;
        for (std::size_t at = list.find("id="); at != std::string::npos;
             at = list.find("id=", at + 1)) {
            ++count;
        }
        return count == 2;
    }));
}

TEST_CASE("redis acl: WRONGPASS after a password change, and working again once it matches") {
    test_redis::RedisServer server(acl_options());
    RedisConnection admin(server.endpoint());
    RedisConnection consumer(as(server.endpoint(), "consumer", "consumer-secret"));
    CHECK(consumer.command({"XLEN", "authevents.dead"}).integer == 0);

    // The password changes and the server drops the user's connections.
    admin.command({"ACL", "SETUSER", "consumer", "resetpass", ">rotated"});
    admin.command({"CLIENT", "KILL", "USER", "consumer"});
    CHECK_THROWS_AS(consumer.command({"XLEN", "authevents.dead"}), RedisConnectionError);
    const std::string refused = error_of([&] { consumer.command({"XLEN", "authevents.dead"}); });
    CHECK(contains(refused, "redis AUTH: WRONGPASS"));
    CHECK_FALSE(consumer.connected());

    admin.command({"ACL", "SETUSER", "consumer", ">consumer-secret"});
    CHECK(consumer.command({"XLEN", "authevents.dead"}).integer == 0);
    CHECK(consumer.connected());
}

TEST_CASE("redis acl: a consumer's credentials cannot write the main stream") {
    test_redis::RedisServer server(acl_options());
    RedisConnection consumer(as(server.endpoint(), "consumer", "consumer-secret"));
    try {
        consumer.command({"XADD", "authevents", "*", "type", "forged"});
        FAIL("XADD to the main stream must be refused");
    } catch (const RedisCommandError& e) {
        CHECK(e.is("NOPERM"));
    }
    CHECK_THROWS_AS(consumer.command({"DEL", "authevents"}), RedisCommandError);
    CHECK_THROWS_AS(consumer.command({"XTRIM", "authevents", "MAXLEN", "0"}), RedisCommandError);
    CHECK_THROWS_AS(consumer.command({"EVAL", "return redis.call('XADD', KEYS[1], '*', 'a', 'b')",
                                      "1", "authevents"}),
                    RedisCommandError);
    CHECK(consumer.command({"XADD", "authevents.dead", "*", "type", "x"}).kind ==
          RedisReply::Kind::string); // its dead letters only
    RedisConnection relay(as(server.endpoint(), "relay", "relay-secret"));
    CHECK_THROWS_AS(relay.command({"XREADGROUP", "GROUP", "g", "c", "STREAMS", "authevents", ">"}),
                    RedisCommandError);
    CHECK_THROWS_AS(relay.command({"XADD", "other", "*", "a", "b"}), RedisCommandError);
    RedisConnection tool(as(server.endpoint(), "dead-letters", "dead-letters-secret"));
    CHECK_THROWS_AS(tool.command({"XREADGROUP", "GROUP", "g", "c", "STREAMS", "authevents", ">"}),
                    RedisCommandError);
    RedisConnection admin(server.endpoint());
    CHECK(test_bus::stream_length(admin, "authevents") == 0);
    CHECK(test_bus::stream_length(admin, "authevents.dead") == 1);
}

namespace {

using namespace authevents::bus;

// The consumer tests' fast options, on the stream "authevents", dead-lettering at once.
ConsumerOptions fast_consumer() {
    ConsumerOptions options = test_consumer::fast_options();
    options.stream = "authevents";
    options.max_deliveries = 1;
    return options;
}

// A service whose dispatches go through the outbox and a relay to the stream "authevents".
struct Service {
    Service(const RedisEndpoint& endpoint, const std::string& db_path)
        : outbox(db_path), relay(outbox, endpoint, test_bus::fast_relay_options(16, "authevents")),
          publisher(dispatcher, outbox, EventTypeRegistry{}, PublisherOptions{false, &relay}) {
        dispatcher.set_logger({});
    }
    authevents::EventDispatcher dispatcher;
    SqliteOutbox outbox;
    OutboxRelay relay;
    BusPublisher publisher;
};

} // namespace

TEST_CASE("redis acl: relay, consumer and dead-letter tool work over mutual TLS with "
          "least-privilege users") {
    test_redis::RedisServerOptions options = acl_options();
    options.certificates = &certificates();
    test_redis::RedisServer server(options);
    const RedisEndpoint tls = server.tls_endpoint();
    test_bus::TempDatabase db;
    Service service(as(tls, "relay", "relay-secret"), db.path());
    service.relay.start();

    test_bus::QuietDispatcher remote;
    authevents::testing::EventRecorder recorder(remote);
    remote.user_login_failed.connect(
        [](const authevents::UserLoginFailed&) { throw std::runtime_error("alerting down"); });
    const RedisEndpoint consumer_endpoint = as(tls, "consumer", "consumer-secret");
    RedisDedupStore inbox(consumer_endpoint);
    StreamConsumer consumer(consumer_endpoint, remote, inbox, fast_consumer());
    consumer.start();

    service.dispatcher.dispatch(samples::user_registered());
    service.dispatcher.dispatch(samples::user_login_failed());
    CHECK(test_sync::eventually([&] {
        return recorder.count<authevents::UserRegistered>() == 1 &&
               consumer.stats().dead_lettered == 1;
    }));
    CHECK(test_sync::eventually([&] { return service.relay.stats().trimmed >= 1; }));
    consumer.stop();
    service.relay.stop();
    // Every command the relay and the consumer sent was allowed.
    CHECK(service.relay.stats().failed_attempts == 0);
    CHECK(consumer.stats().redis_errors == 0);
    CHECK(consumer.stats().dead_letter_failures == 0);
    CHECK(consumer.stats().handled == 1);

    DeadLetters letters(as(tls, "dead-letters", "dead-letters-secret"), "authevents.dead");
    const auto dead = letters.list();
    REQUIRE(dead.size() == 1);
    CHECK(contains(dead[0].reason, "alerting down"));
#ifdef AUTHEVENTS_DEAD_LETTERS_TOOL
    // The command-line tool, with the same user over mutual TLS.
    const std::string command =
        "AUTHEVENTS_REDIS_PASSWORD=dead-letters-secret " AUTHEVENTS_DEAD_LETTERS_TOOL " --port " +
        std::to_string(server.tls_port()) + " --user dead-letters --tls --ca-file " +
        tls.tls->ca_file + " --cert-file " + tls.tls->cert_file + " --key-file " +
        tls.tls->key_file + " list 2>&1";
    std::string listed;
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[4096];
    for (std::size_t size = 0; (size = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) {
        listed.append(buffer, size);
    }
    CHECK(::pclose(pipe) == 0);
    INFO(listed);
    CHECK(contains(listed, dead[0].id));
    CHECK(contains(listed, "alerting down"));
#endif
    CHECK(letters.replay(dead[0].id).has_value());
    CHECK(letters.size() == 0);
    RedisConnection admin(server.endpoint());
    CHECK(contains(test_bus::read_stream(admin, "authevents").back().field("type"),
                   "user_login_failed"));
}

TEST_CASE("redis acl: relay and consumer retry WRONGPASS with backoff and recover once the "
          "password matches") {
    test_redis::RedisServer server(acl_options());
    RedisConnection admin(server.endpoint());
    admin.command({"ACL", "SETUSER", "relay", "resetpass", ">rotated"});
    admin.command({"ACL", "SETUSER", "consumer", "resetpass", ">rotated"});

    test_bus::TempDatabase db;
    Service service(as(server.endpoint(), "relay", "relay-secret"), db.path());
    service.relay.start();
    test_bus::QuietDispatcher remote;
    authevents::testing::EventRecorder recorder(remote);
    MemoryDedupStore inbox;
    StreamConsumer consumer(as(server.endpoint(), "consumer", "consumer-secret"), remote, inbox,
                            fast_consumer());
    consumer.start();
    service.dispatcher.dispatch(samples::user_registered());

    CHECK(test_sync::eventually([&] {
        return service.relay.stats().refused_attempts >= 2 && consumer.stats().redis_errors >= 2;
    }));
    CHECK(recorder.size() == 0);
    CHECK(test_bus::stream_length(admin, "authevents") == 0);

    admin.command({"ACL", "SETUSER", "relay", ">relay-secret"});
    admin.command({"ACL", "SETUSER", "consumer", ">consumer-secret"});
    CHECK(test_sync::eventually([&] { return recorder.count<authevents::UserRegistered>() == 1; }));
    consumer.stop();
    service.relay.stop();
    CHECK(service.relay.stats().published == 1);
}
