"""pyenv_worker.py on its own, as Python: its framing over a real socketpair, its parsing of
requests (and refusal of broken ones), and what its calls answer, word for word as thread
mode does. The whole worker, through the plugin, is tested by the C++ suites.

    python3 tests/unit/pyenv_worker_test.py <path of src/worker/pyenv_worker.py>
"""
import importlib.util
import os
import socket
import struct
import sys
import threading
import unittest

spec = importlib.util.spec_from_file_location('pyenv_worker', sys.argv.pop(1))
worker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(worker)


def frame(kind, sequence, payload):
    return struct.pack('<QiI', len(payload), kind, sequence) + payload


def call(name, data):
    return struct.pack('<I', len(name)) + name + data


class Framing(unittest.TestCase):
    def setUp(self):
        self.host, self.end = socket.socketpair()
        self.channel = worker.Channel(self.end.fileno())

    def tearDown(self):
        self.host.close()
        self.end.close()

    def test_frames_arriving_together_are_read_one_by_one(self):
        self.host.sendall(frame(1, 7, b'a = 1') + frame(5, 8, b''))
        self.assertEqual(self.channel.receive(), (1, 7, b'a = 1'))
        self.assertEqual(self.channel.receive(), (5, 8, b''))

    def test_a_frame_larger_than_any_read_arrives_whole(self):
        payload = os.urandom(5 << 20)
        sender = threading.Thread(target=self.host.sendall, args=(frame(3, 1, payload),))
        sender.start()
        kind, sequence, got = self.channel.receive()
        sender.join()
        self.assertEqual((kind, sequence, got), (3, 1, payload))

    def test_a_header_in_pieces(self):
        data = frame(2, 9, b'xyz')
        sender = threading.Thread(target=lambda: [self.host.sendall(data[i:i + 1])
                                                  for i in range(len(data))])
        sender.start()
        self.assertEqual(self.channel.receive(), (2, 9, b'xyz'))
        sender.join()

    def test_end_of_input_between_frames_is_none_inside_one_an_error(self):
        self.host.sendall(frame(1, 1, b'x')[:10])
        self.host.shutdown(socket.SHUT_WR)
        with self.assertRaises(worker.ProtocolError):
            self.channel.receive()
        other_host, other_end = socket.socketpair()
        other_host.close()
        self.assertIsNone(worker.Channel(other_end.fileno()).receive())
        other_end.close()

    def test_send_writes_one_frame(self):
        self.channel.send(worker.RESULT, 4, b'done')
        self.assertEqual(self.host.recv(100), frame(65, 4, b'done'))
        big = b'b' * (1 << 20)
        sender = threading.Thread(target=self.channel.send, args=(worker.RESULT, 5, big))
        sender.start()
        got = b''
        while len(got) < 16 + len(big):
            got += self.host.recv(1 << 16)
        sender.join()
        self.assertEqual(got, frame(65, 5, big))


class Requests(unittest.TestCase):
    def test_split_call(self):
        self.assertEqual(worker.split_call(call(b'm:f', b'data')), (b'm:f', b'data'))
        with self.assertRaises(worker.ProtocolError):
            worker.split_call(struct.pack('<I', 99) + b'short')

    def test_split_records(self):
        records = [b'a', b'', b'ccc']
        data = (struct.pack('<Q', 3) + struct.pack('<3Q', 1, 0, 3) + b''.join(records))
        self.assertEqual(worker.split_records(data), records)
        with self.assertRaises(worker.ProtocolError):
            worker.split_records(data + b'extra')
        with self.assertRaises(worker.ProtocolError):
            worker.split_records(struct.pack('<Q', 1 << 40))


class Calls(unittest.TestCase):
    def setUp(self):
        self.handle = worker.Handle()
        self.handle.exec(b'def upper(r):\n    return r.upper()\n'
                         b'def inner():\n    raise ValueError("deep")\n'
                         b'def boom(r):\n    inner()\n'
                         b'def number(r):\n    return 42\n'
                         b'def picky(r):\n    if r == b"bad":\n        raise KeyError(r)\n'
                         b'    return r\n')

    def failure(self, call_it):
        with self.assertRaises(worker.Failure) as caught:
            call_it()
        return caught.exception

    def test_bytes_and_json(self):
        self.assertEqual(self.handle.call_bytes(call(b'upper', b'abc')), b'ABC')
        self.assertEqual(self.handle.call_json(call(b'json:dumps', b'[[1, 2, {"a": null}]]')),
                         b'"[1, 2, {\\"a\\": null}]"')
        self.assertEqual(self.handle.call_json(call(b'len', b'[[1, 2]]')), b'2')

    def test_a_traceback_shows_the_jobs_frames_only(self):
        f = self.failure(lambda: self.handle.call_bytes(call(b'boom', b'')))
        self.assertEqual(f.status, worker.EPYTHON)
        self.assertTrue(f.message.startswith('python: "boom" raised an exception:\nTraceback'),
                        f.message)
        self.assertIn('in boom', f.message)
        self.assertIn('in inner', f.message)
        self.assertNotIn('pyenv_worker', f.message)
        self.assertNotIn('call_bytes', f.message)
        self.assertTrue(f.message.endswith('ValueError: deep'), f.message)

    def test_messages_as_thread_mode_words_them(self):
        cases = [
            (b'', worker.EINVAL, 'python: empty callable name'),
            (b'nowhere', worker.EPYTHON,
             'python: name "nowhere" is not defined in this interpreter\'s globals (nor a builtin)'),
            (b'os:', worker.EINVAL, 'python: callable "os:": expected "package.module:function"'),
            (b'os:sep', worker.EPYTHON, 'python: "os:sep" is not callable (it is a str)'),
            (b'no_such_module_x:f', worker.EPYTHON,
             'python: "no_such_module_x:f": cannot import no_such_module_x:\nTraceback'),
            (b'number', worker.EPYTHON, 'python: "number" returned int, expected bytes or str'),
        ]
        for name, status, start in cases:
            f = self.failure(lambda: self.handle.call_bytes(call(name, b'')))
            self.assertEqual(f.status, status, name)
            self.assertTrue(f.message.startswith(start), (name, f.message))
        f = self.failure(lambda: self.handle.call_json(call(b'len', b'{not json')))
        self.assertEqual(f.status, worker.EINVAL)
        self.assertIn('arguments are not valid JSON', f.message)
        f = self.failure(lambda: self.handle.call_json(call(b'len', b'{}')))
        self.assertEqual(f.message, 'python: "len": arguments must be a JSON array, not a JSON dict')
        f = self.failure(lambda: self.handle.exec(b'def ('))
        self.assertTrue(f.message.startswith('python: exec: the code does not compile:'))
        f = self.failure(lambda: self.handle.exec(b'import sys\nsys.exit(3)'))
        self.assertTrue(f.message.startswith('python: exec raised an exception:'))
        self.assertIn('SystemExit: 3', f.message)

    def test_batches_in_order_and_the_failing_records_index(self):
        records = [b'a', b'', b'c' * 100000]
        data = struct.pack('<Q', 3) + struct.pack('<3Q', *map(len, records)) + b''.join(records)
        out = self.handle.call_batch(call(b'upper', data))
        sizes = struct.unpack_from('<3Q', out)
        self.assertEqual(sizes, (1, 0, 100000))
        self.assertEqual(out[24:], b'A' + b'C' * 100000)
        bad = [b'ok', b'bad', b'ok']
        data = struct.pack('<Q', 3) + struct.pack('<3Q', *map(len, bad)) + b''.join(bad)
        f = self.failure(lambda: self.handle.call_batch(call(b'picky', data)))
        self.assertIn('"picky" raised an exception on record 1 of 3', f.message)
        self.assertTrue(f.message.endswith("KeyError: b'bad'"), f.message)

    def test_info_fields(self):
        fields = worker.info_fields().split(b'\0')
        self.assertEqual(len(fields), 7)
        self.assertEqual(fields[0].decode(), sys.version.split()[0])
        self.assertEqual(fields[1], b'cpython')


if __name__ == '__main__':
    unittest.main()
