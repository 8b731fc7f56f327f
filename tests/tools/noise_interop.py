#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# libruphin's Noise handshakes against an independent implementation (Debian's python3-dissononce):
# each pattern in both roles, with identical transcripts, handshake hash, split keys and transport.
"""usage: /usr/bin/python3 tests/tools/noise_interop.py PATH/TO/noise_peer

For Noise_IKpsk2, Noise_XXpsk3 and Noise_XXpsk0 (25519, ChaChaPoly, SHA256), with fixed static, ephemeral
and PSK keys and a prologue:
  1. dissononce runs both sides: the reference transcript, handshake hash and split keys;
  2. the C driver (noise_peer) is the initiator and dissononce the responder;
  3. dissononce is the initiator and the C driver the responder.
Runs 2 and 3 must give the reference's messages byte for byte, read each other's payloads,
agree on h and on both transport keys, and carry one transport message each way with the
reference's ciphertexts. A wrong PSK or (IK) a wrong responder static key on one side must
make the handshake fail. Exits non-zero on any difference; dissononce must be installed.
"""
import subprocess
import sys

try:
    import dissononce
    from dissononce.cipher.chachapoly import ChaChaPolyCipher
    from dissononce.dh.x25519.private import PrivateKey
    from dissononce.dh.x25519.public import PublicKey
    from dissononce.dh.x25519.x25519 import X25519DH
    from dissononce.exceptions.decrypt import DecryptFailedException
    from dissononce.extras.dh.dangerous.dh_nogen import NoGenDH
    from dissononce.hash.sha256 import SHA256Hash
    from dissononce.processing.handshakepatterns.interactive.IK import IKHandshakePattern
    from dissononce.processing.handshakepatterns.interactive.XX import XXHandshakePattern
    from dissononce.processing.impl.cipherstate import CipherState
    from dissononce.processing.impl.handshakestate import HandshakeState
    from dissononce.processing.impl.symmetricstate import SymmetricState
    from dissononce.processing.modifiers.psk import PSKPatternModifier
except ImportError as e:
    sys.exit(f"noise_interop: FAIL: python3-dissononce is missing ({e}); "
             "run scripts/deps.sh --test (apt-get install python3-dissononce) and use /usr/bin/python3")

I_STATIC = bytes(range(0x10, 0x30))
R_STATIC = bytes(range(0x40, 0x60))
I_EPH = bytes(range(0x70, 0x90))
R_EPH = bytes(range(0xA0, 0xC0))
PSK = bytes.fromhex("5a" * 32)
WRONG_PSK = bytes.fromhex("5a" * 31 + "5b")
PROLOGUE = b"ruphin-noise-interop"
PAYLOADS = [b"first: timestamp and hello", b"", b"third message, longer payload " * 3]
TRANSPORT = [b"ping from the initiator", b"pong from the responder"]

PATTERNS = {
    "ik": ("Noise_IKpsk2_25519_ChaChaPoly_SHA256", IKHandshakePattern, 2),
    "xx": ("Noise_XXpsk3_25519_ChaChaPoly_SHA256", XXHandshakePattern, 3),
    "xx0": ("Noise_XXpsk0_25519_ChaChaPoly_SHA256", XXHandshakePattern, 0),
}
MSGS = {"ik": 2, "xx": 3, "xx0": 3}

checks = 0


def check(cond, what):
    global checks
    if not cond:
        sys.exit(f"noise_interop: FAIL: {what}")
    checks += 1


def public(sk):
    return X25519DH().generate_keypair(PrivateKey(sk)).public.data


class PyPeer:
    """One side in dissononce, with a fixed ephemeral key."""

    def __init__(self, pat, initiator, psk=PSK, rs=None):
        name, cls, placement = PATTERNS[pat]
        pattern = PSKPatternModifier(placement).modify(cls())
        s, e = (I_STATIC, I_EPH) if initiator else (R_STATIC, R_EPH)
        dh = NoGenDH(X25519DH(), PrivateKey(e))
        self.hs = HandshakeState(SymmetricState(CipherState(ChaChaPolyCipher()), SHA256Hash()), dh)
        self.hs.initialize(pattern, initiator, PROLOGUE,
                           s=X25519DH().generate_keypair(PrivateKey(s)),
                           rs=PublicKey(rs) if rs else None, psks=(psk,))
        check(self.hs.protocol_name == name, f"dissononce names the protocol {self.hs.protocol_name}")
        self.initiator = initiator
        self.cs = None

    def write(self, payload):
        buf = bytearray()
        self.cs = self.hs.write_message(payload, buf) or self.cs
        return bytes(buf)

    def read(self, msg):
        buf = bytearray()
        self.cs = self.hs.read_message(msg, buf) or self.cs
        return bytes(buf)

    def split(self):
        c1, c2 = self.cs
        return c1._key, c2._key, self.hs.symmetricstate.get_handshake_hash()

    def send(self, pt):
        c1, c2 = self.cs
        return (c1 if self.initiator else c2).encrypt_with_ad(b"", pt)

    def recv(self, ct):
        c1, c2 = self.cs
        return (c2 if self.initiator else c1).decrypt_with_ad(b"", ct)


class CPeer:
    """One side in libruphin, through the noise_peer driver."""

    def __init__(self, driver, pat, initiator, psk=PSK, rs=None):
        s, e = (I_STATIC, I_EPH) if initiator else (R_STATIC, R_EPH)
        args = [driver, pat, "initiator" if initiator else "responder", s.hex(), e.hex(),
                psk.hex(), rs.hex() if rs else "-", PROLOGUE.hex()]
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def cmd(self, verb, data=None, ok=True):
        arg = "" if data is None else " " + (data.hex() or "-")
        self.p.stdin.write(verb + arg + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline().split()
        check(line, f"noise_peer answered '{verb}' (it exited {self.p.poll()})")
        if not ok:
            return line
        check(line[0] == "ok", f"noise_peer '{verb}' failed: {' '.join(line)}")
        return [b"" if x == "-" else bytes.fromhex(x) for x in line[1:]]

    def write(self, payload):
        return self.cmd("write", payload)[0]

    def read(self, msg):
        return self.cmd("read", msg)[0]

    def split(self):
        return tuple(self.cmd("split"))

    def send(self, pt):
        return self.cmd("send", pt)[0]

    def recv(self, ct):
        return self.cmd("recv", ct)[0]

    def close(self):
        self.p.stdin.close()
        rc = self.p.wait(timeout=30)
        check(rc == 0, f"noise_peer exited {rc}")


def run(pat, ini, res):
    """The handshake, a split and a transport message each way; returns the record."""
    n = MSGS[pat]
    msgs = []
    for i in range(n):
        w, r = (ini, res) if i % 2 == 0 else (res, ini)
        m = w.write(PAYLOADS[i])
        check(r.read(m) == PAYLOADS[i], f"{pat} message {i + 1}: the reader got the payload")
        msgs.append(m)
    ki, kr = ini.split(), res.split()
    check(ki == kr, f"{pat}: both sides split to the same c1, c2 and h")
    t1 = ini.send(TRANSPORT[0])
    check(res.recv(t1) == TRANSPORT[0], f"{pat}: transport initiator -> responder")
    t2 = res.send(TRANSPORT[1])
    check(ini.recv(t2) == TRANSPORT[1], f"{pat}: transport responder -> initiator")
    return {"msgs": msgs, "keys": ki, "transport": [t1, t2]}


def same(pat, label, got, ref):
    for i, (a, b) in enumerate(zip(got["msgs"], ref["msgs"])):
        check(a == b, f"{pat} {label}: message {i + 1} differs from dissononce's\n  {a.hex()}\n  {b.hex()}")
    check(len(got["msgs"]) == len(ref["msgs"]), f"{pat} {label}: message count")
    names = ["c1 (initiator to responder)", "c2 (responder to initiator)", "handshake hash"]
    for name, a, b in zip(names, got["keys"], ref["keys"]):
        check(a == b, f"{pat} {label}: {name} differs: {a.hex()} vs {b.hex()}")
    check(got["transport"] == ref["transport"], f"{pat} {label}: transport ciphertexts differ")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    driver = sys.argv[1]
    print(f"noise_interop: dissononce {dissononce.__version__}, {sys.executable}")
    r_pub = public(R_STATIC)
    for pat in PATTERNS:
        rs = r_pub if pat == "ik" else None
        ref = run(pat, PyPeer(pat, True, rs=rs), PyPeer(pat, False))

        c = CPeer(driver, pat, True, rs=rs)
        got = run(pat, c, PyPeer(pat, False))
        check(c.cmd("rs")[0] == r_pub, f"{pat}: the C initiator knows the responder's static key")
        c.close()
        same(pat, "C initiator, dissononce responder", got, ref)

        c = CPeer(driver, pat, False)
        got = run(pat, PyPeer(pat, True, rs=rs), c)
        check(c.cmd("rs")[0] == public(I_STATIC), f"{pat}: the C responder learnt the initiator's static key")
        c.close()
        same(pat, "dissononce initiator, C responder", got, ref)
        print(f"noise_interop: {PATTERNS[pat][0]}: {len(ref['msgs'])} messages, h {ref['keys'][2].hex()[:16]}..., "
              "identical in both roles")

        # The PSK must matter: dissononce with another PSK cannot complete with the C side.
        c = CPeer(driver, pat, True, rs=rs)
        py = PyPeer(pat, False, psk=WRONG_PSK)
        if pat == "xx0":  # psk0: message 1 is already sealed under the PSK
            try:
                py.read(c.write(PAYLOADS[0]))
                check(False, f"{pat}: dissononce accepted message 1 under another PSK")
            except DecryptFailedException:
                check(True, "")
            c.close()
            continue
        check(py.read(c.write(PAYLOADS[0])) == PAYLOADS[0], f"{pat}: message 1 does not depend on the PSK yet")
        m2 = py.write(PAYLOADS[1])
        line = c.cmd("read", m2, ok=False)
        if pat == "ik":  # psk2: message 2 is the first sealed under the PSK
            check(line[0] == "err", f"{pat}: the C initiator refused message 2 under another PSK")
        else:  # psk3: message 3 is; the C side's message 3 must fail in dissononce
            check(line[0] == "ok", f"{pat}: message 2 does not depend on the PSK yet")
            m3 = c.write(PAYLOADS[2])
            try:
                py.read(m3)
                check(False, f"{pat}: dissononce accepted message 3 under another PSK")
            except DecryptFailedException:
                check(True, "")
        c.close()

    # IK: an initiator that has the wrong static key for the responder is refused.
    c = CPeer(driver, "ik", False)
    py = PyPeer("ik", True, rs=public(bytes(range(0x41, 0x61))))
    line = c.cmd("read", py.write(PAYLOADS[0]), ok=False)
    check(line[0] == "err", "ik: the C responder refused message 1 made for another static key")
    c.close()

    print(f"noise_interop: {checks} checks passed")


if __name__ == "__main__":
    main()
