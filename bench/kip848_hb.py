"""bench/kip848_hb.py BOOTSTRAP - ConsumerGroupHeartbeats per second the
coordinator answers: 1,000 members in 100 groups of 10 on topic hbt (12
partitions, created by the caller) join, settle, then heartbeat at their
epochs over 4 pipelined connections (80,000 heartbeats).  Prints one line."""
import os
import socket
import sys
import threading
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "integ"))
import kproto as K
from test_adversarial_cgroups import hb_frame, hb_parse
B = sys.argv[1]
G, M = 100, 10
# join everyone
s = K.connect(B, timeout=60)
ep = {}
for g in range(G):
    for m in range(M):
        s.sendall(hb_frame("hbg%03d" % g, "m%02d" % m, 0, topics=["hbt"], corr=1))
        err, _, _, e = hb_parse(K.recv_frame(s))
        assert err == 0, err
# settle: heartbeat until epochs stable (owned None: not given)
for rnd in range(4):
    for g in range(G):
        for m in range(M):
            key = (g, m)
            s.sendall(hb_frame("hbg%03d" % g, "m%02d" % m, ep.get(key, 1), topics=None, rebalance_ms=-1, owned=None, corr=2))
            err, _, _, e = hb_parse(K.recv_frame(s))
            if err == 0: ep[key] = e
s.close()
# steady heartbeats, pipelined on 4 connections
def worker(idx, n, out):
    c = K.connect(B, timeout=60)
    keys = [k for k in ep if k[0] % 4 == idx]
    frames = [hb_frame("hbg%03d" % g, "m%02d" % m, ep[(g, m)], topics=None, rebalance_ms=-1, owned=None, corr=3) for g, m in keys]
    done = 0; errs = 0
    t0 = time.monotonic()
    while done < n:
        batch = frames
        c.sendall(b"".join(batch))
        for _ in batch:
            err = hb_parse(K.recv_frame(c))[0]
            errs += err != 0
        done += len(batch)
    out[idx] = (done, errs, time.monotonic() - t0)
    c.close()
out = {}
ts = [threading.Thread(target=worker, args=(i, 20000, out)) for i in range(4)]
t0 = time.monotonic()
[t.start() for t in ts]; [t.join() for t in ts]
el = time.monotonic() - t0
tot = sum(v[0] for v in out.values()); errs = sum(v[1] for v in out.values())
print("%.0f heartbeats/s (%d in %.2f s, %d errors; 1,000 members in 100 groups)" % (tot / el, tot, el, errs))
