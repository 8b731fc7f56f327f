#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes the seed corpus fuzz/corpus/<target>/ from tests/vectors/ruphin-v1.txt and docs/PROTOCOL.md.
"""Regenerate with: python3 fuzz/make_corpus.py  (deterministic; rewrites fuzz/corpus/)."""
import shutil
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "corpus"


def u16(v):
    return struct.pack(">H", v & 0xFFFF)


def msg(mtype, body=b""):
    """A ruphin datagram: length (whole datagram) and type, big-endian, then the body."""
    return u16(4 + len(body)) + u16(mtype) + body


def vectors():
    """(name, bytes) of every sample in tests/vectors/ruphin-v1.txt."""
    out = []
    for line in (ROOT / "tests" / "vectors" / "ruphin-v1.txt").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name, hexs = line.split("\t")[:2]
        out.append((name, bytes.fromhex(hexs)))
    return out


def filler(n, start):
    return bytes((start + i) & 0xFF for i in range(n))


# The sealed messages of docs/PROTOCOL.md, with placeholder keys, MACs and signatures.
SEALED_REGISTER = msg(10, filler(32, 0x10) + struct.pack(">Q", 1764000000123) + filler(64, 0x80))
SEALED_REGISTER_NODE = msg(10, filler(32, 0x10) + struct.pack(">Q", 1764000000789) + filler(32, 0x50) + filler(64, 0x80))
SEALED_REGISTER_NODE_COOKIE = u16(156) + u16(10) + SEALED_REGISTER_NODE[4:] + filler(16, 0xC0)
REGISTER_REFUSED4 = msg(21, filler(20, 0x4D) + filler(8, 0xE0) + bytes.fromhex("04c6336407") + bytes(12) + u16(40000))
REGISTER_REFUSED6 = msg(21, filler(20, 0x4D) + filler(8, 0xE0) + bytes.fromhex("0620010db8000000000000000000000007") + u16(7700))
SEALED_JOIN = msg(11, filler(32, 0x10) + struct.pack(">Q", 1764000000456) + filler(64, 0x90))
HS_INIT = msg(16, struct.pack(">I", 0x12340FA1) + filler(32, 0x20) + filler(16, 0xA0) + bytes(16))
HS_INIT_MAC2 = msg(16, struct.pack(">I", 0x12340FA1) + filler(32, 0x20) + filler(16, 0xA0) + filler(16, 0xE0))
HS_RESP = msg(17, struct.pack(">II", 0x56780003, 0x12340FA1) + filler(32, 0x40) + filler(48, 0x60) + filler(16, 0xB0))
HS_FINISH = msg(18, struct.pack(">I", 0x56780003) + filler(48, 0x70) + filler(28, 0x90))
COOKIE_REPLY = msg(19, struct.pack(">I", 0x12340FA1) + filler(24, 0x30) + filler(32, 0xF0))
SEALED_PEER_INFO4 = msg(15, bytes.fromhex("04c6336402") + u16(40001) + SEALED_JOIN)
SEALED_PEER_INFO6 = msg(15, bytes.fromhex("06fd000000000000000000000000000002") + u16(7700) + SEALED_JOIN)
TRANSPORT_KEEPALIVE = msg(14, struct.pack(">IQ", 0x56780003, 0) + filler(16, 0xC0))
TRANSPORT_DATA = msg(14, struct.pack(">IQ", 0x56780003, 7) + filler(28, 0x45) + filler(16, 0xD0))

PROTOCOL_EXAMPLES = [
    ("register-office-lan", bytes.fromhex("000e00026f66666963652d6c616e")),
    ("registerack-office-lan", bytes.fromhex("000e00066f66666963652d6c616e")),
    ("join-nosuch", bytes.fromhex("000a00036e6f73756368")),
    ("sessionnotfound-nosuch", bytes.fromhex("000a00076e6f73756368")),
    ("register-empty", bytes.fromhex("00040002")),
    ("peerinfo-v4", bytes.fromhex("000b000404cb007101cdde")),
    ("peerinfo-v6", bytes.fromhex("0017000406fd0000000000000000000000000000011e14")),
    ("data-hello", bytes.fromhex("0009000568656c6c6f")),
    ("helloreq", bytes.fromhex("00040008")),
    ("helloresp", bytes.fromhex("00040009")),
    ("localinterrupt", bytes.fromhex("00040001")),
    ("register-20-byte-id", msg(2, b"01234567890123456789")),
    ("sealed-register", SEALED_REGISTER),
    ("sealed-join", SEALED_JOIN),
    ("sealed-register-node", SEALED_REGISTER_NODE),
    ("sealed-register-node-cookie", SEALED_REGISTER_NODE_COOKIE),
    ("register-refused-v4", REGISTER_REFUSED4),
    ("register-refused-v6", REGISTER_REFUSED6),
    ("handshake-init", HS_INIT),
    ("handshake-init-mac2", HS_INIT_MAC2),
    ("handshake-resp", HS_RESP),
    ("handshake-finish", HS_FINISH),
    ("cookie-reply", COOKIE_REPLY),
    ("sealed-peerinfo-v4", SEALED_PEER_INFO4),
    ("sealed-peerinfo-v6", SEALED_PEER_INFO6),
    ("transport-keepalive", TRANSPORT_KEEPALIVE),
    ("transport-data", TRANSPORT_DATA),
]


def wire():
    seeds = {}
    for i, (name, b) in enumerate(vectors()):
        seeds[f"vector-{i:02d}-{name}"] = b
    for name, b in PROTOCOL_EXAMPLES:
        seeds[name] = b
    return seeds


# ---- fuzz_holepuncher: a config byte, then ops (see fuzz_holepuncher.c)
def hp_raw(src, b):
    return bytes([0 | src << 3]) + u16(len(b)) + b


def hp_tpl(src, sel):
    return bytes([2 | src << 3, sel])


def hp_sealed(src, sel, skew=0):
    return bytes([3 | src << 3, sel]) + u16(skew)


def hp_time(b, tick=True):
    return bytes([4 if tick else 5, b])


def hp_replay(src, i):
    return bytes([6 | src << 3, i])


# template selectors: bits 0-1 type (Register, Join, HelloReq), bits 2-4 session index
# (0 "office", 1 "home", 2 "", 3 20 bytes, 4 "a", 5 "b", 6 and 7 the two sealed wire IDs)
REG, JOIN, HELLO = 0, 1, 2


def tpl(t, sess):
    return t | sess << 2


def holepuncher():
    s = {}
    s["plain-register-join-expire"] = (
        bytes([0x47])  # max 8 sessions, TTL 5 s
        + hp_tpl(0, tpl(REG, 0))
        + hp_tpl(1, tpl(JOIN, 0))
        + hp_tpl(3, tpl(HELLO, 0))
        + hp_tpl(1, tpl(JOIN, 1))
        + hp_time(0x80 | 3)
        + hp_tpl(2, tpl(REG, 0))  # moved: same IP, another port
        + hp_time(0x80 | 10)
        + hp_tpl(1, tpl(JOIN, 0))
    )
    s["vectors-as-datagrams"] = bytes([0x07]) + b"".join(
        hp_raw(i % 8, b) for i, (_, b) in enumerate(vectors())
    )
    s["sealed-register-join-replay"] = (
        bytes([0x07])
        + hp_sealed(0, 0)  # SealedRegister, key 0
        + hp_sealed(1, 2)  # SealedJoin, key 0
        + hp_replay(1, 1)  # the same SealedJoin again: refused
        + hp_tpl(7, tpl(REG, 6))  # plaintext Register of the sealed ID: refused
        + hp_tpl(7, tpl(JOIN, 6))  # plaintext Join of the sealed ID: silence
        + hp_sealed(3, 1)  # key 1's session
        + hp_sealed(4, 3)  # key 1's Join
        + hp_sealed(2, 0, 100)  # key 0 again, 2 s later, from another port: moves
        + hp_sealed(7, 4)  # tampered proof
        + hp_sealed(0, 0, 0x8000)  # stale by 655 s
        + hp_time(0x80 | 70)
        + hp_sealed(1, 2)
    )
    s["one-live-server-per-sealed-session"] = (
        bytes([0x07])
        + hp_sealed(0, 0 | 1 << 3)  # key 0's session, node 1
        + hp_sealed(1, 0 | 2 << 3, 100)  # node 2 from another host, 2 s later: refused
        + hp_sealed(2, 0 | 1 << 3, 150)  # node 1 from a new port: moves (a restart)
        + hp_sealed(1, 0 | 2 << 3, 200)  # node 2 again: refused, the holder named
        + hp_sealed(1, 0, 250)  # an unknown node (the old form): moves, as before
        + hp_sealed(0, 0 | 1 << 3, 300)  # node 1 takes it back from the unknown node
        + hp_sealed(1, 4 | 2 << 3 | 3 << 5, 350)  # tampered node-naming Register
        + hp_time(0x80 | 70)
        + hp_sealed(1, 0 | 2 << 3)  # the holder expired: node 2 registers
    )
    s["rate-limited-and-full"] = (
        bytes([0x10])  # one session, rate limit 2/s burst 3
        + b"".join(hp_tpl(0, tpl(REG, i % 6)) for i in range(6))
        + hp_time(0x80 | 2)
        + hp_tpl(0, tpl(REG, 1))
        + bytes([7, 0x05])  # reconfigure: 6 sessions
        + hp_tpl(3, tpl(REG, 4))
        + hp_tpl(4, tpl(JOIN, 4))
    )
    s["bulk-grow-and-expire"] = (
        bytes([0x48 | 7])  # 240 sessions, TTL 5 s
        + bytes([1 | 0 << 3, 127, 0x61, 0x62])
        + bytes([1 | 3 << 3, 127, 0x63, 0x64])
        + hp_time(0x80 | 3)
        + bytes([1 | 1 << 3, 63, 0x61, 0x62])  # refreshes half of the first batch
        + hp_time(0x80 | 3)
        + hp_tpl(2, tpl(JOIN, 0))
        + hp_time(0x80 | 10)
    )
    s["local-interrupt"] = bytes([0x20]) + hp_raw(5, msg(1)) + hp_raw(6, msg(1)) + hp_raw(0, msg(1))
    s["long-session-ids"] = bytes([0x03]) + bytes([2 | 0 << 3, 0x20, 21]) + b"x" * 21 + hp_tpl(1, tpl(REG, 3))
    return s


# ---- fuzz_peer: flags, then ops (see fuzz_peer.c)
P_DELIVER, P_ALL, P_DROP, P_TIME, P_DEADLINE, P_SEND, P_INJECT, P_REPLAY, P_MUTATE, P_MOVE = (
    0, 2, 3, 4, 5, 6, 7, 8, 9, 10)
SEALED, CLI2, CLI2_OTHER_KEY, HS_TIMEOUT, ONE_SLOT, RATE, SHORT_TIMERS, NO_HP = (
    1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80)


def p_send(node, slot, payload, frame=False):
    return bytes([P_SEND, node, slot, len(payload) | (0x80 if frame else 0)]) + payload


def p_inject(src, to, b):
    return bytes([P_INJECT, src | to << 4]) + u16(len(b)) + b


def p_replay(i, sel, mutate=False, pos=0, x=0):
    return bytes([P_MUTATE if mutate else P_REPLAY, i, sel]) + u16(pos) + bytes([x])


def handshake():
    return bytes([P_ALL, P_DEADLINE, P_ALL, P_DEADLINE, P_ALL])


def traffic():
    return (
        p_send(0, 0, b"from the server")
        + p_send(1, 0, b"from client one")
        + p_send(2, 0, b"from client two", frame=True)
        + bytes([P_ALL])
    )


def peer():
    s = {}
    for flags, name in [
        (0, "plain"),
        (SEALED, "sealed"),
        (SEALED | CLI2, "sealed-two-clients"),
        (SEALED | CLI2 | CLI2_OTHER_KEY, "sealed-client-with-wrong-key"),
        (CLI2 | CLI2_OTHER_KEY, "plain-two-sessions"),
        (SEALED | SHORT_TIMERS | HS_TIMEOUT, "sealed-short-timers"),
        (SEALED | CLI2 | ONE_SLOT | RATE, "sealed-one-slot"),
    ]:
        s[name] = bytes([flags]) + handshake() + traffic()
    # Rekeys and timeouts: short timers, then time passes in steps.
    s["sealed-rekey"] = (
        bytes([SEALED | SHORT_TIMERS])
        + handshake()
        + b"".join(bytes([P_DEADLINE, P_ALL]) for _ in range(12))
        + traffic()
    )
    # An on-path attacker: replays, bit flips, rerouting, a roaming client.
    s["sealed-attacks"] = (
        bytes([SEALED | CLI2])
        + handshake()
        + traffic()
        + p_replay(0, 0)
        + p_replay(1, 0x11 | 2 << 5, mutate=True, pos=20, x=1)
        + p_replay(2, 0x09)
        + bytes([P_MOVE, 2])
        + bytes([P_DEADLINE, P_ALL])
        + traffic()
        + p_replay(3, 0x10 | 1 << 5)
    )
    # No holepuncher: the input plays it (PeerInfo, RegisterAck from its address).
    hp_src, srv, cli = 0, 1, 2
    s["forged-holepuncher"] = (
        bytes([NO_HP])
        + p_inject(hp_src, srv, bytes.fromhex("000a00066f6666696365"))  # RegisterAck "office"
        + p_inject(hp_src, cli, bytes.fromhex("000b000404c6336401") + u16(40000))
        + p_inject(hp_src, srv, bytes.fromhex("000b000404c6336402") + u16(40001))
        + bytes([P_ALL])
        + traffic()
        + p_inject(4, srv, bytes.fromhex("0009000568656c6c6f"))  # Data from a stranger
        + p_inject(6, cli, msg(1))  # LocalInterrupt from loopback
    )
    s["sealed-forged-holepuncher"] = bytes([SEALED]) + s["forged-holepuncher"][1:]
    # Another server holds the session: RegisterRefused with a wrong echo (ignored), with the
    # right one (refused, the holder named), then the holepuncher's RegisterAck clears it.
    s["sealed-register-refused"] = (
        bytes([SEALED])
        + handshake()
        + bytes([P_MOVE, 4 | 8 | 1 << 4])
        + bytes([P_MOVE, 4 | 2 << 4])
        + bytes([P_MOVE, 4 | 3 << 4])
        + bytes([P_DEADLINE, P_ALL]) * 3
        + traffic()
    )
    # The same with a handshake timeout: the refusal ends the server's attempt.
    s["sealed-register-refused-timeout"] = bytes([SEALED | HS_TIMEOUT]) + s["sealed-register-refused"][1:]
    return s


# ---- fuzz_transport: ops (see fuzz_transport.c)
T_SEAL, T_DELIVER, T_MUTATE, T_RAW, T_SKIP, T_TRUNC, T_WRONGDIR, T_HS, T_REPLAY = range(9)


def t_seal(d, payload):
    return bytes([T_SEAL, d, len(payload)]) + payload


def transport():
    s = {}
    s["seal-open-replay"] = (
        t_seal(0, b"hello")
        + t_seal(1, b"")
        + t_seal(0, b"\x45" + bytes(27))
        + bytes([T_DELIVER, 0, T_DELIVER, 1, T_DELIVER, 0])  # the last is a replay
        + bytes([T_DELIVER, 2, T_WRONGDIR, 2])
    )
    s["tamper-and-truncate"] = (
        t_seal(0, b"tamper me")
        + bytes([T_MUTATE, 0, 0]) + u16(20) + b"\x01"
        + bytes([T_MUTATE, 0, 0]) + u16(9) + b"\x80"  # the counter
        + bytes([T_TRUNC, 0]) + u16(0x8000 | 30)
        + bytes([T_DELIVER, 0])
    )
    s["window-edges"] = (
        t_seal(0, b"a")
        + bytes([T_SKIP, 0 | 1 << 1]) + u16(4031)
        + t_seal(0, b"b")
        + bytes([T_SKIP, 0 | 1 << 1]) + u16(100)
        + t_seal(0, b"c")
        + bytes([T_DELIVER, 2, T_DELIVER, 0, T_DELIVER, 1])
        + bytes([T_SKIP, 0 | 3 << 1, 0])
        + t_seal(0, b"last")
        + t_seal(0, b"none")
    )
    s["handshake-tamper"] = bytes([T_HS, 0, 30, 1, T_HS, 1, 50, 0x20, T_HS, 1, 2, 1, T_HS, 0, 0, 0])
    # counter modes: 0 absolute (u64 follows), 1 top + d, 2 window edge + d, 3 top + u16, 4 top - u16
    extra = {0: bytes(8), 3: u16(5000), 4: u16(4032)}
    steps = [(1, 0), (1, 1), (1, 0), (3, 0), (4, 0), (2, 0), (2, 0xFF), (1, 0xFB), (0, 0)]
    s["replay-window-direct"] = bytes([T_REPLAY, len(steps) - 1]) + b"".join(
        bytes([k, d]) + extra.get(k, b"") for k, d in steps
    )
    s["raw-vectors"] = b"".join(bytes([T_RAW, 1]) + u16(len(b)) + b for _, b in PROTOCOL_EXAMPLES)
    return s


# ---- fuzz_config: JSON text
def config():
    s = {}
    for p in sorted((ROOT / "config").glob("*.json")):
        s["example-" + p.stem] = p.read_bytes()
    s["tund-ipv6-plain"] = b"""{
  "holepuncher": "[2001:db8::10]:7700",
  "session": "lab",
  "role": "server",
  "interface": {"name": "rph-lab", "address": "10.99.0.1/16", "address6": "fd99::1/64", "mtu": 1420},
  "keepalive_interval": 5,
  "peer_timeout": 20,
  "seal": false,
  "log_level": "debug",
  "port": 7701
}
"""
    s["tund-errors"] = b"""{"holepuncher": "203.0.113.10", "session": "a/b", "role": "peer",
 "interface": {"name": "..", "address": "10.0.0.0/24", "mtu": 70000}, "extra": 1}
"""
    s["tund-name-host"] = b"""{"holepuncher": "hp.example.org:7700", "session": "s", "role": "client",
 "interface": {"name": "t0", "address": "10.1.0.2/24"}, "seal": {"key_file": "/etc/ruphin/x.key"}}
"""
    s["tund-dns"] = b"""{"holepuncher": "203.0.113.10:7700", "session": "s", "role": "client", "name": "desk",
 "interface": {"name": "t0", "address": "10.1.0.2/24"}, "dns": {"domain": "Office.LAN.arpa."}}
"""
    s["hpd-minimal"] = b'{"listen": ["[::1]:7700"]}'
    s["hpd-errors"] = b'{"listen": ["0.0.0.0:0", "1.2.3.4:7700", "1.2.3.4:7700"], "session_ttl": 1.5}'
    s["hpd-many"] = (
        b'{"listen": ["10.0.0.1:1", "10.0.0.2:2", "10.0.0.3:3", "10.0.0.4:4", "10.0.0.5:5",'
        b' "10.0.0.6:6", "10.0.0.7:7", "10.0.0.8:8", "10.0.0.9:9"], "max_sessions": 0}'
    )
    s["not-an-object"] = b'["listen"]'
    s["bad-json"] = b'{"listen": ["0.0.0.0:7700",\n  "session_ttl": }'
    return s


# ---- fuzz_ippkt: inner packets, announcements, verdicts, assignments and names
def ipv4(src, dst, payload=b"\x08\x00\xf7\xff\x00\x00\x00\x00"):
    total = 20 + len(payload)
    return (
        bytes([0x45, 0]) + u16(total) + bytes([0, 0, 0x40, 0, 64, 1, 0, 0])
        + bytes(src) + bytes(dst) + payload
    )


def ipv6(src, dst, payload=bytes(8)):
    return bytes([0x60, 0, 0, 0]) + u16(len(payload)) + bytes([17, 64]) + bytes(src) + bytes(dst) + payload


def announce(v4=None, p4=0, v6=None, p6=0):
    flags = (1 if v4 else 0) | (2 if v6 else 0)
    return (
        bytes([1, 1, flags, p4 if v4 else 0]) + (bytes(v4) if v4 else bytes(4))
        + bytes([p6 if v6 else 0]) + (bytes(v6) if v6 else bytes(16))
    )


def verdict(reason, family, prefix, addr):
    return bytes([3, 1, reason, family, prefix]) + bytes(addr) + bytes(16 - len(addr))


def assign(v4, p4, v6=None, p6=0):
    return bytes([4]) + announce(v4, p4, v6, p6)[1:]


def name(flags, text):
    return bytes([5, 1, flags, len(text)]) + text.encode()


def ippkt():
    fd77_1 = [0xFD, 0x77] + [0] * 13 + [1]
    fd77_2 = [0xFD, 0x77] + [0] * 13 + [2]
    return {
        "ipv4-icmp": ipv4([10, 77, 0, 2], [10, 77, 0, 1]),
        "ipv4-options": bytes([0x46]) + ipv4([10, 77, 0, 2], [10, 77, 0, 3])[1:] + bytes(4),
        "ipv6-udp": ipv6(fd77_2, fd77_1),
        "announce-v4": announce([10, 77, 0, 2], 24),
        "announce-v6": announce(None, 0, fd77_2, 64),
        "announce-both": announce([10, 77, 0, 2], 24, fd77_2, 64),
        "verdict-accepted-v4": verdict(0, 4, 24, [10, 77, 0, 2]),
        "verdict-held-v6": verdict(1, 6, 64, fd77_2),
        "verdict-assigned-holder": verdict(4, 4, 24, [10, 77, 0, 3]) + bytes([4]) + b"desk",
        "assign-both": assign([10, 77, 0, 3], 24, [0xFD, 0x77] + [0] * 13 + [3], 64),
        "assign-v4": assign([10, 77, 0, 3], 24),
        "name-want-address": name(1, "laptop"),
        "name-granted": name(2, "laptop-2"),
        "member-desk": bytes([6, 1, 7, 24, 10, 77, 0, 3, 64]) + bytes([0xFD, 0x77] + [0] * 13 + [3])
        + bytes(range(32)) + bytes([4]) + b"desk",
        "lancand-two": bytes([7, 1, 2, 192, 168, 1, 2, 0xA0, 0x28, 10, 0, 0, 7, 0x1B, 0x58]),
        "lancand-none": bytes([7, 1, 0]),
    }


def aead():
    """key(32) nonce(12) adlen(1) ad flip(2) bits(1) message: the RFC 8439 2.8.2 case, a
    tunnel-sized packet, and one past the open path's 2048-byte scratch."""
    rfc = (bytes(range(0x80, 0xA0)) + bytes.fromhex("070000004041424344454647") + bytes([12])
           + bytes.fromhex("50515253c0c1c2c3c4c5c6c7") + b"\x00\x10\x01"
           + b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
             b"the future, sunscreen would be it.")
    header = bytes([0x05, 0x74, 0x00, 0x0E]) + bytes(12)
    return {
        "rfc8439": rfc,
        "packet-1372": bytes(32) + bytes(12) + bytes([16]) + header + b"\x05\x00\x80" + filler(1372, 1),
        "big-3000": bytes(range(32)) + bytes(12) + bytes([0]) + b"\xff\xff\x02" + filler(3000, 7),
    }


def noise():
    """cfg (bit 0 XX, bits 1-2 the message replaced, bits 3-4 the mode, bit 5 XXpsk0), payload length, then
    the mode's bytes (see fuzz_noise.c); what is left is a transport message."""
    s = {}
    for pat, pname, n in ((0, "ik", 2), (1, "xx", 3), (0x20, "xx0", 3)):
        for k in range(n):
            base = f"{pname}-msg{k + 1}"
            s[base + "-raw"] = bytes([pat | k << 1 | 0 << 3, 16]) + filler(96 + 16, 0x31)
            s[base + "-genuine"] = bytes([pat | k << 1 | 1 << 3, 16, 0])  # a mutation of nothing
            s[base + "-flip"] = bytes([pat | k << 1 | 1 << 3, 5, 1]) + u16(40) + b"\x01" + u16(3) + b"\x80"
            s[base + "-cut"] = bytes([pat | k << 1 | 2 << 3, 0]) + u16(47)
            s[base + "-stranger"] = bytes([pat | k << 1 | 3 << 3, 8]) + filler(64, 0x90) + b"\x01"
            s[base + "-stranger-other-psk"] = bytes([pat | k << 1 | 3 << 3, 8]) + filler(64, 0x20) + b"\x00"
    return s


def relay():
    """cfg (bit 0 off, bits 1-2 max_sessions - 1, bit 3 a bandwidth limit, bit 7 5 members at most),
    then ops (see fuzz_relay.c): 0 member (sel: session, address, cookie), 2 RelayData (sel, sel2 with
    the source, payload size - 4), 4 raw bytes, 5 time and sweep, 6 reconfigure, 7 check membership."""
    a_b = bytes([0, 0x00, 0, 0x24])  # A (address 0, cookie 0) and B (address 1, cookie 1) in session 0
    there = bytes([2, 0x04, 0x00, 36])  # A -> B with A's cookie
    back = bytes([2, 0x20, 0x01, 36])  # B -> A with B's cookie
    raw = (u16(99) + u16(22) + b"a" * 20 + bytes([0x10]) * 16 + bytes([4, 198, 51, 100, 2]) + bytes(12)
           + u16(40001) + u16(40) + u16(14) + filler(36, 3))
    return {
        "exchange": bytes([0]) + a_b + there + back + bytes([7, 5, 0xBC, 255, 7]) + there,
        "spoofed": bytes([0]) + a_b + bytes([2, 0x24, 0x00, 36, 2, 0x04, 0x02, 36]),
        "raw": bytes([0]) + a_b + bytes([4]) + u16(len(raw)) + raw,
        "limits": bytes([0x0A]) + a_b + (there + back) * 20 + bytes([6, 0x01]) + there,
    }


# ---- fuzz_dns: queries to the responder (domain office.lan.arpa; laptop has addresses, desk none)
def dns_name(text):
    return b"".join(bytes([len(label)]) + label.encode() for label in text.rstrip(".").split(".")) + b"\0"


def dns_query(qname, qtype, qclass=1, flags=0x0100, qd=1, extra=b"", ar=0):
    hdr = u16(0x1234) + u16(flags) + u16(qd) + u16(0) + u16(0) + u16(ar)
    return hdr + dns_name(qname) + u16(qtype) + u16(qclass) + extra


def dns():
    opt = b"\0" + u16(41) + u16(4096) + bytes(4) + u16(0)  # EDNS, 4096 bytes
    lap = "laptop.office.lan.arpa"
    return {
        "a-laptop": dns_query(lap, 1),
        "aaaa-laptop": dns_query(lap, 28),
        "any-laptop-edns": dns_query("LapTop.Office.lan.arpa", 255, extra=opt, ar=1),
        "a-desk-nodata": dns_query("desk.office.lan.arpa", 1),
        "nxdomain": dns_query("nobody.office.lan.arpa", 1),
        "deeper": dns_query("a." + lap, 1),
        "apex": dns_query("office.lan.arpa", 6),
        "refused": dns_query("example.org", 1),
        "class-ch": dns_query(lap, 1, qclass=3),
        "two-questions-one-there": dns_query(lap, 1, qd=2),
        "notify-opcode": dns_query(lap, 1, flags=0x2000),
        "header-only": u16(7) + bytes(10),
        "compressed-loop": u16(9) + u16(0x100) + u16(1) + bytes(6) + b"\xc0\x0c" + u16(1) + u16(1),
    }


# ---- fuzz_intro: the mesh's introduction message (tag 0x09, docs/PROTOCOL.md "Mesh")
def intro_msg(v4=(10, 77, 0, 3), p4=24, ep=(203, 0, 113, 9), port=41000, rtt=37, lan=(), v6=(),
              mapped=None):
    flags = (1 if v4 else 0) | (4 if mapped else 0)
    b = bytes([0x09, 1, flags]) + bytes(range(1, 33))
    b += (bytes(v4) + bytes([p4])) if v4 else bytes(5)
    b += bytes(17)
    b += (bytes([4]) + bytes(ep) + bytes(12) + u16(port)) if ep else bytes(19)
    b += u16(rtt) + bytes([len(lan), len(v6)])
    for ip, pt in lan:
        b += bytes(ip) + u16(pt)
    for ip, pt in v6:
        b += bytes(ip) + u16(pt)
    if mapped:
        b += bytes(mapped[0]) + u16(mapped[1])
    return b


def intro():
    return {
        "intro-min": intro_msg(ep=None, rtt=0),
        "intro-full": intro_msg(lan=[((192, 168, 1, 5), 41000)],
                                v6=[((0x20, 1, 0xd, 0xb8) + (0,) * 11 + (5,), 7)],
                                mapped=((198, 51, 100, 1), 5351)),
        "left": bytes([0x09, 2, 0]) + bytes(range(1, 33)),
    }


def main():
    targets = {
        "fuzz_wire": wire(),
        "fuzz_holepuncher": holepuncher(),
        "fuzz_peer": peer(),
        "fuzz_transport": transport(),
        "fuzz_config": config(),
        "fuzz_ippkt": ippkt(),
        "fuzz_aead": aead(),
        "fuzz_noise": noise(),
        "fuzz_relay": relay(),
        "fuzz_dns": dns(),
        "fuzz_intro": intro(),
    }
    if OUT.exists():
        shutil.rmtree(OUT)
    total = 0
    for target, seeds in targets.items():
        d = OUT / target
        d.mkdir(parents=True)
        for name, data in seeds.items():
            (d / name).write_bytes(data)
            total += len(data)
    print(f"make_corpus: {sum(len(s) for s in targets.values())} seeds, {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
