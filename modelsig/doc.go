// Package modelsig reads, verifies and writes model_signing signatures
// (the model.sig files of sigstore/model-transparency): Sigstore bundles
// holding a DSSE envelope over an in-toto statement whose predicate lists
// the model's resources and digests.
//
// Verification is two steps that never mix: a Verifier checks the
// cryptographic signature with one method (key, certificate or sigstore)
// and yields the signed payload; only those verified bytes are then parsed
// into the expected manifest, which package manifest compares with the
// model on disk. Nothing unverified is ever trusted, and every failure is
// an error value that names the file and what is wrong.
//
// Reading is as lenient as the reference library is (every bundle shape it
// has written since v0.2 verifies, including the v0.2 compat signing
// input), and no more: duplicate JSON keys, ambiguous verification
// material and unsafe resource names are refused. Writing (Sign) produces
// the v1.1.0 layout, which both the reference verifier and OMS verifiers
// accept, and checks the new signature before the file is put in place.
package modelsig
