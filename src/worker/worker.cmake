# Process mode (src/worker/), part of pyenv_core: the host's side of worker processes, and
# pyenv_worker.py, the Python they run, embedded into the plugin at build time so that
# nothing is installed beside it or into an environment.
set(PYENV_WORKER_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/pyenv_worker.py)
set(PYENV_WORKER_SCRIPT_CPP ${CMAKE_CURRENT_BINARY_DIR}/worker/worker_script.cpp)
add_custom_command(OUTPUT ${PYENV_WORKER_SCRIPT_CPP}
  COMMAND ${CMAKE_COMMAND} -DINPUT=${PYENV_WORKER_SCRIPT} -DOUTPUT=${PYENV_WORKER_SCRIPT_CPP}
    -P ${CMAKE_CURRENT_LIST_DIR}/embed_script.cmake
  DEPENDS ${PYENV_WORKER_SCRIPT} ${CMAKE_CURRENT_LIST_DIR}/embed_script.cmake
  COMMENT "Embedding pyenv_worker.py")
target_sources(pyenv_core PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/channel.cpp
  ${CMAKE_CURRENT_LIST_DIR}/supervisor.cpp
  ${CMAKE_CURRENT_LIST_DIR}/worker_interpreter.cpp
  ${PYENV_WORKER_SCRIPT_CPP}
)
