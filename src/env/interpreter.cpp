#include "env/interpreter.hpp"

#include <cstring>
#include <limits>

#include "error.hpp"
#include "python/interpreter.hpp"
#include "worker/worker_interpreter.hpp"

namespace pyenv {

Buffer Buffer::allocate(size_t size, const char *what) {
  auto *data = static_cast<char *>(std::malloc(size > 0 ? size : 1));
  if (data == nullptr) {
    fail(Status::kNoMemory,
         std::string("python: no memory for ") + what + " of " + std::to_string(size) + " bytes");
  }
  return Buffer(data, size);
}

BatchResults::BatchResults(size_t count) : count_(count) { ends_.reserve(count); }

char *BatchResults::add(size_t size) {
  bytes_.resize(bytes_.size() + size);
  ends_.push_back(bytes_.size());
  return bytes_.data() + bytes_.size() - size;
}

void BatchResults::add(const void *data, size_t size) {
  if (size > 0) std::memcpy(add(size), data, size);
  else add(0);
}

Buffer BatchResults::finish() {
  if (ends_.size() != count_) {
    fail(Status::kError, "python: a batch of " + std::to_string(count_) + " records gave " +
                             std::to_string(ends_.size()) + " results");
  }
  const size_t table = count_ * sizeof(Record);
  if (bytes_.size() > std::numeric_limits<size_t>::max() - table) {
    fail(Status::kNoMemory, "python: a batch's results are too large");
  }
  Buffer out = Buffer::allocate(table + bytes_.size(), "a batch's results");
  char *data = out.data() + table;
  if (!bytes_.empty()) std::memcpy(data, bytes_.data(), bytes_.size());
  auto *records = reinterpret_cast<Record *>(out.data());
  size_t start = 0;
  for (size_t i = 0; i < count_; ++i) {
    records[i] = Record{data + start, ends_[i] - start};
    start = ends_[i];
  }
  return out;
}

std::string to_json(const RuntimeInfo &info) {
  auto boolean = [](bool b) { return b ? "true" : "false"; };
  return "{\"version\": " + json_string(info.version) +
         ", \"implementation\": " + json_string(info.implementation) +
         ", \"free_threaded\": " + boolean(info.free_threaded) +
         ", \"gil_enabled\": " + boolean(info.gil_enabled) +
         ", \"prefix\": " + json_string(info.prefix) +
         ", \"executable\": " + json_string(info.executable) + ", \"libpython\": " +
         (info.libpython.empty() ? std::string("null") : json_string(info.libpython.string())) +
         ", \"execution_mode\": " + json_string(info.execution_mode) +
         ", \"pid\": " + std::to_string(info.pid) + "}";
}

std::shared_ptr<Interpreter> open_interpreter(const Environment &env, const Logger &fallback) {
  if (env.process_mode()) {
    return worker::WorkerInterpreter::open(
        env, env.log ? LogRelay::logger(env.log, fallback) : fallback);
  }
  return python::Interpreter::open(env, fallback);
}

}  // namespace pyenv
