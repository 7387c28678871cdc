# The project version in one generated header, <k8slb/version.h>. Binaries link the build-only
# INTERFACE target k8slb_version and print `<binary> <version>` on --version; the libraries carry
# the header too (it is installed with the public headers). Changing project(VERSION) regenerates
# only this header, so only the files that include it recompile.
set(K8SLB_GENERATED_INCLUDE_DIR ${PROJECT_BINARY_DIR}/generated/include)
configure_file(${CMAKE_CURRENT_LIST_DIR}/version.h.in ${K8SLB_GENERATED_INCLUDE_DIR}/k8slb/version.h @ONLY)
add_library(k8slb_version INTERFACE)
target_include_directories(k8slb_version INTERFACE $<BUILD_INTERFACE:${K8SLB_GENERATED_INCLUDE_DIR}>)
