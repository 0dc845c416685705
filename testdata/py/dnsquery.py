#!/usr/bin/env python3
"""dnsquery.py: send one DNS query with a chosen system call, print the answer.

Fixture ("pydnsquery"): checks that a DNS query sent by any of the ways a
program can send one is caught by chainrun's remote DNS, and that the
answer looks as if the nameserver itself sent it.

usage: python3 dnsquery.py MODE SERVER NAME [TYPE]
  MODE    sendto   unconnected UDP socket, sendto(SERVER:53), recvfrom
          sendmsg  unconnected UDP socket, sendmsg with the address, recvmsg
          connect  UDP socket connect(SERVER:53), send, recv
          tcp      TCP connect(SERVER:53), a length-prefixed query, its answer
  SERVER  an IPv4 or IPv6 literal
  TYPE    A (default) or AAAA

Output (stdout), one "key: value" line each:
  from: ADDR PORT        where the answer came from (UDP, unconnected modes)
  rcode: N               the answer's rcode (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN)
  answer: ADDR           each A/AAAA record of the answer section
Exit codes: 0 an answer with rcode 0 and at least one address, 1 any other
answer, 2 usage, 3 a socket error ("error: ..."), 5 no answer within 5 s.
"""
import ipaddress
import random
import socket
import struct
import sys

TYPES = {"A": 1, "AAAA": 28}


def query(name, qtype):
    qid = random.randrange(65536)
    msg = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        msg += bytes([len(label)]) + label.encode()
    return qid, msg + b"\0" + struct.pack(">HH", qtype, 1)


def skip_name(msg, off):
    for _ in range(128):
        n = msg[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n
    raise ValueError("name too long")


def parse(msg, qid):
    rid, flags, qd, an, _, _ = struct.unpack(">HHHHHH", msg[:12])
    if rid != qid:
        raise ValueError("answer id %d, query id %d" % (rid, qid))
    off = 12
    for _ in range(qd):
        off = skip_name(msg, off) + 4
    addrs = []
    for _ in range(an):
        off = skip_name(msg, off)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        rdata = msg[off:off + rdlen]
        off += rdlen
        if rtype == 1 and rdlen == 4 or rtype == 28 and rdlen == 16:
            addrs.append(str(ipaddress.ip_address(rdata)))
    return flags & 0xF, addrs


def main():
    if len(sys.argv) not in (4, 5) or sys.argv[1] not in ("sendto", "sendmsg", "connect", "tcp"):
        print(__doc__.split("\n\n")[2], file=sys.stderr)
        return 2
    mode, server, name = sys.argv[1:4]
    qtype = TYPES.get(sys.argv[4] if len(sys.argv) == 5 else "A")
    if qtype is None:
        return 2
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    qid, msg = query(name, qtype)
    dst = (server, 53)
    try:
        if mode == "tcp":
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(dst)
            s.sendall(struct.pack(">H", len(msg)) + msg)
            buf = b""
            while len(buf) < 2 or len(buf) < 2 + struct.unpack(">H", buf[:2])[0]:
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed after %d bytes" % len(buf))
                buf += chunk
            reply = buf[2:]
        else:
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.settimeout(5)
            if mode == "connect":
                s.connect(dst)
                s.send(msg)
                reply = s.recv(65536)
            elif mode == "sendto":
                s.sendto(msg, dst)
                reply, src = s.recvfrom(65536)
                print("from: %s %d" % (src[0], src[1]))
            else:
                s.sendmsg([msg], [], 0, dst)
                reply, _, _, src = s.recvmsg(65536)
                print("from: %s %d" % (src[0], src[1]))
    except socket.timeout:
        print("error: no answer within 5 s")
        return 5
    except OSError as e:
        print("error: %s" % (e,))
        return 3
    rcode, addrs = parse(reply, qid)
    print("rcode: %d" % rcode)
    for a in addrs:
        print("answer: %s" % a)
    sys.stdout.flush()
    return 0 if rcode == 0 and addrs else 1


if __name__ == "__main__":
    sys.exit(main())
