// SPDX-License-Identifier: MIT
// Text for libruphin's error codes and for negative errno values.
#include "ruphin/error.h"

#include <string.h>

const char *rph_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case RPH_E_SHORT:
        return "datagram shorter than the 4-byte header";
    case RPH_E_LENGTH:
        return "length field differs from the datagram size";
    case RPH_E_TYPE:
        return "unknown message type";
    case RPH_E_SESSION_LEN:
        return "session ID longer than 20 bytes";
    case RPH_E_FAMILY:
        return "PeerInfo family byte is neither 4 nor 6";
    case RPH_E_PEERINFO_SIZE:
        return "PeerInfo size does not match its address family";
    case RPH_E_BODY:
        return "unexpected body on a message that has none";
    case RPH_E_NOSPACE:
        return "buffer too small for the message";
    case RPH_E_TOOBIG:
        return "payload too large for the 16-bit length field or the cipher";
    case RPH_E_TIMEOUT:
        return "timed out";
    case RPH_E_NOT_FOUND:
        return "session not found at the holepuncher";
    case RPH_E_INTERRUPTED:
        return "interrupted by LocalInterrupt";
    case RPH_E_FULL:
        return "table full";
    case RPH_E_UNKNOWN_PEER:
        return "datagram from an unknown address";
    case RPH_E_UNEXPECTED:
        return "message not expected here";
    case RPH_E_SESSION_MISMATCH:
        return "message for another session";
    case RPH_E_SIZE:
        return "message size does not match its type";
    case RPH_E_AUTH:
        return "authentication failed";
    case RPH_E_REPLAY:
        return "replayed or stale message";
    case RPH_E_NOKEY:
        return "no session key yet";
    case RPH_E_NOTSUP:
        return "sealing is not available in this build (no libsodium)";
    case RPH_E_RATE:
        return "rate limited";
    case RPH_E_CRYPTO:
        return "the crypto library failed";
    case RPH_E_INVALID:
        return "invalid argument";
    case RPH_E_EXHAUSTED:
        return "nonce counter exhausted; new keys needed";
    case RPH_E_HELD:
        return "another server holds the session";
    default:
        break;
    }
    if (err < 0 && err > -4096) return strerror(-err);
    return "unknown error";
}
