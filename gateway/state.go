package gateway

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	sdkmath "cosmossdk.io/math"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/internal/atomicfile"
	"github.com/openledger/openledger/provider/sessions"
)

// session is the gateway's persisted state of one session: everything needed
// to sign the next voucher. It is written (atomically) before each request is
// sent, so a restart never reuses a sequence nor signs less than it promised.
type session struct {
	ID           uint64 `json:"id,string"`
	Requester    string `json:"requester,omitempty"` // who opened it; only its gateway reuses it (Gateway.adopt)
	Provider     string `json:"provider"`
	PeerID       string `json:"peer_id"`
	APIURL       string `json:"api_url"`
	DeploymentID uint64 `json:"deployment_id,string"`
	Denom        string `json:"denom"`
	Compute      string `json:"compute"`
	Royalty      string `json:"royalty"`
	Deposit      string `json:"deposit"`
	PubKey       string `json:"pubkey"` // hex; the key is <home>/sessions/<pubkey>.json
	// The last voucher signed and what it promised.
	Sequence uint64 `json:"sequence,string"`
	Tokens   uint64 `json:"tokens,string"`
	Amount   string `json:"amount"`
	// What was served: tokens and the receipts' accumulator.
	Served uint64 `json:"served,string"`
	Acc    []byte `json:"acc"`
	Final  bool   `json:"final"`
	// Delivered: the provider has the final voucher (or the session is over
	// for it); a final voucher not delivered is sent again.
	Delivered bool `json:"final_delivered,omitempty"`

	key  ed25519.PrivateKey
	path string
}

func (s *session) price() sessions.Price {
	c, _ := sdkmath.NewIntFromString(s.Compute)
	r, _ := sdkmath.NewIntFromString(s.Royalty)
	return sessions.Price{Compute: c, Royalty: r}
}

func (s *session) deposit() sdkmath.Int {
	d, ok := sdkmath.NewIntFromString(s.Deposit)
	if !ok {
		return sdkmath.ZeroInt()
	}
	return d
}

func (s *session) acc() voucher.Accumulator {
	var a voucher.Accumulator
	if len(s.Acc) > 0 {
		_ = a.UnmarshalBinary(s.Acc) // validated at load
	}
	return a
}

func (s *session) save() error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path, b, 0o600)
}

// keyFile is the session key in the `session open` format:
// <home>/sessions/<pubkey hex>.json.
type keyFile struct {
	Seed         []byte `json:"seed"`
	LastSequence uint64 `json:"last_sequence"`
}

func keyPath(home string, pub ed25519.PublicKey) string {
	return filepath.Join(home, "sessions", hex.EncodeToString(pub)+".json")
}

func saveKey(home string, key ed25519.PrivateKey, last uint64) error {
	b, err := json.Marshal(keyFile{Seed: key.Seed(), LastSequence: last})
	if err != nil {
		return err
	}
	p := keyPath(home, key.Public().(ed25519.PublicKey))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(p, b, 0o600)
}

func loadKey(home, pubHex string) (ed25519.PrivateKey, error) {
	pub, err := hex.DecodeString(pubHex)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("session key %q: bad public key", pubHex)
	}
	b, err := os.ReadFile(keyPath(home, pub))
	if err != nil {
		return nil, err
	}
	var k keyFile
	if err := json.Unmarshal(b, &k); err != nil || len(k.Seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("session key %s is corrupt", pubHex)
	}
	return ed25519.NewKeyFromSeed(k.Seed), nil
}

func stateDir(home string) string { return filepath.Join(home, "gateway", "sessions") }

// loadSessions reads every persisted session.
func loadSessions(home string) ([]*session, error) {
	dir := stateDir(home)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*session
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		s := &session{path: p}
		if err := json.Unmarshal(b, s); err != nil {
			return nil, fmt.Errorf("gateway state %s: %w", p, err)
		}
		var a voucher.Accumulator
		if len(s.Acc) > 0 {
			if err := a.UnmarshalBinary(s.Acc); err != nil {
				return nil, fmt.Errorf("gateway state %s: %w", p, err)
			}
		}
		if s.key, err = loadKey(home, s.PubKey); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func sessionPath(home string, id uint64) string {
	return filepath.Join(stateDir(home), fmt.Sprintf("%d.json", id))
}
