package manifest

import (
	"encoding/hex"
	"strings"
	"testing"
)

func TestParseHashType(t *testing.T) {
	tests := []struct {
		in      string
		want    HashType
		wantErr bool
	}{
		{"sha256", SHA256, false},
		{"blake2b", BLAKE2b, false},
		{"blake2", BLAKE2b, false}, // model_signing CLI/config alias
		{"blake3", BLAKE3, false},
		{"", "", true},
		{"SHA256", "", true},
		{"sha-256", "", true},
		{"sha256-sharded-1000", "", true},
		{"md5", "", true},
	}
	for _, tt := range tests {
		got, err := ParseHashType(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseHashType(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "sha256, blake2b, blake2, blake3") {
			t.Errorf("ParseHashType(%q) error %q does not list the valid names", tt.in, err)
		}
	}
}

func TestHashTypeSize(t *testing.T) {
	for h, want := range map[HashType]int{SHA256: 32, BLAKE2b: 64, BLAKE3: 32, "md5": 0, "": 0} {
		if got := h.Size(); got != want {
			t.Errorf("%q.Size() = %d, want %d", h, got, want)
		}
		if want > 0 && newHash(h).Size() != want {
			t.Errorf("newHash(%q).Size() = %d, want %d", h, newHash(h).Size(), want)
		}
	}
}

func TestResourceName(t *testing.T) {
	tests := []struct {
		r    Resource
		want string
	}{
		{Resource{Path: "a/b.bin"}, "a/b.bin"},
		{Resource{Path: "."}, "."},
		{Resource{Path: "a:b", Start: 1, End: 2}, "a:b"}, // files: range ignored
		{Resource{Path: "d0/f00", Shard: true, Start: 8, End: 16}, "d0/f00:8:16"},
		{Resource{Path: ".", Shard: true, Start: 0, End: 1_000_000_000}, ".:0:1000000000"},
	}
	for _, tt := range tests {
		if got := tt.r.Name(); got != tt.want {
			t.Errorf("%+v.Name() = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func TestSubjectDigest(t *testing.T) {
	tests := []struct {
		name    string
		digests []string
		want    string
	}{
		{"empty model", nil, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{
			// format spec §9: signme-1 (with newline) and signme-2 of the v1.0.1/v1.1.0 key vectors.
			"v1.1.0-elliptic-key",
			[]string{
				"bc9a717db6064a32cbe9eae6fc40651dd6d36ef1757183f590eff2b1765d7ebc",
				"32dcb1f8e1ae52d5963e56a6ba06ab58b424c15ed2a6b70d2feca1d089370028",
			},
			"92745110b1ab4368471cbe31664e10174e954b113a3df333db860317b2c6dec4",
		},
	}
	for _, tt := range tests {
		m := &Manifest{}
		for i, d := range tt.digests {
			raw, err := hex.DecodeString(d)
			if err != nil {
				t.Fatal(err)
			}
			m.Resources = append(m.Resources, Resource{Path: string(rune('a' + i)), Digest: raw})
		}
		got := m.SubjectDigest()
		if hex.EncodeToString(got[:]) != tt.want {
			t.Errorf("%s: SubjectDigest = %x, want %s", tt.name, got, tt.want)
		}
	}
}

func TestSerializationValidate(t *testing.T) {
	tests := []struct {
		s       Serialization
		wantErr string
	}{
		{Serialization{Method: Files, HashType: SHA256}, ""},
		{Serialization{Method: Shards, HashType: BLAKE2b, ShardSize: 1}, ""},
		{Serialization{Method: Files, HashType: "md5"}, "unknown hash type"},
		{Serialization{Method: "tree", HashType: SHA256}, "unknown serialization method"},
		{Serialization{Method: Shards, HashType: SHA256}, "must be positive"},
		{Serialization{Method: Shards, HashType: SHA256, ShardSize: -8}, "must be positive"},
		{Serialization{Method: Files, HashType: SHA256, ShardSize: 8}, "files method"},
	}
	for _, tt := range tests {
		err := tt.s.validate()
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%+v.validate() = %v, want error containing %q", tt.s, err, tt.wantErr)
		}
	}
}
