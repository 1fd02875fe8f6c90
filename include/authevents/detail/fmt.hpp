// {fmt}, as authevents' headers include it: <fmt/format.h>, plus (for fmt 9 used as a compiled
// library) an explicit instantiation declaration of the formatting engine the library already
// holds.
//
// fmt 9 defines `fmt::detail::vformat_to<char>` (the engine behind every `fmt::format_to`)
// as a template in <fmt/format.h> without declaring that libfmt instantiates it, so every
// translation unit that calls `format_to` compiled the engine again, with the writers of
// every argument type (floating point included): about a fifth of what including
// <authevents/dispatcher.hpp> cost. fmt 10 declares it itself; for fmt 9 this header does,
// exactly as fmt 10 does. Not with FMT_HEADER_ONLY (there is no library to hold it).
#pragma once

#include <fmt/format.h>

#if !defined(FMT_HEADER_ONLY) && FMT_VERSION >= 90000 && FMT_VERSION < 100000
FMT_BEGIN_NAMESPACE
namespace detail {
extern template FMT_API void vformat_to<char>(buffer<char>&, string_view,
                                              basic_format_args<FMT_BUFFER_CONTEXT(char)>,
                                              locale_ref);
} // namespace detail
FMT_END_NAMESPACE
#endif
