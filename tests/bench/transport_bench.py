"""Which channel process mode's workers use, by measurement: the round trip of a 100-byte
message between two Python processes over each candidate, both ends in Python as the worker's
end is (the host's end is C++, which only makes each candidate cheaper by the same amount).

    python3 tests/bench/transport_bench.py [ROUND_TRIPS] [RUNS]

  socketpair   AF_UNIX SOCK_STREAM, blocking os.read / os.write (what the plugin uses)
  pipes        two pipes, blocking os.read / os.write
  shm+eventfd  a shared mmap for the bytes, one eventfd each way for the wake-ups
               (os.eventfd, Python 3.10+), blocking eventfd_read
  shm+spin     the same mmap, a sequence word polled by both sides (no system call; burns a
               core per worker while it waits, which process mode cannot afford)

Prints the median microseconds per round trip of each, and its ratio to socketpair.
"""
import mmap
import os
import socket
import statistics
import struct
import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
MESSAGE = b'r' * 100


def fd_pair_echo(read_fd, write_fd, n):
    for _ in range(n):
        data = os.read(read_fd, 65536)
        os.write(write_fd, data)


def fd_pair_drive(read_fd, write_fd, n):
    start = time.perf_counter()
    for _ in range(n):
        os.write(write_fd, MESSAGE)
        os.read(read_fd, 65536)
    return (time.perf_counter() - start) / n * 1e6


def run_fd_pair(make):
    (parent_read, child_write), (child_read, parent_write) = make(), make()
    pid = os.fork()
    if pid == 0:
        fd_pair_echo(child_read, child_write, N)
        os._exit(0)
    us = fd_pair_drive(parent_read, parent_write, N)
    os.waitpid(pid, 0)
    for fd in (parent_read, child_write, child_read, parent_write):
        os.close(fd)
    return us


def socketpair_fds():
    a, b = socket.socketpair()
    return a.detach(), b.detach()


def run_socketpair():
    # One socket each way is what a socketpair is: the same fd reads and writes.
    a, b = socket.socketpair()
    fa, fb = a.detach(), b.detach()
    pid = os.fork()
    if pid == 0:
        os.close(fa)
        fd_pair_echo(fb, fb, N)
        os._exit(0)
    os.close(fb)
    us = fd_pair_drive(fa, fa, N)
    os.waitpid(pid, 0)
    os.close(fa)
    return us


SEQ = struct.Struct('<Q')


def run_shm(spin):
    if not hasattr(os, 'eventfd') and not spin:
        return None
    area = mmap.mmap(-1, 4096)
    to_child = None if spin else os.eventfd(0)
    to_parent = None if spin else os.eventfd(0)
    pid = os.fork()
    if pid == 0:
        for i in range(1, N + 1):
            if spin:
                while SEQ.unpack_from(area, 0)[0] != 2 * i - 1:
                    pass
            else:
                os.eventfd_read(to_child)
            data = area[16:116]
            area[16:116] = data
            SEQ.pack_into(area, 0, 2 * i)
            if not spin:
                os.eventfd_write(to_parent, 1)
        os._exit(0)
    start = time.perf_counter()
    for i in range(1, N + 1):
        area[16:116] = MESSAGE
        SEQ.pack_into(area, 0, 2 * i - 1)
        if spin:
            while SEQ.unpack_from(area, 0)[0] != 2 * i:
                pass
        else:
            os.eventfd_write(to_child, 1)
            os.eventfd_read(to_parent)
        area[16:116]
    us = (time.perf_counter() - start) / N * 1e6
    os.waitpid(pid, 0)
    return us


def main():
    candidates = [
        ('socketpair', run_socketpair),
        ('pipes', lambda: run_fd_pair(os.pipe)),
        ('shm+eventfd', lambda: run_shm(False)),
        ('shm+spin', lambda: run_shm(True)),
    ]
    results = {}
    for _ in range(RUNS):
        for name, run in candidates:
            us = run()
            if us is not None:
                results.setdefault(name, []).append(us)
    base = statistics.median(results['socketpair'])
    print('transport_bench: %s, %d round trips of 100 bytes, median of %d runs' %
          (sys.version.split()[0], N, RUNS))
    for name, _ in candidates:
        if name not in results:
            print('  %-12s (needs os.eventfd, Python 3.10+)' % name)
            continue
        us = statistics.median(results[name])
        print('  %-12s %7.2f us/round trip  %5.2fx socketpair' % (name, us, us / base))


if __name__ == '__main__':
    main()
