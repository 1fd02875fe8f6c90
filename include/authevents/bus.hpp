/// @file
/// Umbrella header of authevents::bus (CMake target `authevents::bus`): every dispatched
/// event as a CloudEvent, through a durable SQLite outbox, to a Redis stream, and from there
/// into the EventDispatcher of another process. See docs/bus.md.
#pragma once

#include <authevents/bus/backoff.hpp>
#include <authevents/bus/cloudevent.hpp>
#include <authevents/bus/consumer.hpp>
#include <authevents/bus/dead_letters.hpp>
#include <authevents/bus/dedup.hpp>
#include <authevents/bus/outbox.hpp>
#include <authevents/bus/publisher.hpp>
#include <authevents/bus/redis.hpp>
#include <authevents/bus/redis_dedup.hpp>
#include <authevents/bus/redis_endpoint.hpp>
#include <authevents/bus/relay.hpp>
#include <authevents/bus/signing.hpp>
#include <authevents/bus/sqlite_inbox.hpp>
