package devidp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// keys are what the provider derives from its secret: replicas given the
// same secret sign with the same key and open each other's sealed ids.
type keys struct {
	seal    []byte   // AES-256: auth requests and access tokens
	crypto  [32]byte // op's own key, which wraps codes and access tokens again
	signing *signingKey
}

func deriveKeys(secret []byte) (keys, error) {
	if len(secret) < 32 {
		return keys{}, errors.New("devidp: the secret must be at least 32 bytes")
	}
	var k keys
	var err error
	if k.seal, err = hkdf.Key(sha256.New, secret, nil, "gatehouse devidp seal", 32); err != nil {
		return keys{}, err
	}
	c, err := hkdf.Key(sha256.New, secret, nil, "gatehouse devidp op crypto", 32)
	if err != nil {
		return keys{}, err
	}
	copy(k.crypto[:], c)
	// A P-256 scalar must be below the group order; a derived one is not
	// only about once in 2^32, when the next counter is taken.
	for i := 0; i < 16 && k.signing == nil; i++ {
		raw, err := hkdf.Key(sha256.New, secret, nil, fmt.Sprintf("gatehouse devidp signing key %d", i), 32)
		if err != nil {
			return keys{}, err
		}
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
		if err != nil {
			continue
		}
		pub, err := priv.PublicKey.Bytes()
		if err != nil {
			return keys{}, err
		}
		sum := sha256.Sum256(pub)
		k.signing = &signingKey{id: hex.EncodeToString(sum[:8]), priv: priv}
	}
	if k.signing == nil {
		return keys{}, errors.New("devidp: no signing key could be derived from the secret")
	}
	return k, nil
}
