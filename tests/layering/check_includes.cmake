# Folder layering check (run by ctest as `layering_includes`): the repository's folders depend one
# way, lib <- fakeapi <- sim <- gui, so no file in a folder may include a header of a folder it must
# not depend on. Usage:
#   cmake -DROOT=<repository> -DFOLDER=<folder> "-DFORBIDDEN=a;b" -P check_includes.cmake
# Every C/C++ source or header under ROOT/FOLDER is scanned for #include lines; an include is a
# violation when it names a file of a forbidden folder, either from the repository root
# ("sim/scenario/scenario.h") or relative to the including file ("../../sim/scenario/scenario.h").
# Fails after one line per violation (FILE:LINE: the include), else prints how many files it read.
cmake_minimum_required(VERSION 3.25)
foreach(var ROOT FOLDER FORBIDDEN)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_includes.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT IS_DIRECTORY "${ROOT}/${FOLDER}")
  message(FATAL_ERROR "check_includes.cmake: ${ROOT}/${FOLDER} is not a folder")
endif()
file(REAL_PATH "${ROOT}" root)

file(GLOB_RECURSE sources LIST_DIRECTORIES false
     "${ROOT}/${FOLDER}/*.h" "${ROOT}/${FOLDER}/*.hh" "${ROOT}/${FOLDER}/*.hpp" "${ROOT}/${FOLDER}/*.inc"
     "${ROOT}/${FOLDER}/*.c" "${ROOT}/${FOLDER}/*.cc" "${ROOT}/${FOLDER}/*.cpp")
set(violations "")
foreach(source IN LISTS sources)
  get_filename_component(dir "${source}" DIRECTORY)
  # One list element per line: characters that CMake lists treat specially become blanks first.
  file(READ "${source}" text)
  string(REGEX REPLACE "[][;\\\\]" " " text "${text}")
  string(REPLACE "\n" ";" lines "${text}")
  set(line_number 0)
  foreach(line IN LISTS lines)
    math(EXPR line_number "${line_number} + 1")
    if(NOT line MATCHES "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"]")
      continue()
    endif()
    set(included "${CMAKE_MATCH_1}")
    # Where the include can land inside the repository: under the root, or next to the file.
    set(targets "")
    if(EXISTS "${root}/${included}")
      file(REAL_PATH "${root}/${included}" target)
      list(APPEND targets "${target}")
    endif()
    if(EXISTS "${dir}/${included}")
      file(REAL_PATH "${dir}/${included}" target)
      list(APPEND targets "${target}")
    endif()
    foreach(target IN LISTS targets)
      file(RELATIVE_PATH relative "${root}" "${target}")
      foreach(forbidden IN LISTS FORBIDDEN)
        if(relative MATCHES "^${forbidden}/")
          file(RELATIVE_PATH shown "${root}" "${source}")
          list(APPEND violations "${shown}:${line_number}: #include \"${included}\" reaches ${forbidden}/")
        endif()
      endforeach()
    endforeach()
  endforeach()
endforeach()
list(LENGTH sources count)
if(violations)
  list(REMOVE_DUPLICATES violations)
  list(LENGTH violations violation_count)
  # One unwrapped line per violation, then the failure.
  foreach(violation IN LISTS violations)
    message(NOTICE "${violation}")
  endforeach()
  message(FATAL_ERROR "${FOLDER}/ must not include headers of ${FORBIDDEN}: ${violation_count} includes do")
endif()
message(STATUS "${FOLDER}/: ${count} files, no include of ${FORBIDDEN}")
