package p2p

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/openledger/openledger/internal/atomicfile"
)

// LoadOrCreateIdentity returns the private key stored at path, creating a new
// Ed25519 key there (mode 0600, written atomically) when the file does not
// exist. A file that exists but cannot be decoded is an error: silently
// replacing it would change the node's peer ID.
func LoadOrCreateIdentity(path string) (crypto.PrivKey, error) {
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, err := crypto.UnmarshalPrivateKey(raw)
		if err != nil {
			return nil, fmt.Errorf("identity key %s is corrupt: %w", path, err)
		}
		return key, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading identity key: %w", err)
	}
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating identity key: %w", err)
	}
	raw, err = crypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding identity key: %w", err)
	}
	if err := atomicfile.Write(path, raw, 0o600); err != nil {
		return nil, fmt.Errorf("writing identity key: %w", err)
	}
	return key, nil
}

// PeerIDFromKey returns the peer ID of a private key.
func PeerIDFromKey(key crypto.PrivKey) (peer.ID, error) {
	return peer.IDFromPrivateKey(key)
}
