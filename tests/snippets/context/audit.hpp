// What the fragments of docs/audit.md use without declaring: the service's dispatcher.
// Declarations only: the fragments are compiled, not linked.
#pragma once

#include <authevents/audit/audit_log.hpp>
#include <authevents/audit/postgres_store.hpp>
#include <authevents/audit/projection.hpp>
#include <authevents/audit/projections.hpp>
#include <authevents/audit/reader.hpp>
#include <authevents/audit/sqlite_store.hpp>
#include <authevents/audit/verify.hpp>
#include <authevents/authevents.hpp>

#include <fmt/format.h>

namespace docs_audit {

extern authevents::EventDispatcher dispatcher;

} // namespace docs_audit

using namespace docs_audit;
