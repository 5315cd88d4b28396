package modelsig

import (
	"context"

	"github.com/sigstore/sigstore-go/pkg/root"
)

// TrustRootOptions says where the Sigstore trusted root comes from when no
// trust configuration file is given.
type TrustRootOptions struct {
	Staging  bool   // the staging instance instead of production
	CacheDir string // TUF cache; "" means sigstore-go's default (~/.sigstore/root)
}

// FetchTrustedRoot returns the production or staging trusted root through
// sigstore-go's TUF client, using and refreshing the on-disk cache.
func FetchTrustedRoot(ctx context.Context, opts TrustRootOptions) (root.TrustedMaterial, error) {
	return nil, errNotImplemented
}

// LoadTrustConfig reads a Sigstore TrustedRoot JSON file or a
// ClientTrustConfig JSON file (whose trustedRoot is used).
func LoadTrustConfig(path string) (root.TrustedMaterial, error) { return nil, errNotImplemented }

// NewSigstoreVerifier returns the verifier for the sigstore method (format
// spec 6.3): exact identity (a certificate SAN) and exact issuer, one tlog
// entry, an SCT and at least one verified time source, all against tm.
func NewSigstoreVerifier(tm root.TrustedMaterial, identity, issuer string) (Verifier, error) {
	return nil, errNotImplemented
}
