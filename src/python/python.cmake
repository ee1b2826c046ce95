# The embedded interpreter (src/python/), part of pyenv_core. CPython's headers give types and
# struct layouts only: libpython is never linked, it is found from each environment and
# loaded with dlopen, so the headers' major.minor is the one Python version libpyenv embeds.
# Debian's python3-dev is the dependency: prefer it to any other python3 first on PATH.
if(NOT DEFINED Python3_ROOT_DIR AND EXISTS /usr/include/python3.11/Python.h)
  set(Python3_ROOT_DIR /usr)
  set(Python3_FIND_STRATEGY LOCATION)
endif()
find_package(Python3 3.11 EXACT REQUIRED COMPONENTS Development.Module)

set(PYENV_PYTHON_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/interpreter.cpp
  ${CMAKE_CURRENT_LIST_DIR}/libpython.cpp
  ${CMAKE_CURRENT_LIST_DIR}/locate.cpp
)
target_sources(pyenv_core PRIVATE ${PYENV_PYTHON_SOURCES})
# Python.h only where it is needed, so that nothing else of the core can call into it.
set_source_files_properties(${PYENV_PYTHON_SOURCES} PROPERTIES
  INCLUDE_DIRECTORIES "${Python3_INCLUDE_DIRS}"
  # Debian keeps libpython in the multiarch directory of the plugin's own target.
  COMPILE_DEFINITIONS "PYENV_LIBRARY_ARCHITECTURE=\"${CMAKE_LIBRARY_ARCHITECTURE}\"")
target_link_libraries(pyenv_core PUBLIC ${CMAKE_DL_LIBS})
