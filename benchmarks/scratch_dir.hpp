// A benchmark's scratch directory: created fresh under a base directory, removed with its
// files at the end. Shared by the benchmarks that write databases.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <system_error>

/// A directory "<base>/<prefix>-<pid>-<random>", removed with its contents by the destructor.
class ScratchDir {
public:
    ScratchDir(const std::filesystem::path& base, const std::string& prefix) {
        std::random_device random;
        path_ = base / (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
        std::filesystem::create_directories(path_);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    ~ScratchDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};
