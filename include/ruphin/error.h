/* SPDX-License-Identifier: MIT */
/* Error codes of libruphin: negative errno values, or these protocol codes below -1000. */
#ifndef RUPHIN_ERROR_H
#define RUPHIN_ERROR_H

enum rph_error {
    RPH_E_SHORT = -1001,         /* datagram shorter than the 4-byte header */
    RPH_E_LENGTH = -1002,        /* length field differs from the datagram size */
    RPH_E_TYPE = -1003,          /* unknown message type */
    RPH_E_SESSION_LEN = -1004,   /* session ID longer than 20 bytes */
    RPH_E_FAMILY = -1005,        /* PeerInfo family byte is neither 4 nor 6 */
    RPH_E_PEERINFO_SIZE = -1006, /* PeerInfo body size does not match its family */
    RPH_E_BODY = -1007,          /* a body on a message that has none */
    RPH_E_NOSPACE = -1008,       /* encode buffer too small */
    RPH_E_TOOBIG = -1009,        /* payload too big for the 16-bit length field or a cipher */
    RPH_E_TIMEOUT = -1010,       /* handshake or wait timed out */
    RPH_E_NOT_FOUND = -1011,     /* holepuncher answered SessionNotFound */
    RPH_E_INTERRUPTED = -1012,   /* LocalInterrupt received from loopback */
    RPH_E_FULL = -1013,          /* a table reached its configured limit */
    RPH_E_UNKNOWN_PEER = -1014,  /* datagram from an address that is not a known peer */
    RPH_E_UNEXPECTED = -1015,    /* valid message that makes no sense here (wrong sender/state) */
    RPH_E_SESSION_MISMATCH = -1016, /* ack/not-found for a session we did not ask for */
    RPH_E_INVALID = -1017,          /* invalid argument */
    RPH_E_SIZE = -1018,             /* sealed-mode message of the wrong size for its type */
    RPH_E_AUTH = -1019,             /* signature, MAC or AEAD tag did not verify */
    RPH_E_REPLAY = -1020,           /* counter already seen or too old, or a stale timestamp */
    RPH_E_NOKEY = -1021,            /* no usable key for this packet or peer yet */
    RPH_E_NOTSUP = -1022,           /* built without libsodium */
    RPH_E_RATE = -1023,             /* over a rate limit */
    RPH_E_EXHAUSTED = -1024,        /* a cipher's nonce counter is used up: new keys needed */
    RPH_E_CRYPTO = -1025,           /* the crypto library failed (not a forgery: a fault) */
    RPH_E_HELD = -1026, /* holepuncher: another server (node) holds this sealed session */
};

/* Text for a negative errno or an rph_error; never NULL. */
const char *rph_strerror(int err);

#endif
