"""Raw Metadata and CreateTopics probes for check-cluster-ready.sh (no client library, so
nothing retries or waits on our behalf).

  check-cluster-ready.py first-answer N HOST:PORT...
      Connects to each node as soon as its port accepts and sends Metadata v2 at once; the
      first answer of every node must carry the cluster id and all N brokers.
  check-cluster-ready.py create TOPIC PARTITIONS REPLICATION_FACTOR HOST:PORT...
      CreateTopics v3 (timeout 30 s) through the first node, then at once Metadata v2 from
      every node: each partition of TOPIC has a leader everywhere, also on the nodes that
      hold no replica of it.
Exits 1 with the reason on the first violation.
"""

import socket
import struct
import sys
import time


def frame(api_key, version, corr, body):
    client = b"ready-probe"
    msg = struct.pack(">hhih", api_key, version, corr, len(client)) + client + body
    return struct.pack(">i", len(msg)) + msg


def read_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise EOFError("connection closed")
        out += chunk
    return out


def call(sock, api_key, version, body):
    sock.sendall(frame(api_key, version, 1, body))
    (size,) = struct.unpack(">i", read_exact(sock, 4))
    return Reader(read_exact(sock, size)[4:])  # past the correlation id


class Reader:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, fmt):
        (value,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return value

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        value = self.data[self.at:self.at + n].decode()
        self.at += n
        return value


def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def metadata(sock):
    """Metadata v2 for every topic: (cluster id, broker ids, {topic: {partition: leader}})."""
    r = call(sock, 3, 2, struct.pack(">i", -1))
    brokers = []
    for _ in range(r.take(">i")):
        brokers.append(r.take(">i"))
        r.string(), r.take(">i"), r.string()
    cluster_id = r.string()
    r.take(">i")  # controller
    topics = {}
    for _ in range(r.take(">i")):
        r.take(">h")
        name = r.string()
        r.take(">b")
        partitions = {}
        for _ in range(r.take(">i")):
            r.take(">h")
            index, leader = r.take(">i"), r.take(">i")
            for _ in range(2):
                for _ in range(r.take(">i")):
                    r.take(">i")
            partitions[index] = leader
        topics[name] = partitions
    return cluster_id, sorted(brokers), topics


def connect(address, seconds):
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + seconds
    while True:
        try:
            sock = socket.create_connection((host, int(port)), timeout=60)
            return sock
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def first_answer(count, addresses):
    """All nodes at once, each the moment its port accepts."""
    import threading
    failures = []

    def probe(address):
        try:
            cluster_id, brokers, _ = metadata(connect(address, 60))
        except Exception as error:  # reported like a wrong answer
            failures.append(f"{address}: {error!r}")
            return
        print(f"{address}: first Metadata answer: cluster id {cluster_id!r}, brokers {brokers}")
        if not cluster_id or len(brokers) != count:
            failures.append(f"{address} answered before it applied the cluster metadata")

    threads = [threading.Thread(target=probe, args=(a,)) for a in addresses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        fail("; ".join(failures))


def create(topic, partitions, factor, addresses):
    sock = connect(addresses[0], 10)
    body = struct.pack(">i", 1) + string(topic) + struct.pack(">ihii", partitions, factor, 0, 0)
    body += struct.pack(">ib", 30000, 0)
    r = call(sock, 19, 3, body)
    r.take(">i")
    r.take(">i")
    name, code, message = r.string(), r.take(">h"), r.string()
    print(f"CreateTopics {name}: error {code} {message or ''}")
    if code != 0:
        fail(f"CreateTopics answered {code}")
    for address in addresses:
        _, _, topics = metadata(connect(address, 10))
        leaders = topics.get(topic, {})
        print(f"{address}: leaders {dict(sorted(leaders.items()))}")
        if len(leaders) != partitions or any(leader < 0 for leader in leaders.values()):
            fail(f"{address} shows {topic} without a leader for every partition right after CreateTopics")


if __name__ == "__main__":
    if sys.argv[1] == "first-answer":
        first_answer(int(sys.argv[2]), sys.argv[3:])
    else:
        create(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:])
