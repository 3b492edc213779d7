#!/usr/bin/env python3
"""A TCP proxy that puts a round-trip time between its clients and one upstream (a
registry on loopback), and logs every connection and every HTTP/1.1 request it carries.

usage: rtt_proxy.py UPSTREAM_HOST:PORT RTT_MS LOG_FILE
Prints the port it listens on (127.0.0.1) on stdout, then serves until killed.

The delay: every chunk in either direction is delivered RTT/2 after it was read. On
loopback the client's TCP handshake with the proxy completes at once, so the proxy
delivers nothing a client sends on a new connection before accept + 1.5 x RTT: what a
real handshake (one round trip) and the first request's way out would cost. So a new
connection costs one RTT, as it does over a real distance (TLS would add more).

The log, one line per event, times in ms since the proxy started:
  C <ms> <conn>                  a connection accepted
  R <ms> <conn> <METHOD> <path>  a request's head arrived at the upstream
"""
import asyncio
import sys
import time

START = time.monotonic()


def now_ms():
    return (time.monotonic() - START) * 1000.0


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)

    def write(self, line):
        self.f.write(line + "\n")


async def pump(reader, writer, delay, not_before, on_data=None):
    """Copies reader to writer, each chunk delivered `delay` s after it was read and not
    before the loop time `not_before`, in order."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, chunk = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if chunk is None:
                break
            if on_data is not None:
                on_data(chunk)
            writer.write(chunk)
            await writer.drain()
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass

    task = asyncio.ensure_future(deliver())
    try:
        while True:
            chunk = await reader.read(65536)
            due = max(loop.time() + delay, not_before)
            if not chunk:
                queue.put_nowait((due, None))
                break
            queue.put_nowait((due, chunk))
        await task
    except (ConnectionError, OSError):
        task.cancel()


class RequestHeads:
    """Finds HTTP/1.1 request heads in a client's byte stream (bodies skipped by
    Content-Length; the registry client sends no chunked bodies on GET/HEAD)."""

    def __init__(self, log, conn):
        self.buf = b""
        self.skip = 0
        self.log, self.conn = log, conn

    def feed(self, data):
        self.buf += data
        while True:
            if self.skip:
                n = min(self.skip, len(self.buf))
                self.buf, self.skip = self.buf[n:], self.skip - n
                if self.skip:
                    return
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end].decode("latin-1"), self.buf[end + 4:]
            lines = head.split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) >= 2:
                self.log.write(f"R {now_ms():.2f} {self.conn} {parts[0]} {parts[1]}")
            for line in lines[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-length":
                    self.skip = int(v.strip() or 0)


async def main():
    upstream, rtt_ms, log_path = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    up_host, up_port = upstream.rsplit(":", 1)
    half = rtt_ms / 2000.0
    log = Log(log_path)
    counter = [0]

    async def handle(c_reader, c_writer):
        loop = asyncio.get_running_loop()
        accepted = loop.time()
        counter[0] += 1
        conn = counter[0]
        log.write(f"C {now_ms():.2f} {conn}")
        try:
            u_reader, u_writer = await asyncio.open_connection(up_host, int(up_port))
        except OSError:
            c_writer.close()
            return
        heads = RequestHeads(log, conn)
        await asyncio.gather(
            pump(c_reader, u_writer, half, accepted + 3 * half, heads.feed),
            pump(u_reader, c_writer, half, 0.0),
        )
        for w in (u_writer, c_writer):
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
