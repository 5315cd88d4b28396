package modelsig

import (
	"bytes"
	"strconv"
)

// pae is the DSSE v1 pre-authentication encoding, the bytes that are
// actually signed (format spec section 2):
//
//	"DSSEv1" SP len(type) SP type SP len(payload) SP payload
//
// with lengths as ASCII decimal byte counts.
func pae(payloadType string, payload []byte) []byte {
	out := paeHeader(make([]byte, 0, len(payloadType)+len(payload)+32), "DSSEv1", payloadType, len(payload))
	return append(out, payload...)
}

// paeCompat is the encoding model_signing v0.2 signed, bug for bug: a
// capital "V", and the payload written as Python's repr of a bytes object
// instead of the raw bytes (the length stays the raw length). Signatures
// from v0.2 only verify over this.
func paeCompat(payloadType string, payload []byte) []byte {
	out := paeHeader(make([]byte, 0, len(payloadType)+2*len(payload)+32), "DSSEV1", payloadType, len(payload))
	return appendPyRepr(out, payload)
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

// appendPyRepr appends Python's repr(b) for a bytes object b: b'...' (or
// b"..." when b holds a single quote and no double quote), with the quote
// and backslash escaped, \t \n \r, \xhh (lowercase) for other bytes below
// 0x20 and for 0x7f and above, and every other byte as itself.
func appendPyRepr(out, b []byte) []byte {
	quote := byte('\'')
	if bytes.IndexByte(b, '\'') >= 0 && bytes.IndexByte(b, '"') < 0 {
		quote = '"'
	}
	const hex = "0123456789abcdef"
	out = append(out, 'b', quote)
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
	return append(out, quote)
}
