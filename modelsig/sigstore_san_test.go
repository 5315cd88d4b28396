package modelsig

import (
	"encoding/asn1"
	"slices"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// generalName is one SAN entry for sanDER: tag and content (for an
// otherName, the type OID and the DER of the explicit [0] value).
type generalName struct {
	tag     cbasn1.Tag
	content []byte
	oid     asn1.ObjectIdentifier
}

func email(s string) generalName {
	return generalName{tag: cbasn1.Tag(1).ContextSpecific(), content: []byte(s)}
}
func uri(s string) generalName {
	return generalName{tag: cbasn1.Tag(6).ContextSpecific(), content: []byte(s)}
}
func dns(s string) generalName {
	return generalName{tag: cbasn1.Tag(2).ContextSpecific(), content: []byte(s)}
}

func otherName(oid asn1.ObjectIdentifier, valueTag cbasn1.Tag, s string) generalName {
	var b cryptobyte.Builder
	b.AddASN1(valueTag, func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
	return generalName{tag: cbasn1.Tag(0).ContextSpecific().Constructed(), oid: oid, content: b.BytesOrPanic()}
}

func sanDER(names ...generalName) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, n := range names {
			b.AddASN1(n.tag, func(b *cryptobyte.Builder) {
				if n.oid != nil {
					b.AddASN1ObjectIdentifier(n.oid)
					b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(n.content) })
					return
				}
				b.AddBytes(n.content)
			})
		}
	})
	return b.BytesOrPanic()
}

func TestParseSANIdentities(t *testing.T) {
	otherOID := asn1.ObjectIdentifier{1, 2, 3, 4}
	tests := []struct {
		name string
		der  []byte
		want []string
		bad  bool
	}{
		{name: "email", der: sanDER(email("alice@example.com")), want: []string{"alice@example.com"}},
		{name: "URI as encoded", der: sanDER(uri("https://example.com/a%2Fb?x=1#f")), want: []string{"https://example.com/a%2Fb?x=1#f"}},
		{name: "Sigstore otherName", der: sanDER(otherName(oidOtherNameSAN, cbasn1.UTF8String, "alice")), want: []string{"alice"}},
		{name: "in order, others skipped",
			der: sanDER(dns("example.com"), email("a@example.com"), otherName(otherOID, cbasn1.UTF8String, "x"),
				uri("https://example.com"), otherName(oidOtherNameSAN, cbasn1.UTF8String, "bob")),
			want: []string{"a@example.com", "https://example.com", "bob"}},
		{name: "DNS only", der: sanDER(dns("example.com")), want: nil},
		{name: "empty sequence", der: sanDER(), want: nil},
		{name: "otherName not a UTF8String", der: sanDER(otherName(oidOtherNameSAN, cbasn1.IA5String, "alice")), bad: true},
		{name: "otherName bad UTF-8", der: sanDER(otherName(oidOtherNameSAN, cbasn1.UTF8String, "al\xffice")), bad: true},
		{name: "truncated", der: sanDER(email("alice@example.com"))[:10], bad: true},
		{name: "trailing data", der: append(sanDER(email("a@example.com")), 0), bad: true},
		{name: "not a sequence", der: []byte{0x04, 0x00}, bad: true},
		{name: "empty", der: nil, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSANIdentities(tc.der)
			if tc.bad {
				if err == nil {
					t.Fatalf("parseSANIdentities = %q, want an error", got)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("parseSANIdentities = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func FuzzParseSANIdentities(f *testing.F) {
	f.Add(sanDER(email("alice@example.com")))
	f.Add(sanDER(uri("https://example.com"), otherName(oidOtherNameSAN, cbasn1.UTF8String, "bob")))
	f.Add(sanDER(dns("example.com"), otherName(asn1.ObjectIdentifier{1, 2}, cbasn1.OCTET_STRING, "x")))
	f.Fuzz(func(t *testing.T, der []byte) {
		ids, err := parseSANIdentities(der)
		if err != nil && ids != nil {
			t.Fatal("identities along with an error")
		}
	})
}
