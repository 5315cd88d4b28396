package modelsig

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"

	"github.com/modelgate/modelgate/internal/shareddata"
)

// testTrustedRootJSON returns a valid trusted root document (a fresh
// VirtualSigstore's), for parsing tests.
func testTrustedRootJSON(t testing.TB) []byte {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(),
		vs.CTLogs(), vs.TimestampingAuthorities(), vs.RekorLogs())
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// editJSON decodes doc, applies edit and encodes it again.
func editJSON(t testing.TB, doc []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func clientTrustConfig(t testing.TB, key string, trustedRoot []byte) []byte {
	t.Helper()
	out, err := json.Marshal(map[string]any{
		"mediaType":     mediaTypeClientTrustConfig01,
		key:             json.RawMessage(trustedRoot),
		"signingConfig": map[string]any{"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadTrustConfigSharedFiles(t *testing.T) {
	tests := []struct {
		file         string
		cas, tlogs   int
		tsas, ctlogs int
	}{
		{"public-good-trusted_root.json", 2, 2, 1, 2},
		{"staging-trusted_root.json", 1, 4, 1, 4},
		// The model-transparency test ClientTrustConfig: an older
		// production root (GitHub's timestamp authority only).
		{"example-client-trust-config.json", 2, 1, 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			tm, err := LoadTrustConfig(shareddata.Path(t, "sigstore-trust", tc.file))
			if err != nil {
				t.Fatalf("LoadTrustConfig: %v", err)
			}
			if got := len(tm.FulcioCertificateAuthorities()); got != tc.cas {
				t.Errorf("%d certificate authorities, want %d", got, tc.cas)
			}
			if got := len(tm.RekorLogs()); got != tc.tlogs {
				t.Errorf("%d transparency logs, want %d", got, tc.tlogs)
			}
			if got := len(tm.TimestampingAuthorities()); got != tc.tsas {
				t.Errorf("%d timestamp authorities, want %d", got, tc.tsas)
			}
			if got := len(tm.CTLogs()); got != tc.ctlogs {
				t.Errorf("%d CT logs, want %d", got, tc.ctlogs)
			}
		})
	}
}

func TestLoadTrustConfig(t *testing.T) {
	good := testTrustedRootJSON(t)
	withMediaType := func(mt any) []byte {
		return editJSON(t, good, func(m map[string]any) { m["mediaType"] = mt })
	}
	without := func(key string) []byte {
		return editJSON(t, good, func(m map[string]any) { delete(m, key) })
	}
	tests := []struct {
		name string
		data []byte
		want string // "" means it loads
	}{
		{"trusted root", good, ""},
		{"trusted root v0.1 new spelling", withMediaType(mediaTypeTrustedRoot01), ""},
		{"trusted root v0.2", withMediaType(mediaTypeTrustedRoot02), ""},
		{"client trust config", clientTrustConfig(t, "trustedRoot", good), ""},
		{"client trust config, proto field name", clientTrustConfig(t, "trusted_root", good), ""},
		{"client trust config, both field names", editJSON(t, clientTrustConfig(t, "trustedRoot", good), func(m map[string]any) {
			m["trusted_root"] = m["trustedRoot"]
		}), "both trustedRoot and trusted_root"},
		{"client trust config without trusted root", editJSON(t, clientTrustConfig(t, "trustedRoot", good), func(m map[string]any) {
			delete(m, "trustedRoot")
		}), "ClientTrustConfig has no trustedRoot"},
		{"client trust config with a bad trusted root", clientTrustConfig(t, "trustedRoot", withMediaType("application/json")),
			`trustedRoot: unsupported TrustedRoot mediaType "application/json"`},
		{"client trust config with a null trusted root", clientTrustConfig(t, "trustedRoot", []byte("null")), "trustedRoot: failed to proto-json unmarshal"},
		{"empty file", nil, "not a JSON object"},
		{"garbage", []byte("this is not JSON"), "not a JSON object"},
		{"JSON array", []byte(`[1, 2]`), "not a JSON object"},
		{"no mediaType", without("mediaType"), "no mediaType"},
		{"mediaType not a string", withMediaType(3), "mediaType"},
		{"bundle media type", withMediaType(MediaTypeV03), `unsupported mediaType "application/vnd.dev.sigstore.bundle.v0.3+json"`},
		{"signing config", withMediaType("application/vnd.dev.sigstore.signingconfig.v0.2+json"), "unsupported mediaType"},
		{"trusted root version 0.3", withMediaType("application/vnd.dev.sigstore.trustedroot.v0.3+json"), "unsupported mediaType"},
		{"unknown field", editJSON(t, good, func(m map[string]any) { m["extra"] = 1 }), `unknown field "extra"`},
		{"no certificate authority", without("certificateAuthorities"), "no certificate authority"},
		{"no transparency log", without("tlogs"), "no transparency log"},
		{"bad certificate", editJSON(t, good, func(m map[string]any) {
			ca := m["certificateAuthorities"].([]any)[0].(map[string]any)
			ca["certChain"] = map[string]any{"certificates": []any{map[string]any{"rawBytes": "AAAA"}}}
		}), "x509"},
		{"too large", append(good, make([]byte, maxTrustConfigSize)...), "larger than"},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			tm, err := LoadTrustConfig(p)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("LoadTrustConfig: %v", err)
				}
				if len(tm.FulcioCertificateAuthorities()) != 1 || len(tm.RekorLogs()) != 1 {
					t.Errorf("trusted material = %+v", tm)
				}
				return
			}
			if err == nil || tm != nil {
				t.Fatalf("LoadTrustConfig = %v, %v; want an error about %q", tm, err, tc.want)
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name the file and %q", err, tc.want)
			}
		})
	}
}

func TestLoadTrustConfigUnreadable(t *testing.T) {
	for name, p := range map[string]string{
		"missing":   filepath.Join(t.TempDir(), "nope.json"),
		"directory": t.TempDir(),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadTrustConfig(p)
			if err == nil || !strings.Contains(err.Error(), p) {
				t.Fatalf("LoadTrustConfig(%s) = %v; want an error naming it", p, err)
			}
		})
	}
}

func FuzzParseTrustConfig(f *testing.F) {
	good := testTrustedRootJSON(f)
	f.Add(good)
	f.Add(clientTrustConfig(f, "trustedRoot", good))
	f.Add(clientTrustConfig(f, "trusted_root", good))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot.v0.2+json","tlogs":[{}]}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.clienttrustconfig.v0.1+json","trustedRoot":null}`))
	if r := shareddata.Root(); r != "" {
		for _, name := range []string{"public-good-trusted_root.json", "example-client-trust-config.json"} {
			if data, err := os.ReadFile(filepath.Join(r, "sigstore-trust", name)); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := parseTrustConfig(data)
		if err != nil {
			if tr != nil {
				t.Fatal("a trusted root along with an error")
			}
			return
		}
		if len(tr.FulcioCertificateAuthorities()) == 0 || len(tr.RekorLogs()) == 0 {
			t.Fatal("accepted a trusted root without a CA or a transparency log")
		}
	})
}
