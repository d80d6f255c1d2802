#!/usr/bin/env python3
"""Sends one rescue (doc/node-truth.md, include/ebb.h) by hand, for tests: the balancer does not
send rescues yet. Run in the client's network namespace, it opens a real TCP connection to
VIP:PORT (whatever route the namespace has for it), reads the connection's sequence numbers
(TCP_REPAIR), and sends the next segment of that connection, an HTTP request for PATH, wrapped
as a rescue to the first candidate, out of DEV with AF_PACKET. It prints the client port and
keeps the connection open until stdin closes, so that the server side stays ESTABLISHED.

  rescue_send.py DEV SRC_MAC OUTER_SRC VIP PORT PATH CAND_IP,CAND_MAC [CAND_IP,CAND_MAC...]
  rescue_send.py --no-conn ... : the same rescue for a connection that does not exist (port 1)
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


def tcp4(src, dst, sport, dport, seq, ack, flags, data):
    h = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
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
    inner = ipv4(src, vip, 6, tcp4(src, vip, sport, port, seq, ack, 0x18, req))
    rh = struct.pack("!BBBBBBH", MAGIC, VERSION, 0, len(cands), 4, 0, 0)
    for ip, m in cands:
        rh += socket.inet_aton(ip) + b"\0" * 12 + bytes([4]) + mac(m) + b"\0"
    frame = mac(cands[0][1]) + mac(src_mac) + b"\x08\x00" + ipv4(outer_src, cands[0][0], RESCUE_PROTO, rh + inner)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as p:
        p.bind((dev, 0))
        p.send(frame)
    print(sport, flush=True)
    if client is not None:
        sys.stdin.read()
        client.close()


if __name__ == "__main__":
    main()
