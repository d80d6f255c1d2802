"""One HTTP/1.1 request on a kept-alive connection to a lab node, whose nginx answers with the
node's name: shared by the suites' connection holders (lib.sh puts this directory on
PYTHONPATH for the scripts they write)."""


def _recv(s):
    chunk = s.recv(4096)
    if not chunk:
        raise ConnectionError("closed by the peer")
    return chunk


def request(s):
    """Sends GET / on socket s and reads the whole answer: (status, body) as strings, body
    stripped (the node's name). ConnectionError when the peer closed the connection."""
    s.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(s)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(body) < length:
        body += _recv(s)
    return head.split(b" ")[1].decode(), body.strip().decode()


def node_of(s):
    """The name of the node that answered one request on s."""
    return request(s)[1]
