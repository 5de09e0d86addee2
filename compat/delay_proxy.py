#!/usr/bin/env python3
"""TCP relays that add a one-way delay, for compat/netns.sh's net_delay (the kernel here has no
sch_netem). Usage: delay_proxy.py DELAY_FILE LISTEN_HOST:PORT=TARGET_HOST:PORT ...

Every chunk read from one side is written to the other DELAY ms after it arrived, in order;
DELAY (ms) is re-read from DELAY_FILE every 100 ms, so a test changes it while connections
stay open. A connection closed on one side is closed on the other once its data is through.
"""
import asyncio
import sys
import time

delay_s = 0.0


async def watch(path):
    global delay_s
    while True:
        try:
            with open(path) as f:
                delay_s = max(0, int(f.read().strip() or 0)) / 1000.0
        except (OSError, ValueError):
            pass
        await asyncio.sleep(0.1)


async def pipe(reader, writer):
    queue = asyncio.Queue()

    async def read():
        while True:
            data = await reader.read(65536)
            await queue.put((time.monotonic() + delay_s, data))
            if not data:
                return

    async def write():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                writer.close()
                return
            writer.write(data)
            await writer.drain()

    try:
        await asyncio.gather(read(), write())
    except (ConnectionError, OSError):
        writer.close()


def relay(target_host, target_port):
    async def handle(client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w), return_exceptions=True)
        client_w.close()
        server_w.close()

    return handle


async def main():
    servers = [asyncio.create_task(watch(sys.argv[1]))]
    for route in sys.argv[2:]:
        listen, target = route.split("=")
        lhost, lport = listen.rsplit(":", 1)
        thost, tport = target.rsplit(":", 1)
        server = await asyncio.start_server(relay(thost, int(tport)), lhost, int(lport))
        servers.append(asyncio.create_task(server.serve_forever()))
    await asyncio.gather(*servers)


if __name__ == "__main__":
    asyncio.run(main())
