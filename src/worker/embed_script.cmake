# cmake -DINPUT=pyenv_worker.py -DOUTPUT=worker_script.cpp -P embed_script.cmake
# Writes INPUT's bytes as pyenv::worker::kWorkerScript (hex escapes, 8 bytes a line).
file(READ "${INPUT}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" escaped "${hex}")
string(REGEX REPLACE "((\\\\x[0-9a-f][0-9a-f])(\\\\x[0-9a-f][0-9a-f])(\\\\x[0-9a-f][0-9a-f])(\\\\x[0-9a-f][0-9a-f])(\\\\x[0-9a-f][0-9a-f])(\\\\x[0-9a-f][0-9a-f])(\\\\x[0-9a-f][0-9a-f])(\\\\x[0-9a-f][0-9a-f]))" "\\1\"\n    \"" lines "${escaped}")
file(WRITE "${OUTPUT}.tmp"
  "// Generated from pyenv_worker.py by embed_script.cmake; do not edit.\n"
  "#include <cstddef>\n\n"
  "namespace pyenv::worker {\n\n"
  "extern const char kWorkerScript[];\n"
  "extern const size_t kWorkerScriptSize;\n"
  "const char kWorkerScript[] =\n    \"${lines}\";\n"
  "const size_t kWorkerScriptSize = sizeof kWorkerScript - 1;\n\n"
  "}  // namespace pyenv::worker\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
