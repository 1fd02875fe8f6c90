// A consumer in its own process, for bus_end_to_end_test: consumes stream "events" in group
// "notifications" as the named member and appends the email of every UserRegistered its
// handler sees to a file, one line each (O_APPEND: a line is written whole or not at all).
// With a kill-after count, the handler kills its own process (SIGKILL) right after writing
// that many lines: a crash after the handler ran, before the entry was acknowledged.
//
// Usage: consumer_process <redis port> <member name> <output file> <kill after, 0 = never>
#include <authevents/bus/consumer.hpp>
#include <authevents/bus/dedup.hpp>
#include <authevents/dispatcher.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s <redis port> <member name> <output file> <kill after>\n",
                     argv[0]);
        return 2;
    }
    const int port = std::atoi(argv[1]);
    const std::string member = argv[2];
    const int out = ::open(argv[3], O_WRONLY | O_CREAT | O_APPEND, 0644);
    const long kill_after = std::atol(argv[4]);
    if (out < 0) {
        std::perror("consumer_process: open");
        return 2;
    }

    authevents::EventDispatcher dispatcher;
    dispatcher.set_logger({});
    long written = 0;
    dispatcher.user_registered.connect([&](const authevents::UserRegistered& event) {
        const std::string line = event.user.email + "\n";
        if (::write(out, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
            throw std::runtime_error("consumer_process: short write");
        }
        if (++written == kill_after) {
            ::kill(::getpid(), SIGKILL);
        }
    });

    authevents::bus::RedisEndpoint endpoint;
    endpoint.port = port;
    authevents::bus::ConsumerOptions options;
    options.stream = "events";
    options.group = "notifications";
    options.consumer = member;
    options.batch_size = 32;
    options.block = std::chrono::milliseconds(50);
    authevents::bus::MemoryDedupStore dedup;
    authevents::bus::StreamConsumer consumer(endpoint, dispatcher, dedup, options);
    for (;;) { // until the test stops this process
        try {
            consumer.poll_once();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "consumer_process: %s\n", e.what());
            ::usleep(50'000);
        }
    }
}
