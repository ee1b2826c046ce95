/*
 * pyenv.h - the C ABI of libpyenv, version 1.2.
 *
 * libpyenv prepares the Python environment of a streaming job's operator tasks. A host
 * loads libpyenv.so with dlopen, resolves these functions with dlsym, and for each task:
 * pyenv_create -> pyenv_open -> pyenv_create_environment -> ... -> pyenv_close.
 *
 * Names. Every exported symbol, type and macro starts with `pyenv_` / `PYENV_`. The plugin
 * exports nothing else (version nodes PYENV_1.0 and, for what each minor added, PYENV_1.1
 * and PYENV_1.2).
 *
 * Compatibility. pyenv_abi_version() returns (MAJOR << 16) | MINOR of the loaded plugin.
 * Functions and struct fields are only ever appended, which bumps the minor; any change
 * that breaks an existing caller bumps the major. A host built against MAJOR.MINOR accepts
 * a plugin with the same major and a minor at least as large, and refuses anything else
 * before calling any other function. Structs passed in carry `struct_size`, so an old host
 * and a new plugin agree on which fields exist: the plugin reads no field past
 * `struct_size`, and refuses a size larger than any it knows.
 *
 * Errors. Every fallible function returns a pyenv_status. On failure its out-parameter is
 * set to NULL and pyenv_last_error() tells what failed and where (the YAML key, the path,
 * the archive entry). No C++ exception ever crosses this boundary.
 *
 * Threads. Every function may be called from any thread. A manager is used by one thread
 * at a time; environments are immutable values and may be read from many threads at once.
 *
 * This header depends only on <stddef.h> and <stdint.h> and compiles as C99 and C++.
 */
#ifndef PYENV_PYENV_H
#define PYENV_PYENV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PYENV_ABI_VERSION_MAJOR 1
#define PYENV_ABI_VERSION_MINOR 2
#define PYENV_ABI_VERSION ((uint32_t)((PYENV_ABI_VERSION_MAJOR << 16) | PYENV_ABI_VERSION_MINOR))

/** Result of every fallible call. */
typedef enum pyenv_status {
  PYENV_OK = 0,
  PYENV_ERROR = -1,    /**< anything not below */
  PYENV_EINVAL = -2,   /**< bad argument: NULL handle or out-param, unknown struct_size */
  PYENV_ECONFIG = -3,  /**< invalid configuration: unknown key, wrong type, bad path */
  PYENV_EIO = -4,      /**< filesystem failure: no space, no permission, cannot delete */
  PYENV_EARCHIVE = -5, /**< archive unreadable, corrupt, unsafe or over its limits */
  PYENV_ESTATE = -6,   /**< call out of order: create_environment before open, ... */
  PYENV_EPYTHON = -7,  /**< python, pip or the embedded interpreter failed */
  PYENV_ENOMEM = -8    /**< out of memory */
} pyenv_status;

/**
 * The ABI version of the loaded plugin: (MAJOR << 16) | MINOR.
 * Call this first and refuse the plugin unless its major equals PYENV_ABI_VERSION_MAJOR
 * and its minor is at least the one the host was built against.
 * Thread-safety: any thread, any time.
 */
uint32_t pyenv_abi_version(void);

/**
 * The library version, e.g. "0.1.0".
 * Lifetime: a static string, valid until the plugin is unloaded.
 */
const char *pyenv_version(void);

/**
 * The calling thread's last error message, or "no error".
 * Never NULL. Lifetime: valid until the next pyenv_ call on this thread.
 * Thread-safety: each thread has its own message.
 */
const char *pyenv_last_error(void);

/** A task's environment manager. Ownership: created by pyenv_create, freed by pyenv_close. */
typedef struct pyenv_manager pyenv_manager;

/**
 * A prepared environment: a value that owns copies of its strings.
 * Ownership: created by pyenv_create_environment, freed by pyenv_environment_free.
 */
typedef struct pyenv_environment pyenv_environment;

/**
 * Log sink. level: 0 debug, 1 info, 2 warn, 3 error. `message` is valid during the call.
 * Thread-safety: may be called from any thread that is inside a pyenv_ call.
 */
typedef void (*pyenv_log_fn)(void *user, int level, const char *message);

/**
 * Progress sink. `phase` names the step ("files", "archives", "pip"); `done` and `total`
 * count its units (bytes or entries; total 0 when unknown). `phase` is valid during the call.
 */
typedef void (*pyenv_progress_fn)(void *user, const char *phase, uint64_t done, uint64_t total);

/**
 * Options of pyenv_create. Zero-initialise, set struct_size = sizeof(pyenv_options), then
 * fill what you need. Every pointer is read during pyenv_create only: the manager keeps
 * copies.
 */
typedef struct pyenv_options {
  uint32_t struct_size;              /**< sizeof(pyenv_options) as the host compiled it */
  const char *job_id;                /**< required, non-empty */
  const char *const *tmp_dirs;       /**< required, at least one */
  size_t tmp_dirs_count;
  const char *config_file;           /**< YAML file, or NULL */
  const char *config_yaml;           /**< YAML text, or NULL; its keys override config_file's */
  const char *const *system_env;     /**< "KEY=VALUE" strings, or NULL for none */
  size_t system_env_count;
  pyenv_log_fn log;                  /**< NULL: log to stderr at warn and above */
  void *log_user;
  pyenv_progress_fn progress;        /**< NULL: none */
  void *progress_user;
} pyenv_options;

/**
 * Creates a manager: checks the options and parses the configuration. Touches no disk.
 * @param[out] out the new manager; NULL on failure.
 * @return PYENV_OK; PYENV_EINVAL for a NULL argument, an empty job id, no tmp dirs or a bad
 *         struct_size; PYENV_ECONFIG for an unreadable or invalid configuration.
 * Ownership: the caller owns *out and releases it with pyenv_close.
 */
pyenv_status pyenv_create(pyenv_manager **out, const pyenv_options *options);

/**
 * Prepares the job's environment on disk: base directory, python files, archives,
 * requirements. Managers of one job id and the same dependency configuration in one
 * process share one base directory; the first open prepares it, the others wait for it.
 * A failed open removes everything it created and may be retried.
 * @return PYENV_OK; PYENV_ESTATE if already open; PYENV_ECONFIG for a missing path;
 *         PYENV_EIO, PYENV_EARCHIVE, PYENV_EPYTHON as the failing step says.
 * Thread-safety: one thread per manager; different managers may open concurrently.
 */
pyenv_status pyenv_open(pyenv_manager *manager);

/**
 * Builds the environment of an opened manager: interpreter configuration and variables.
 * @param[out] out the environment; NULL on failure.
 * @return PYENV_OK; PYENV_ESTATE before pyenv_open.
 * Ownership: the caller owns *out and frees it with pyenv_environment_free.
 */
pyenv_status pyenv_create_environment(pyenv_manager *manager, pyenv_environment **out);

/**
 * Releases the manager. When it is the last open manager of its base directory, the
 * directory is removed (retried with back-off; links are removed, never followed).
 * Frees the manager and sets *manager = NULL even when the removal fails.
 * @return PYENV_OK (also for NULL or *NULL); PYENV_EIO naming what could not be removed.
 */
pyenv_status pyenv_close(pyenv_manager **manager);

/* Environment accessors. Strings returned are owned by the environment and valid until
   pyenv_environment_free. The paths in an environment point into its manager's base
   directory, which the last pyenv_close of that directory removes. Passing NULL for env
   returns 0 / NULL. */

/** Values of pyenv_environment_exec_type. */
#define PYENV_EXEC_MULTI_THREAD 0 /**< python.execution-mode: thread, the embedded CPython */
#define PYENV_EXEC_PROCESS 1      /**< python.execution-mode: process (ABI 1.2): a worker
                                       process per interpreter handle */
/**
 * Execution type: PYENV_EXEC_MULTI_THREAD or, from ABI 1.2, PYENV_EXEC_PROCESS. Either way
 * the interpreter calls are the same; the type only says where Python runs.
 */
int pyenv_environment_exec_type(const pyenv_environment *env);
/** The interpreter: absolute when it comes from an archive, else as configured. */
const char *pyenv_environment_python_exec(const pyenv_environment *env);
/** PYTHONHOME for the interpreter, or NULL when unset. */
const char *pyenv_environment_python_home(const pyenv_environment *env);
/** The directory Python runs in (the archives' directory), or NULL when unset. */
const char *pyenv_environment_working_directory(const pyenv_environment *env);
/** Number of module search paths (PYTHONPATH, in order). */
size_t pyenv_environment_path_count(const pyenv_environment *env);
/** The i-th search path, or NULL past the end. */
const char *pyenv_environment_path_at(const pyenv_environment *env, size_t i);
/** Number of environment variables. */
size_t pyenv_environment_var_count(const pyenv_environment *env);
/**
 * The i-th variable, sorted by key.
 * @param[out] key, value borrowed strings; NULL on failure.
 * @return PYENV_OK; PYENV_EINVAL for NULL arguments or i past the end.
 */
pyenv_status pyenv_environment_var_at(const pyenv_environment *env, size_t i, const char **key,
                                      const char **value);
/** The value of variable `key`, or NULL when absent. */
const char *pyenv_environment_getenv(const pyenv_environment *env, const char *key);
/**
 * The environment as JSON: {"exec_type": "MULTI_THREAD" | "PROCESS", "python_exec": "...",
 * "python_home": "..." | null, "working_directory": "..." | null, "paths": [...],
 * "env": {"KEY": "VALUE", ...}}. Lifetime: that of env.
 */
const char *pyenv_environment_to_json(const pyenv_environment *env);
/** Frees the environment and sets *env = NULL. NULL or *NULL: nothing happens. */
void pyenv_environment_free(pyenv_environment **env);

/*
 * The interpreter.
 *
 * An interpreter handle runs Python for an environment, in one of two execution modes that
 * the environment's configuration chooses (python.execution-mode); the calls below are the
 * same in both, with the same results, statuses and tracebacks, so a host changes no line
 * to switch modes.
 *
 * Thread mode (the default, PYENV_EXEC_MULTI_THREAD): the process runs one embedded
 * CPython. The first pyenv_environment_get_interpreter starts it from that environment (its
 * libpython found from the environment's python home or by asking its executable, loaded
 * with dlopen, initialised with home, executable and search paths set before
 * initialisation); later environments of the same Python join it, and one that needs
 * another Python is refused (PYENV_EPYTHON, naming both and process mode). Each handle has
 * its own globals. Any host thread may call any handle, also several threads one handle at
 * once: the GIL is taken and released around each call and never held between calls (a
 * free-threaded build runs them in parallel).
 *
 * Process mode (ABI 1.2, PYENV_EXEC_PROCESS): each handle is served by a worker process of
 * its own, the environment's own Python (its executable, variables and working directory),
 * so any CPython 3.9 to 3.15 that runs works, GIL or free-threaded, with or without a shared
 * libpython, and environments of different Pythons share one host. N handles on N host
 * threads use N cores. Calls on one handle from several threads are allowed and
 * serialised: its worker runs one call at a time. The worker talks to the host over a
 * private socketpair only; it dies with the host (also when the host is killed with
 * SIGKILL), inherits no other descriptor, and its stdout and stderr lines go to the log
 * callback of the manager the environment came from (stdout at info, stderr at warn,
 * each prefixed "python[<pid>] ") from a thread of the plugin's own, while that manager is
 * open; afterwards, and for environments whose manager had no callback, warnings and errors
 * go to stderr. A worker that dies (a signal, os._exit, the OOM killer) fails the call in
 * flight with PYENV_EPYTHON naming how it ended and its last lines on stderr (faulthandler
 * is on, so a crash shows its Python stack); every later call on that handle returns
 * PYENV_ESTATE; the host is untouched, and a new handle starts a new worker. With
 * `pyenv.process.call-timeout`, a call running longer has its worker's stack written to the
 * log, then the worker killed, and returns PYENV_EPYTHON naming the callable and the
 * timeout.
 *
 * Working directory: when the environment has one, Python code sees it as os.getcwd(). In
 * thread mode the host's working directory is not changed: the first call from a host
 * thread gives that thread a file-system context of its own (Linux unshare(CLONE_FS)), and
 * each call enters the environment's directory and returns to the thread's own afterwards.
 * A worker simply runs in it.
 *
 * Closing the manager while interpreters are open is safe: imported modules keep working;
 * files of the removed base directory are gone, so later imports from it fail with
 * PYENV_EPYTHON. Keep a manager of the job open while its interpreters run.
 */
typedef struct pyenv_interpreter pyenv_interpreter;

/**
 * An interpreter handle for `env`: in thread mode onto the process's CPython, started on
 * first use; in process mode served by a new worker process, started and ready when this
 * returns.
 * @param[out] out the handle; NULL on failure.
 * @return PYENV_OK; PYENV_EPYTHON when no libpython is found (the message says where it
 *         looked), when CPython fails to start, or when the running CPython has another
 *         home or version than `env` needs (the message names both); in process mode when
 *         the worker cannot be started or exits before it is ready (the message names the
 *         executable and what it printed).
 * Ownership: the caller owns *out and releases it with pyenv_interpreter_close. The handle
 * does not depend on `env`, which may be freed first.
 */
pyenv_status pyenv_environment_get_interpreter(const pyenv_environment *env,
                                               pyenv_interpreter **out);

/**
 * Runs `code` (Python statements) in the handle's globals.
 * @return PYENV_OK; PYENV_EPYTHON with the traceback in pyenv_last_error().
 */
pyenv_status pyenv_interpreter_exec(pyenv_interpreter *interp, const char *code);

/**
 * Calls `callable` with JSON arguments.
 * @param callable "package.module:function" (imported) or a name bound in this handle's
 *        globals.
 * @param args_json a JSON array of positional arguments (NULL or "" for none).
 * @param[out] out_json the result as JSON text; NULL on failure.
 * @return PYENV_OK; PYENV_EINVAL for a malformed callable or arguments; PYENV_EPYTHON with
 *         the traceback when the call raises or its result is not JSON.
 * Ownership: *out_json is freed with pyenv_free.
 */
pyenv_status pyenv_interpreter_call_json(pyenv_interpreter *interp, const char *callable,
                                         const char *args_json, char **out_json);

/**
 * The hot path: calls `callable` with one bytes argument; the result is bytes (or str,
 * returned as UTF-8).
 * @param[out] out, out_size the result; NULL and 0 on failure.
 * Ownership: *out is freed with pyenv_free.
 */
pyenv_status pyenv_interpreter_call_bytes(pyenv_interpreter *interp, const char *callable,
                                          const void *data, size_t size, void **out,
                                          size_t *out_size);

/** Frees memory the plugin handed out (call results). NULL: nothing happens. */
void pyenv_free(void *p);

/**
 * Releases the handle and sets *interp = NULL. Thread mode: the environment's sys.path
 * entries leave sys.path with its last handle. Process mode: the worker's input ends; a
 * worker that has not exited 2 s later gets SIGTERM, and SIGKILL 2 s after that; it has
 * been reaped when this returns. Must not race with calls on the same handle.
 * NULL or *NULL: nothing happens.
 */
void pyenv_interpreter_close(pyenv_interpreter **interp);

/**
 * The CPython behind the handle (ABI 1.1), as one JSON object:
 * {"version": "3.13.1", "implementation": "cpython", "free_threaded": true,
 *  "gil_enabled": false, "prefix": "...", "executable": "...", "libpython": "..." | null,
 *  "execution_mode": "thread" | "process", "pid": 1234}.
 * "free_threaded": a free-threaded build (libpython3.Xt), whose Python runs in the host's
 * threads in parallel. "gil_enabled": whether the GIL is enabled now: always true but in a
 * free-threaded build, where CPython enables it when an extension module that does not
 * declare free-threading support is imported (libpyenv then also logs a warning, once).
 * "prefix" and "executable" are sys.prefix and sys.executable. "libpython": the shared
 * libpython that runs it, null for a worker's statically linked Python. "execution_mode"
 * and "pid" (ABI 1.2): the mode, and the process Python runs in (the host's in thread mode,
 * the worker's in process mode).
 * @param[out] out_json the JSON text; NULL on failure.
 * @return PYENV_OK; PYENV_EINVAL for a NULL interp or out_json; in process mode, the
 *         statuses of a call (PYENV_EPYTHON, PYENV_ESTATE) when the worker is gone.
 * Ownership: *out_json is freed with pyenv_free.
 * Thread-safety: any thread; in process mode it waits for a call in flight on the handle.
 */
pyenv_status pyenv_interpreter_info(pyenv_interpreter *interp, char **out_json);

/*
 * ABI 1.1: the calling user's archive cache.
 *
 * Extracted archives and requirements installs are kept once per machine and user in a
 * cache: `pyenv.cache.dir`, or by default `<first usable tmp dir>/pyenv-cache-<uid>`. It is
 * used only when nobody else can write it: a real directory (not a symbolic link), owned by
 * the effective uid, not writable by group or others, below directories only that user or
 * root can write; the same holds for everything in it that is read back. A default
 * directory that fails this makes pyenv_open warn and extract privately; a configured one
 * makes it fail with PYENV_EIO, naming the directory and what to do.
 *
 * These functions operate that cache for operators (pyenv-host cache list|warm|prune|rm).
 * They take a manager only for its configuration, tmp dirs and log callback: it need not be
 * open, and nothing of a task is staged. They take the same locks as jobs, so they are
 * safe while jobs run, in this process or others; an entry a job holds is never removed.
 * Where the cache cannot be trusted they fail with PYENV_EIO (they never fall back).
 *
 * Results are JSON, freed with pyenv_free. An entry is {"key": "<64 hex digits: SHA-256 of
 * the archive, or of what decides a requirements install>", "kind": "archive" |
 * "requirements", "bytes": <on disk>, "last_use_ms": <ms since the epoch>, "in_use":
 * <processes holding it now>, "locks": <task locks held on it>, "sources": ["<a path it was
 * opened from>", ... up to 4, the most recently first seen first]}.
 */

/** "No value" for the uint64_t arguments of pyenv_cache_prune. */
#define PYENV_CACHE_UNSET UINT64_MAX

/**
 * Lists the cache's entries.
 * @param[out] out_json {"dir": "<cache dir>", "entries": [entry...] (least recently used
 *        first), "total_bytes": N, "in_use_bytes": N}; NULL on failure.
 * @return PYENV_OK; PYENV_EIO when the cache cannot be trusted or read; PYENV_ECONFIG when
 *         pyenv.cache.enabled is false.
 * Ownership: *out_json is freed with pyenv_free.
 * Thread-safety: any thread; the manager is only read.
 */
pyenv_status pyenv_cache_list(pyenv_manager *manager, char **out_json);

/**
 * Warms the cache for the manager's job: extracts its archives and installs its
 * requirements into the cache without staging a task, so that a job opened afterwards
 * finds them all there (cache hits). Progress goes to the manager's progress callback.
 * With requirements, pip runs in a temporary base directory, removed when it is done.
 * @return PYENV_OK; PYENV_ECONFIG when pyenv.cache.enabled is false or a path is missing;
 *         PYENV_EIO, PYENV_EARCHIVE, PYENV_EPYTHON as pyenv_open would.
 * Thread-safety: any thread; the manager is only read.
 */
pyenv_status pyenv_cache_warm(pyenv_manager *manager);

/**
 * Evicts unused entries: those last used more than `older_than_ms` ago, then, least
 * recently used first, while the cache holds more than `max_bytes`. An entry in use is
 * never evicted.
 * @param max_bytes the size to bring the cache under, or PYENV_CACHE_UNSET: no size bound
 *        when `older_than_ms` is given, else the configured pyenv.cache.max-bytes.
 * @param older_than_ms the age (since last use) beyond which entries go, or
 *        PYENV_CACHE_UNSET for none.
 * @param[out] out_json {"dir", "removed": [entry...], "freed_bytes": N, "in_use": [entry...]
 *        (entries that would have gone but are in use), "remaining_bytes": N}.
 * @return PYENV_OK; PYENV_EIO, PYENV_ECONFIG as pyenv_cache_list.
 * Ownership: *out_json is freed with pyenv_free.
 */
pyenv_status pyenv_cache_prune(pyenv_manager *manager, uint64_t max_bytes, uint64_t older_than_ms,
                               char **out_json);

/**
 * Removes the entry whose key starts with `key_prefix` (hex digits, as `list` shows them).
 * @param[out] out_json {"dir", "removed": [entry], "freed_bytes": N}.
 * @return PYENV_OK; PYENV_EINVAL when no key, or more than one, starts with the prefix (the
 *         message lists them); PYENV_ESTATE when the entry is in use (the message names it
 *         and its holders); PYENV_EIO, PYENV_ECONFIG as pyenv_cache_list.
 * Ownership: *out_json is freed with pyenv_free.
 */
pyenv_status pyenv_cache_remove(pyenv_manager *manager, const char *key_prefix, char **out_json);

/*
 * ABI 1.2: batches.
 */

/** A byte string: `size` bytes at `data` (NULL only when size is 0). */
typedef struct pyenv_record {
  const void *data;
  size_t size;
} pyenv_record;

/**
 * Calls `callable` on each of `count` byte records, in order, as pyenv_interpreter_call_bytes
 * would, in one go: one round trip to the worker in process mode, one GIL acquisition in
 * thread mode.
 * @param callable as for pyenv_interpreter_call_json.
 * @param records `count` records (NULL when count is 0); read during the call only.
 * @param[out] out_results `count` results: an array of pyenv_record whose data point into
 *        the same allocation, after the array; NULL on failure.
 * @return PYENV_OK; PYENV_EINVAL for NULL arguments or a record with NULL data and a size;
 *         PYENV_EPYTHON when a record's call raises or returns neither bytes nor str: the
 *         message names the record's index ("... raised an exception on record 1 of 3:")
 *         and has the traceback; nothing of the batch is returned. In process mode also as
 *         pyenv_interpreter_call_bytes when the worker dies or times out.
 * Ownership: *out_results is one allocation, freed with pyenv_free(*out_results).
 * Thread-safety: as the other calls on the handle.
 */
pyenv_status pyenv_interpreter_call_batch(pyenv_interpreter *interp, const char *callable,
                                          const pyenv_record *records, size_t count,
                                          pyenv_record **out_results);

#ifdef __cplusplus
}
#endif

#endif /* PYENV_PYENV_H */
