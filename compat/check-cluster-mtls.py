"""Probes of a Raft port (see check-cluster-mtls.sh): each connects its way and sends the
internal frame a forger would, a metadata quorum query (u32 length, then postcard: request id
1, Request::DescribeQuorum), and reports whether a response frame came back.

    check-cluster-mtls.py HOST PORT MODE [CA [CERT KEY]]

MODE: plaintext (no TLS), tls-anonymous (TLS trusting the cluster CA, no client certificate),
tls-cert (TLS with the client certificate CERT/KEY). Prints ANSWERED <n bytes> (a whole
response frame) or REFUSED <why> (the connection closed or reset without one; a TLS alert to
a plaintext client is not an answer); exit status 0 either way (the caller decides which is
expected), 2 on usage.
"""

import socket
import ssl
import sys

# u32 length 2; id 1 (varint); variant 6 of Request = DescribeQuorum
FRAME = b"\x00\x00\x00\x02\x01\x06"
TIMEOUT_S = 10
# The Raft port's frame cap (cluster::FRAME_BYTES_MAX).
FRAME_BYTES_MAX = 256 * 1024 * 1024


def connect(host, port, mode, ca, cert, key):
    raw = socket.create_connection((host, port), timeout=TIMEOUT_S)
    if mode == "plaintext":
        return raw
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    if mode == "tls-cert":
        context.load_cert_chain(cert, key)
    return context.wrap_socket(raw, server_hostname=host)


def probe(host, port, mode, ca=None, cert=None, key=None):
    try:
        sock = connect(host, port, mode, ca, cert, key)
    except (ssl.SSLError, OSError) as error:
        return f"REFUSED handshake: {error}"
    with sock:
        try:
            sock.sendall(FRAME)
            answer = b""
            # The whole response frame: its length, then that many bytes.
            while len(answer) < 4 or len(answer) < 4 + int.from_bytes(answer[:4], "big"):
                if len(answer) >= 4 and int.from_bytes(answer[:4], "big") > FRAME_BYTES_MAX:
                    break
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except (ssl.SSLError, OSError) as error:
            return f"REFUSED after the handshake: {error}"
    if not answer:
        return "REFUSED closed without an answer"
    if answer[:2] == b"\x15\x03":
        return f"REFUSED with a TLS alert ({answer.hex()})"
    length = int.from_bytes(answer[:4], "big") if len(answer) >= 4 else -1
    if length < 0 or length > FRAME_BYTES_MAX or len(answer) != 4 + length:
        return f"REFUSED with {len(answer)} bytes that are not one response frame ({answer[:16].hex()})"
    return f"ANSWERED {len(answer)} bytes"


def main():
    if len(sys.argv) not in (4, 5, 7):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    print(probe(host, port, mode, *sys.argv[4:]))


if __name__ == "__main__":
    main()
