package voucher

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ReceiptDomain is the domain-separation tag that starts every receipt's sign bytes.
const ReceiptDomain = "openledger/receipt/v2"

// Receipt bounds. They are part of the wire format: a decoder rejects anything longer.
const (
	MaxProviderLen      = 128
	MaxCIDLen           = 128
	MaxEngineLen        = 64
	MaxSummaryEntries   = 256 // len(Top) + len(Pools)
	PpmScale            = 1_000_000
	recordSha256HexSize = 2 * sha256.Size
)

// MaxReceiptSize is the largest Marshal output of a valid receipt.
const MaxReceiptSize = 2 + len(ReceiptDomain) + 2 + MaxChainIDLen + 2 + MaxProviderLen +
	8 + 8 + 8 + 32 + 2 + MaxCIDLen + 32 + 8 + 8 + 2 + MaxEngineLen + 2 + MaxEngineLen + 8 + 8 +
	2 + MaxCIDLen + 2 + recordSha256HexSize + 2 + 2 + MaxSummaryEntries*topEntrySize + 2 + SignatureSize

const (
	topEntrySize  = 8 + 8 + 8 + 4
	poolEntrySize = 8 + 8 + 4
)

// Summary is the bounded attribution summary a receipt carries; it mirrors
// x/rewards/types.AttributionSummary field for field (the chain converts).
type Summary struct {
	RecordSha256 string // lowercase hex sha256 of the full record, or "" with no entries
	Top          []TopEntry
	Pools        []PoolEntry
}

// TopEntry credits one contribution of a dataset version.
type TopEntry struct {
	DatanetID      uint64
	Version        uint64
	ContributionID uint64
	Ppm            uint32
}

// PoolEntry credits a dataset version's pool.
type PoolEntry struct {
	DatanetID uint64
	Version   uint64
	Ppm       uint32
}

// IsEmpty reports a summary with no hash and no entries: the output has no attribution.
func (s Summary) IsEmpty() bool {
	return s.RecordSha256 == "" && len(s.Top) == 0 && len(s.Pools) == 0
}

// Receipt is a provider's signed statement of what it computed for a job or for one
// request of a session. The provider signs with its libp2p ed25519 identity key, whose
// peer id it registered on chain.
type Receipt struct {
	ChainID    string
	Provider   string // provider operator account address (opaque here)
	JobID      uint64 // exactly one of JobID and SessionID is positive
	SessionID  uint64
	RequestSeq uint64 // >= 1 with a session, 0 with a job
	// RequestSHA256 is the sha256 of the exact request body a session request was
	// served from (the OpenAI-compatible JSON the requester sent); all zero for a job,
	// whose input is named on chain. The requester checks it against the body it sent,
	// so a settlement's published transcript of the request is bound to the receipt.
	RequestSHA256    [32]byte
	OutputCID        string
	OutputSHA256     [32]byte
	PromptTokens     uint64
	CompletionTokens uint64
	EngineName       string
	EngineVersion    string
	ModelID          uint64
	ModelVersion     uint64
	RecordCID        string // the full attribution record; "" only with an empty Summary
	Summary          Summary
	Signature        []byte // ed25519 over SignBytes, SignatureSize bytes
}

// Validate checks every field except the signature. Whether the summary's entries name
// versions of the deployed model, and are free of duplicates, is the chain's check.
func (r Receipt) Validate() error {
	switch {
	case !graphic(r.ChainID, 1, MaxChainIDLen):
		return invalid("chain id must be 1..%d printable ASCII characters without spaces, got %q", MaxChainIDLen, r.ChainID)
	case !graphic(r.Provider, 1, MaxProviderLen):
		return invalid("provider must be 1..%d printable ASCII characters without spaces", MaxProviderLen)
	case (r.JobID > 0) == (r.SessionID > 0):
		return invalid("exactly one of job id (%d) and session id (%d) must be positive", r.JobID, r.SessionID)
	case r.SessionID > 0 && r.RequestSeq == 0:
		return invalid("request seq must be positive in a session")
	case r.JobID > 0 && r.RequestSeq != 0:
		return invalid("request seq must be 0 for a job, got %d", r.RequestSeq)
	case r.JobID > 0 && r.RequestSHA256 != [32]byte{}:
		return invalid("request sha256 must be empty for a job (its input is on chain)")
	case r.SessionID > 0 && r.RequestSHA256 == [32]byte{}:
		return invalid("request sha256 is required in a session")
	case !graphic(r.OutputCID, 1, MaxCIDLen):
		return invalid("output cid must be 1..%d printable ASCII characters without spaces", MaxCIDLen)
	case !printable(r.EngineName, 1, MaxEngineLen):
		return invalid("engine name must be 1..%d printable ASCII characters", MaxEngineLen)
	case !printable(r.EngineVersion, 0, MaxEngineLen):
		return invalid("engine version must be at most %d printable ASCII characters", MaxEngineLen)
	case r.ModelID == 0 || r.ModelVersion == 0:
		return invalid("model id and version must be positive, got %d/%d", r.ModelID, r.ModelVersion)
	case !graphic(r.RecordCID, 0, MaxCIDLen):
		return invalid("record cid must be at most %d printable ASCII characters without spaces", MaxCIDLen)
	}
	return r.ValidateSummary()
}

// ValidateSummary checks the record CID and summary alone: empty together, or a complete
// summary (record digest, 1..MaxSummaryEntries entries, ppms summing to PpmScale) with a CID.
func (r Receipt) ValidateSummary() error {
	s := r.Summary
	if s.IsEmpty() {
		if r.RecordCID != "" {
			return invalid("record cid %q with an empty summary", r.RecordCID)
		}
		return nil
	}
	if r.RecordCID == "" {
		return invalid("record cid is required with a non-empty summary")
	}
	if !lowerHex(s.RecordSha256, recordSha256HexSize) {
		return invalid("record sha256 must be %d lowercase hex characters", recordSha256HexSize)
	}
	if n := len(s.Top) + len(s.Pools); n == 0 || n > MaxSummaryEntries {
		return invalid("summary has %d entries, want 1..%d", n, MaxSummaryEntries)
	}
	var sum uint64
	for i, t := range s.Top {
		if t.Ppm == 0 || t.Ppm > PpmScale {
			return invalid("top[%d]: ppm %d out of [1, %d]", i, t.Ppm, PpmScale)
		}
		sum += uint64(t.Ppm)
	}
	for i, p := range s.Pools {
		if p.Ppm == 0 || p.Ppm > PpmScale {
			return invalid("pools[%d]: ppm %d out of [1, %d]", i, p.Ppm, PpmScale)
		}
		sum += uint64(p.Ppm)
	}
	if sum != PpmScale {
		return invalid("summary weights sum to %d ppm, want %d", sum, PpmScale)
	}
	return nil
}

func lowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

func (r Receipt) appendSignBytes(e *encoder) {
	e.str(ReceiptDomain)
	e.str(r.ChainID)
	e.str(r.Provider)
	e.u64(r.JobID)
	e.u64(r.SessionID)
	e.u64(r.RequestSeq)
	e.fixed32(r.RequestSHA256)
	e.str(r.OutputCID)
	e.fixed32(r.OutputSHA256)
	e.u64(r.PromptTokens)
	e.u64(r.CompletionTokens)
	e.str(r.EngineName)
	e.str(r.EngineVersion)
	e.u64(r.ModelID)
	e.u64(r.ModelVersion)
	e.str(r.RecordCID)
	e.str(r.Summary.RecordSha256)
	e.u16(uint16(len(r.Summary.Top)))
	for _, t := range r.Summary.Top {
		e.u64(t.DatanetID)
		e.u64(t.Version)
		e.u64(t.ContributionID)
		e.u32(t.Ppm)
	}
	e.u16(uint16(len(r.Summary.Pools)))
	for _, p := range r.Summary.Pools {
		e.u64(p.DatanetID)
		e.u64(p.Version)
		e.u32(p.Ppm)
	}
}

func (r Receipt) size() int {
	return 512 + len(r.ChainID) + len(r.Provider) + len(r.OutputCID) + len(r.EngineName) +
		len(r.EngineVersion) + len(r.RecordCID) + len(r.Summary.RecordSha256) +
		len(r.Summary.Top)*topEntrySize + len(r.Summary.Pools)*poolEntrySize
}

// SignBytes returns the canonical bytes a provider signs (see the package documentation
// for the layout). They are a prefix of Marshal's output.
func (r Receipt) SignBytes() []byte {
	e := newEncoder(r.size())
	r.appendSignBytes(e)
	return e.out()
}

// Marshal returns the canonical wire form: SignBytes followed by the length-prefixed
// signature. The output of an invalid receipt is unspecified (UnmarshalReceipt rejects it).
func (r Receipt) Marshal() []byte {
	e := newEncoder(r.size())
	r.appendSignBytes(e)
	e.bytes(r.Signature)
	return e.out()
}

// LeafHash is the receipt's Merkle leaf: SHA-256(0x00 || Marshal()). It commits to the
// signature, so a receipts root commits to signed receipts.
func (r Receipt) LeafHash() [32]byte {
	e := newEncoder(1 + r.size())
	e.b = append(e.b, 0x00)
	r.appendSignBytes(e)
	e.bytes(r.Signature)
	return sha256.Sum256(e.out())
}

// UnmarshalReceipt decodes the canonical wire form strictly: every length and count
// within its bound, a SignatureSize-byte signature, valid fields and no trailing bytes.
// It does not verify the signature.
func UnmarshalReceipt(b []byte) (Receipt, error) {
	if len(b) > MaxReceiptSize {
		return Receipt{}, fmt.Errorf("%w: %d bytes exceeds %d", ErrMalformed, len(b), MaxReceiptSize)
	}
	d := &decoder{b: b}
	var r Receipt
	d.expect(ReceiptDomain, "domain")
	r.ChainID = d.str(MaxChainIDLen, "chain id")
	r.Provider = d.str(MaxProviderLen, "provider")
	r.JobID = d.u64("job id")
	r.SessionID = d.u64("session id")
	r.RequestSeq = d.u64("request seq")
	r.RequestSHA256 = d.fixed32("request sha256")
	r.OutputCID = d.str(MaxCIDLen, "output cid")
	r.OutputSHA256 = d.fixed32("output sha256")
	r.PromptTokens = d.u64("prompt tokens")
	r.CompletionTokens = d.u64("completion tokens")
	r.EngineName = d.str(MaxEngineLen, "engine name")
	r.EngineVersion = d.str(MaxEngineLen, "engine version")
	r.ModelID = d.u64("model id")
	r.ModelVersion = d.u64("model version")
	r.RecordCID = d.str(MaxCIDLen, "record cid")
	r.Summary.RecordSha256 = d.str(recordSha256HexSize, "record sha256")
	nTop := int(d.u16("top count"))
	if d.err == nil && nTop > MaxSummaryEntries {
		d.fail("top: %d entries exceeds %d", nTop, MaxSummaryEntries)
	}
	if d.err == nil && nTop > 0 {
		r.Summary.Top = make([]TopEntry, nTop)
		for i := range r.Summary.Top {
			t := &r.Summary.Top[i]
			t.DatanetID = d.u64("top datanet id")
			t.Version = d.u64("top version")
			t.ContributionID = d.u64("top contribution id")
			t.Ppm = d.u32("top ppm")
		}
	}
	nPools := int(d.u16("pool count"))
	if d.err == nil && nTop+nPools > MaxSummaryEntries {
		d.fail("summary: %d entries exceeds %d", nTop+nPools, MaxSummaryEntries)
	}
	if d.err == nil && nPools > 0 {
		r.Summary.Pools = make([]PoolEntry, nPools)
		for i := range r.Summary.Pools {
			p := &r.Summary.Pools[i]
			p.DatanetID = d.u64("pool datanet id")
			p.Version = d.u64("pool version")
			p.Ppm = d.u32("pool ppm")
		}
	}
	r.Signature = d.signature()
	if err := d.finish(); err != nil {
		return Receipt{}, err
	}
	if err := r.Validate(); err != nil {
		return Receipt{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return r, nil
}

// SignReceipt returns r with Signature set to the provider's libp2p ed25519 identity
// key's signature over SignBytes. It refuses other key types and an invalid receipt.
func SignReceipt(r Receipt, key libp2pcrypto.PrivKey) (Receipt, error) {
	if key == nil || key.Type() != pb.KeyType_Ed25519 {
		return Receipt{}, fmt.Errorf("%w: receipts are signed with an ed25519 libp2p key", ErrBadKey)
	}
	if err := r.Validate(); err != nil {
		return Receipt{}, err
	}
	sig, err := key.Sign(r.SignBytes())
	if err != nil {
		return Receipt{}, fmt.Errorf("%w: sign: %w", ErrBadKey, err)
	}
	r.Signature = sig
	return r, nil
}

// PeerPublicKey returns the ed25519 public key embedded in a libp2p peer id (ed25519 peer
// ids inline their key). Callers that verify many receipts of one provider decode once
// and use VerifyKey.
func PeerPublicKey(peerID string) (ed25519.PublicKey, error) {
	id, err := peer.Decode(peerID)
	if err != nil {
		return nil, fmt.Errorf("%w: peer id: %w", ErrBadKey, err)
	}
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: peer id %s: %w", ErrBadKey, id, err)
	}
	if pub.Type() != pb.KeyType_Ed25519 {
		return nil, fmt.Errorf("%w: peer id %s has a %s key, want Ed25519", ErrBadKey, id, pub.Type())
	}
	raw, err := pub.Raw()
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: peer id %s: unusable ed25519 key", ErrBadKey, id)
	}
	return ed25519.PublicKey(raw), nil
}

// VerifyPeer checks the fields and verifies the signature with the ed25519 key of the
// provider's libp2p peer id.
func (r Receipt) VerifyPeer(peerID string) error {
	pub, err := PeerPublicKey(peerID)
	if err != nil {
		return err
	}
	return r.VerifyKey(pub)
}

// VerifyKey checks the fields and verifies the signature with crypto/ed25519.
func (r Receipt) VerifyKey(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key is %d bytes, want %d", ErrBadKey, len(pub), ed25519.PublicKeySize)
	}
	if len(r.Signature) != SignatureSize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadSignature, len(r.Signature), SignatureSize)
	}
	if err := r.Validate(); err != nil {
		return err
	}
	if !ed25519.Verify(pub, r.SignBytes(), r.Signature) {
		return fmt.Errorf("%w: receipt does not verify", ErrBadSignature)
	}
	return nil
}
