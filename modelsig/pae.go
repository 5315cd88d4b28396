package modelsig

import (
	"bytes"
	"crypto"
	"hash"
	"strconv"
)

// pae is the DSSE v1 pre-authentication encoding, the bytes that are
// actually signed (format spec section 2):
//
//	"DSSEv1" SP len(type) SP type SP len(payload) SP payload
//
// with lengths as ASCII decimal byte counts. Verifiers use paeDigest
// instead; this copy is for Signer.SignPAE, whose contract is the bytes.
func pae(payloadType string, payload []byte) []byte {
	out := paeHeader(make([]byte, 0, len(payloadType)+len(payload)+32), "DSSEv1", payloadType, len(payload))
	return append(out, payload...)
}

// paeDigest returns h(pae(payloadType, payload)) without building the
// encoding: the payload of a many-file model's signature is tens of
// megabytes, and a copy of it would be the largest allocation of a verify.
// h is one of the hashes curveHash returns.
func paeDigest(h crypto.Hash, payloadType string, payload []byte) []byte {
	d := h.New()
	d.Write(paeHeader(nil, "DSSEv1", payloadType, len(payload)))
	d.Write(payload)
	return d.Sum(nil)
}

// paeCompatDigest returns h over the encoding model_signing v0.2 signed,
// bug for bug: a capital "V", and the payload written as Python's repr of
// a bytes object instead of the raw bytes (the length stays the raw
// length). Signatures from v0.2 only verify over this. The repr, up to
// four times the payload's size, is hashed a block at a time.
func paeCompatDigest(h crypto.Hash, payloadType string, payload []byte) []byte {
	d := h.New()
	d.Write(paeHeader(nil, "DSSEV1", payloadType, len(payload)))
	writePyRepr(d, payload)
	return d.Sum(nil)
}

// paeHeader appends `magic SP len(type) SP type SP len(payload) SP`.
func paeHeader(out []byte, magic, payloadType string, payloadLen int) []byte {
	out = append(out, magic...)
	out = append(out, ' ')
	out = strconv.AppendInt(out, int64(len(payloadType)), 10)
	out = append(out, ' ')
	out = append(out, payloadType...)
	out = append(out, ' ')
	out = strconv.AppendInt(out, int64(payloadLen), 10)
	return append(out, ' ')
}

// writePyRepr writes Python's repr(b) for a bytes object b to d, through
// a fixed-size buffer: b'...' (or b"..." when b holds a single quote and
// no double quote), with the quote and backslash escaped, \t \n \r, \xhh
// (lowercase) for other bytes below 0x20 and for 0x7f and above, and
// every other byte as itself.
func writePyRepr(d hash.Hash, b []byte) {
	const block = 16 << 10 // input bytes per write; the repr is at most 4x
	quote := pyReprQuote(b)
	buf := make([]byte, 0, 4*block+2)
	buf = append(buf, 'b', quote)
	for len(b) > 0 {
		n := min(len(b), block)
		buf = appendPyReprBody(buf, b[:n], quote)
		d.Write(buf)
		buf, b = buf[:0], b[n:]
	}
	d.Write(append(buf, quote))
}

// pyReprQuote is the quote Python's repr uses for b.
func pyReprQuote(b []byte) byte {
	if bytes.IndexByte(b, '\'') >= 0 && bytes.IndexByte(b, '"') < 0 {
		return '"'
	}
	return '\''
}

// appendPyReprBody appends b as repr writes it between the quotes.
func appendPyReprBody(out, b []byte, quote byte) []byte {
	const hex = "0123456789abcdef"
	for _, c := range b {
		switch {
		case c == quote || c == '\\':
			out = append(out, '\\', c)
		case c == '\t':
			out = append(out, '\\', 't')
		case c == '\n':
			out = append(out, '\\', 'n')
		case c == '\r':
			out = append(out, '\\', 'r')
		case c < 0x20 || c >= 0x7f:
			out = append(out, '\\', 'x', hex[c>>4], hex[c&0xf])
		default:
			out = append(out, c)
		}
	}
	return out
}
