// authevents-dead-letters: list, replay and delete the dead letters of a StreamConsumer.
//
//   authevents-dead-letters [options] list [--count N]
//   authevents-dead-letters [options] replay (--all | ID...)
//   authevents-dead-letters [options] delete (--all | ID...)
//
// Options: --host H (127.0.0.1), --port P (6379), --stream S (authevents; the dead letters are
// in "<S>.dead"), --dead-letter-stream D (overrides that), --target T (replay into T instead of
// each dead letter's own stream). The Redis password, if any, is read from the environment
// variable AUTHEVENTS_REDIS_PASSWORD (never from the command line, where `ps` shows it).
//
// Exit status: 0 done, 1 Redis failed or an id was not found, 2 bad usage.
#include <authevents/bus/dead_letters.hpp>
#include <authevents/bus/redis.hpp>
#include <authevents/redaction.hpp>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr const char* usage =
    "usage: authevents-dead-letters [--host H] [--port P] [--stream S]\n"
    "                               [--dead-letter-stream D] [--target T] COMMAND\n"
    "commands:\n"
    "  list [--count N]        show up to N (100) dead letters, oldest first, with reasons\n"
    "  replay --all | ID...    add them back to their stream (or T), then delete them\n"
    "  delete --all | ID...    delete them\n"
    "The password, if any, is read from AUTHEVENTS_REDIS_PASSWORD.\n";

struct Usage : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// `text` on one line, capped, e-mail and IP addresses redacted by the default policy
/// (dead letters are untrusted input: anyone who can write the dead-letter stream wrote it).
std::string printable(std::string_view text) {
    return authevents::redact_text(text, authevents::RedactionPolicy{}, 2048);
}

int run(int argc, char** argv) {
    authevents::bus::RedisEndpoint endpoint;
    std::string stream = "authevents";
    std::string dead_letter_stream;
    std::string target;
    std::vector<std::string> words;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                throw Usage(arg + " needs a value");
            }
            return argv[++i];
        };
        if (arg == "--host") {
            endpoint.host = value();
        } else if (arg == "--port") {
            endpoint.port = std::atoi(value().c_str());
        } else if (arg == "--stream") {
            stream = value();
        } else if (arg == "--dead-letter-stream") {
            dead_letter_stream = value();
        } else if (arg == "--target") {
            target = value();
        } else if (arg == "-h" || arg == "--help") {
            std::fputs(usage, stdout);
            return 0;
        } else {
            words.push_back(arg);
        }
    }
    if (words.empty()) {
        throw Usage("no command");
    }
    if (const char* password = std::getenv("AUTHEVENTS_REDIS_PASSWORD")) {
        endpoint.password = password;
    }
    if (dead_letter_stream.empty()) {
        dead_letter_stream = stream + ".dead";
    }
    authevents::bus::DeadLetters letters(endpoint, dead_letter_stream);
    const std::string command = words.front();
    const std::vector<std::string> rest(words.begin() + 1, words.end());
    const bool all = rest.size() == 1 && rest.front() == "--all";

    if (command == "list") {
        std::size_t count = 100;
        if (rest.size() == 2 && rest[0] == "--count") {
            count = static_cast<std::size_t>(std::strtoull(rest[1].c_str(), nullptr, 10));
        } else if (!rest.empty()) {
            throw Usage("list takes only --count N");
        }
        if (count == 0) {
            throw Usage("--count must be a positive number");
        }
        const auto found = letters.list(count);
        for (const auto& letter : found) {
            std::printf("%s\tstream=%s group=%s consumer=%s entry=%s\treason: %s\n",
                        letter.id.c_str(), printable(letter.stream).c_str(),
                        printable(letter.group).c_str(), printable(letter.consumer).c_str(),
                        printable(letter.entry_id).c_str(), printable(letter.reason).c_str());
        }
        std::printf("%zu of %zu dead letters in %s\n", found.size(), letters.size(),
                    printable(dead_letter_stream).c_str());
        return 0;
    }
    if (command != "replay" && command != "delete") {
        throw Usage("unknown command '" + command + "'");
    }
    if (rest.empty()) {
        throw Usage(command + " needs --all or dead-letter ids");
    }
    const bool replay = command == "replay";
    if (all) {
        const std::size_t count = replay ? letters.replay_all(target) : letters.remove_all();
        std::printf("%s %zu dead letters\n", replay ? "replayed" : "deleted", count);
        return 0;
    }
    int status = 0;
    for (const std::string& id : rest) {
        bool found = false;
        if (replay) {
            const auto new_id = letters.replay(id, target);
            found = new_id.has_value();
            if (found) {
                std::printf("replayed %s as %s\n", id.c_str(), new_id->c_str());
            }
        } else {
            found = letters.remove(id);
            if (found) {
                std::printf("deleted %s\n", id.c_str());
            }
        }
        if (!found) {
            std::fprintf(stderr, "authevents-dead-letters: no dead letter %s\n",
                         printable(id).c_str());
            status = 1;
        }
    }
    return status;
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const Usage& e) {
        std::fprintf(stderr, "authevents-dead-letters: %s\n%s", e.what(), usage);
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "authevents-dead-letters: %s\n", printable(e.what()).c_str());
        return 1;
    }
}
