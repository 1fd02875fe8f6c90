// Must not compile: an event needs an EventCodec specialisation to become a CloudEvent.
#include <authevents/bus/cloudevent.hpp>

#include <string_view>

struct NoCodec {
    static constexpr std::string_view name = "no_codec";
};

int main() { return authevents::bus::to_cloud_event(NoCodec{}).id.empty() ? 0 : 1; }
