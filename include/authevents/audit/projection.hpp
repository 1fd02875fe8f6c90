/// @file
/// Read models (CQRS) over the audit trail: includes read_model.hpp (the Projection interface,
/// RecordData, ReadModelSession, ReadModelReader) and projection_runner.hpp (ProjectionRunner).
/// The three shipped projections are in projections.hpp.
///
/// Part of authevents::audit (CMake target authevents::audit).
#pragma once

#include <authevents/audit/projection_runner.hpp>
#include <authevents/audit/read_model.hpp>
