# Folder dependency rules, checked by the build (the folders depend one way:
# lib <- fakeapi <- sim <- gui, with report/ a leaf that sim and gui share).
#
# k8slb_forbid_links(TARGET FORBIDDEN_DIRS dir...)
#   Fails the configure step when TARGET's link closure (its link libraries, theirs, and so on)
#   reaches a target defined under one of the given folders (relative to the source root). The
#   check runs once every target of the build is defined, so later target_link_libraries calls
#   are seen too.
#
# The include side (no source under a folder includes a header of another) is checked by the
# ctests of tests/layering.

function(_k8slb_link_closure target out_var)
  set(seen "")
  set(queue ${target})
  while(queue)
    list(POP_FRONT queue t)
    if(NOT TARGET "${t}")
      continue()
    endif()
    get_target_property(aliased "${t}" ALIASED_TARGET)
    if(aliased)
      set(t "${aliased}")
    endif()
    if("${t}" IN_LIST seen)
      continue()
    endif()
    list(APPEND seen "${t}")
    get_target_property(type "${t}" TYPE)
    set(links "")
    if(NOT type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(direct "${t}" LINK_LIBRARIES)
      if(direct)
        list(APPEND links ${direct})
      endif()
    endif()
    get_target_property(iface "${t}" INTERFACE_LINK_LIBRARIES)
    if(iface)
      list(APPEND links ${iface})
    endif()
    foreach(item IN LISTS links)
      # $<LINK_ONLY:x>, $<BUILD_INTERFACE:x> and the like name x.
      string(REGEX REPLACE "^\\$<[A-Z_]+:(.*)>$" "\\1" item "${item}")
      if(item MATCHES "^::@")
        continue()  # a directory scope marker CMake adds, not a library
      endif()
      list(APPEND queue "${item}")
    endforeach()
  endwhile()
  set(${out_var} "${seen}" PARENT_SCOPE)
endfunction()

function(_k8slb_check_forbidden_links target)
  _k8slb_link_closure(${target} closure)
  foreach(t IN LISTS closure)
    get_target_property(imported "${t}" IMPORTED)
    if(imported)
      continue()
    endif()
    get_target_property(dir "${t}" SOURCE_DIR)
    file(RELATIVE_PATH rel "${CMAKE_SOURCE_DIR}" "${dir}")
    foreach(forbidden IN LISTS ARGN)
      if(rel STREQUAL forbidden OR rel MATCHES "^${forbidden}/")
        message(FATAL_ERROR "dependency rule: ${target} must not link anything under ${forbidden}/, "
                            "but its link closure reaches ${t} (defined in ${rel}/)")
      endif()
    endforeach()
  endforeach()
endfunction()

function(k8slb_forbid_links target)
  cmake_parse_arguments(ARG "" "" "FORBIDDEN_DIRS" ${ARGN})
  if(NOT ARG_FORBIDDEN_DIRS)
    message(FATAL_ERROR "k8slb_forbid_links(${target}): no FORBIDDEN_DIRS")
  endif()
  # A deferred call expands variables when it runs, so the arguments are baked in now.
  list(JOIN ARG_FORBIDDEN_DIRS " " dirs)
  cmake_language(EVAL CODE
    "cmake_language(DEFER DIRECTORY \"${CMAKE_SOURCE_DIR}\" CALL _k8slb_check_forbidden_links \"${target}\" ${dirs})")
endfunction()
