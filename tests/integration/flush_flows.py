#!/usr/bin/env python3
# flush_flows.py PINNED_MAP: every entry of a pinned flow table gone at once, through the bpf()
# syscall (as a restart or an eviction would lose the flow table); prints how many. A hash map's
# keys are deleted; the IPv4 bucket table (include/ebb_flowtable.h, a mmapable array) has each
# entry word set to 0 in place, and its sibling flows6 (a hash) is flushed too. A bpftool call
# per key is too slow: a flush must be over within a fraction of a second.
import ctypes, mmap, os, sys
NR_BPF = {"x86_64": 321, "aarch64": 280}[os.uname().machine]
BPF_MAP_DELETE_ELEM, BPF_MAP_GET_NEXT_KEY, BPF_OBJ_GET, BPF_OBJ_GET_INFO_BY_FD = 3, 4, 7, 15
BPF_MAP_TYPE_ARRAY = 2
FT_WAYS, FT_BUCKET, FT_NODE = 8, 128, 0x1fff << 15 # include/ebb_flowtable.h
libc = ctypes.CDLL(None, use_errno=True)
class ObjAttr(ctypes.Structure):
    _fields_ = [("pathname", ctypes.c_uint64), ("bpf_fd", ctypes.c_uint32),
                ("file_flags", ctypes.c_uint32)]
class ElemAttr(ctypes.Structure):
    _fields_ = [("map_fd", ctypes.c_uint32), ("pad", ctypes.c_uint32), ("key", ctypes.c_uint64),
                ("next", ctypes.c_uint64), ("flags", ctypes.c_uint64)]
class InfoAttr(ctypes.Structure):
    _fields_ = [("bpf_fd", ctypes.c_uint32), ("info_len", ctypes.c_uint32),
                ("info", ctypes.c_uint64)]
class MapInfo(ctypes.Structure): # the head of struct bpf_map_info
    _fields_ = [("type", ctypes.c_uint32), ("id", ctypes.c_uint32), ("key_size", ctypes.c_uint32),
                ("value_size", ctypes.c_uint32), ("max_entries", ctypes.c_uint32),
                ("map_flags", ctypes.c_uint32)]
def bpf(cmd, attr):
    return libc.syscall(NR_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
def open_map(p):
    path = ctypes.create_string_buffer(p.encode())
    fd = bpf(BPF_OBJ_GET, ObjAttr(ctypes.addressof(path), 0, 0))
    if fd < 0:
        sys.exit("cannot open %s: %s" % (p, os.strerror(ctypes.get_errno())))
    return fd
fd = open_map(sys.argv[1])
info = MapInfo()
if bpf(BPF_OBJ_GET_INFO_BY_FD, InfoAttr(fd, ctypes.sizeof(info), ctypes.addressof(info))) != 0:
    sys.exit("map info: %s" % os.strerror(ctypes.get_errno()))
n = 0
if info.type == BPF_MAP_TYPE_ARRAY:
    # The bucket table: each non-empty entry word set to 0 by one aligned 8-byte store (the
    # datapath changes words by CAS: it sees the old word or 0, never half of one).
    size = info.max_entries * info.value_size
    size = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
    m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    empty = bytes(FT_WAYS * 8)
    for b in range(info.max_entries):
        if m[b * FT_BUCKET:b * FT_BUCKET + FT_WAYS * 8] == empty: # most buckets: fast
            continue
        for i in range(FT_WAYS):
            w = ctypes.c_uint64.from_buffer(m, b * FT_BUCKET + i * 8)
            if w.value & FT_NODE:
                w.value = 0
                n += 1
            del w
    m.close()
    os.close(fd)
    six = os.path.join(os.path.dirname(sys.argv[1]), "flows6")
    if not os.path.exists(six):
        print(n)
        sys.exit(0)
    fd = open_map(six)
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
for key in keys:
    if bpf(BPF_MAP_DELETE_ELEM, ElemAttr(fd, 0, ctypes.addressof(key), 0, 0)) == 0:
        n += 1
    elif ctypes.get_errno() != 2: # ENOENT: evicted or ended meanwhile
        sys.exit("delete: %s" % os.strerror(ctypes.get_errno()))
print(n)
