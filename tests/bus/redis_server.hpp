// A real redis-server for tests: started on a free loopback port in a fresh temporary
// directory, with an append-only file fsynced on every write (so a stop and restart loses
// nothing acknowledged), stopped and removed at the end. Options add a Unix socket, a TLS port
// (certificates made by TestCertificates with the `openssl` command) and an ACL file.
#pragma once

#include <authevents/bus/redis.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace test_redis {

#ifndef AUTHEVENTS_REDIS_SERVER
#define AUTHEVENTS_REDIS_SERVER "redis-server"
#endif

/// A port nobody listens on right now (the kernel's choice for an ephemeral bind).
inline int free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        throw std::runtime_error("test_redis: socket() failed");
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof(address);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        ::close(fd);
        throw std::runtime_error("test_redis: cannot bind an ephemeral loopback port");
    }
    ::close(fd);
    return ntohs(address.sin_port);
}

/// A fresh directory under the system's temporary directory, removed by the destructor.
class TempDir {
public:
    explicit TempDir(const std::string& prefix) {
        std::random_device seed;
        const auto base = std::filesystem::temp_directory_path();
        for (int attempt = 0; attempt < 100; ++attempt) {
            auto candidate =
                base / (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(seed()));
            if (std::filesystem::create_directory(candidate)) {
                path_ = candidate;
                return;
            }
        }
        throw std::runtime_error("test_redis: cannot create a temporary directory");
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

/// Runs `args` (argv[0] looked up on PATH), its output appended to `log`; waits for it.
/// @throws std::runtime_error naming the command when it cannot start or exits non-zero.
inline void run_command(std::vector<std::string> args, const std::filesystem::path& log) {
    std::vector<char*> argv;
    for (auto& arg : args) {
        argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                       O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid = 0;
    const int spawned = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
        throw std::runtime_error("test_redis: cannot start " + args.front());
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::ifstream in(log);
        std::ostringstream text;
        text << in.rdbuf();
        throw std::runtime_error("test_redis: '" + args.front() + " " + args.at(1) + "' failed:\n" +
                                 text.str());
    }
}

/// A certificate authority and certificates signed by it, made with the `openssl` command in
/// a temporary directory (EC P-256 keys, valid for two days unless said otherwise):
///   ca.crt/ca.key          the test CA
///   server.crt/.key        for DNS:localhost and IP:127.0.0.1 (serverAuth)
///   client.crt/.key        a client certificate (clientAuth)
///   expired.crt/.key       like server.crt but expired yesterday
///   wrong-host.crt/.key    for DNS:wrong.example only
///   rogue-ca.crt/.key      another CA, unknown to the server and the clients
///   rogue-server.crt/.key  like server.crt, signed by the rogue CA
///   rogue-client.crt/.key  a client certificate signed by the rogue CA
///   client-encrypted.key   client.key encrypted with the passphrase "secret"
class TestCertificates {
public:
    TestCertificates() : dir_("authevents-certs") {
        {
            std::ofstream config(file("openssl.cnf"));
            config << "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
                      "[ca]\nbasicConstraints = critical,CA:TRUE\n"
                      "keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n"
                      "[server]\nsubjectAltName = DNS:localhost,IP:127.0.0.1\n"
                      "extendedKeyUsage = serverAuth\n"
                      "[wrong_host]\nsubjectAltName = DNS:wrong.example\n"
                      "extendedKeyUsage = serverAuth\n"
                      "[client]\nextendedKeyUsage = clientAuth\n";
        }
        make_ca("ca", "authevents test CA");
        make_ca("rogue-ca", "rogue CA");
        sign("server", "ca", "server", "2");
        sign("client", "ca", "client", "2");
        sign("expired", "ca", "server", "-1");
        sign("wrong-host", "ca", "wrong_host", "2");
        sign("rogue-server", "rogue-ca", "server", "2");
        sign("rogue-client", "rogue-ca", "client", "2");
        openssl({"pkey", "-in", file("client.key"), "-aes256", "-passout", "pass:secret", "-out",
                 file("client-encrypted.key")});
    }

    /// The path of `name` in the directory, e.g. file("ca.crt").
    [[nodiscard]] std::string file(const std::string& name) const {
        return (dir_.path() / name).string();
    }

private:
    void make_ca(const std::string& name, const std::string& common_name) {
        openssl({"req", "-x509", "-config", file("openssl.cnf"), "-extensions", "ca", "-newkey",
                 "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                 file(name + ".key"), "-out", file(name + ".crt"), "-days", "2", "-subj",
                 "/CN=" + common_name});
    }

    // name.crt/name.key signed by `ca` with the extensions of `section`, valid `days` days
    // (negative: expired that many days ago).
    void sign(const std::string& name, const std::string& ca, const std::string& section,
              const std::string& days) {
        openssl({"req", "-new", "-config", file("openssl.cnf"), "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", file(name + ".key"), "-out",
                 file(name + ".csr"), "-subj", "/CN=" + name});
        openssl({"x509", "-req", "-in", file(name + ".csr"), "-CA", file(ca + ".crt"), "-CAkey",
                 file(ca + ".key"), "-set_serial", std::to_string(++serial_), "-days", days,
                 "-extfile", file("openssl.cnf"), "-extensions", section, "-out",
                 file(name + ".crt")});
    }

    void openssl(std::vector<std::string> args) {
        args.insert(args.begin(), "openssl");
        run_command(std::move(args), dir_.path() / "openssl.log");
    }

    TempDir dir_;
    int serial_ = 1;
};

/// What a RedisServer serves besides a plain loopback port.
struct RedisServerOptions {
    /// Also listen on a Unix socket (redis.sock in the server's directory).
    bool unix_socket = false;
    /// Also serve TLS on a second free port with server.crt of these certificates (and trust
    /// their CA for client certificates); null: no TLS.
    const TestCertificates* certificates = nullptr;
    /// Redis's tls-auth-clients: "yes" (mutual TLS required), "optional" or "no".
    std::string tls_auth_clients = "yes";
    /// Contents of an ACL file (users, one per line) the server loads; empty: none.
    std::string acl;
    /// The user and password endpoint() carries (the tests' administrator when `acl` is set).
    std::string user;
    std::string password; ///< See user.
};

/// One redis-server process owned by the test. Restartable on the same port and directory.
class RedisServer {
public:
    RedisServer() : RedisServer(RedisServerOptions{}) {}
    explicit RedisServer(RedisServerOptions options)
        : options_(std::move(options)), dir_("authevents-redis"), port_(free_loopback_port()),
          tls_port_(options_.certificates != nullptr ? free_loopback_port() : 0) {
        if (!options_.acl.empty()) {
            std::ofstream(dir_.path() / "users.acl") << options_.acl;
        }
        start();
    }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;
    ~RedisServer() { stop(); }

    /// Where the server listens, with short timeouts suited to tests (and options' user and
    /// password).
    [[nodiscard]] authevents::bus::RedisEndpoint endpoint() const {
        authevents::bus::RedisEndpoint endpoint;
        endpoint.port = port_;
        endpoint.connect_timeout = std::chrono::milliseconds(500);
        endpoint.command_timeout = std::chrono::milliseconds(5000);
        endpoint.user = options_.user;
        endpoint.password = options_.password;
        return endpoint;
    }

    /// endpoint() on the TLS port, trusting the test CA, with the client certificate.
    [[nodiscard]] authevents::bus::RedisEndpoint tls_endpoint() const {
        if (options_.certificates == nullptr) {
            throw std::logic_error("test_redis: this server has no TLS port");
        }
        authevents::bus::RedisEndpoint endpoint = this->endpoint();
        endpoint.port = tls_port_;
        endpoint.connect_timeout = std::chrono::milliseconds(2000);
        authevents::bus::RedisTls tls;
        tls.ca_file = options_.certificates->file("ca.crt");
        tls.cert_file = options_.certificates->file("client.crt");
        tls.key_file = options_.certificates->file("client.key");
        endpoint.tls = tls;
        return endpoint;
    }

    /// endpoint() on the Unix socket.
    [[nodiscard]] authevents::bus::RedisEndpoint unix_endpoint() const {
        authevents::bus::RedisEndpoint endpoint = this->endpoint();
        endpoint.unix_socket = unix_socket_path();
        return endpoint;
    }

    [[nodiscard]] int port() const noexcept { return port_; }
    [[nodiscard]] int tls_port() const noexcept { return tls_port_; }
    [[nodiscard]] bool running() const noexcept { return pid_ > 0; }
    [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_.path(); }

    /// Starts the server and waits until it answers PING (at most 10 s).
    void start() {
        if (pid_ > 0) {
            return;
        }
        const std::string port = std::to_string(port_);
        const std::string dir = dir_.path().string();
        const std::string log = (dir_.path() / "redis.log").string();
        std::vector<std::string> args = {AUTHEVENTS_REDIS_SERVER,
                                         "--port",
                                         port,
                                         "--bind",
                                         "127.0.0.1",
                                         "--dir",
                                         dir,
                                         "--logfile",
                                         log,
                                         "--appendonly",
                                         "yes",
                                         "--appendfsync",
                                         "always",
                                         "--save",
                                         "",
                                         "--daemonize",
                                         "no",
                                         "--protected-mode",
                                         "no"};
        if (options_.unix_socket) {
            args.insert(args.end(),
                        {"--unixsocket", unix_socket_path(), "--unixsocketperm", "700"});
        }
        if (options_.certificates != nullptr) {
            const TestCertificates& certificates = *options_.certificates;
            args.insert(args.end(), {"--tls-port", std::to_string(tls_port_), "--tls-cert-file",
                                     certificates.file("server.crt"), "--tls-key-file",
                                     certificates.file("server.key"), "--tls-ca-cert-file",
                                     certificates.file("ca.crt"), "--tls-auth-clients",
                                     options_.tls_auth_clients});
        }
        if (!options_.acl.empty()) {
            args.insert(args.end(), {"--aclfile", (dir_.path() / "users.acl").string()});
        }
        std::vector<char*> argv;
        for (auto& arg : args) {
            argv.push_back(arg.data());
        }
        argv.push_back(nullptr);
        pid_t pid = 0;
        if (::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
            throw std::runtime_error(std::string("test_redis: cannot start ") + argv[0]);
        }
        pid_ = pid;
        wait_until_ready();
    }

    /// Stops the server gracefully (SIGTERM: it flushes its append-only file) and waits.
    void stop() { terminate(SIGTERM); }

    /// Kills the server without warning (SIGKILL), as a crash would.
    void kill() { terminate(SIGKILL); }

    /// stop() then start() on the same port and directory.
    void restart() {
        stop();
        start();
    }

private:
    [[nodiscard]] std::string unix_socket_path() const {
        return (dir_.path() / "redis.sock").string();
    }

    void terminate(int signal_number) {
        if (pid_ <= 0) {
            return;
        }
        ::kill(pid_, signal_number);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = 0;
    }

    void wait_until_ready() {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        std::string last_error;
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = 0;
                throw std::runtime_error("test_redis: redis-server exited at start: " + read_log());
            }
            try {
                authevents::bus::RedisConnection probe(endpoint());
                if (probe.command({"PING"}).text == "PONG") {
                    return;
                }
            } catch (const std::exception& e) {
                last_error = e.what();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        terminate(SIGKILL);
        throw std::runtime_error("test_redis: redis-server did not answer within 10 s: " +
                                 last_error + "\n" + read_log());
    }

    [[nodiscard]] std::string read_log() const {
        std::ifstream in(dir_.path() / "redis.log");
        std::ostringstream text;
        text << in.rdbuf();
        return text.str();
    }

    RedisServerOptions options_;
    TempDir dir_;
    int port_;
    int tls_port_;
    pid_t pid_ = 0;
};

} // namespace test_redis
