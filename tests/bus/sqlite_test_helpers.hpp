// Helpers for the SQLite-backed bus tests: a temporary directory removed at the end and a
// plain sqlite3 connection standing for the service's own.
#pragma once

#include <authevents/bus/dedup.hpp>

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace bus_test {

/// The key the dedup store and inbox tests use for event `id` (stream "events").
inline authevents::bus::DedupKey dedup_key(const std::string& id,
                                           const std::string& group = "notifications") {
    return authevents::bus::DedupKey{"events", group, id};
}

// Every byte of the file at `path` (empty when it cannot be read).
inline std::string file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf(); // (istreambuf_iterator trips g++ 12's -Wnull-dereference at -O2)
    return bytes.str();
}

// A fresh, uniquely named directory under the system temp directory; removed with its files.
class TempDir {
public:
    TempDir() {
        static std::atomic<unsigned> counter{0};
        std::random_device random;
        const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
        path_ = std::filesystem::temp_directory_path() /
                ("authevents-bus-test-" + std::to_string(random()) + "-" + std::to_string(stamp) +
                 "-" + std::to_string(counter++));
        if (!std::filesystem::create_directory(path_)) {
            throw std::runtime_error("temp directory exists: " + path_.string());
        }
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }

    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

// A connection opened by the test itself, in WAL mode with a busy timeout.
class Db {
public:
    explicit Db(const std::string& path) {
        if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
            const std::string message = sqlite3_errmsg(db_);
            sqlite3_close(db_);
            throw std::runtime_error("cannot open " + path + ": " + message);
        }
        sqlite3_busy_timeout(db_, 5000);
        exec("PRAGMA journal_mode=WAL");
    }
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;
    ~Db() { sqlite3_close(db_); }

    sqlite3* get() const { return db_; }

    void exec(const std::string& sql) {
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
            throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
        }
    }

    // The first column of the first row as text ("" if none or NULL).
    std::string query_text(const std::string& sql) {
        sqlite3_stmt* statement = nullptr;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK) {
            throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
        }
        std::string result;
        if (sqlite3_step(statement) == SQLITE_ROW) {
            const unsigned char* text = sqlite3_column_text(statement, 0);
            if (text != nullptr) {
                result = reinterpret_cast<const char*>(text);
            }
        }
        sqlite3_finalize(statement);
        return result;
    }

private:
    sqlite3* db_ = nullptr;
};

} // namespace bus_test
