/// @file
/// CloudEvents 1.0 for authevents (structured JSON mode): includes every CloudEvent header.
/// Include the one you need to compile less:
///
///   - `authevents/bus/envelope.hpp`: CloudEventError, CloudEvent, parsing and writing;
///   - `authevents/bus/time.hpp`: RFC 3339 time stamps;
///   - `authevents/bus/ids.hpp`: new_event_id();
///   - `authevents/bus/data_reader.hpp`: DataReader, the strict reader codecs use;
///   - `authevents/bus/codec.hpp`: the EventCodec customisation point, to_cloud_event() and
///     from_cloud_event();
///   - `authevents/bus/builtin_codecs.hpp`: the codecs of the twelve built-in events;
///   - `authevents/bus/registry.hpp`: EventTypeRegistry.
///
/// Part of authevents::bus (CMake target authevents::bus); uses nlohmann-json.
#pragma once

#include <authevents/bus/builtin_codecs.hpp>
#include <authevents/bus/codec.hpp>
#include <authevents/bus/data_reader.hpp>
#include <authevents/bus/envelope.hpp>
#include <authevents/bus/ids.hpp>
#include <authevents/bus/registry.hpp>
#include <authevents/bus/time.hpp>
