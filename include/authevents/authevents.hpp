/// @file
/// Umbrella header: the whole authevents library (signals, events, dispatcher, declarative
/// registration, dispatch on commit, redaction of personal data, test helpers, version).
#pragma once

#include <authevents/version.hpp>

#include <authevents/signal.hpp>
#include <authevents/thread_pool.hpp>

#include <authevents/describe.hpp>
#include <authevents/events.hpp>
#include <authevents/format.hpp>
#include <authevents/redaction.hpp>

#include <authevents/dispatch_report.hpp>
#include <authevents/dispatcher.hpp>
#include <authevents/event_traits.hpp>
#include <authevents/event_view.hpp>
#include <authevents/logging.hpp>
#include <authevents/receiver.hpp>
#include <authevents/testing.hpp>
#include <authevents/unit_of_work.hpp>
