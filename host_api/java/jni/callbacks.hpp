// The plugin's log and progress callbacks, delivered to a manager's NativeCallbacks object.
#pragma once

#include <jni.h>
#include <pyenv/pyenv.h>

namespace pyenv_jni {

// What the plugin gets as log_user and progress_user: a global reference to the Java sink.
struct Callbacks {
  jobject sink;
};

// Called by the plugin on any thread inside a pyenv_ call. A thread the JVM does not know
// (one of the plugin's workers) is attached for the call and detached after it; whatever the
// Java side throws is cleared here, so no Java exception is left pending in the plugin's
// stack and none reaches the caller's next JNI call.
void log_callback(void *user, int level, const char *message) noexcept;
void progress_callback(void *user, const char *phase, uint64_t done, uint64_t total) noexcept;

}  // namespace pyenv_jni
