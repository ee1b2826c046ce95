#include "callbacks.hpp"

#include <climits>
#include <cstring>

#include "jni_support.hpp"

namespace pyenv_jni {
namespace {

// The calling thread's JNIEnv, attaching the thread (as a daemon, so it never holds up the
// JVM's exit) when it is not a Java thread, and detaching it again at scope exit.
class ThreadEnv {
 public:
  ThreadEnv() {
    JavaVM *vm = java().vm;
    const jint got = vm->GetEnv(reinterpret_cast<void **>(&env_), JNI_VERSION_1_8);
    if (got == JNI_EDETACHED) {
      JavaVMAttachArgs args{JNI_VERSION_1_8, const_cast<char *>("libpyenv worker"), nullptr};
      if (vm->AttachCurrentThreadAsDaemon(reinterpret_cast<void **>(&env_), &args) == JNI_OK) {
        attached_ = true;
      } else {
        env_ = nullptr;
      }
    } else if (got != JNI_OK) {
      env_ = nullptr;
    }
    // A Java thread with an exception pending may call nothing but a few JNI functions: the
    // line is dropped rather than the exception.
    if (env_ != nullptr && env_->ExceptionCheck()) env_ = nullptr;
  }
  ~ThreadEnv() {
    if (attached_) java().vm->DetachCurrentThread();
  }
  ThreadEnv(const ThreadEnv &) = delete;
  ThreadEnv &operator=(const ThreadEnv &) = delete;
  JNIEnv *get() const { return env_; }

 private:
  JNIEnv *env_ = nullptr;
  bool attached_ = false;
};

jlong clamp(uint64_t value) {
  return value > static_cast<uint64_t>(LLONG_MAX) ? LLONG_MAX : static_cast<jlong>(value);
}

// Runs `call` with the thread's JNIEnv and clears what Java threw; a C++ exception (no
// memory for a message) only loses the line: the plugin's caller must not see it.
template <class Call>
void deliver(Call &&call) noexcept {
  try {
    ThreadEnv thread;
    JNIEnv *env = thread.get();
    if (env == nullptr) return;
    call(env);
    env->ExceptionClear();
  } catch (...) {
  }
}

}  // namespace

void log_callback(void *user, int level, const char *message) noexcept {
  if (user == nullptr || message == nullptr) return;
  deliver([&](JNIEnv *env) {
    jbyteArray text = new_bytes(env, message, std::strlen(message));
    if (text == nullptr) return;
    env->CallVoidMethod(static_cast<Callbacks *>(user)->sink, java().log, level, text);
    env->DeleteLocalRef(text);
  });
}

void progress_callback(void *user, const char *phase, uint64_t done, uint64_t total) noexcept {
  if (user == nullptr) return;
  deliver([&](JNIEnv *env) {
    jbyteArray name = string_bytes(env, phase ? phase : "");
    if (name == nullptr) return;
    env->CallVoidMethod(static_cast<Callbacks *>(user)->sink, java().progress, name, clamp(done),
                        clamp(total));
    env->DeleteLocalRef(name);
  });
}

}  // namespace pyenv_jni
