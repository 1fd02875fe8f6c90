// Runs the authevents-audit tool as a process for the tests that check it (tool_test.cpp on
// SQLite, tests/bus/postgres_audit_log_test.cpp on PostgreSQL). AUTHEVENTS_AUDIT_TOOL is the
// built tool's path, defined by CMake for the test executables that depend on the tool.
#pragma once

#ifdef AUTHEVENTS_AUDIT_TOOL

#include "bus/sqlite_test_helpers.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace audit_tool_test {

using bus_test::TempDir;

/// What a run of the tool did.
struct ToolRun {
    int status = -1; ///< The exit status (-1: killed by a signal).
    std::string out; ///< Everything it wrote to stdout.
    std::string err; ///< Everything it wrote to stderr.
    std::string text() const { return out + err; }
};

using bus_test::file_bytes;

/// Runs authevents-audit with `args` (no shell), stdout and stderr captured in `dir`.
inline ToolRun run_tool(const TempDir& dir, const std::vector<std::string>& args) {
    std::vector<std::string> all{AUTHEVENTS_AUDIT_TOOL};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& arg : all) {
        argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    const std::string out_path = dir.file("tool.out");
    const std::string err_path = dir.file("tool.err");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    pid_t pid = 0;
    const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
        throw std::runtime_error(std::string("cannot start ") + AUTHEVENTS_AUDIT_TOOL);
    }
    int wait_status = 0;
    while (::waitpid(pid, &wait_status, 0) < 0) {
    }
    ToolRun run;
    run.status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
    run.out = file_bytes(out_path);
    run.err = file_bytes(err_path);
    return run;
}

} // namespace audit_tool_test

#endif // AUTHEVENTS_AUDIT_TOOL
