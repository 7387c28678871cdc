# Packaging: install rules of the binaries, the CMake package `k8slb` (lib/CMakeLists.txt installs
# the libraries and headers), pkg-config files, and the Debian packages made by CPack
# (`cpack -G DEB` in the build folder; .ci/steps/50-package checks them in a clean chroot):
#   k8slb            the command-line binaries and the shipped scenarios (dependencies: dpkg-shlibdeps)
#   k8slb-dashboard  the Qt dashboard, when it is built
#   libk8slb-dev     static libraries, public headers, CMake and pkg-config files, echo.proto
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Every k8slb-* executable of the build, each installed and --version tested. A new binary is
# added here; one that is built but not listed is a configure error, so none ships untested.
set(K8SLB_BINARIES k8slb-client k8slb-echo-server k8slb-fakeapi k8slb-sim)
if(K8SLB_BUILD_XDS)
  list(APPEND K8SLB_BINARIES k8slb-xds k8slb-xds-example)
endif()
set(K8SLB_GUI_BINARIES)
if(TARGET k8slb-dashboard)  # K8SLB_BUILD_GUI with Qt 6 found (the root CMakeLists.txt decides)
  list(APPEND K8SLB_GUI_BINARIES k8slb-dashboard)
endif()

function(k8slb_find_binaries dir out)
  set(found)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(t IN LISTS targets)
    get_target_property(type ${t} TYPE)
    if(type STREQUAL "EXECUTABLE" AND t MATCHES "^k8slb-")
      list(APPEND found ${t})
    endif()
  endforeach()
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    k8slb_find_binaries(${sub} sub_found)
    list(APPEND found ${sub_found})
  endforeach()
  set(${out} ${found} PARENT_SCOPE)
endfunction()
k8slb_find_binaries(${PROJECT_SOURCE_DIR} _k8slb_built)
foreach(_bin IN LISTS _k8slb_built)
  if(NOT _bin IN_LIST K8SLB_BINARIES AND NOT _bin IN_LIST K8SLB_GUI_BINARIES)
    message(FATAL_ERROR "${_bin} is built but not listed in K8SLB_BINARIES (cmake/K8slbPackaging.cmake), "
                        "which installs every binary and tests its --version")
  endif()
endforeach()
foreach(_bin IN LISTS K8SLB_BINARIES)
  if(NOT TARGET ${_bin})
    message(FATAL_ERROR "${_bin} is listed in K8SLB_BINARIES (cmake/K8slbPackaging.cmake) but no target builds it")
  endif()
endforeach()

install(TARGETS ${K8SLB_BINARIES} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT bin)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/scenarios/ DESTINATION ${CMAKE_INSTALL_DATADIR}/k8slb/scenarios
        COMPONENT bin FILES_MATCHING PATTERN "*.yaml")
if(K8SLB_GUI_BINARIES)
  install(TARGETS ${K8SLB_GUI_BINARIES} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT dashboard)
endif()

# `<binary> --version` prints exactly "<binary> <project version>" and exits 0, with no display.
if(K8SLB_BUILD_TESTS)
  foreach(_bin IN LISTS K8SLB_BINARIES K8SLB_GUI_BINARIES)
    add_test(NAME version_${_bin}
             COMMAND ${CMAKE_COMMAND} -DBINARY=$<TARGET_FILE:${_bin}> -DNAME=${_bin} -DVERSION=${PROJECT_VERSION}
                     -P ${PROJECT_SOURCE_DIR}/tests/packaging/check_version.cmake)
    set_tests_properties(version_${_bin} PROPERTIES LABELS packaging TIMEOUT 30
                         ENVIRONMENT_MODIFICATION "DISPLAY=unset:;WAYLAND_DISPLAY=unset:;QT_QPA_PLATFORM=unset:")
  endforeach()
endif()

# ---- CMake package and pkg-config files (component dev) ----
set(K8SLB_NLOHMANN_JSON_MIN 3.10)
set(K8SLB_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/k8slb)
set(K8SLB_PROTO_INSTALL_DIR ${CMAKE_INSTALL_DATADIR}/k8slb/proto)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/k8slbConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/packaging/k8slbConfig.cmake
                              INSTALL_DESTINATION ${K8SLB_CMAKE_DIR} PATH_VARS K8SLB_PROTO_INSTALL_DIR
                              NO_SET_AND_CHECK_MACRO)
# 0.x: a minor release may change the API, so only the same major.minor is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/packaging/k8slbConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/packaging/k8slbConfig.cmake ${PROJECT_BINARY_DIR}/packaging/k8slbConfigVersion.cmake
        DESTINATION ${K8SLB_CMAKE_DIR} COMPONENT dev)
# The .pc files find the prefix from their own place, so an unpacked or relocated tree works too.
file(RELATIVE_PATH K8SLB_PC_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" K8SLB_PC_PREFIX "${K8SLB_PC_PREFIX}")
foreach(_pc k8slb k8slb-core)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/${_pc}.pc.in ${PROJECT_BINARY_DIR}/packaging/${_pc}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/packaging/${_pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)
endforeach()
# The echo service's definition, so a consumer can generate stubs that talk to k8slb-echo-server.
install(FILES ${PROJECT_SOURCE_DIR}/proto/echo.proto DESTINATION ${K8SLB_PROTO_INSTALL_DIR} COMPONENT dev)

# ---- Debian packages (CPack DEB, one per component) ----
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME k8slb)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "k8slb")
set(CPACK_PACKAGE_CONTACT "k8slb developers <k8slb@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "gRPC client-side load balancing on Kubernetes")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL bin dev)
if(K8SLB_GUI_BINARIES)
  list(APPEND CPACK_COMPONENTS_ALL dashboard)
endif()
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)

set(CPACK_DEBIAN_BIN_PACKAGE_NAME k8slb)
set(CPACK_DEBIAN_BIN_PACKAGE_SHLIBDEPS ON)
set(CPACK_COMPONENT_BIN_DESCRIPTION
    "gRPC client-side load balancing on Kubernetes: k8slb-client, k8slb-echo-server, k8slb-fakeapi, k8slb-sim\n"
    "The reference client balances each RPC over a Service's ready pods from its EndpointSlices;\n"
    "the echo backend, the fake Kubernetes API server and the scenario simulator come with it.")

set(CPACK_DEBIAN_DASHBOARD_PACKAGE_NAME k8slb-dashboard)
set(CPACK_DEBIAN_DASHBOARD_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_DASHBOARD_PACKAGE_SECTION x11)
set(CPACK_COMPONENT_DASHBOARD_DESCRIPTION "k8slb-dashboard: Qt 6 charts of k8slb-sim report folders")

# The static libraries' users link what the libraries link: the -dev packages of the public
# headers' dependencies and of the privately linked ones. protobuf-compiler-grpc because Debian's
# gRPC CMake package (find_dependency(gRPC)) fails to load when its plugin executables are absent.
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libk8slb-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "libgrpc++-dev, protobuf-compiler-grpc, libprotobuf-dev, libabsl-dev, nlohmann-json3-dev (>= ${K8SLB_NLOHMANN_JSON_MIN}), libcurl4-openssl-dev | libcurl-dev, libssl-dev, libyaml-cpp-dev")
set(CPACK_DEBIAN_DEV_PACKAGE_RECOMMENDS "cmake, g++")
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "k8slb development files: static libraries, headers, CMake package and pkg-config files\n"
    "find_package(k8slb CONFIG REQUIRED) gives k8slb::core (no gRPC), k8slb::discovery and k8slb::grpc.")
include(CPack)
