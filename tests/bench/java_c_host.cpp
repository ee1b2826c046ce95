// The C host of the Java benchmark (JavaCallBytesBench.java): the plugin's C ABI called
// straight from native threads, as a C host does, in the same process as the Java side and on
// the same CPython, so that the ratio is the cost of the Java binding alone.
#include <dlfcn.h>
#include <jni.h>
#include <pyenv/pyenv.h>
#include <time.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct CHost {
  void *library = nullptr;
  pyenv_status (*create)(pyenv_manager **, const pyenv_options *) = nullptr;
  pyenv_status (*open)(pyenv_manager *) = nullptr;
  pyenv_status (*create_environment)(pyenv_manager *, pyenv_environment **) = nullptr;
  pyenv_status (*close)(pyenv_manager **) = nullptr;
  void (*environment_free)(pyenv_environment **) = nullptr;
  pyenv_status (*get_interpreter)(const pyenv_environment *, pyenv_interpreter **) = nullptr;
  pyenv_status (*exec)(pyenv_interpreter *, const char *) = nullptr;
  pyenv_status (*call_bytes)(pyenv_interpreter *, const char *, const void *, size_t, void **,
                             size_t *) = nullptr;
  void (*free)(void *) = nullptr;
  void (*interpreter_close)(pyenv_interpreter **) = nullptr;
  const char *(*last_error)(void) = nullptr;
  pyenv_manager *manager = nullptr;
  pyenv_environment *environment = nullptr;
  pyenv_interpreter *interpreter = nullptr;
};

template <class Fn>
void resolve(void *library, Fn &slot, const char *name) {
  slot = reinterpret_cast<Fn>(::dlsym(library, name));
  if (slot == nullptr) throw std::string("the plugin lacks ") + name;
}

void check(const CHost &host, pyenv_status status, const char *what) {
  if (status != PYENV_OK) throw std::string(what) + ": " + host.last_error();
}

std::string text(JNIEnv *env, jstring s) {
  const char *chars = env->GetStringUTFChars(s, nullptr);
  std::string out = chars ? chars : "";
  env->ReleaseStringUTFChars(s, chars);
  return out;
}

// Time this thread has run, so that a loaded machine's other processes do not count.
double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void throw_java(JNIEnv *env, const std::string &message) {
  env->ThrowNew(env->FindClass("java/lang/IllegalStateException"), message.c_str());
}

}  // namespace

extern "C" {

// Loads the plugin (the process has it loaded already: dlopen shares it), opens a job whose
// interpreter is `python`, and defines `identity` in a handle of its own.
JNIEXPORT jlong JNICALL Java_JavaCallBytesBench_cHostOpen(JNIEnv *env, jclass, jstring plugin,
                                                          jstring tmp_dir, jstring job_id,
                                                          jstring python) {
  auto *host = new CHost;
  try {
    host->library = ::dlopen(text(env, plugin).c_str(), RTLD_NOW | RTLD_LOCAL);
    if (host->library == nullptr) throw std::string(::dlerror());
    resolve(host->library, host->create, "pyenv_create");
    resolve(host->library, host->open, "pyenv_open");
    resolve(host->library, host->create_environment, "pyenv_create_environment");
    resolve(host->library, host->close, "pyenv_close");
    resolve(host->library, host->environment_free, "pyenv_environment_free");
    resolve(host->library, host->get_interpreter, "pyenv_environment_get_interpreter");
    resolve(host->library, host->exec, "pyenv_interpreter_exec");
    resolve(host->library, host->call_bytes, "pyenv_interpreter_call_bytes");
    resolve(host->library, host->free, "pyenv_free");
    resolve(host->library, host->interpreter_close, "pyenv_interpreter_close");
    resolve(host->library, host->last_error, "pyenv_last_error");
    const std::string tmp = text(env, tmp_dir), job = text(env, job_id);
    const std::string yaml = "python.executable: " + text(env, python) + "\n";
    const char *tmp_dirs[] = {tmp.c_str()};
    pyenv_options options;
    std::memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    options.job_id = job.c_str();
    options.tmp_dirs = tmp_dirs;
    options.tmp_dirs_count = 1;
    options.config_yaml = yaml.c_str();
    check(*host, host->create(&host->manager, &options), "pyenv_create");
    check(*host, host->open(host->manager), "pyenv_open");
    check(*host, host->create_environment(host->manager, &host->environment),
          "pyenv_create_environment");
    check(*host, host->get_interpreter(host->environment, &host->interpreter),
          "pyenv_environment_get_interpreter");
    check(*host, host->exec(host->interpreter, "def identity(b):\n    return b\n"),
          "pyenv_interpreter_exec");
  } catch (const std::string &message) {
    throw_java(env, "C host: " + message);
    return 0;
  }
  return static_cast<jlong>(reinterpret_cast<intptr_t>(host));
}

// {wall seconds, CPU seconds of the calling threads} for `threads` native threads making
// `calls` call_bytes of `identity` in all.
JNIEXPORT jdoubleArray JNICALL Java_JavaCallBytesBench_cHostRun(JNIEnv *env, jclass, jlong handle,
                                                                jint threads, jlong calls,
                                                                jint record_size) {
  const CHost &host = *reinterpret_cast<CHost *>(static_cast<intptr_t>(handle));
  const std::string record(static_cast<size_t>(record_size), 'x');
  std::vector<double> cpu(static_cast<size_t>(threads));
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const double cpu_start = thread_cpu_seconds();
      for (jlong i = 0; i < calls / threads; ++i) {
        void *out = nullptr;
        size_t size = 0;
        if (host.call_bytes(host.interpreter, "identity", record.data(), record.size(), &out,
                            &size) != PYENV_OK ||
            size != record.size()) {
          std::abort();
        }
        host.free(out);
      }
      cpu[static_cast<size_t>(t)] = thread_cpu_seconds() - cpu_start;
    });
  }
  for (std::thread &w : workers) w.join();
  double times[2] = {
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 0};
  for (double c : cpu) times[1] += c;
  jdoubleArray out = env->NewDoubleArray(2);
  if (out != nullptr) env->SetDoubleArrayRegion(out, 0, 2, times);
  return out;
}

JNIEXPORT void JNICALL Java_JavaCallBytesBench_cHostClose(JNIEnv *, jclass, jlong handle) {
  auto *host = reinterpret_cast<CHost *>(static_cast<intptr_t>(handle));
  host->interpreter_close(&host->interpreter);
  host->environment_free(&host->environment);
  host->close(&host->manager);
  delete host;  // the library stays loaded: the Java binding and CPython use it
}

}  // extern "C"
