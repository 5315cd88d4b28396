package modelsig

// Temporary: pins dependencies in go.mod while the package is being built.
import (
	_ "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	_ "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	_ "github.com/sigstore/sigstore-go/pkg/bundle"
	_ "github.com/sigstore/sigstore-go/pkg/testing/ca"
	_ "github.com/sigstore/sigstore-go/pkg/tuf"
	_ "github.com/sigstore/sigstore-go/pkg/verify"
	_ "github.com/spf13/cobra"
	_ "golang.org/x/crypto/blake2b"
	_ "lukechampine.com/blake3"
)
