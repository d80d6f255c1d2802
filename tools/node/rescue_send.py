#!/usr/bin/env python3
"""Sends one rescue (doc/node-truth.md, include/ebb.h: version 2) by hand, for tests. Run in the
client's network namespace, it opens a real TCP connection to VIP:PORT (whatever route the
namespace has for it), reads the connection's sequence numbers (TCP_REPAIR), and sends the next
segment of that connection, an HTTP request for PATH, wrapped as a rescue to the first
candidate, out of DEV with AF_PACKET. It prints the client port and keeps the connection open
until stdin closes, so that the server side stays ESTABLISHED.

  rescue_send.py [--no-conn] [--claim] DEV SRC_MAC OUTER_SRC VIP PORT PATH CAND_IP,CAND_MAC [...]

  --no-conn: the same rescue for a connection that does not exist (port 1)
  --claim:   lb_mac = SRC_MAC, so that the owner claims the flow back to this namespace: plays
             the balancer's part. It waits (at most 10 s) for the claim on DEV, prints it as one
             JSON line after the port ({"claim": null} if none came), then sends the client's
             packet to the claiming candidate's MAC unwrapped, as a dsr balancer would forward
             it once the flow is pinned.

The outer header has the candidates' family, the client's packet the VIP's (4-in-6 and 6-in-4
too); OUTER_SRC is the balancer's address of the candidates' family. Candidate i gets node id
0x100 + i, the cookie is COOKIE: both come back unchanged in a claim.
"""
import json, select, socket, struct, sys, time

TCP_REPAIR, TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ = 19, 20, 21
TCP_RECV_QUEUE, TCP_SEND_QUEUE = 1, 2
RESCUE_PROTO, MAGIC, VERSION, F_CLAIM = 253, 0xEB, 2, 1
COOKIE = 0x5EC0C1E5
ETH_P_ALL, PACKET_OUTGOING = 3, 4


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


def fmt_mac(b):
    return ":".join("%02x" % x for x in b)


def fmt_ip(b):
    return socket.inet_ntop(socket.AF_INET6 if len(b) == 16 else socket.AF_INET, b)


def wait_claim(p, sent, l2, deadline):
    """The first frame on p that came in (not the one sent) and is a rescue with the claim flag:
    what it says, next to what was sent, for the test to assert."""
    olen = 40 if sent[l2] >> 4 == 6 else 20
    while time.monotonic() < deadline:
        if not select.select([p], [], [], max(0.0, deadline - time.monotonic()))[0]:
            break
        f, addr = p.recvfrom(65535)
        if addr[2] == PACKET_OUTGOING or len(f) < l2 + olen + 16 or f[12:14] != sent[12:14]:
            continue
        proto = f[l2 + 6] if olen == 40 else f[l2 + 9]
        rh = f[l2 + olen:l2 + olen + 16]
        if proto != RESCUE_PROTO or rh[0] != MAGIC or not rh[5] & F_CLAIM:
            continue
        srh = sent[l2 + olen:l2 + olen + 16]
        asz = 16 if olen == 40 else 4
        src_at, dst_at = (l2 + 8, l2 + 24) if olen == 40 else (l2 + 12, l2 + 16)
        return {
            "eth_dst": fmt_mac(f[0:6]), "eth_src": fmt_mac(f[6:12]),
            "outer_src": fmt_ip(f[src_at:src_at + asz]), "outer_dst": fmt_ip(f[dst_at:dst_at + asz]),
            "version": rh[1], "flags": rh[5], "hop": rh[2], "count": rh[3],
            "lb_mac": fmt_mac(rh[6:12]), "cookie": struct.unpack("!I", rh[12:16])[0],
            # every byte after the outer header but hop and flags: next_proto, lb_mac, cookie,
            # the candidates and the client's packet, exactly as this tool sent them
            "rest_unchanged": f[l2 + olen + 16:] == sent[l2 + olen + 16:]
                              and rh[3:5] + rh[6:] == srh[3:5] + srh[6:] and rh[:2] == srh[:2],
            "len": len(f), "sent_len": len(sent),
            "outer_csum_ok": olen == 40 or csum(f[l2:l2 + 20]) == 0,
            "ttl": f[l2 + 7] if olen == 40 else f[l2 + 8],
        }
    return None


def main():
    args = sys.argv[1:]
    no_conn = claim = False
    while args[0].startswith("--"):
        no_conn |= args[0] == "--no-conn"
        claim |= args[0] == "--claim"
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
    lb_mac = mac(src_mac) if claim else b"\0" * 6
    rh = struct.pack("!BBBBBB6sI", MAGIC, VERSION, 0, len(cands), 41 if ":" in vip else 4, 0, lb_mac,
                     COOKIE)
    for i, (addr, m) in enumerate(cands):
        a = socket.inet_pton(socket.AF_INET6, addr) if v6 else socket.inet_aton(addr) + b"\0" * 12
        rh += a + mac(m) + struct.pack("=H", 0x100 + i)  # node_id: host order
    frame = (mac(cands[0][1]) + mac(src_mac) + (b"\x86\xdd" if v6 else b"\x08\x00")
             + ip(outer_src, cands[0][0], RESCUE_PROTO, rh + inner))
    # opened before the rescue goes out, so that the claim cannot come back before it listens
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as p:
        p.bind((dev, ETH_P_ALL))
        p.send(frame)
        print(sport, flush=True)
        if claim:
            got = wait_claim(p, frame, 14, time.monotonic() + 10)
            print(json.dumps({"claim": got}), flush=True)
            if got is not None and got["hop"] < len(cands):
                # the balancer's part once it has pinned the flow: the client's packet, as is,
                # to the node that claimed it (dsr)
                p.send(mac(cands[got["hop"]][1]) + mac(src_mac)
                       + (b"\x86\xdd" if ":" in vip else b"\x08\x00") + inner)
    if client is not None:
        sys.stdin.read()
        client.close()


if __name__ == "__main__":
    main()
