package modelsig

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"

	"github.com/youmark/pkcs8"

	"github.com/modelgate/modelgate/internal/safefile"
)

// errWrongPassword is the one answer for a key that does not decrypt: a
// wrong password and a damaged file cannot be told apart reliably.
var errWrongPassword = errors.New("wrong password or corrupt key")

// LoadPrivateKey reads a PEM EC private key (SEC 1 or PKCS#8, optionally
// encrypted with password) on P-256, P-384 or P-521.
//
// Accepted blocks: "EC PRIVATE KEY" (SEC 1, also with the legacy OpenSSL
// "Proc-Type: 4,ENCRYPTED" header), "PRIVATE KEY" (PKCS#8) and "ENCRYPTED
// PRIVATE KEY" (PKCS#8 with PBES2). Text and other blocks around the key
// (certtool dumps, "EC PARAMETERS") are skipped. A password given for an
// unencrypted key is not needed and is ignored.
func LoadPrivateKey(path string, password []byte) (*ecdsa.PrivateKey, error) {
	data, err := safefile.ReadFile(path, maxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("read private key: %w", err)
	}
	priv, err := parsePrivateKeyPEM(data, password)
	if err != nil {
		return nil, fmt.Errorf("private key %q: %w", path, err)
	}
	return priv, nil
}

func parsePrivateKeyPEM(data, password []byte) (*ecdsa.PrivateKey, error) {
	blocks, err := decodePEM(data)
	if err != nil {
		return nil, err
	}
	if n := countPrivateKeys(blocks); n > 1 {
		return nil, fmt.Errorf("holds %d PEM private key blocks; a key file must hold exactly one key", n)
	}
	var others []string
	for _, block := range blocks {
		switch block.Type {
		case "EC PRIVATE KEY":
			return parseSEC1Block(block, password)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PRIVATE KEY block: %w", err)
			}
			return ecPrivateKey(k)
		case "ENCRYPTED PRIVATE KEY":
			if len(password) == 0 {
				return nil, errors.New("the key is encrypted; a password is needed")
			}
			k, err := pkcs8.ParsePKCS8PrivateKey(block.Bytes, password)
			if err != nil {
				return nil, errWrongPassword
			}
			return ecPrivateKey(k)
		case "RSA PRIVATE KEY":
			return nil, fmt.Errorf("%w (got an RSA key)", errCurve)
		case "OPENSSH PRIVATE KEY":
			return nil, errors.New("OpenSSH key format is not supported; convert it to PEM (ssh-keygen -p -m PEM) or PKCS#8")
		default:
			others = append(others, block.Type)
		}
	}
	if len(others) > 0 {
		return nil, fmt.Errorf("no PEM private key block found (found %v)", others)
	}
	return nil, errors.New("no PEM private key block found")
}

// privateKeyTypes are the PEM types of private keys, known or not.
var privateKeyTypes = []string{"EC PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "OPENSSH PRIVATE KEY"}

// countPrivateKeys counts the blocks holding a private key.
func countPrivateKeys(blocks []*pem.Block) int {
	n := 0
	for _, b := range blocks {
		if slices.Contains(privateKeyTypes, b.Type) {
			n++
		}
	}
	return n
}

// parseSEC1Block parses an "EC PRIVATE KEY" block, decrypting it first
// when it carries the legacy OpenSSL encryption headers.
func parseSEC1Block(block *pem.Block, password []byte) (*ecdsa.PrivateKey, error) {
	der := block.Bytes
	//lint:ignore SA1019 legacy encrypted PEM is what older OpenSSL wrote; supported for reading only
	if x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck
		if len(password) == 0 {
			return nil, errors.New("the key is encrypted; a password is needed")
		}
		var err error
		//lint:ignore SA1019 see above
		if der, err = x509.DecryptPEMBlock(block, password); err != nil { //nolint:staticcheck
			return nil, errWrongPassword
		}
		k, err := x509.ParseECPrivateKey(der)
		if err != nil {
			// Legacy PEM encryption has no integrity check: a wrong
			// password often "decrypts" to garbage.
			return nil, errWrongPassword
		}
		return ecPrivateKey(k)
	}
	k, err := x509.ParseECPrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("EC PRIVATE KEY block: %w", err)
	}
	return ecPrivateKey(k)
}

// ecPrivateKey admits only the keys the reference library can verify.
func ecPrivateKey(k any) (*ecdsa.PrivateKey, error) {
	priv, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w (got %s)", errCurve, keyTypeName(k))
	}
	if _, err := curveHash(&priv.PublicKey); err != nil {
		return nil, err
	}
	return priv, nil
}
