package modelsig

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	testPayload = `{"_type":"https://in-toto.io/Statement/v1"}`
	testSig     = "MEUCIQC" // arbitrary bytes; ParseBundle does not verify
)

var b64 = base64.StdEncoding.EncodeToString

// keyBundle is a v1.1.0-style key bundle as a mutable map.
func keyBundle() map[string]any {
	return map[string]any{
		"mediaType": MediaTypeV03,
		"verificationMaterial": map[string]any{
			"publicKey":   map[string]any{"hint": "abc"},
			"tlogEntries": []any{},
		},
		"dsseEnvelope": map[string]any{
			"payload":     b64([]byte(testPayload)),
			"payloadType": PayloadTypeInToto,
			"signatures":  []any{map[string]any{"sig": b64([]byte("sig-bytes")), "keyid": ""}},
		},
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit returns keyBundle with f applied, as JSON.
func edit(t *testing.T, f func(b, vm, env map[string]any)) []byte {
	b := keyBundle()
	f(b, b["verificationMaterial"].(map[string]any), b["dsseEnvelope"].(map[string]any))
	return mustJSON(t, b)
}

func TestParseBundleAccepts(t *testing.T) {
	cert1, cert2 := []byte("leaf-der"), []byte("intermediate-der")
	tests := []struct {
		name  string
		data  []byte
		check func(t *testing.T, b *Bundle)
	}{
		{"v1.1.0 key with hint", edit(t, func(b, vm, env map[string]any) {}), func(t *testing.T, b *Bundle) {
			if b.Material != MaterialPublicKey || b.PublicKeyHint != "abc" {
				t.Errorf("material %v hint %q", b.Material, b.PublicKeyHint)
			}
		}},
		{"legacy key rawBytes and keyDetails, keyid null, no tlogEntries", edit(t, func(b, vm, env map[string]any) {
			vm["publicKey"] = map[string]any{"rawBytes": b64([]byte("-----BEGIN PUBLIC KEY-----")), "keyDetails": "PKIX_ECDSA_P384_SHA_384"}
			delete(vm, "tlogEntries")
			env["signatures"] = []any{map[string]any{"sig": b64([]byte("s")), "keyid": nil}}
		}), func(t *testing.T, b *Bundle) {
			if b.Material != MaterialPublicKey || b.PublicKeyHint != "" {
				t.Errorf("material %v hint %q", b.Material, b.PublicKeyHint)
			}
		}},
		{"certificate chain in v0.3", edit(t, func(b, vm, env map[string]any) {
			delete(vm, "publicKey")
			vm["x509CertificateChain"] = map[string]any{"certificates": []any{
				map[string]any{"rawBytes": b64(cert1)}, map[string]any{"rawBytes": b64(cert2)}}}
		}), func(t *testing.T, b *Bundle) {
			if b.Material != MaterialCertificateChain || len(b.Certificates) != 2 ||
				!bytes.Equal(b.Certificates[0], cert1) || !bytes.Equal(b.Certificates[1], cert2) {
				t.Errorf("material %v certs %q", b.Material, b.Certificates)
			}
		}},
		{"sigstore certificate, keyid absent, v0.2 media type", edit(t, func(b, vm, env map[string]any) {
			b["mediaType"] = MediaTypeV02
			delete(vm, "publicKey")
			vm["certificate"] = map[string]any{"rawBytes": b64(cert1)}
			vm["tlogEntries"] = []any{map[string]any{"logIndex": "1"}}
			env["signatures"] = []any{map[string]any{"sig": b64([]byte("s"))}}
		}), func(t *testing.T, b *Bundle) {
			if b.Material != MaterialCertificate || len(b.Certificates) != 1 || b.MediaType != MediaTypeV02 {
				t.Errorf("material %v certs %d media %q", b.Material, len(b.Certificates), b.MediaType)
			}
		}},
		{"v0.1 media type", edit(t, func(b, vm, env map[string]any) { b["mediaType"] = MediaTypeV01 }), nil},
		{"URL-safe unpadded base64", edit(t, func(b, vm, env map[string]any) {
			env["payload"] = base64.RawURLEncoding.EncodeToString([]byte("\xfb\xff?>"))
		}), func(t *testing.T, b *Bundle) {
			if string(b.Envelope.Payload) != "\xfb\xff?>" {
				t.Errorf("payload %q", b.Envelope.Payload)
			}
		}},
		{"protobuf field names (snake_case) are accepted, as by protobuf JSON parsers", func() []byte {
			return []byte(`{"media_type":"` + MediaTypeV03 + `",
				"verification_material":{"x509_certificate_chain":{"certificates":[{"raw_bytes":"` + b64(cert1) + `"}]},
					"tlog_entries":[],"timestamp_verification_data":{"rfc3161_timestamps":[]}},
				"dsse_envelope":{"payload":"` + b64([]byte(testPayload)) + `","payload_type":"` + PayloadTypeInToto + `","signatures":[{"sig":"c2ln"}]}}`)
		}(), func(t *testing.T, b *Bundle) {
			if b.MediaType != MediaTypeV03 || b.Material != MaterialCertificateChain || !bytes.Equal(b.Certificates[0], cert1) {
				t.Errorf("media %q material %v", b.MediaType, b.Material)
			}
		}},
		{"log entry and timestamps of the Sigstore format", edit(t, func(b, vm, env map[string]any) {
			delete(vm, "publicKey")
			vm["certificate"] = map[string]any{"rawBytes": b64(cert1)}
			vm["tlogEntries"] = []any{map[string]any{"logIndex": "1", "kindVersion": map[string]any{"kind": "dsse", "version": "0.0.1"}}}
			vm["timestampVerificationData"] = map[string]any{"rfc3161Timestamps": []any{map[string]any{"signedTimestamp": b64([]byte("ts"))}}}
		}), nil},
		{"null members count as absent", edit(t, func(b, vm, env map[string]any) {
			b["messageSignature"] = nil
			vm["certificate"] = nil
			vm["timestampVerificationData"] = nil
			env["signatures"] = []any{map[string]any{"sig": b64([]byte("s")), "keyid": nil}}
		}), nil},
		{"empty publicKey, several signatures", edit(t, func(b, vm, env map[string]any) {
			vm["publicKey"] = map[string]any{}
			env["signatures"] = []any{map[string]any{"sig": b64([]byte("a"))}, map[string]any{"sig": b64([]byte("b"))}}
		}), func(t *testing.T, b *Bundle) {
			if b.PublicKeyHint != "" || len(b.Envelope.Signatures) != 2 || string(b.Envelope.Signatures[1]) != "b" {
				t.Errorf("hint %q sigs %q", b.PublicKeyHint, b.Envelope.Signatures)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBundle("x.sig", tc.data)
			if err != nil {
				t.Fatalf("ParseBundle: %v", err)
			}
			if b.Name() != "x.sig" || !bytes.Equal(b.raw, tc.data) {
				t.Errorf("name %q / raw bytes not kept", b.Name())
			}
			if b.Envelope.PayloadType != PayloadTypeInToto || len(b.Envelope.Signatures) == 0 {
				t.Errorf("envelope %+v", b.Envelope)
			}
			if tc.check != nil {
				tc.check(t, b)
			}
		})
	}
}

func TestParseBundleRejects(t *testing.T) {
	valid := edit(t, func(b, vm, env map[string]any) {})
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty file", nil, "not valid JSON: empty"},
		{"only spaces", []byte(" \n\t"), "not valid JSON: empty"},
		{"not JSON", []byte("model signature v1"), `:1:1: not valid JSON: invalid character 'm' at start of value (not a model signature?)`},
		{"syntax error on a later line", []byte("{\n  \"mediaType\": \"x\",\n  \"dsseEnvelope\": {\"payload\" 1}\n}"), `:3:30: not valid JSON: invalid character '1' after object name (expecting ':')`},
		{"column counts characters", []byte(`{"mediaType": "é", x}`), `:1:20: not valid JSON: invalid character 'x'`},
		{"truncated", valid[:len(valid)/2], "not valid JSON: truncated"},
		{"trailing data", append(append([]byte{}, valid...), " {}"...), "unexpected data after the top-level value"},
		{"array", []byte("[1,2]"), "the JSON value is not an object (not a model signature?)"},
		{"string", []byte(`"model.sig"`), "the JSON value is not an object (not a model signature?)"},
		{"invalid UTF-8", []byte("{\"mediaType\": \"\xff\"}"), "invalid UTF-8"},
		{"unpaired surrogate", []byte(`{"mediaType": "\ud800"}`), "surrogate"},
		{"byte order mark", append([]byte("\xef\xbb\xbf"), valid...), "not valid JSON"},
		{"duplicate top-level key", []byte(`{"mediaType":"a","mediaType":"` + MediaTypeV03 + `"}`), `duplicate object key "mediaType"`},
		{"duplicate key via escape", bytes.Replace(valid, []byte(`"payloadType"`), []byte(`"payload":"e30=","p\u0061yloadType"`), 1), `duplicate object key "payload"`},
		{"duplicate nested key", bytes.Replace(valid, []byte(`"hint":"abc"`), []byte(`"hint":"abc","hint":"def"`), 1), `duplicate object key "hint"`},
		{"too deep", edit(t, func(b, vm, env map[string]any) {
			var v any = 1
			for range 100 {
				v = []any{v}
			}
			b["messageSignature"] = v
		}), "nested deeper than 64 levels"},
		{"too deep in a log entry", edit(t, func(b, vm, env map[string]any) {
			var v any = 1
			for range 100 {
				v = map[string]any{"a": v}
			}
			vm["tlogEntries"] = []any{map[string]any{"x": v}}
		}), "nested deeper than 64 levels"},
		{"missing media type", edit(t, func(b, vm, env map[string]any) { delete(b, "mediaType") }), "mediaType is missing"},
		{"null media type", edit(t, func(b, vm, env map[string]any) { b["mediaType"] = nil }), "mediaType is missing"},
		{"unknown media type", edit(t, func(b, vm, env map[string]any) { b["mediaType"] = "application/vnd.dev.sigstore.bundle.v0.4+json" }), `unsupported bundle media type "application/vnd.dev.sigstore.bundle.v0.4+json"`},
		{"no verification material", edit(t, func(b, vm, env map[string]any) { delete(b, "verificationMaterial") }), "bundle has no verificationMaterial"},
		{"empty verification material", edit(t, func(b, vm, env map[string]any) { delete(vm, "publicKey") }), "verificationMaterial holds no publicKey, x509CertificateChain or certificate"},
		{"two kinds of material", edit(t, func(b, vm, env map[string]any) {
			vm["certificate"] = map[string]any{"rawBytes": b64([]byte("c"))}
		}), "verificationMaterial holds more than one kind of material (publicKey, certificate)"},
		{"material not an object", edit(t, func(b, vm, env map[string]any) { vm["publicKey"] = "abc" }), "verificationMaterial.publicKey is not a JSON object"},
		{"hint not a string", edit(t, func(b, vm, env map[string]any) { vm["publicKey"] = map[string]any{"hint": 5} }), "verificationMaterial.publicKey.hint is not a string"},
		{"empty chain", edit(t, func(b, vm, env map[string]any) {
			delete(vm, "publicKey")
			vm["x509CertificateChain"] = map[string]any{"certificates": []any{}}
		}), "certificates is empty"},
		{"chain cert bad base64", edit(t, func(b, vm, env map[string]any) {
			delete(vm, "publicKey")
			vm["x509CertificateChain"] = map[string]any{"certificates": []any{map[string]any{"rawBytes": "%%%"}}}
		}), "verificationMaterial.x509CertificateChain.certificates[0].rawBytes is not valid base64"},
		{"no dsseEnvelope", edit(t, func(b, vm, env map[string]any) { delete(b, "dsseEnvelope") }), "bundle has no dsseEnvelope"},
		{"messageSignature", edit(t, func(b, vm, env map[string]any) {
			delete(b, "dsseEnvelope")
			b["messageSignature"] = map[string]any{"signature": b64([]byte("s"))}
		}), "bundle holds a messageSignature"},
		{"no signatures field", edit(t, func(b, vm, env map[string]any) { delete(env, "signatures") }), "dsseEnvelope.signatures is missing"},
		{"zero signatures", edit(t, func(b, vm, env map[string]any) { env["signatures"] = []any{} }), "dsseEnvelope has no signatures"},
		{"signature not an object", edit(t, func(b, vm, env map[string]any) { env["signatures"] = []any{"sig"} }), "dsseEnvelope.signatures[0] is not a JSON object"},
		{"empty sig", edit(t, func(b, vm, env map[string]any) { env["signatures"] = []any{map[string]any{"sig": ""}} }), "dsseEnvelope.signatures[0].sig is empty"},
		{"bad sig base64", edit(t, func(b, vm, env map[string]any) { env["signatures"] = []any{map[string]any{"sig": "a b"}} }), "dsseEnvelope.signatures[0].sig is not valid base64"},
		{"bad payload base64", edit(t, func(b, vm, env map[string]any) { env["payload"] = "e30=!" }), "dsseEnvelope.payload is not valid base64"},
		{"missing payload", edit(t, func(b, vm, env map[string]any) { delete(env, "payload") }), "dsseEnvelope.payload is missing"},
		{"missing payloadType", edit(t, func(b, vm, env map[string]any) { delete(env, "payloadType") }), "dsseEnvelope.payloadType is missing"},
		{"keyid not a string", edit(t, func(b, vm, env map[string]any) {
			env["signatures"] = []any{map[string]any{"sig": b64([]byte("s")), "keyid": 5}}
		}), "dsseEnvelope.signatures[0].keyid is not a string"},
		{"too many signatures", edit(t, func(b, vm, env map[string]any) {
			sigs := []any{}
			for range maxSignatures + 1 {
				sigs = append(sigs, map[string]any{"sig": b64([]byte("s"))})
			}
			env["signatures"] = sigs
		}), fmt.Sprintf("dsseEnvelope.signatures has more than %d entries", maxSignatures)},
		{"too many certificates", edit(t, func(b, vm, env map[string]any) {
			delete(vm, "publicKey")
			certs := []any{}
			for range maxCertificates + 1 {
				certs = append(certs, map[string]any{"rawBytes": b64([]byte("c"))})
			}
			vm["x509CertificateChain"] = map[string]any{"certificates": certs}
		}), fmt.Sprintf("verificationMaterial.x509CertificateChain.certificates has more than %d entries", maxCertificates)},
		{"log entries not a list", edit(t, func(b, vm, env map[string]any) { vm["tlogEntries"] = map[string]any{} }), "verificationMaterial.tlogEntries is not a JSON array"},
		{"log entry not an object", edit(t, func(b, vm, env map[string]any) { vm["tlogEntries"] = []any{[]any{}} }), "verificationMaterial.tlogEntries[0] is not a JSON object"},
		{"same field under both names", []byte(strings.Replace(string(valid), `"mediaType"`, `"media_type":"`+MediaTypeV03+`","mediaType"`, 1)),
			`the bundle has both "mediaType" and "media_type", two names of one field`},
		{"both names, one null", []byte(strings.Replace(string(valid), `"payloadType"`, `"payload_type":null,"payloadType"`, 1)),
			`dsseEnvelope has both "payloadType" and "payload_type"`},
	}
	tests = append(tests, unknownKeyCases(t)...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBundle("dir/model.sig", tc.data)
			if err == nil {
				t.Fatalf("ParseBundle accepted it: %+v", b)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, `signature "dir/model.sig"`) || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want it to start with the quoted file name and contain %q", msg, tc.want)
			}
			if strings.Count(msg, "dir/model.sig") != 1 {
				t.Errorf("error %q names the file more than once", msg)
			}
		})
	}
}

// unknownKeyCases: a key the bundle format does not define is refused in
// every object of the bundle (as the reference's bundle models forbid
// extra inputs), naming the key, quoted, and where it is. Case variants
// and the wrong spelling of a legacy field are unknown keys too.
func unknownKeyCases(t *testing.T) []struct {
	name string
	data []byte
	want string
} {
	type tc = struct {
		name string
		data []byte
		want string
	}
	unknown := func(name string, f func(b, vm, env map[string]any), key, where string) tc {
		return tc{"unknown key " + name, edit(t, f), "unknown key " + strconv.Quote(key) + " " + where}
	}
	return []tc{
		unknown("at the top", func(b, vm, env map[string]any) { b["extra"] = map[string]any{"x": []any{1, 2}} }, "extra", "at the top level of the bundle"),
		unknown("case variant at the top", func(b, vm, env map[string]any) { b["MediaType"] = "bogus" }, "MediaType", "at the top level"),
		unknown("with control characters", func(b, vm, env map[string]any) { b["a\nb\x1b"] = 1 }, "a\nb\x1b", "at the top level"),
		unknown("in verificationMaterial", func(b, vm, env map[string]any) { vm["content"] = "x" }, "content", "in verificationMaterial"),
		unknown("in dsseEnvelope", func(b, vm, env map[string]any) { env["Payload"] = "!!!" }, "Payload", "in dsseEnvelope"),
		unknown("in publicKey", func(b, vm, env map[string]any) { vm["publicKey"].(map[string]any)["future"] = true }, "future", "in verificationMaterial.publicKey"),
		unknown("legacy field under its proto name", func(b, vm, env map[string]any) {
			vm["publicKey"].(map[string]any)["raw_bytes"] = b64([]byte("pem"))
		}, "raw_bytes", "in verificationMaterial.publicKey"),
		unknown("in a signature", func(b, vm, env map[string]any) {
			env["signatures"] = []any{map[string]any{"sig": b64([]byte("s")), "cert": "x"}}
		}, "cert", "in dsseEnvelope.signatures[0]"),
		unknown("in a chain certificate", func(b, vm, env map[string]any) {
			delete(vm, "publicKey")
			vm["x509CertificateChain"] = map[string]any{"certificates": []any{map[string]any{"rawBytes": b64([]byte("c")), "x": 1}}}
		}, "x", "in verificationMaterial.x509CertificateChain.certificates[0]"),
		unknown("in the chain", func(b, vm, env map[string]any) {
			delete(vm, "publicKey")
			vm["x509CertificateChain"] = map[string]any{"certificates": []any{map[string]any{"rawBytes": b64([]byte("c"))}}, "x": 1}
		}, "x", "in verificationMaterial.x509CertificateChain"),
		unknown("in certificate", func(b, vm, env map[string]any) {
			delete(vm, "publicKey")
			vm["certificate"] = map[string]any{"rawBytes": b64([]byte("c")), "der": 1}
		}, "der", "in verificationMaterial.certificate"),
		{"unknown key in a log entry", edit(t, func(b, vm, env map[string]any) {
			vm["tlogEntries"] = []any{map[string]any{"logIndex": "1", "smuggled": "x"}}
		}), `verificationMaterial.tlogEntries[0] is not a valid TransparencyLogEntry: proto:`},
		{"unknown key in timestampVerificationData", edit(t, func(b, vm, env map[string]any) {
			vm["timestampVerificationData"] = map[string]any{"smuggled": "x"}
		}), `verificationMaterial.timestampVerificationData is not a valid TimestampVerificationData: proto:`},
	}
}

// TestParseBundleErrorsEscapeInput checks that text of the file that a
// parser's own message repeats (protojson names an unknown field, jsontext
// a character) reaches the error escaped: a bidirectional override or a
// zero-width character must not reorder or hide what an operator reads.
func TestParseBundleErrorsEscapeInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"unknown field in a log entry", edit(t, func(b, vm, env map[string]any) {
			vm["tlogEntries"] = []any{map[string]any{"a\u202eb\u200b": 1}}
		})},
		{"bad value in a log entry", edit(t, func(b, vm, env map[string]any) {
			vm["tlogEntries"] = []any{map[string]any{"logIndex": "\u202e\u2066"}}
		})},
		{"character outside a string", []byte("{\"mediaType\"\u202e: 1}")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBundle("model.sig", tc.data)
			if err == nil {
				t.Fatal("accepted")
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\u202e\u200b\u2066") {
				t.Errorf("error holds a raw format character: %q", msg)
			}
		})
	}
}

func TestReadBundle(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "model.sig")
	data := edit(t, func(b, vm, env map[string]any) {})
	if err := os.WriteFile(good, data, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := ReadBundle(good)
	if err != nil || b.Name() != good || !bytes.Equal(b.raw, data) {
		t.Fatalf("ReadBundle = %v, %v", b, err)
	}

	big := filepath.Join(dir, "big.sig")
	if err := os.WriteFile(big, data, 0o644); err != nil {
		t.Fatal(err)
	}
	defer func(old int64) { bundleSizeLimit = old }(bundleSizeLimit)
	bundleSizeLimit = 1 << 20
	if err := os.Truncate(big, bundleSizeLimit+1); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadBundle(big); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("larger than %d bytes", bundleSizeLimit)) {
		t.Errorf("oversized bundle: err = %v", err)
	}

	missing := filepath.Join(dir, "nope.sig")
	_, err = ReadBundle(missing)
	if want := "no signature at " + strconv.Quote(missing) + " (name the signature file with --signature)"; err == nil ||
		!errors.Is(err, fs.ErrNotExist) || err.Error() != want {
		t.Errorf("missing bundle: err = %v, want a not-exist error %q", err, want)
	}

	// Not a regular file: refused, naming what it is, never called "not
	// a model signature" (a FIFO: TestReadBundleFIFO).
	checkNotRegularBundle(t, dir, "is a directory, not a regular file")

	// Unreadable: the reason, without the not-a-signature guess.
	if os.Geteuid() != 0 {
		locked := filepath.Join(dir, "locked.sig")
		if err := os.WriteFile(locked, data, 0o000); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadBundle(locked); err == nil || !errors.Is(err, fs.ErrPermission) || strings.Contains(err.Error(), "not a model signature") {
			t.Errorf("unreadable bundle: err = %v", err)
		}
	}
}

func FuzzParseBundle(f *testing.F) {
	f.Add(mustJSON(f, keyBundle()))
	for _, name := range []string{"v0.2.0-certificate", "v1.0.0-elliptic-key", "v1.1.0-certificate", "v1.1.0-elliptic-key", "v1.1.0-sigstore"} {
		if data, err := os.ReadFile(refSeed(name, "model.sig")); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"mediaType":"a","mediaType":"b"}`))
	f.Add([]byte(`{"media_type":"` + MediaTypeV03 + `","verificationMaterial":{"publicKey":{"hint":"x"},"tlog_entries":[{"logIndex":"1"}]},"dsse_envelope":{"payload":"","payload_type":"t","signatures":[{"sig":"AA"}]}}`))
	f.Add([]byte(`[[[[{"a":"\u0000"}]]]]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBundle("f", data)
		if err != nil {
			if b != nil {
				t.Fatal("bundle returned with an error")
			}
			return
		}
		// Invariants of every accepted bundle.
		switch b.MediaType {
		case MediaTypeV01, MediaTypeV02, MediaTypeV03:
		default:
			t.Fatalf("accepted media type %q", b.MediaType)
		}
		if len(b.Envelope.Signatures) == 0 || len(b.Envelope.Signatures[0]) == 0 {
			t.Fatal("accepted a bundle without a signature")
		}
		switch b.Material {
		case MaterialPublicKey:
			if len(b.Certificates) != 0 {
				t.Fatal("key bundle with certificates")
			}
		case MaterialCertificate, MaterialCertificateChain:
			if len(b.Certificates) == 0 {
				t.Fatal("certificate bundle without certificates")
			}
		default:
			t.Fatalf("accepted material %v", b.Material)
		}
		if !json.Valid(data) {
			t.Fatal("accepted invalid JSON")
		}
		// Only keys of the bundle format (JSON or protobuf field names).
		var top map[string]any
		if err := json.Unmarshal(data, &top); err != nil {
			t.Fatalf("accepted, but encoding/json says: %v", err)
		}
		checkKeys(t, "top", top, bundleShape)
		for _, f := range []struct {
			i     int
			shape objectShape
		}{{1, materialShape}, {2, envelopeShape}} {
			for _, name := range []string{bundleShape.fields[f.i].name, bundleShape.fields[f.i].alt} {
				if m, ok := top[name].(map[string]any); ok {
					checkKeys(t, name, m, f.shape)
				}
			}
		}
	})
}

// checkKeys fails unless every key of m is a field of shape.
func checkKeys(t *testing.T, where string, m map[string]any, shape objectShape) {
	t.Helper()
	for k := range m {
		if lookupField(shape.fields, []byte(k)) < 0 {
			t.Fatalf("accepted unknown key %q in %s", k, where)
		}
	}
}

// checkNotRegularBundle: ReadBundle refuses path, which is not a regular
// file, with exactly the error that says what it is.
func checkNotRegularBundle(t *testing.T, path, what string) {
	t.Helper()
	_, err := ReadBundle(path)
	if want := "read signature: " + strconv.Quote(path) + " " + what; err == nil || err.Error() != want {
		t.Errorf("ReadBundle(%q) = %v, want %q", path, err, want)
	}
}
