package verifiertest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/openledger/openledger/inference/batchrecord"
	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/openai"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// Session fixture: session 1 of ProviderAddr on deployment 1 (model 1, the
// span version), on chain ChainID.
const (
	ChainID      = "openledger-verify-test"
	ProviderAddr = "open1provider"
	SessionID    = 1
	SettlementID = 21
	// SessionTopK is the provider's summary K (executor.Config.SummaryTopK default).
	SessionTopK = 16
)

// Served is a session's served requests as the provider keeps them:
// request 1 was settled before, requests 2.. are the ones a settlement
// covers. Receipts are signed by Key, whose peer id is PeerID.
type Served struct {
	Key    libp2pcrypto.PrivKey
	PeerID string
	// Prior is the receipt of request 1 (before the settlement).
	Prior voucher.Receipt
	// Requests and Receipts are requests 2.. (same order).
	Requests []batchrecord.Request
	Receipts []voucher.Receipt
}

// Bodies are the request bodies the fixture serves: chat and completions
// requests of deployment 1 with a seed and a temperature.
func (w *World) Bodies(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		if i%2 == 0 {
			out[i] = fmt.Appendf(nil, `{"model":"1","messages":[{"role":"user","content":%q}],"max_tokens":24,"temperature":1,"seed":%d}`,
				string(w.Prompt[:min(len(w.Prompt), 40)]), 100+i)
		} else {
			out[i] = fmt.Appendf(nil, `{"model":"1","prompt":%q,"max_tokens":30,"temperature":0.8,"seed":%d}`, string(w.Prompt), 100+i)
		}
	}
	return out
}

// Serve runs n+1 requests on a provider's pool (request 1 and the n a
// settlement covers) exactly as the provider's API does (the generation
// provider/openai replays, then Pool.Generate) and signs their receipts.
func (w *World) Serve(t testing.TB, n int) *Served {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	key, err := libp2pcrypto.UnmarshalEd25519PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	s := &Served{Key: key, PeerID: id.String()}
	pool := w.NewPool(t)
	for i, body := range w.Bodies(n + 1) {
		endpoint := batchrecord.EndpointChat
		if i%2 == 1 {
			endpoint = batchrecord.EndpointCompletions
		}
		maxTokens := uint64(24)
		if endpoint == batchrecord.EndpointCompletions {
			maxTokens = 30
		}
		g, err := openai.ReplayGeneration(endpoint, body, maxTokens)
		if err != nil {
			t.Fatal(err)
		}
		res, err := pool.Generate(context.Background(), g)
		if err != nil {
			t.Fatal(err)
		}
		rc := s.Sign(t, voucher.Receipt{ChainID: ChainID, Provider: ProviderAddr, SessionID: SessionID, RequestSeq: uint64(i + 1),
			RequestSHA256: sha256.Sum256(body), OutputCID: res.OutputCID, OutputSHA256: res.OutputSHA256,
			PromptTokens: res.PromptTokens, CompletionTokens: res.CompletionTokens, EngineName: res.EngineName,
			EngineVersion: res.EngineVersion, ModelID: res.ModelID, ModelVersion: res.ModelVersion,
			RecordCID: res.RecordCID, Summary: inferencetypes.VoucherSummary(res.Summary)})
		if i == 0 {
			s.Prior = rc
			continue
		}
		s.Receipts = append(s.Receipts, rc)
		s.Requests = append(s.Requests, batchrecord.Request{Endpoint: endpoint, MaxTokens: maxTokens, Body: body, Output: res.Output})
	}
	return s
}

// Sign signs a receipt with the provider's key.
func (s *Served) Sign(t testing.TB, rc voucher.Receipt) voucher.Receipt {
	t.Helper()
	rc, err := voucher.SignReceipt(rc, s.Key)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// Record is the batch record of the served requests (receipts as they are
// now in s).
func (s *Served) Record(t testing.TB) batchrecord.Record {
	t.Helper()
	var prior voucher.Accumulator
	prior.Append(s.Prior.LeafHash())
	pb, err := prior.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	rec := batchrecord.Record{Format: batchrecord.Format, SessionID: SessionID, Sequence: 3,
		ReceiptCount: uint64(len(s.Receipts)) + 1, TopK: SessionTopK, FromRequest: 2, Prior: pb}
	for i, q := range s.Requests {
		q.Receipt = s.Receipts[i].Marshal()
		rec.Requests = append(rec.Requests, q)
	}
	return rec
}

// Settle publishes a record's bytes on the world's IPFS node and returns the
// settlement the provider posts with them: its tokens the receipts', its
// root the record's, its summary their merge with the record's sha256.
func (w *World) Settle(t testing.TB, rec batchrecord.Record, raw []byte) inferencetypes.SessionSettlement {
	t.Helper()
	receipts, err := rec.Receipts()
	if err != nil {
		t.Fatal(err)
	}
	prior, err := rec.PriorAccumulator()
	if err != nil {
		t.Fatal(err)
	}
	cid, sha, err := w.AddBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	root := batchrecord.Root(prior, receipts)
	sum := batchrecord.MergeSummaries(rec.Attributions(receipts), rec.TopK)
	sum.RecordSha256 = sha
	var tokens uint64
	for _, rc := range receipts {
		tokens += rc.PromptTokens + rc.CompletionTokens
	}
	return inferencetypes.SessionSettlement{Id: SettlementID, SessionId: SessionID, Sequence: rec.Sequence, Tokens: tokens,
		ReceiptsRoot: root[:], RecordCid: cid, Summary: sum, Requests: uint64(len(receipts)), FirstRequest: rec.FromRequest,
		ChallengeEndHeight: 150, Status: inferencetypes.SETTLEMENT_STATUS_PENDING}
}

// Encode is batchrecord.Encode or a test failure.
func Encode(t testing.TB, rec batchrecord.Record) []byte {
	t.Helper()
	b, err := batchrecord.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SessionChain is the chain of a settlement of the fixture's session: the
// session, the provider registered with the served peer id.
func (s *Served) SessionChain(st inferencetypes.SessionSettlement) *Chain {
	return &Chain{
		Network:     ChainID,
		Sessions:    map[uint64]inferencetypes.Session{SessionID: {Id: SessionID, Provider: ProviderAddr, Requester: "open1requester", DeploymentId: 1}},
		Settlements: map[uint64]inferencetypes.SessionSettlement{st.Id: st},
	}
}

// SelfCredit makes request 2+i's receipt credit contribution 13 (the
// provider's own) with everything, a record of its own on IPFS, re-signed.
func (w *World) SelfCredit(t testing.TB, s *Served, i int) {
	t.Helper()
	fake := []byte("contribution 13 did everything")
	cid, sha, err := w.AddBytes(fake)
	if err != nil {
		t.Fatal(err)
	}
	rc := s.Receipts[i]
	rc.RecordCID = cid
	rc.Summary = voucher.Summary{RecordSha256: sha, Top: []voucher.TopEntry{{DatanetID: 1, Version: 1, ContributionID: 13, Ppm: 1_000_000}}}
	s.Receipts[i] = s.Sign(t, rc)
}

// Clone copies s (its receipts and requests) for forging.
func (s *Served) Clone() *Served {
	c := *s
	c.Receipts = append([]voucher.Receipt(nil), s.Receipts...)
	c.Requests = append([]batchrecord.Request(nil), s.Requests...)
	return &c
}

// RecordSHA is the hex sha256 of b.
func RecordSHA(b []byte) string {
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}
