#!/usr/bin/env python3
# flush_flows.py PINNED_MAP: every entry of a pinned BPF hash map deleted at once, through the
# bpf() syscall (as a restart or an eviction would lose the flow table); prints how many. A
# bpftool call per key is too slow: a flush must be over within a fraction of a second.
import ctypes, os, sys
NR_BPF = {"x86_64": 321, "aarch64": 280}[os.uname().machine]
BPF_MAP_DELETE_ELEM, BPF_MAP_GET_NEXT_KEY, BPF_OBJ_GET = 3, 4, 7
libc = ctypes.CDLL(None, use_errno=True)
class ObjAttr(ctypes.Structure):
    _fields_ = [("pathname", ctypes.c_uint64), ("bpf_fd", ctypes.c_uint32),
                ("file_flags", ctypes.c_uint32)]
class ElemAttr(ctypes.Structure):
    _fields_ = [("map_fd", ctypes.c_uint32), ("pad", ctypes.c_uint32), ("key", ctypes.c_uint64),
                ("next", ctypes.c_uint64), ("flags", ctypes.c_uint64)]
def bpf(cmd, attr):
    return libc.syscall(NR_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
path = ctypes.create_string_buffer(sys.argv[1].encode())
fd = bpf(BPF_OBJ_GET, ObjAttr(ctypes.addressof(path), 0, 0))
if fd < 0:
    sys.exit("cannot open %s: %s" % (sys.argv[1], os.strerror(ctypes.get_errno())))
# The keys there now, then each deleted: deleting "the first key" until none is left chases the
# flows that live traffic pins again meanwhile (a rescued flow is claimed and pinned within
# microseconds), and under load never ends (CI saw 247504 "entries" and a flush outlasting wrk).
# (A key deleted under the walk restarts it from the first key: a key seen before ends it.)
keys, seen = [], set()
prev = None
while True:
    key = ctypes.create_string_buffer(64)
    if bpf(BPF_MAP_GET_NEXT_KEY, ElemAttr(fd, 0, ctypes.addressof(prev) if prev else 0,
                                          ctypes.addressof(key), 0)) != 0:
        if ctypes.get_errno() != 2: # ENOENT: past the last key
            sys.exit("get_next_key: %s" % os.strerror(ctypes.get_errno()))
        break
    if key.raw in seen:
        break
    seen.add(key.raw)
    keys.append(key)
    prev = key
n = 0
for key in keys:
    if bpf(BPF_MAP_DELETE_ELEM, ElemAttr(fd, 0, ctypes.addressof(key), 0, 0)) == 0:
        n += 1
    elif ctypes.get_errno() != 2: # ENOENT: evicted or ended meanwhile
        sys.exit("delete: %s" % os.strerror(ctypes.get_errno()))
print(n)
