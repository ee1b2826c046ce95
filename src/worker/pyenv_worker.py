"""The process-mode worker of libpyenv (DESIGN.md section 10).

The plugin starts the environment's own Python as

    <python> -s -X utf8 -c <BOOTSTRAP> pyenv-worker

with the channel, a Unix stream socket, as descriptor 3 (the only one it inherits besides
/dev/null as stdin and its stdout and stderr pipes). The bootstrap (worker_interpreter.cpp)
reads one frame from the channel, this file's text, and runs it. From then on the worker
serves the host until the channel closes: receive, dispatch, reply, nothing else.

Frames, both ways: a 16-byte header, little endian, then `length` bytes of payload:

    length: u64 | kind: i32 | sequence: u32

The host numbers its requests; each reply carries the sequence of its request.

    host -> worker                         payload
    SCRIPT      0  sequence 0, first       this file's text, read by the bootstrap
    EXEC        1                          code (UTF-8)
    CALL_JSON   2                          u32 n | callable (n bytes) | arguments (JSON)
    CALL_BYTES  3                          u32 n | callable | the record
    CALL_BATCH  4                          u32 n | callable | u64 count | count * u64 size |
                                           the records, one after the other
    INFO        5                          (empty)

    worker -> host
    READY      64  sequence 0, once        the Python version ("3.11.2")
    RESULT     65                          EXEC: (empty); CALL_JSON: JSON text; CALL_BYTES: the
                                           bytes; CALL_BATCH: count * u64 size | the results, one
                                           after the other; INFO: NUL-separated fields
                                           (info_fields)
    ERROR      66                          i32 status | message (UTF-8), as thread mode words it

Results and messages are those of thread mode (python/interpreter.cpp), word for word, so that
a host sees the same whichever mode runs its job. Any other kind is an error naming it, and
the worker exits. Nothing but this loop writes to the channel.
"""

import os
import struct
import sys

CHANNEL = 3
HEADER = struct.Struct('<QiI')
HEADER_SIZE = HEADER.size
U32 = struct.Struct('<I')
U64 = struct.Struct('<Q')

EXEC, CALL_JSON, CALL_BYTES, CALL_BATCH, INFO = 1, 2, 3, 4, 5
READY, RESULT, ERROR = 64, 65, 66

# pyenv_status values.
EINVAL, EPYTHON = -2, -7

SUPPORTED = ((3, 9), (3, 15))

# Reads of small frames take what is there, up to this, in one system call.
READ_SIZE = 1 << 16

# The name the bootstrap compiles this file under.
WORKER_FILE = '<pyenv_worker>'


class Failure(Exception):
    """A call that failed: its pyenv_status and the message thread mode would give."""

    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status
        self.message = message


class ProtocolError(Exception):
    pass


def quote(text):
    return '"' + text + '"'


def format_exception(error):
    """The traceback of `error` as thread mode shows it: the job's frames only."""
    import traceback
    # This file's frames, whatever name it was compiled under, are not the job's.
    own = format_exception.__code__.co_filename
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == own:
        tb = tb.tb_next
    return ''.join(traceback.format_exception(type(error), error, tb)).rstrip('\n')


def short_exception(error):
    """"Type: message", as thread mode words an exception without its traceback."""
    text = str(error)
    return type(error).__name__ + (': ' + text if text else '')


def python_failure(what, error):
    return Failure(EPYTHON, what + ':\n' + format_exception(error))


# ---------------------------------------------------------------------------------------
# Framing.

class Channel:
    def __init__(self, fd):
        self.fd = fd
        self.pending = b''

    def receive(self):
        """(kind, sequence, payload), or None when the host closed the channel."""
        data = self.pending
        while len(data) < HEADER_SIZE:
            chunk = os.read(self.fd, READ_SIZE)
            if not chunk:
                if data:
                    raise ProtocolError('the channel closed inside a frame header')
                return None
            data += chunk
        length, kind, sequence = HEADER.unpack_from(data)
        end = HEADER_SIZE + length
        if len(data) < end:
            parts = [data]
            have = len(data)
            while have < end:
                chunk = os.read(self.fd, max(end - have, READ_SIZE))
                if not chunk:
                    raise ProtocolError('the channel closed inside a frame of %d bytes' % length)
                parts.append(chunk)
                have += len(chunk)
            data = b''.join(parts)
        if len(data) == end:
            self.pending = b''
        else:
            self.pending = data[end:]
        return kind, sequence, data[HEADER_SIZE:end]

    def send(self, kind, sequence, payload):
        header = HEADER.pack(len(payload), kind, sequence)
        if len(payload) < READ_SIZE:
            self.write_all(header + payload)
        else:
            self.write_all(header)
            self.write_all(payload)

    def write_all(self, data):
        written = os.write(self.fd, data)
        if written == len(data):
            return
        view = memoryview(data)[written:]
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


def split_call(payload):
    """(callable name as bytes, the rest) of a call's payload."""
    n = U32.unpack_from(payload)[0]
    if 4 + n > len(payload):
        raise ProtocolError('a call names a callable of %d bytes in a payload of %d' %
                            (n, len(payload)))
    return payload[4:4 + n], payload[4 + n:]


def split_records(data):
    """The records of a CALL_BATCH, after its callable."""
    count = U64.unpack_from(data)[0]
    start = 8 + 8 * count
    if start > len(data):
        raise ProtocolError('a batch of %d records in a frame of %d bytes' % (count, len(data)))
    sizes = struct.unpack_from('<%dQ' % count, data, 8)
    records = []
    append = records.append
    for size in sizes:
        end = start + size
        append(data[start:end])
        start = end
    if start != len(data):
        raise ProtocolError('a batch whose records fill %d of %d bytes' % (start, len(data)))
    return records


# ---------------------------------------------------------------------------------------
# The job's side: its globals and callables, as thread mode keeps them.

class Handle:
    def __init__(self):
        import builtins
        self.builtins = builtins
        self.globals = {'__builtins__': builtins, '__name__': '__main__'}
        self.functions = {}  # b"module:function" -> the function, looked up once
        self.json = None

    def resolve(self, raw):
        """The callable `raw` (UTF-8) names, and its name as text."""
        function = self.functions.get(raw)
        if function is not None:
            return function
        name = raw.decode('utf-8', 'surrogateescape')
        colon = name.find(':')
        if colon < 0:
            if not name:
                raise Failure(EINVAL, 'python: empty callable name')
            # Looked up on each call: code exec'd later may rebind the name.
            try:
                return self.globals[name]
            except KeyError:
                pass
            try:
                return getattr(self.builtins, name)
            except AttributeError:
                raise Failure(EPYTHON, 'python: name ' + quote(name) +
                              " is not defined in this interpreter's globals (nor a builtin)")
        module, attributes = name[:colon], name[colon + 1:]
        if (not module or not attributes or attributes[0] == '.' or attributes[-1] == '.' or
                '..' in attributes):
            raise Failure(EINVAL, 'python: callable ' + quote(name) +
                          ': expected "package.module:function" or a name in the '
                          "interpreter's globals")
        import importlib
        try:
            target = importlib.import_module(module)
        except BaseException as e:
            raise python_failure('python: ' + quote(name) + ': cannot import ' + module, e)
        try:
            for attribute in attributes.split('.'):
                target = getattr(target, attribute)
        except BaseException as e:
            raise python_failure('python: ' + quote(name), e)
        if not callable(target):
            raise Failure(EPYTHON, 'python: ' + quote(name) + ' is not callable (it is a ' +
                          type(target).__name__ + ')')
        self.functions[raw] = target
        return target

    def exec(self, payload):
        code = payload.decode('utf-8', 'surrogateescape')
        try:
            compiled = compile(code, '<exec>', 'exec')
        except BaseException as e:
            raise python_failure('python: exec: the code does not compile', e)
        try:
            exec(compiled, self.globals)
        except BaseException as e:
            raise python_failure('python: exec raised an exception', e)
        return b''

    def json_module(self):
        if self.json is None:
            import json
            self.json = json
        return self.json

    def call_json(self, payload):
        raw, arguments = split_call(payload)
        name = raw.decode('utf-8', 'surrogateescape')
        json = self.json_module()
        function = self.resolve(raw)
        if arguments:
            try:
                text = arguments.decode('utf-8')
            except UnicodeDecodeError as e:
                raise Failure(EINVAL, 'python: ' + quote(name) + ': arguments are not UTF-8 (' +
                              short_exception(e) + ')')
            try:
                parsed = json.loads(text)
            except BaseException as e:
                raise Failure(EINVAL, 'python: ' + quote(name) +
                              ': arguments are not valid JSON (' + short_exception(e) + ')')
            if not isinstance(parsed, list):
                raise Failure(EINVAL, 'python: ' + quote(name) +
                              ': arguments must be a JSON array, not a JSON ' +
                              type(parsed).__name__)
            args = tuple(parsed)
        else:
            args = ()
        try:
            result = function(*args)
        except BaseException as e:
            raise python_failure('python: ' + quote(name) + ' raised an exception', e)
        try:
            text = json.dumps(result)
        except BaseException as e:
            raise python_failure('python: the result of ' + quote(name) +
                                 ' is not JSON-serialisable', e)
        return text.encode('utf-8', 'surrogatepass')

    def call_bytes(self, payload):
        raw, record = split_call(payload)
        function = self.resolve(raw)
        try:
            result = function(record)
        except BaseException as e:
            raise python_failure('python: ' + quote(raw.decode('utf-8', 'surrogateescape')) +
                                 ' raised an exception', e)
        if type(result) is bytes:
            return result
        return result_bytes(raw, result)

    def call_batch(self, payload):
        raw, data = split_call(payload)
        records = split_records(data)
        function = self.resolve(raw)
        out = []
        append = out.append
        try:
            for record in records:
                result = function(record)
                append(result if type(result) is bytes else result_bytes(raw, result))
        except Failure:
            raise
        except BaseException as e:
            raise python_failure('python: ' + quote(raw.decode('utf-8', 'surrogateescape')) +
                                 ' raised an exception on record ' + str(len(out)) + ' of ' +
                                 str(len(records)), e)
        sizes = struct.pack('<%dQ' % len(out), *map(len, out))
        return sizes + b''.join(out)

    def info(self, payload):
        return info_fields()


def result_bytes(raw, result):
    """A call_bytes result as bytes (`raw`: the callable's name, for messages)."""
    name = raw.decode('utf-8', 'surrogateescape')
    if isinstance(result, bytes):
        return bytes(result)
    if isinstance(result, str):
        try:
            return result.encode('utf-8')
        except UnicodeEncodeError as e:
            raise python_failure('python: the str returned by ' + quote(name) +
                                 ' is not valid UTF-8', e)
    try:
        return memoryview(result).tobytes()
    except TypeError:
        raise Failure(EPYTHON, 'python: ' + quote(name) + ' returned ' + type(result).__name__ +
                      ', expected bytes or str')


def libpython():
    """The libpython this process runs, or None for a statically linked Python."""
    try:
        with open('/proc/self/maps') as maps:
            for line in maps:
                path = line.rstrip('\n').split(None, 5)[-1]
                name = path.rsplit('/', 1)[-1]
                if name.startswith('libpython') and '.so' in name:
                    return os.path.realpath(path)
    except OSError:
        pass
    return None


def info_fields():
    """What the host's info() reports, NUL-separated: version, implementation, free-threaded,
    GIL enabled, prefix, executable, libpython ("" for none)."""
    is_gil_enabled = getattr(sys, '_is_gil_enabled', None)
    gil = bool(is_gil_enabled()) if is_gil_enabled is not None else True
    fields = [
        sys.version.split(' ', 1)[0],
        sys.implementation.name,
        '1' if 't' in getattr(sys, 'abiflags', '') else '0',
        '1' if gil else '0',
        sys.prefix,
        sys.executable or '',
        libpython() or '',
    ]
    return '\0'.join(fields).encode('utf-8', 'surrogateescape')


# ---------------------------------------------------------------------------------------
# The loop.

def prepare():
    """What makes the process a worker, before the first request."""
    # `-c` put the working directory first on sys.path; thread mode adds no such entry.
    if sys.path and sys.path[0] == '':
        del sys.path[0]
    os.set_inheritable(CHANNEL, False)  # subprocesses of the job do not get the channel
    # Output reaches the host's log line by line, not when a buffer fills.
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and hasattr(stream, 'reconfigure'):
            stream.reconfigure(line_buffering=True)
    # A crash shows its Python stack on stderr, which the host reports; SIGUSR1 (which the
    # host sends to a call past its timeout, before killing it) shows where it was stuck.
    import faulthandler
    import _signal
    faulthandler.enable(all_threads=True)
    faulthandler.register(_signal.SIGUSR1, all_threads=True)


def serve(channel, handle):
    requests = {
        EXEC: handle.exec,
        CALL_JSON: handle.call_json,
        CALL_BYTES: handle.call_bytes,
        CALL_BATCH: handle.call_batch,
        INFO: handle.info,
    }
    while True:
        frame = channel.receive()
        if frame is None:
            return
        kind, sequence, payload = frame
        request = requests.get(kind)
        if request is None:
            raise ProtocolError('unknown request kind %d (sequence %d)' % (kind, sequence))
        try:
            result = request(payload)
        except Failure as f:
            channel.send(ERROR, sequence, f.status.to_bytes(4, 'little', signed=True) +
                         f.message.encode('utf-8', 'surrogateescape'))
            continue
        channel.send(RESULT, sequence, result)


def main():
    if not SUPPORTED[0] <= sys.version_info[:2] <= SUPPORTED[1]:
        sys.stderr.write('pyenv worker: Python %d.%d is outside the supported range %d.%d to '
                         '%d.%d\n' % (sys.version_info[:2] + SUPPORTED[0] + SUPPORTED[1]))
        sys.exit(2)
    prepare()
    channel = Channel(CHANNEL)
    channel.send(READY, 0, sys.version.split(' ', 1)[0].encode('ascii', 'replace'))
    try:
        serve(channel, Handle())
    except ProtocolError as e:
        sys.stderr.write('pyenv worker: %s\n' % e)
        sys.exit(3)
    except BrokenPipeError:
        pass  # the host went away mid-reply


if __name__ == '__main__' and sys.argv[-1:] == ['pyenv-worker']:
    main()
