# The embedded interpreter (src/python/), part of pyenv_core. No CPython header is used: the
# few types and functions libpyenv calls are declared in capi.hpp, so that one build embeds
# every CPython from 3.9 to 3.15 (tests/python/capi_check.cpp compares those declarations
# with the machine's Python.h). libpython is never linked: it is found from each environment
# and loaded with dlopen.
target_sources(pyenv_core PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/interpreter.cpp
  ${CMAKE_CURRENT_LIST_DIR}/libpython.cpp
  ${CMAKE_CURRENT_LIST_DIR}/locate.cpp
  ${CMAKE_CURRENT_LIST_DIR}/startup.cpp
)
# Debian keeps libpython in the multiarch directory of the plugin's own target.
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/locate.cpp PROPERTIES
  COMPILE_DEFINITIONS "PYENV_LIBRARY_ARCHITECTURE=\"${CMAKE_LIBRARY_ARCHITECTURE}\"")
target_link_libraries(pyenv_core PUBLIC ${CMAKE_DL_LIBS})
