// StreamConsumer with authenticated events and redacted messages, against a real redis-server
// (part of consumer_test): forged, tampered, unsigned and unknown-key events dead-lettered
// before the inbox and the handlers; rotated keys; BusPublisher signing through the relay;
// dead-letter reasons, log lines and the dead-letter tool's output free of e-mail and IP
// addresses and of raw control characters.
#include "bus_test_support.hpp"
#include "catch_compat.hpp"
#include "consumer_test_support.hpp"
#include "event_samples.hpp"
#include "log_capture.hpp"

#include <authevents/bus/cloudevent.hpp>
#include <authevents/bus/consumer.hpp>
#include <authevents/bus/dead_letters.hpp>
#include <authevents/bus/dedup.hpp>
#include <authevents/bus/outbox.hpp>
#include <authevents/bus/publisher.hpp>
#include <authevents/bus/redis.hpp>
#include <authevents/bus/relay.hpp>
#include <authevents/bus/signing.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

using authevents::SellerApplicationApproved;
using authevents::UserRegistered;
using authevents::bus::BusPublisher;
using authevents::bus::ClaimState;
using authevents::bus::CloudEvent;
using authevents::bus::ConsumerOptions;
using authevents::bus::EventTypeRegistry;
using authevents::bus::MemoryDedupStore;
using authevents::bus::OutboxRelay;
using authevents::bus::PublisherOptions;
using authevents::bus::RedisConnection;
using authevents::bus::RelayOptions;
using authevents::bus::SigningKey;
using authevents::bus::SqliteOutbox;
using authevents::bus::StreamConsumer;
using namespace test_consumer;

namespace {

const SigningKey key_2026_11("2026-11", std::string(32, 'k'));
const SigningKey key_2026_12("2026-12", "a different secret of 32 or more bytes");

/// Adds `text` as the relay would add an event; returns the entry id.
std::string add_text(RedisConnection& redis, const CloudEvent& event, const std::string& text) {
    return add_raw(redis, {"id", event.id, "type", event.type, "event", text});
}

/// `text` with the first `from` replaced by `to` (which must be there).
std::string replaced(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

/// Counts approvals; the service an attacker wants to fool.
struct ApprovalService {
    test_bus::QuietDispatcher dispatcher;
    std::atomic<int> approvals{0};
    ApprovalService() {
        dispatcher.seller_application_approved.connect(
            [this](const SellerApplicationApproved&) { ++approvals; });
    }
};

} // namespace

TEST_CASE("consumer with keys: forged, tampered, unsigned and unknown-key events never run") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    const EventTypeRegistry registry;
    const CloudEvent approval = registry.encode(samples::seller_application_approved());
    const std::string signed_text = authevents::bus::to_signed_json_text(approval, key_2026_12);

    std::vector<CloudEvent> refused;
    const auto add_refused = [&](const std::string& text) {
        refused.push_back(authevents::bus::parse_cloud_event(text));
        add_text(redis, refused.back(), text);
    };
    // Forged: someone with write access to the stream but not the key signs with a guess.
    CloudEvent forged = registry.encode(samples::seller_application_approved());
    add_refused(authevents::bus::to_signed_json_text(
        forged, SigningKey("2026-12", "a guessed secret of at least 32 bytes")));
    // Tampered: a real signed approval whose new seller was changed in flight.
    CloudEvent tampered_data = registry.encode(samples::seller_application_approved());
    add_refused(replaced(authevents::bus::to_signed_json_text(tampered_data, key_2026_12),
                         "\"new_seller\":{\"email\":\"ana@", "\"new_seller\":{\"email\":\"eve@"));
    // Tampered: an attribute (the subject) changed after signing.
    CloudEvent tampered_attribute = registry.encode(samples::seller_application_approved());
    add_refused(replaced(authevents::bus::to_signed_json_text(tampered_attribute, key_2026_12),
                         "\"subject\":\"seller_application/7\"",
                         "\"subject\":\"seller_application/8\""));
    // Unsigned.
    add_refused(
        authevents::bus::to_json_text(registry.encode(samples::seller_application_approved())));
    // Signed with a key the consumer does not accept.
    add_refused(authevents::bus::to_signed_json_text(
        registry.encode(samples::seller_application_approved()), key_2026_11));
    // And the genuine one.
    add_text(redis, approval, signed_text);

    ApprovalService service;
    MemoryDedupStore dedup;
    ConsumerOptions options = fast_options();
    options.signing_keys = {key_2026_12};
    StreamConsumer consumer(server.endpoint(), service.dispatcher, dedup, options, registry);
    CHECK(poll_until(consumer, [&] { return consumer.stats().handled == 1; }));
    CHECK(service.approvals == 1);
    CHECK(consumer.stats().dead_lettered == 5);
    CHECK(consumer.stats().unauthenticated == 5);
    CHECK(pending_count(redis) == 0);

    const auto dead = test_bus::read_stream(redis, "events.dead");
    REQUIRE(dead.size() == 5);
    CHECK(test_bus::contains(dead[0].field("reason"), "bad signature for key id '2026-12'"));
    CHECK(test_bus::contains(dead[1].field("reason"), "bad signature for key id '2026-12'"));
    CHECK(test_bus::contains(dead[2].field("reason"), "bad signature for key id '2026-12'"));
    CHECK(test_bus::contains(dead[3].field("reason"), "unsigned event"));
    CHECK(test_bus::contains(dead[4].field("reason"),
                             "unknown key id '2026-11' (accepted: 2026-12)"));
    // Refused before the inbox claim: none of their ids was ever claimed.
    for (const CloudEvent& event : refused) {
        CHECK(dedup.claim(inbox_key(event), "probe", std::chrono::seconds(1)) ==
              ClaimState::claimed);
    }
    CHECK(dedup.claim(inbox_key(approval), "probe", std::chrono::seconds(1)) == ClaimState::done);
}

TEST_CASE("consumer with keys: a replayed signed event is skipped by the inbox") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    const CloudEvent approval = EventTypeRegistry{}.encode(samples::seller_application_approved());
    const std::string text = authevents::bus::to_signed_json_text(approval, key_2026_12);
    add_text(redis, approval, text);
    add_text(redis, approval, text); // an attacker copies a genuine entry: the id is signed
    ApprovalService service;
    MemoryDedupStore dedup;
    ConsumerOptions options = fast_options();
    options.signing_keys = {key_2026_12};
    StreamConsumer consumer(server.endpoint(), service.dispatcher, dedup, options);
    CHECK(poll_until(consumer,
                     [&] { return consumer.stats().handled + consumer.stats().duplicates == 2; }));
    CHECK(service.approvals == 1);
    CHECK(consumer.stats().duplicates == 1);
}

TEST_CASE("consumer with keys: during a rotation both keys are accepted, then only the new") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    const EventTypeRegistry registry;
    const CloudEvent before = registry.encode(samples::seller_application_approved());
    const CloudEvent after = registry.encode(samples::seller_application_approved());
    add_text(redis, before, authevents::bus::to_signed_json_text(before, key_2026_11));
    add_text(redis, after, authevents::bus::to_signed_json_text(after, key_2026_12));

    ApprovalService service;
    MemoryDedupStore dedup;
    ConsumerOptions rotating = fast_options();
    rotating.signing_keys = {key_2026_11, key_2026_12};
    {
        StreamConsumer consumer(server.endpoint(), service.dispatcher, dedup, rotating);
        CHECK(poll_until(consumer, [&] { return consumer.stats().handled == 2; }));
        CHECK(consumer.stats().unauthenticated == 0);
    }
    CHECK(service.approvals == 2);

    // Rotation done: the old key is removed from the consumers; a late old-key event is refused.
    const CloudEvent late = registry.encode(samples::seller_application_approved());
    add_text(redis, late, authevents::bus::to_signed_json_text(late, key_2026_11));
    ConsumerOptions rotated = fast_options();
    rotated.signing_keys = {key_2026_12};
    StreamConsumer consumer(server.endpoint(), service.dispatcher, dedup, rotated);
    CHECK(poll_until(consumer, [&] { return consumer.stats().dead_lettered == 1; }));
    CHECK(consumer.stats().unauthenticated == 1);
    CHECK(service.approvals == 2);

    ConsumerOptions duplicate_ids = fast_options();
    duplicate_ids.signing_keys = {key_2026_12, SigningKey("2026-12", std::string(40, 'x'))};
    CHECK_THROWS_AS(StreamConsumer(server.endpoint(), service.dispatcher, dedup, duplicate_ids),
                    std::invalid_argument);
}

TEST_CASE("BusPublisher with a signing key: signed through the outbox and relay, accepted") {
    test_redis::RedisServer server;
    test_bus::TempDatabase db;
    SqliteOutbox outbox(db.path());
    test_bus::QuietDispatcher producer;
    PublisherOptions publisher_options;
    publisher_options.signing_key = key_2026_12;
    BusPublisher publisher(producer, outbox, EventTypeRegistry{}, publisher_options);
    producer.dispatch(samples::seller_application_approved());
    const CloudEvent direct = publisher.publish(samples::seller_application_approved());

    RelayOptions relay_options;
    relay_options.stream = "events";
    OutboxRelay relay(outbox, server.endpoint(), relay_options);
    CHECK(relay.relay_once() == 2);
    RedisConnection redis(server.endpoint());
    const auto entries = test_bus::read_stream(redis, "events");
    REQUIRE(entries.size() == 2);
    const nlohmann::json wire = nlohmann::json::parse(entries[1].field("event"));
    CHECK(wire.at("authkeyid") == "2026-12");
    CHECK(wire.at("authsignature") == authevents::bus::signature_of(direct, key_2026_12));

    ApprovalService service;
    MemoryDedupStore dedup;
    ConsumerOptions options = fast_options();
    options.signing_keys = {key_2026_11, key_2026_12};
    StreamConsumer consumer(server.endpoint(), service.dispatcher, dedup, options);
    CHECK(poll_until(consumer, [&] { return consumer.stats().handled == 2; }));
    CHECK(service.approvals == 2);
    CHECK(consumer.stats().dead_lettered == 0);
}

TEST_CASE("consumer: reasons and log lines built from entries are redacted and escaped") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    add(redis, EventTypeRegistry{}.encode(samples::user_registered()));
    test_bus::QuietDispatcher dispatcher;
    dispatcher.user_registered.connect([](const UserRegistered& event) {
        throw std::runtime_error("welcome mail to " + event.user.email + " from " +
                                 event.ip_address.value_or("?") + " refused\n\u2028[EVENT] fake");
    });
    MemoryDedupStore dedup;
    LogCapture log;
    ConsumerOptions options = fast_options();
    options.max_deliveries = 2;
    StreamConsumer consumer(server.endpoint(), dispatcher, dedup, options, EventTypeRegistry{},
                            log.logger());
    CHECK(poll_until(consumer, [&] { return consumer.stats().dead_lettered == 1; }));

    const auto dead = test_bus::read_stream(redis, "events.dead");
    REQUIRE(dead.size() == 1);
    const std::string reason = dead[0].field("reason");
    CHECK(test_bus::contains(reason, "welcome mail to a***@example.com from 203.0.113.0/24 "
                                     "refused\\n\\u{2028}[EVENT] fake"));
    const auto lines = log.lines();
    REQUIRE(lines.size() >= 2); // the failed first delivery (warning), the dead letter (error)
    for (const auto& line : lines) {
        INFO(line.text);
        CHECK_FALSE(test_bus::contains(line.text, "ana@example.com"));
        CHECK_FALSE(test_bus::contains(line.text, "203.0.113.7"));
        CHECK(line.text.find('\n') == std::string::npos);
        CHECK(line.text.size() <= options.max_reason_bytes + 200);
    }

    // RedactionPolicy::none() shows them (still escaped).
    add(redis, EventTypeRegistry{}.encode(samples::user_registered()));
    ConsumerOptions verbatim = fast_options("worker-2");
    verbatim.max_deliveries = 1;
    verbatim.redaction = authevents::RedactionPolicy::none();
    StreamConsumer open_consumer(server.endpoint(), dispatcher, dedup, verbatim);
    CHECK(poll_until(open_consumer, [&] { return open_consumer.stats().dead_lettered == 1; }));
    const auto both = test_bus::read_stream(redis, "events.dead");
    REQUIRE(both.size() == 2);
    CHECK(test_bus::contains(both[1].field("reason"), "ana@example.com from 203.0.113.7"));
    CHECK_FALSE(test_bus::contains(both[1].field("reason"), "\n"));
}

#ifdef AUTHEVENTS_DEAD_LETTERS_TOOL
TEST_CASE("authevents-dead-letters list: a hostile dead letter prints as one redacted line") {
    test_redis::RedisServer server;
    RedisConnection redis(server.endpoint());
    // Anyone who can write the dead-letter stream can write any reason.
    redis.command({"XADD", "events.dead", "*", "reason",
                   "bob@example.com at 198.51.100.23\n0-1\tstream=events reason: all good\x1b[2J",
                   "stream", "events\r", "group", std::string(100000, 'g'), "consumer", "c",
                   "entry_id", "1-0"});
    const std::string output = run_tool(std::string(AUTHEVENTS_DEAD_LETTERS_TOOL) + " --port " +
                                        std::to_string(server.port()) + " --stream events list");
    INFO(output);
    CHECK(test_bus::contains(output, "b***@example.com at 198.51.100.0/24\\n0-1\\tstream=events"));
    CHECK(test_bus::contains(output, "\\x1b[2J"));
    CHECK(test_bus::contains(output, "stream=events\\r group=ggg"));
    CHECK_FALSE(test_bus::contains(output, "bob@"));
    CHECK_FALSE(test_bus::contains(output, "\x1b"));
    CHECK(output.size() < 8000); // the 100 KB group name is capped
    CHECK(test_bus::contains(output, "1 of 1 dead letters"));
}
#endif
