// The hang watch linked into every test executable (hang_watch.cpp): ctest runs this one with
// AUTHEVENTS_TEST_HANG_SECONDS=1 and passes only when the output names the second case as the
// one that hung (the first, quick case must not be blamed).
#include "catch_compat.hpp"

#include <chrono>
#include <thread>

TEST_CASE("hang watch: a quick case passes unnoticed") {
    SUCCEED("well within the limit: the watch must not name this case");
}

TEST_CASE("hang watch: a case that outlives the limit is named") {
    std::this_thread::sleep_for(std::chrono::seconds(30));
    FAIL("the hang watch did not end the run within 30 s");
}
