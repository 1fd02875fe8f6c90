# authevents_one_translation_unit(<target>)
# Compiles one of authevents' own multi-file targets (tests, examples) as one translation unit
# (a CMake unity build): the headers its files share are parsed, and their templates
# instantiated and optimised, once per target instead of once per file. The files keep their
# file-local helpers in distinct names for this. Never used on the library targets.
include_guard(GLOBAL)

function(authevents_one_translation_unit target)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 0)
endfunction()
