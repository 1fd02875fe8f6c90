// std::function without the rest of <functional>, and the call of a slot without std::invoke:
// what signal.hpp needs of <functional>, at a fraction of its compile time.
#pragma once

#include <type_traits>

// libstdc++ defines std::function (and std::reference_wrapper) in <bits/std_function.h>; its
// <functional> adds, in C++17, the searchers and with them <unordered_map>, <vector>, <array>
// and the algorithms: a sixth of what including signal.hpp costs. Any other library (or a
// libstdc++ without that header): <functional>.
#if defined(__GLIBCXX__) && __has_include(<bits/std_function.h>)
#include <bits/std_function.h>
#else
#include <functional>
#endif

namespace authevents::detail {

template <class T> struct is_reference_wrapper : std::false_type {};
template <class T> struct is_reference_wrapper<std::reference_wrapper<T>> : std::true_type {};

/// `target.*member`, called with `rest` when it is a member function.
template <class Class, class Member, class Target, class... Rest>
void call_member_on(Member Class::*member, Target& target, Rest&... rest) {
    if constexpr (std::is_function_v<Member>) {
        static_cast<void>((target.*member)(rest...));
    } else {
        static_cast<void>(target.*member);
    }
}

/// call_slot() of a pointer to member, whose first argument names the object.
template <class Class, class Member, class Object, class... Rest>
void call_member(Member Class::*member, Object& object, Rest&... rest) {
    using Plain = std::remove_cv_t<Object>;
    if constexpr (std::is_base_of_v<Class, Plain>) {
        call_member_on(member, object, rest...);
    } else if constexpr (is_reference_wrapper<Plain>::value) {
        call_member_on(member, object.get(), rest...);
    } else {
        call_member_on(member, *object, rest...);
    }
}

/// Calls `callable` with `args` as std::invoke would, ignoring the result: a direct call for
/// function objects and function pointers (no std::invoke machinery instantiated per slot
/// type), and the object forms (reference, std::reference_wrapper, pointer) for pointers to
/// members. Throws what the slot throws.
template <class F, class... Args> void call_slot(F& callable, Args&... args) {
    if constexpr (std::is_member_pointer_v<std::remove_cv_t<F>>) {
        call_member(callable, args...);
    } else {
        static_cast<void>(callable(args...));
    }
}

} // namespace authevents::detail
