// A real redis-server for tests: started on a free loopback port in a fresh temporary
// directory, with an append-only file fsynced on every write (so a stop and restart loses
// nothing acknowledged), stopped and removed at the end.
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

/// One redis-server process owned by the test. Restartable on the same port and directory.
class RedisServer {
public:
    RedisServer() : dir_("authevents-redis"), port_(free_loopback_port()) { start(); }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;
    ~RedisServer() { stop(); }

    /// Where the server listens, with short timeouts suited to tests.
    [[nodiscard]] authevents::bus::RedisEndpoint endpoint() const {
        authevents::bus::RedisEndpoint endpoint;
        endpoint.port = port_;
        endpoint.connect_timeout = std::chrono::milliseconds(500);
        endpoint.command_timeout = std::chrono::milliseconds(5000);
        return endpoint;
    }

    [[nodiscard]] int port() const noexcept { return port_; }
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

    TempDir dir_;
    int port_;
    pid_t pid_ = 0;
};

} // namespace test_redis
