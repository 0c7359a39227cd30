# The library's internal layers, each an OBJECT library over one or more source folders, and the
# rule that makes their direction a fact of the build: a layer compiles against an *include view*
# (build/layers/<layer>/) holding symbolic links to its own folders and those of the layers it uses,
# and nothing else. Sources include internal headers by their path from the project root
# ("src/common/logging.hpp"), so an include against the direction ("src/core/..." from store/)
# finds no such file and the build fails. The public headers (include/) are visible to every layer.
#
#   shoal_layer(<name> FOLDERS <folders...> [USES <layers...>] SOURCES <files...>)
#
# USES is transitive: a layer sees the folders of every layer below it.
function(shoal_layer name)
  cmake_parse_arguments(L "" "" "FOLDERS;USES;SOURCES" ${ARGN})
  set(visible ${L_FOLDERS})
  foreach(dep IN LISTS L_USES)
    get_property(dep_visible GLOBAL PROPERTY SHOAL_LAYER_${dep}_VISIBLE)
    if(NOT dep_visible)
      message(FATAL_ERROR "shoal_layer(${name}): USES ${dep}, which is not declared before it")
    endif()
    list(APPEND visible ${dep_visible})
  endforeach()
  list(REMOVE_DUPLICATES visible)
  set_property(GLOBAL PROPERTY SHOAL_LAYER_${name}_VISIBLE "${visible}")
  set_property(GLOBAL APPEND PROPERTY SHOAL_LAYERS ${name})

  set(view ${PROJECT_BINARY_DIR}/layers/${name})
  file(REMOVE_RECURSE ${view})
  foreach(folder IN LISTS visible)
    get_filename_component(parent ${view}/${folder} DIRECTORY)
    file(MAKE_DIRECTORY ${parent})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${folder} ${view}/${folder} SYMBOLIC)
  endforeach()

  add_library(${name} OBJECT ${L_SOURCES})
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_compile_features(${name} PUBLIC cxx_std_20)
  target_include_directories(${name} PRIVATE
    ${view}
    ${PROJECT_SOURCE_DIR}/include
    ${PROJECT_BINARY_DIR}/generated/include)
  # Third-party headers are not layered: any layer may use the project's dependencies.
  target_link_libraries(${name} PRIVATE
    msgpackc-cxx Threads::Threads Boost::headers spdlog::spdlog fmt::fmt nlohmann_json::nlohmann_json
    shoal_build_flags)
  target_compile_definitions(${name} PRIVATE BOOST_STACKTRACE_LINK)
endfunction()

# An include view for a target outside the library (the `shoal` command and its client library):
# build/layers/<name>/ with links to FOLDERS and to the folders of the layers it USES, nothing else.
# Sets <name>_VIEW in the caller's scope to the view's directory.
#
#   shoal_include_view(<name> FOLDERS <folders...> USES <layers...>)
function(shoal_include_view name)
  cmake_parse_arguments(V "" "" "FOLDERS;USES" ${ARGN})
  set(visible ${V_FOLDERS})
  foreach(dep IN LISTS V_USES)
    get_property(dep_visible GLOBAL PROPERTY SHOAL_LAYER_${dep}_VISIBLE)
    if(NOT dep_visible)
      message(FATAL_ERROR "shoal_include_view(${name}): USES ${dep}, which is not declared before it")
    endif()
    list(APPEND visible ${dep_visible})
  endforeach()
  list(REMOVE_DUPLICATES visible)
  set(view ${PROJECT_BINARY_DIR}/layers/${name})
  file(REMOVE_RECURSE ${view})
  foreach(folder IN LISTS visible)
    get_filename_component(parent ${view}/${folder} DIRECTORY)
    file(MAKE_DIRECTORY ${parent})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${folder} ${view}/${folder} SYMBOLIC)
  endforeach()
  set(${name}_VIEW ${view} PARENT_SCOPE)
endfunction()
