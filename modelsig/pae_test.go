package modelsig

import (
	"bytes"
	"crypto"
	"strconv"
	"strings"
	"testing"
)

// appendPyRepr appends repr(b) (see writePyRepr) in one piece: the
// reference the streaming writer is tested against.
func appendPyRepr(out, b []byte) []byte {
	quote := pyReprQuote(b)
	out = append(out, 'b', quote)
	out = appendPyReprBody(out, b, quote)
	return append(out, quote)
}

// paeCompat is the v0.2 encoding as bytes (see paeCompatDigest): the
// reference the streaming digest is checked against, and what the tests
// sign to make v0.2 signatures.
func paeCompat(payloadType string, payload []byte) []byte {
	out := paeHeader(nil, "DSSEV1", payloadType, len(payload))
	return appendPyRepr(out, payload)
}

// Expected values are Python's repr(bytes), derived by hand from its rules
// (format spec §2) and double-checked against CPython.
var pyReprTests = []struct {
	name string
	in   string
	want string
}{
	{"empty", "", `b''`},
	{"plain", "abc", `b'abc'`},
	{"single quote only switches to double quotes", "it's", `b"it's"`},
	{"double quote only", `say "hi"`, `b'say "hi"'`},
	{"both quotes: single quote escaped", `'"`, `b'\'"'`},
	{"double quote alone", `"`, `b'"'`},
	{"two single quotes", `''`, `b"''"`},
	{"backslash", `a\b`, `b'a\\b'`},
	{"backslash in double-quote mode", `it's \`, `b"it's \\"`},
	{"tab newline return", "\t\n\r", `b'\t\n\r'`},
	{"other control bytes", "\x00\x1f\x0b\x0c", `b'\x00\x1f\x0b\x0c'`},
	{"escape sequence", "\x1b[0m", `b'\x1b[0m'`},
	{"DEL", "\x7f", `b'\x7f'`},
	{"high bytes lowercase hex", "\x80\xff", `b'\x80\xff'`},
	{"printable edges", " ~", `b' ~'`},
	{"UTF-8 is bytes", "é", `b'\xc3\xa9'`},
}

func TestPyRepr(t *testing.T) {
	for _, tc := range pyReprTests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(appendPyRepr(nil, []byte(tc.in))); got != tc.want {
				t.Errorf("pyrepr(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestPAE(t *testing.T) {
	payload := []byte("{\"a\": 'b'}\n")
	if got, want := string(pae(PayloadTypeInToto, payload)),
		"DSSEv1 28 application/vnd.in-toto+json 11 {\"a\": 'b'}\n"; got != want {
		t.Errorf("pae = %q, want %q", got, want)
	}
	// The compat form keeps the raw length (11) but writes the repr.
	if got, want := string(paeCompat(PayloadTypeInToto, payload)),
		`DSSEV1 28 application/vnd.in-toto+json 11 b'{"a": \'b\'}\n'`; got != want {
		t.Errorf("paeCompat = %q, want %q", got, want)
	}
	if got, want := string(pae("", nil)), "DSSEv1 0  0 "; got != want {
		t.Errorf("pae of empty = %q, want %q", got, want)
	}
}

// TestPAEDigest: the streaming digests equal the hash of the encodings
// they avoid building, for every curve's hash, at the edges of the repr's
// blocks and for payloads of several blocks.
func TestPAEDigest(t *testing.T) {
	payloads := map[string][]byte{
		"empty":                    nil,
		"plain":                    []byte(`{"a": 1}`),
		"quotes":                   []byte(`it's "x"`),
		"one block":                bytes.Repeat([]byte{'a'}, 16<<10),
		"a block and a byte":       bytes.Repeat([]byte{'\\'}, 16<<10+1),
		"several blocks, escaping": []byte(strings.Repeat("é\\'\x00\n~", 20_000)),
	}
	for name, p := range payloads {
		for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			if got, want := paeDigest(h, PayloadTypeInToto, p), digest(h, pae(PayloadTypeInToto, p)); !bytes.Equal(got, want) {
				t.Errorf("%s, %v: paeDigest = %x, want %x", name, h, got, want)
			}
			if got, want := paeCompatDigest(h, PayloadTypeInToto, p), digest(h, paeCompat(PayloadTypeInToto, p)); !bytes.Equal(got, want) {
				t.Errorf("%s, %v: paeCompatDigest = %x, want %x", name, h, got, want)
			}
		}
	}
}

// unPyRepr inverts appendPyRepr for the fuzz invariant.
func unPyRepr(t *testing.T, s []byte) []byte {
	t.Helper()
	if len(s) < 3 || s[0] != 'b' || (s[1] != '\'' && s[1] != '"') || s[len(s)-1] != s[1] {
		t.Fatalf("repr %q is not b'...'", s)
	}
	quote, body := s[1], s[2:len(s)-1]
	var out []byte
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == quote {
			t.Fatalf("repr %q has an unescaped quote", s)
		}
		if c < 0x20 || c >= 0x7f {
			t.Fatalf("repr %q has a raw non-printable byte", s)
		}
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(body) {
			t.Fatalf("repr %q ends in a backslash", s)
		}
		switch e := body[i]; e {
		case 't':
			out = append(out, '\t')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 'x':
			if i+2 >= len(body) || !isLowerHex(body[i+1]) || !isLowerHex(body[i+2]) {
				t.Fatalf("repr %q has a bad \\x escape", s)
			}
			v, _ := strconv.ParseUint(string(body[i+1:i+3]), 16, 8)
			if (v >= 0x20 && v < 0x7f) || v == '\t' || v == '\n' || v == '\r' {
				t.Fatalf("repr %q escapes byte %#x that Python writes otherwise", s, v)
			}
			out = append(out, byte(v))
			i += 2
		case '\\', '\'', '"':
			out = append(out, e)
		default:
			t.Fatalf("repr %q has unknown escape \\%c", s, e)
		}
	}
	return out
}

func isLowerHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

func FuzzPyRepr(f *testing.F) {
	for _, tc := range pyReprTests {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := appendPyRepr(nil, in)
		if got := unPyRepr(t, r); !bytes.Equal(got, in) {
			t.Fatalf("repr %q decodes to %q, want %q", r, got, in)
		}
		// Python picks double quotes exactly when there is a ' and no ".
		wantDouble := bytes.IndexByte(in, '\'') >= 0 && bytes.IndexByte(in, '"') < 0
		if (r[1] == '"') != wantDouble {
			t.Fatalf("repr %q uses the wrong quote", r)
		}
		p := paeCompat(PayloadTypeInToto, in)
		prefix := "DSSEV1 28 " + PayloadTypeInToto + " " + strconv.Itoa(len(in)) + " "
		if !bytes.HasPrefix(p, []byte(prefix)) || !bytes.Equal(p[len(prefix):], r) {
			t.Fatalf("paeCompat = %q, want prefix %q and the repr", p, prefix)
		}
		if got, want := paeCompatDigest(crypto.SHA256, PayloadTypeInToto, in), digest(crypto.SHA256, p); !bytes.Equal(got, want) {
			t.Fatalf("paeCompatDigest = %x, want %x", got, want)
		}
	})
}
