# semper_proto_library(<target> PROTOS a.proto ... [GRPC] [DEPS targets...])
#
# Turns .proto files (paths relative to ${SEMPER_PROTO_ROOT}) into a static library of the
# protobuf C++ code and, with GRPC, the gRPC service stubs. Generated headers are included as
# "semper/v1/foo.pb.h", the same path as the import in the .proto file.
set(SEMPER_PROTO_ROOT "${CMAKE_SOURCE_DIR}/proto" CACHE INTERNAL "")
set(SEMPER_PROTO_OUT "${CMAKE_BINARY_DIR}/proto-gen" CACHE INTERNAL "")

function(semper_proto_library target)
  cmake_parse_arguments(ARG "GRPC" "ROOT" "PROTOS;DEPS" ${ARGN})
  if(NOT ARG_ROOT)
    set(ARG_ROOT "${SEMPER_PROTO_ROOT}")
  endif()
  set(srcs)
  set(hdrs)
  foreach(proto IN LISTS ARG_PROTOS)
    string(REGEX REPLACE "\\.proto$" "" base "${proto}")
    set(outs "${SEMPER_PROTO_OUT}/${base}.pb.cc" "${SEMPER_PROTO_OUT}/${base}.pb.h")
    set(plugin_args)
    if(ARG_GRPC)
      list(APPEND outs "${SEMPER_PROTO_OUT}/${base}.grpc.pb.cc" "${SEMPER_PROTO_OUT}/${base}.grpc.pb.h")
      set(plugin_args --grpc_out=${SEMPER_PROTO_OUT} --plugin=protoc-gen-grpc=${SEMPER_GRPC_CPP_PLUGIN})
    endif()
    add_custom_command(
      OUTPUT ${outs}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${SEMPER_PROTO_OUT}
      COMMAND ${SEMPER_PROTOC} -I${ARG_ROOT} -I${SEMPER_PROTO_ROOT} -I/usr/include
              --cpp_out=${SEMPER_PROTO_OUT} ${plugin_args} ${ARG_ROOT}/${proto}
      DEPENDS ${ARG_ROOT}/${proto} ${SEMPER_PROTOC}
      COMMENT "protoc ${proto}"
      VERBATIM)
    foreach(o IN LISTS outs)
      if(o MATCHES "\\.cc$")
        list(APPEND srcs ${o})
      else()
        list(APPEND hdrs ${o})
      endif()
    endforeach()
  endforeach()
  add_library(${target} STATIC ${srcs} ${hdrs})
  if(SEMPER_SANITIZE)
    # The generated code is protobuf's and gRPC's, like the libraries it calls (uninstrumented
    # too). The accessors are inline and so checked in our objects; what is not (parse,
    # serialize, merge, copy, clear, destructors of messages) is then as unchecked as libprotobuf
    # itself: a message used after it is freed is caught only where our code touches it.
    # Uninstrumented it compiles in half the time, which the test tree (deploy/test.sh) builds
    # on every machine.
    target_compile_options(${target} PRIVATE -fno-sanitize=all)
  endif()
  target_include_directories(${target} SYSTEM PUBLIC ${SEMPER_PROTO_OUT})
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf ${ARG_DEPS})
  if(ARG_GRPC)
    target_link_libraries(${target} PUBLIC gRPC::grpc++)
  endif()
endfunction()
