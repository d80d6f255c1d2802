#!/usr/bin/env python3
"""Sends one rescue (doc/node-truth.md, include/ebb.h) by hand, for tests: the balancer does not
send rescues yet. Run in the client's network namespace, it opens a real TCP connection to
VIP:PORT (whatever route the namespace has for it), reads the connection's sequence numbers
(TCP_REPAIR), and sends the next segment of that connection, an HTTP request for PATH, wrapped
as a rescue to the first candidate, out of DEV with AF_PACKET. It prints the client port and
keeps the connection open until stdin closes, so that the server side stays ESTABLISHED.

  rescue_send.py DEV SRC_MAC OUTER_SRC VIP PORT PATH CAND_IP,CAND_MAC [CAND_IP,CAND_MAC...]
  rescue_send.py --no-conn ... : the same rescue for a connection that does not exist (port 1)

The outer header has the candidates' family, the client's packet the VIP's (4-in-6 and 6-in-4
too); OUTER_SRC is the balancer's address of the candidates' family.
"""
import socket, struct, sys

TCP_REPAIR, TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ = 19, 20, 21
TCP_RECV_QUEUE, TCP_SEND_QUEUE = 1, 2
RESCUE_PROTO, MAGIC, VERSION = 253, 0xEB, 1


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def ipv4(src, dst, proto, payload, df=True):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0x4000 if df else 0, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def ipv6(src, dst, proto, payload):
    return (struct.pack("!IHBB", 6 << 28, len(payload), proto, 64) + socket.inet_pton(socket.AF_INET6, src)
            + socket.inet_pton(socket.AF_INET6, dst) + payload)


def ip(src, dst, proto, payload):
    return ipv6(src, dst, proto, payload) if ":" in dst else ipv4(src, dst, proto, payload)


def tcp(src, dst, sport, dport, seq, ack, flags, data):
    h = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    if ":" in dst:
        pseudo = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
                  + struct.pack("!IxxxB", len(h) + len(data), 6))
    else:
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(h) + len(data))
    c = csum(pseudo + h + data)
    return h[:16] + struct.pack("!H", c) + h[18:] + data


def main():
    args = sys.argv[1:]
    no_conn = args[0] == "--no-conn"
    if no_conn:
        args = args[1:]
    dev, src_mac, outer_src, vip, port, path = args[:6]
    port = int(port)
    cands = [c.split(",") for c in args[6:]]
    client = None
    if no_conn:
        sport, seq, ack, src = 1, 1, 1, None
    else:
        s = socket.create_connection((vip, port), timeout=5)
        src, sport = s.getsockname()[:2]
        s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
        s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)
        seq = s.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ) & 0xFFFFFFFF  # a C int
        s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)
        ack = s.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ) & 0xFFFFFFFF
        s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 0)
        client = s
    if src is None:
        src = outer_src
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, vip)).encode()
    inner = ip(src, vip, 6, tcp(src, vip, sport, port, seq, ack, 0x18, req))
    v6 = ":" in cands[0][0]  # the outer family: the candidates'
    rh = struct.pack("!BBBBBBH", MAGIC, VERSION, 0, len(cands), 41 if ":" in vip else 4, 0, 0)
    for addr, m in cands:
        a = socket.inet_pton(socket.AF_INET6, addr) if v6 else socket.inet_aton(addr) + b"\0" * 12
        rh += a + bytes([6 if v6 else 4]) + mac(m) + b"\0"
    frame = (mac(cands[0][1]) + mac(src_mac) + (b"\x86\xdd" if v6 else b"\x08\x00")
             + ip(outer_src, cands[0][0], RESCUE_PROTO, rh + inner))
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as p:
        p.bind((dev, 0))
        p.send(frame)
    print(sport, flush=True)
    if client is not None:
        sys.stdin.read()
        client.close()


if __name__ == "__main__":
    main()
