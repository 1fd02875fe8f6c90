// A real PostgreSQL server for tests: a fresh cluster made by initdb in a temporary directory,
// run by pg_ctl on a free loopback port (its Unix socket in the same directory), trust
// authentication for the superuser "authevents", stopped and removed at the end.
//
// Debian does not put initdb and pg_ctl on PATH: they are looked up in AUTHEVENTS_POSTGRES_BINDIR
// (set by CMake), then in /usr/lib/postgresql/<version>/bin (newest version first), then on
// PATH. PostgreSQL refuses to run as root, so under root the server runs as the "postgres"
// user (or "nobody" where there is none), which then owns the temporary directory.
//
// fsync is off: the tests simulate crashes of the server process (pg_ctl stop -m immediate),
// which lose nothing the kernel already has, not crashes of the machine.
#pragma once

#include "redis_server.hpp" // test_redis::TempDir, test_redis::free_loopback_port

#include <authevents/bus/detail/postgres.hpp>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace test_postgres {

/// The directory holding initdb and pg_ctl; throws std::runtime_error naming where it looked.
inline std::filesystem::path postgres_bin_dir() {
    namespace fs = std::filesystem;
    std::vector<fs::path> candidates;
#ifdef AUTHEVENTS_POSTGRES_BINDIR
    candidates.emplace_back(AUTHEVENTS_POSTGRES_BINDIR);
#endif
    std::error_code error;
    std::vector<fs::path> versions;
    for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", error)) {
        versions.push_back(entry.path() / "bin");
    }
    // Newest first: "16" before "15" (compare as numbers, "9.6" style names too).
    std::sort(versions.begin(), versions.end(), [](const fs::path& a, const fs::path& b) {
        return std::atof(a.parent_path().filename().c_str()) >
               std::atof(b.parent_path().filename().c_str());
    });
    candidates.insert(candidates.end(), versions.begin(), versions.end());
    if (const char* path = std::getenv("PATH")) {
        std::stringstream entries(path);
        std::string entry;
        while (std::getline(entries, entry, ':')) {
            if (!entry.empty()) {
                candidates.emplace_back(entry);
            }
        }
    }
    for (const auto& dir : candidates) {
        if (::access((dir / "initdb").c_str(), X_OK) == 0 &&
            ::access((dir / "pg_ctl").c_str(), X_OK) == 0) {
            return dir;
        }
    }
    throw std::runtime_error("test_postgres: initdb and pg_ctl not found in "
                             "AUTHEVENTS_POSTGRES_BINDIR, /usr/lib/postgresql/*/bin or PATH "
                             "(Debian: apt-get install postgresql)");
}

/// One PostgreSQL cluster owned by the test. Restartable on the same port and directory.
/// Not thread-safe: one thread starts, stops and restarts it (clients may use it from any).
class PostgresServer {
public:
    PostgresServer()
        : bin_(postgres_bin_dir()), dir_("authevents-pg"), port_(test_redis::free_loopback_port()) {
        choose_user();
        const std::string data = data_dir();
        run({(bin_ / "initdb").string(), "-D", data, "-U", "authevents", "--auth=trust",
             "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"},
            "initdb");
        start();
    }
    PostgresServer(const PostgresServer&) = delete;
    PostgresServer& operator=(const PostgresServer&) = delete;
    ~PostgresServer() {
        try {
            stop();
        } catch (...) { // never throw from a destructor; kill what is left
            kill_postmaster();
        }
    }

    /// A libpq connection string for database `dbname` (default "postgres"), with a short
    /// connect timeout suited to tests.
    [[nodiscard]] std::string conninfo(const std::string& dbname = "postgres") const {
        return "host=127.0.0.1 port=" + std::to_string(port_) +
               " user=authevents dbname=" + dbname + " connect_timeout=5";
    }

    /// Creates a fresh, empty database with a unique name and returns its connection string:
    /// one per test case keeps cases apart on one server.
    std::string create_database() {
        static std::atomic<unsigned> counter{0};
        const std::string name = "test_" + std::to_string(counter++);
        authevents::detail::PgConnection admin(conninfo(), "test_postgres");
        admin.exec("CREATE DATABASE " + name, "test_postgres: create database " + name);
        return conninfo(name);
    }

    [[nodiscard]] int port() const noexcept { return port_; }
    [[nodiscard]] bool running() const noexcept { return running_; }
    [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_.path(); }

    /// Starts the server (pg_ctl start -w) and waits until it accepts connections (at most
    /// 30 s); throws std::runtime_error with the server log if it does not.
    void start() {
        if (running_) {
            return;
        }
        const std::string options =
            "-p " + std::to_string(port_) +
            " -c listen_addresses=127.0.0.1 -c unix_socket_directories=" + dir_.path().string() +
            " -c fsync=off -c shared_buffers=16MB -c max_connections=60";
        run({(bin_ / "pg_ctl").string(), "start", "-w", "-t", "30", "-D", data_dir(), "-l",
             (dir_.path() / "postgres.log").string(), "-o", options},
            "pg_ctl start");
        running_ = true;
        wait_until_ready();
    }

    /// Stops the server in fast mode (open sessions are ended, a checkpoint is written).
    void stop() { shutdown("fast"); }

    /// Stops the server in immediate mode: every process quits at once without a checkpoint,
    /// as in a crash; the next start() recovers from the write-ahead log.
    void kill() { shutdown("immediate"); }

    /// stop() then start() on the same port and directory.
    void restart() {
        stop();
        start();
    }

    /// The server log so far (for failure messages).
    [[nodiscard]] std::string log() const { return read_file(dir_.path() / "postgres.log"); }

private:
    [[nodiscard]] std::string data_dir() const { return (dir_.path() / "data").string(); }

    // PostgreSQL refuses root: under root, run its programs as postgres (or nobody), which
    // must own the directory.
    void choose_user() {
        if (::geteuid() != 0) {
            return;
        }
        for (const char* name : {"postgres", "nobody"}) {
            if (const passwd* user = ::getpwnam(name)) {
                uid_ = user->pw_uid;
                gid_ = user->pw_gid;
                as_other_user_ = true;
                if (::chown(dir_.path().c_str(), uid_, gid_) != 0) {
                    throw std::runtime_error("test_postgres: cannot give " + dir_.path().string() +
                                             " to user " + name);
                }
                return;
            }
        }
        throw std::runtime_error("test_postgres: running as root and no postgres or nobody user "
                                 "to run PostgreSQL as");
    }

    void shutdown(const char* mode) {
        if (!running_) {
            return;
        }
        running_ = false;
        try {
            run({(bin_ / "pg_ctl").string(), "stop", "-w", "-t", "30", "-m", mode, "-D",
                 data_dir()},
                std::string("pg_ctl stop -m ") + mode);
        } catch (...) {
            kill_postmaster();
            throw;
        }
    }

    // Last resort: SIGKILL the postmaster named in postmaster.pid.
    void kill_postmaster() noexcept {
        try {
            std::ifstream pid_file(dir_.path() / "data" / "postmaster.pid");
            long pid = 0;
            if (pid_file >> pid && pid > 0) {
                ::kill(static_cast<pid_t>(pid), SIGKILL);
            }
        } catch (...) {
        }
        running_ = false;
    }

    // Runs a program (as the chosen user) to completion, its output appended to
    // commands.log; throws std::runtime_error with that output and the server log on failure.
    void run(std::vector<std::string> args, const std::string& what) {
        const std::string output_path = (dir_.path() / "commands.log").string();
        const int output =
            ::open(output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (output < 0) {
            throw std::runtime_error("test_postgres: cannot open " + output_path);
        }
        if (as_other_user_ && ::fchown(output, uid_, gid_) != 0) {
            ::close(output);
            throw std::runtime_error("test_postgres: cannot give " + output_path + " away");
        }
        std::vector<char*> argv;
        for (auto& arg : args) {
            argv.push_back(arg.data());
        }
        argv.push_back(nullptr);
        const pid_t pid = ::fork();
        if (pid < 0) {
            ::close(output);
            throw std::runtime_error("test_postgres: fork failed for " + what);
        }
        if (pid == 0) { // the child: only async-signal-safe calls until exec
            if (as_other_user_ &&
                (::setgroups(0, nullptr) != 0 || ::setgid(gid_) != 0 || ::setuid(uid_) != 0)) {
                ::_exit(126);
            }
            ::dup2(output, STDOUT_FILENO);
            ::dup2(output, STDERR_FILENO);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        ::close(output);
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            throw std::runtime_error("test_postgres: " + what + " failed (status " +
                                     std::to_string(status) + "):\n" + read_file(output_path) +
                                     "\nserver log:\n" + log());
        }
    }

    void wait_until_ready() {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        const std::string info = conninfo();
        while (std::chrono::steady_clock::now() < deadline) {
            if (PQping(info.c_str()) == PQPING_OK) {
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        kill_postmaster();
        throw std::runtime_error("test_postgres: the server did not accept connections within "
                                 "30 s:\n" +
                                 log());
    }

    static std::string read_file(const std::filesystem::path& path) {
        std::ifstream in(path);
        std::ostringstream text;
        text << in.rdbuf();
        return text.str();
    }

    std::filesystem::path bin_;
    test_redis::TempDir dir_;
    int port_;
    bool running_ = false;
    bool as_other_user_ = false;
    uid_t uid_ = 0;
    gid_t gid_ = 0;
};

/// One server for the whole test program, started on first use and stopped at exit: test
/// cases share it and keep apart by each using its own create_database(). Tests that stop or
/// restart a server make their own PostgresServer instead.
inline PostgresServer& shared_server() {
    static PostgresServer server;
    return server;
}

} // namespace test_postgres
