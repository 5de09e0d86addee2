"""Raw Kafka protocol probes for the cluster checks (no client library in between).

  kprobe.py init-producer-id HOST:PORT SECONDS
      Sends InitProducerId v0 (no transactional id: an idempotent producer asking for a
      producer id) and waits at most SECONDS for the answer. Prints
      "InitProducerId answered in N ms: error_code=E (NAME) producer_id=P epoch=X" and exits 0,
      or "InitProducerId: NO RESPONSE within SECONDS s" and exits 1. Then the same for a
      Metadata v1 request sent on the same connection (answered only after the first one:
      Kafka answers requests of one connection in order).
"""

import socket
import struct
import sys
import time

ERRORS = {0: "NONE", 7: "REQUEST_TIMED_OUT", 14: "COORDINATOR_LOAD_IN_PROGRESS",
          15: "COORDINATOR_NOT_AVAILABLE", 6: "NOT_LEADER_OR_FOLLOWER", 19: "NOT_ENOUGH_REPLICAS",
          -1: "UNKNOWN_SERVER_ERROR", 45: "OUT_OF_ORDER_SEQUENCE_NUMBER"}


def request(api_key, version, corr, body):
    client = b"kprobe"
    header = struct.pack(">hhih", api_key, version, corr, len(client)) + client
    msg = header + body
    return struct.pack(">i", len(msg)) + msg


class Conn:
    """One connection; keeps what was read past a response for the next one (the broker may
    write two pipelined responses in one segment)."""

    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def read_response(self, deadline):
        """The next response frame (without its length prefix), or None at the deadline."""
        while True:
            if len(self.buf) >= 4:
                size = struct.unpack(">i", self.buf[:4])[0]
                if len(self.buf) >= 4 + size:
                    frame, self.buf = self.buf[4:4 + size], self.buf[4 + size:]
                    return frame
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                raise ConnectionError("connection closed by the broker")
            self.buf += chunk

    def close(self):
        self.sock.close()


def init_producer_id(addr, seconds):
    conn = Conn(addr)
    t0 = time.monotonic()
    # InitProducerId v0: transactional_id (nullable string: -1), transaction_timeout_ms
    conn.send(request(22, 0, 1, struct.pack(">hi", -1, 60000)))
    # Metadata v1 right behind it, for one topic-less request: topics = [] (empty array)
    conn.send(request(3, 1, 2, struct.pack(">i", 0)))
    deadline = t0 + seconds
    rc = 0
    resp = conn.read_response(deadline)
    if resp is None:
        print(f"InitProducerId: NO RESPONSE within {seconds} s from {addr}", flush=True)
        rc = 1
    else:
        corr, throttle, err, pid, epoch = struct.unpack(">iihqh", resp[:20])
        if corr != 1:
            print(f"InitProducerId: response with correlation id {corr}, expected 1", flush=True)
            rc = 1
        print(f"InitProducerId answered in {(time.monotonic() - t0) * 1000:.0f} ms by {addr}: "
              f"error_code={err} ({ERRORS.get(err, '?')}) producer_id={pid} epoch={epoch}", flush=True)
    resp = conn.read_response(deadline if rc else time.monotonic() + seconds)
    if resp is None:
        print(f"Metadata (sent right after it on the same connection): NO RESPONSE within {seconds} s",
              flush=True)
        rc = 1
    elif struct.unpack(">i", resp[:4])[0] != 2:
        print(f"Metadata: response with correlation id {struct.unpack('>i', resp[:4])[0]}, expected 2",
              flush=True)
        rc = 1
    else:
        print(f"Metadata (sent right after it on the same connection) answered in "
              f"{(time.monotonic() - t0) * 1000:.0f} ms", flush=True)
    conn.close()
    return rc


def main():
    if len(sys.argv) != 4 or sys.argv[1] != "init-producer-id":
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(init_producer_id(sys.argv[2], float(sys.argv[3])))


if __name__ == "__main__":
    main()
