// What the fragments of docs/security.md use without declaring: the reader's own pieces.
// Declarations only: the fragments are compiled, not linked.
#pragma once

#include <authevents/authevents.hpp>
#include <authevents/bus.hpp>

#include <string>

namespace docs_security {

extern authevents::EventDispatcher events;
extern authevents::bus::SqliteOutbox outbox;
extern authevents::bus::RedisEndpoint relay_endpoint;    // TLS, ACL user "relay"
extern authevents::bus::RedisEndpoint consumer_endpoint; // TLS, ACL user "consumer"
/// The contents of a secret file (a password, a hex key).
std::string read_secret(const char* path);

} // namespace docs_security

using namespace docs_security;
