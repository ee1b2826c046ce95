// The JNI entry points of org.libpyenv.Native: each translates Java arguments, makes one
// plugin call and translates its result or status. No Java monitor is taken here and no JNI
// critical region is held across a plugin call, so Python runs while the JVM goes on (a
// thread in native code never holds up a garbage collection).
#include <dlfcn.h>
#include <org_libpyenv_Native.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "callbacks.hpp"
#include "jni_support.hpp"
#include "plugin.hpp"

using namespace pyenv_jni;

namespace {

// Copies record bytes out of a Java array: on the stack when small, which is the common case.
class RecordCopy {
 public:
  RecordCopy(JNIEnv *env, jbyteArray array, jint offset, jint length) {
    data_ = small_;
    if (static_cast<size_t>(length) > sizeof small_) {
      large_.reset(new char[static_cast<size_t>(length)]);
      data_ = large_.get();
    }
    env->GetByteArrayRegion(array, offset, length, reinterpret_cast<jbyte *>(data_));
  }
  const char *data() const { return data_; }

 private:
  char small_[4096];
  std::unique_ptr<char[]> large_;
  char *data_;
};

// org.libpyenv.CallScratch's layout: the result's length, the callable, the data.
constexpr size_t kScratchName = 8;
constexpr size_t kScratchData = 8 + 248;

// A result the plugin allocated, freed with pyenv_free whatever happens.
struct PluginMemory {
  void *p = nullptr;
  ~PluginMemory() { plugin().free(p); }
};

jbyteArray call_bytes(JNIEnv *env, jlong interpreter, jbyteArray callable, const void *data,
                      jint length) {
  CString name(env, callable);
  if (!name.ok()) return nullptr;
  PluginMemory out;
  size_t out_size = 0;
  const pyenv_status status =
      plugin().interpreter_call_bytes(from_handle<pyenv_interpreter>(interpreter), name.get(), data,
                                      static_cast<size_t>(length), &out.p, &out_size);
  if (status != PYENV_OK) {
    throw_failed(env, status);
    return nullptr;
  }
  return new_bytes(env, out.p, out_size);
}

}  // namespace

extern "C" {

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *) {
  JNIEnv *env = nullptr;
  if (vm->GetEnv(reinterpret_cast<void **>(&env), JNI_VERSION_1_8) != JNI_OK) return JNI_ERR;
  return init_java(vm, env) ? JNI_VERSION_1_8 : JNI_ERR;
}

// --- the plugin ------------------------------------------------------------------------------

JNIEXPORT void JNICALL Java_org_libpyenv_Native_loadPlugin(JNIEnv *env, jclass, jbyteArray path) {
  guard(env, 0, [&] {
    CString text(env, path);
    if (!text.ok()) return 0;
    std::string error;
    if (!load(text.get() ? text.get() : "", error)) throw_status(env, PYENV_ERROR, error);
    return 0;
  });
}

JNIEXPORT jbyteArray JNICALL Java_org_libpyenv_Native_jniLibraryPath(JNIEnv *env, jclass) {
  return guard(env, static_cast<jbyteArray>(nullptr), [&]() -> jbyteArray {
    Dl_info info{};
    if (::dladdr(reinterpret_cast<void *>(&Java_org_libpyenv_Native_jniLibraryPath), &info) == 0 ||
        info.dli_fname == nullptr) {
      throw_status(env, PYENV_ERROR, "libpyenv_jni: cannot tell where it was loaded from");
      return nullptr;
    }
    return string_bytes(env, info.dli_fname);
  });
}

JNIEXPORT jint JNICALL Java_org_libpyenv_Native_abiVersion(JNIEnv *, jclass) {
  return static_cast<jint>(plugin().abi_version());
}

JNIEXPORT jbyteArray JNICALL Java_org_libpyenv_Native_version(JNIEnv *env, jclass) {
  return guard(env, static_cast<jbyteArray>(nullptr),
               [&] { return string_bytes(env, plugin().version()); });
}

// --- managers --------------------------------------------------------------------------------

JNIEXPORT jlong JNICALL Java_org_libpyenv_Native_newCallbacks(JNIEnv *env, jclass, jobject sink) {
  return guard(env, jlong{0}, [&]() -> jlong {
    jobject global = env->NewGlobalRef(sink);
    if (global == nullptr) {
      throw_status(env, PYENV_ENOMEM, "libpyenv_jni: no global reference left");
      return 0;
    }
    return to_handle(new Callbacks{global});
  });
}

JNIEXPORT void JNICALL Java_org_libpyenv_Native_freeCallbacks(JNIEnv *env, jclass, jlong handle) {
  auto *callbacks = from_handle<Callbacks>(handle);
  if (callbacks == nullptr) return;
  env->DeleteGlobalRef(callbacks->sink);
  delete callbacks;
}

JNIEXPORT jlong JNICALL Java_org_libpyenv_Native_create(JNIEnv *env, jclass, jbyteArray job_id,
                                                        jobjectArray tmp_dirs,
                                                        jbyteArray config_file,
                                                        jbyteArray config_yaml,
                                                        jobjectArray system_env, jlong callbacks) {
  return guard(env, jlong{0}, [&]() -> jlong {
    CString job(env, job_id);
    if (!job.ok()) return 0;
    CStringArray tmp(env, tmp_dirs);
    if (!tmp.ok()) return 0;
    CString file(env, config_file);
    if (!file.ok()) return 0;
    CString yaml(env, config_yaml);
    if (!yaml.ok()) return 0;
    CStringArray system(env, system_env);
    if (!system.ok()) return 0;

    pyenv_options options;
    std::memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    options.job_id = job.get();
    options.tmp_dirs = tmp.data();
    options.tmp_dirs_count = tmp.size();
    options.config_file = file.get();
    options.config_yaml = yaml.get();
    options.system_env = system.data();
    options.system_env_count = system.size();
    options.log = log_callback;
    options.log_user = from_handle<Callbacks>(callbacks);
    options.progress = progress_callback;
    options.progress_user = from_handle<Callbacks>(callbacks);
    pyenv_manager *manager = nullptr;
    const pyenv_status status = plugin().create(&manager, &options);
    if (status != PYENV_OK) {
      throw_failed(env, status);
      return 0;
    }
    return to_handle(manager);
  });
}

JNIEXPORT void JNICALL Java_org_libpyenv_Native_open(JNIEnv *env, jclass, jlong manager) {
  guard(env, 0, [&] {
    const pyenv_status status = plugin().open(from_handle<pyenv_manager>(manager));
    if (status != PYENV_OK) throw_failed(env, status);
    return 0;
  });
}

JNIEXPORT jlong JNICALL Java_org_libpyenv_Native_createEnvironment(JNIEnv *env, jclass,
                                                                   jlong manager) {
  return guard(env, jlong{0}, [&]() -> jlong {
    pyenv_environment *out = nullptr;
    const pyenv_status status =
        plugin().create_environment(from_handle<pyenv_manager>(manager), &out);
    if (status != PYENV_OK) {
      throw_failed(env, status);
      return 0;
    }
    return to_handle(out);
  });
}

JNIEXPORT void JNICALL Java_org_libpyenv_Native_close(JNIEnv *env, jclass, jlong manager) {
  guard(env, 0, [&] {
    pyenv_manager *handle = from_handle<pyenv_manager>(manager);
    const pyenv_status status = plugin().close(&handle);
    if (status != PYENV_OK) throw_failed(env, status);
    return 0;
  });
}

// --- environments ----------------------------------------------------------------------------

JNIEXPORT jint JNICALL Java_org_libpyenv_Native_environmentExecType(JNIEnv *, jclass,
                                                                    jlong environment) {
  return plugin().environment_exec_type(from_handle<pyenv_environment>(environment));
}

JNIEXPORT jbyteArray JNICALL Java_org_libpyenv_Native_environmentString(JNIEnv *env, jclass,
                                                                        jlong environment,
                                                                        jint which) {
  return guard(env, static_cast<jbyteArray>(nullptr), [&]() -> jbyteArray {
    const Api &a = plugin();
    const auto *e = from_handle<pyenv_environment>(environment);
    switch (which) {
      case 0:
        return string_bytes(env, a.environment_python_exec(e));
      case 1:
        return string_bytes(env, a.environment_python_home(e));
      case 2:
        return string_bytes(env, a.environment_working_directory(e));
      case 3:
        return string_bytes(env, a.environment_to_json(e));
      default:
        throw_status(env, PYENV_EINVAL,
                     "libpyenv_jni: no environment string " + std::to_string(which));
        return nullptr;
    }
  });
}

JNIEXPORT jobjectArray JNICALL Java_org_libpyenv_Native_environmentPaths(JNIEnv *env, jclass,
                                                                         jlong environment) {
  return guard(env, static_cast<jobjectArray>(nullptr), [&] {
    const Api &a = plugin();
    const auto *e = from_handle<pyenv_environment>(environment);
    std::vector<const char *> paths(a.environment_path_count(e));
    for (size_t i = 0; i < paths.size(); ++i) paths[i] = a.environment_path_at(e, i);
    return string_array(env, paths);
  });
}

JNIEXPORT jobjectArray JNICALL Java_org_libpyenv_Native_environmentVariables(JNIEnv *env, jclass,
                                                                             jlong environment) {
  return guard(env, static_cast<jobjectArray>(nullptr), [&]() -> jobjectArray {
    const Api &a = plugin();
    const auto *e = from_handle<pyenv_environment>(environment);
    const size_t count = a.environment_var_count(e);
    std::vector<const char *> pairs;
    pairs.reserve(2 * count);
    for (size_t i = 0; i < count; ++i) {
      const char *key = nullptr;
      const char *value = nullptr;
      const pyenv_status status = a.environment_var_at(e, i, &key, &value);
      if (status != PYENV_OK) {
        throw_failed(env, status);
        return nullptr;
      }
      pairs.push_back(key);
      pairs.push_back(value);
    }
    return string_array(env, pairs);
  });
}

JNIEXPORT jlong JNICALL Java_org_libpyenv_Native_getInterpreter(JNIEnv *env, jclass,
                                                                jlong environment) {
  return guard(env, jlong{0}, [&]() -> jlong {
    pyenv_interpreter *out = nullptr;
    const pyenv_status status =
        plugin().environment_get_interpreter(from_handle<pyenv_environment>(environment), &out);
    if (status != PYENV_OK) {
      throw_failed(env, status);
      return 0;
    }
    return to_handle(out);
  });
}

JNIEXPORT void JNICALL Java_org_libpyenv_Native_freeEnvironment(JNIEnv *, jclass,
                                                                jlong environment) {
  pyenv_environment *e = from_handle<pyenv_environment>(environment);
  plugin().environment_free(&e);
}

// --- interpreters ----------------------------------------------------------------------------

JNIEXPORT void JNICALL Java_org_libpyenv_Native_exec(JNIEnv *env, jclass, jlong interpreter,
                                                     jbyteArray code) {
  guard(env, 0, [&] {
    CString text(env, code);
    if (!text.ok()) return 0;
    const pyenv_status status =
        plugin().interpreter_exec(from_handle<pyenv_interpreter>(interpreter), text.get());
    if (status != PYENV_OK) throw_failed(env, status);
    return 0;
  });
}

JNIEXPORT jbyteArray JNICALL Java_org_libpyenv_Native_callJson(JNIEnv *env, jclass,
                                                               jlong interpreter,
                                                               jbyteArray callable,
                                                               jbyteArray args_json) {
  return guard(env, static_cast<jbyteArray>(nullptr), [&]() -> jbyteArray {
    CString name(env, callable);
    if (!name.ok()) return nullptr;
    CString args(env, args_json);
    if (!args.ok()) return nullptr;
    PluginMemory out;
    char *json = nullptr;
    const pyenv_status status = plugin().interpreter_call_json(
        from_handle<pyenv_interpreter>(interpreter), name.get(), args.get(), &json);
    out.p = json;
    if (status != PYENV_OK) {
      throw_failed(env, status);
      return nullptr;
    }
    return string_bytes(env, json);
  });
}

JNIEXPORT jbyteArray JNICALL Java_org_libpyenv_Native_callBytes(JNIEnv *env, jclass,
                                                                jlong interpreter,
                                                                jbyteArray callable,
                                                                jbyteArray record, jint offset,
                                                                jint length) {
  return guard(env, static_cast<jbyteArray>(nullptr), [&]() -> jbyteArray {
    RecordCopy copy(env, record, offset, length);
    if (env->ExceptionCheck()) return nullptr;
    return call_bytes(env, interpreter, callable, copy.data(), length);
  });
}

JNIEXPORT jlong JNICALL Java_org_libpyenv_Native_address(JNIEnv *env, jclass, jobject buffer) {
  void *address = env->GetDirectBufferAddress(buffer);
  if (address == nullptr) {
    guard(env, 0, [&] {
      throw_status(env, PYENV_EINVAL, "libpyenv_jni: not a direct buffer");
      return 0;
    });
  }
  return to_handle(address);
}

// No JNI function is called unless the call fails or its result is large: the callable and the
// record are read where Java put them (CallScratch, or a direct buffer the plugin reads in
// place, which the garbage collector never moves), the result goes back into the scratch.
JNIEXPORT jbyteArray JNICALL Java_org_libpyenv_Native_callBytesScratch(JNIEnv *env, jclass,
                                                                       jlong interpreter,
                                                                       jlong scratch, jlong record,
                                                                       jint length, jint capacity) {
  return guard(env, static_cast<jbyteArray>(nullptr), [&]() -> jbyteArray {
    auto *base = from_handle<char>(scratch);
    PluginMemory out;
    size_t size = 0;
    const pyenv_status status = plugin().interpreter_call_bytes(
        from_handle<pyenv_interpreter>(interpreter), base + kScratchName,
        from_handle<const char>(record), static_cast<size_t>(length), &out.p, &size);
    if (status != PYENV_OK) {
      throw_failed(env, status);
      return nullptr;
    }
    if (size > static_cast<size_t>(capacity)) return new_bytes(env, out.p, size);
    std::memcpy(base + kScratchData, out.p, size);
    const int64_t result_size = static_cast<int64_t>(size);
    std::memcpy(base, &result_size, sizeof result_size);
    return nullptr;
  });
}

// A batch crosses into native code once: the records are copied into one native buffer (no
// array is pinned, so nothing holds up the garbage collector while Python runs), the plugin is
// called once, and each result becomes a new array; the results' one allocation is freed with
// pyenv_free.
JNIEXPORT jobjectArray JNICALL Java_org_libpyenv_Native_callBatch(JNIEnv *env, jclass,
                                                                  jlong interpreter,
                                                                  jbyteArray callable,
                                                                  jobjectArray records) {
  return guard(env, static_cast<jobjectArray>(nullptr), [&]() -> jobjectArray {
    const Api &a = plugin();
    if (a.interpreter_call_batch == nullptr) {
      throw_status(env, PYENV_ERROR, needs_minor(a, "pyenv_interpreter_call_batch", 2));
      return nullptr;
    }
    CString name(env, callable);
    if (!name.ok()) return nullptr;
    const jsize count = env->GetArrayLength(records);
    // The sizes first, so that the bytes go into one buffer in one copy.
    std::vector<pyenv_record> in(static_cast<size_t>(count));
    size_t total = 0;
    for (jsize i = 0; i < count; ++i) {
      auto item = static_cast<jbyteArray>(env->GetObjectArrayElement(records, i));
      if (item == nullptr) {
        // PythonInterpreter checks; only an array changed during the call gets here.
        throw_status(env, PYENV_EINVAL, "libpyenv_jni: record " + std::to_string(i) + " is null");
        return nullptr;
      }
      in[static_cast<size_t>(i)].size = static_cast<size_t>(env->GetArrayLength(item));
      total += in[static_cast<size_t>(i)].size;
      env->DeleteLocalRef(item);
    }
    std::unique_ptr<char[]> bytes(new char[total > 0 ? total : 1]);
    size_t offset = 0;
    for (jsize i = 0; i < count; ++i) {
      pyenv_record &record = in[static_cast<size_t>(i)];
      auto item = static_cast<jbyteArray>(env->GetObjectArrayElement(records, i));
      const size_t size = item == nullptr ? 0 : static_cast<size_t>(env->GetArrayLength(item));
      if (item == nullptr || size != record.size) {
        throw_status(env, PYENV_EINVAL,
                     "libpyenv_jni: record " + std::to_string(i) + " was replaced during the call");
        return nullptr;
      }
      env->GetByteArrayRegion(item, 0, static_cast<jsize>(size),
                              reinterpret_cast<jbyte *>(bytes.get() + offset));
      env->DeleteLocalRef(item);
      record.data = bytes.get() + offset;
      offset += size;
    }
    PluginMemory out;
    pyenv_record *results = nullptr;
    const pyenv_status status = a.interpreter_call_batch(
        from_handle<pyenv_interpreter>(interpreter), name.get(), in.data(), in.size(), &results);
    out.p = results;
    if (status != PYENV_OK) {
      throw_failed(env, status);
      return nullptr;
    }
    if (results == nullptr && count > 0) {
      throw_status(env, PYENV_ERROR,
                   "libpyenv_jni: pyenv_interpreter_call_batch succeeded "
                   "without results");
      return nullptr;
    }
    jobjectArray array = env->NewObjectArray(count, java().byte_array, nullptr);
    if (array == nullptr) return nullptr;
    for (jsize i = 0; i < count; ++i) {
      jbyteArray item = new_bytes(env, results[i].data, results[i].size);
      if (item == nullptr) return nullptr;
      env->SetObjectArrayElement(array, i, item);
      env->DeleteLocalRef(item);
    }
    return array;
  });
}

JNIEXPORT jbyteArray JNICALL Java_org_libpyenv_Native_interpreterInfo(JNIEnv *env, jclass,
                                                                      jlong interpreter) {
  return guard(env, static_cast<jbyteArray>(nullptr), [&]() -> jbyteArray {
    const Api &a = plugin();
    PluginMemory out;
    char *json = nullptr;
    const pyenv_status status =
        a.interpreter_info(from_handle<pyenv_interpreter>(interpreter), &json);
    out.p = json;
    if (status != PYENV_OK) {
      throw_failed(env, status);
      return nullptr;
    }
    return string_bytes(env, json);
  });
}

JNIEXPORT void JNICALL Java_org_libpyenv_Native_closeInterpreter(JNIEnv *, jclass,
                                                                 jlong interpreter) {
  pyenv_interpreter *handle = from_handle<pyenv_interpreter>(interpreter);
  plugin().interpreter_close(&handle);
}

}  // extern "C"
