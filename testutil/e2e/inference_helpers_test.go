package e2e_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openledger/openledger/attribution/record"
	"github.com/openledger/openledger/testutil/e2e"
)

// Helpers of the inference market story: a JSON integer that may come quoted, the
// market's own tx runner (the `session` group is not under `tx`), balance and reward
// snapshots, attribution records, and the expected split computed from first
// principles (ADR-003), never read back from the chain.

// num is a JSON integer, quoted (protojson's 64-bit form) or not.
type num int64

func (n *num) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("num %s: %w", b, err)
	}
	*n = num(v)
	return nil
}

// txFee is what every tx of the story pays (e2e.DefaultFees), in uopen.
const txFee = 2000

// market drives one chain for the story.
type market struct {
	t *testing.T
	c *e2e.Chain
}

func (m market) node() string { return "tcp://127.0.0.1:" + strconv.Itoa(m.c.RPCPort) }

// txFlags are the flags Chain.Tx adds, for commands outside the `tx` group.
func (m market) txFlags(from string) []string {
	return []string{"--from", from, "--keyring-backend", "test", "--chain-id", e2e.ChainID,
		"--node", m.node(), "--fees", e2e.DefaultFees, "--gas", "400000", "--yes", "--output", "json"}
}

// run runs a command that broadcasts a tx (e.g. `session open`) from a key and waits
// for it to be in a block, like Chain.Tx without the "tx" prefix.
func (m market) run(from string, args ...string) (e2e.TxResult, error) {
	stdout, err := m.c.Run(append(args, m.txFlags(from)...)...)
	if err != nil {
		return e2e.TxResult{}, err
	}
	var res e2e.TxResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		return res, fmt.Errorf("%v: decode %q: %w", args, stdout, err)
	}
	if res.Code != 0 {
		return res, fmt.Errorf("%v rejected in CheckTx (code %d): %s", args, res.Code, res.RawLog)
	}
	return m.c.WaitTx(res.TxHash)
}

func (m market) mustRun(from string, args ...string) e2e.TxResult {
	m.t.Helper()
	res, err := m.run(from, args...)
	if err != nil {
		m.t.Fatal(err)
	}
	return res
}

// refused checks that err is a refusal naming want, and logs it.
func (m market) refused(what string, err error, want string) {
	m.t.Helper()
	if err == nil {
		m.t.Fatalf("%s: accepted, want a refusal naming %q", what, want)
	}
	if !strings.Contains(err.Error(), want) {
		m.t.Fatalf("%s: refusal does not name %q:\n%v", what, want, err)
	}
	m.t.Logf("%s: refused as expected: …%s…", what, excerpt(err.Error(), want))
}

// excerpt is the part of s around want, for the log.
func excerpt(s, want string) string {
	i := strings.Index(s, want)
	lo, hi := max(0, i-80), min(len(s), i+len(want)+40)
	return strings.ReplaceAll(s[lo:hi], "\n", " ")
}

func jsonDecode(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// inBlock reports whether a tx error is a DeliverTx failure (fee charged).
func inBlock(err error) bool { return err != nil && strings.Contains(err.Error(), "failed (code") }

func (m market) balance(addr string) int64 {
	m.t.Helper()
	return balance(m.t, m.c, addr)
}

// communityPool is the community pool's uopen, exactly (a decimal).
func (m market) communityPool() *big.Rat {
	m.t.Helper()
	// autocli prints each DecCoin as a string ("41.000000000000000000uopen"); accept
	// the object form too.
	var res struct {
		Pool []json.RawMessage `json:"pool"`
	}
	m.c.MustQuery(&res, "distribution", "community-pool")
	r := new(big.Rat)
	for _, raw := range res.Pool {
		var amount, denom string
		var s string
		var obj coin
		switch {
		case json.Unmarshal(raw, &s) == nil:
			amount, denom = strings.TrimRight(s, "abcdefghijklmnopqrstuvwxyz/"), strings.TrimLeft(s, "0123456789.")
		case json.Unmarshal(raw, &obj) == nil:
			amount, denom = obj.Amount, obj.Denom
		default:
			m.t.Fatalf("community pool entry %s", raw)
		}
		if denom == e2e.Denom {
			if _, ok := r.SetString(amount); !ok {
				m.t.Fatalf("community pool amount %q", amount)
			}
		}
	}
	return r
}

// pending is `query attribution rewards ADDR --output json` (x/rewards PendingRewards).
type pending struct {
	Developer []struct {
		SourceID num `json:"source_id"`
		Amount   num `json:"amount"`
	} `json:"developer"`
	Direct []struct {
		SourceID num `json:"source_id"`
		Amount   num `json:"amount"`
	} `json:"direct"`
	Pools []struct {
		ContributionID num `json:"contribution_id"`
		Shares         num `json:"shares"`
		Amount         num `json:"amount"`
	} `json:"pools"`
	Total num `json:"total"`
}

func (m market) pending(addr string) pending {
	m.t.Helper()
	var p pending
	m.c.MustQuery(&p, "attribution", "rewards", addr)
	return p
}

// direct and pooled are a pending answer's credit for a contribution.
func (p pending) direct(id uint64) int64 {
	for _, d := range p.Direct {
		if uint64(d.SourceID) == id {
			return int64(d.Amount)
		}
	}
	return 0
}

func (p pending) pooled(id uint64) int64 {
	for _, d := range p.Pools {
		if uint64(d.ContributionID) == id {
			return int64(d.Amount)
		}
	}
	return 0
}

// waitFor polls cond every 200 ms until it holds (timeout: the test fails).
func (m market) waitFor(what string, timeout time.Duration, cond func() bool) {
	m.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			m.t.Fatalf("%s: not reached in %s\nnode log:\n%s", what, timeout, m.c.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// writeRecord writes the canonical attribution record of an output crediting
// contributions of one dataset version (credit per contribution id) and its pool.
func writeRecord(t *testing.T, dir, name string, modelID uint64, datanetID, version uint64, output string, outputTokens uint32,
	credits map[uint64]uint64, poolCredit uint64,
) string {
	t.Helper()
	sum := sha256.Sum256([]byte(output))
	rec := &record.Record{
		FormatVersion:  record.FormatVersion,
		Method:         record.METHOD_SPAN,
		Model:          record.ModelRef{ModelId: modelID, Version: 1},
		OutputSha256:   hex.EncodeToString(sum[:]),
		OutputTokens:   outputTokens,
		DatasetVersion: record.DatasetVersionRef{DatanetId: datanetID, Version: version},
		SpanParams:     &record.SpanParams{MinSpanTokens: 8, MaxOccurrences: 64},
	}
	cs := []record.Credit{{Party: record.Party{DatanetID: datanetID, Version: version, Pool: true}, Credit: poolCredit}}
	for id, c := range credits {
		cs = append(cs, record.Credit{Party: record.Party{DatanetID: datanetID, Version: version, ContributionID: id}, Credit: c})
	}
	shares, err := record.Apportion(cs)
	if err != nil {
		t.Fatal(err)
	}
	record.SetShares(rec, shares)
	bz, err := record.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, bz, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ppmOf returns a record file's weights (contribution id → ppm) and its pool's ppm,
// as the summary with every contribution in the top keeps them.
func ppmOf(t *testing.T, path string) (map[uint64]uint64, uint64) {
	t.Helper()
	bz, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := record.Decode(bz)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64]uint64{}
	for _, w := range rec.Weights {
		out[w.ContributionId] = uint64(w.Ppm)
	}
	var pool uint64
	for _, p := range rec.Pools {
		pool += uint64(p.Ppm)
	}
	return out, pool
}

// split is the expected division of one payment (ADR-003) for a deployment whose
// data share goes to one dataset version (table bps 10000), with every contribution
// of the summary in its top entries.
type split struct {
	fee, feeCompute, providerNet, developer, data, pool int64
	direct                                              map[uint64]int64
}

// expectSplit computes, from the written rule and not from the chain: fee =
// ⌊(compute + royalty) × fee_bps / 10⁴⌋; the provider gets compute − ⌊compute ×
// fee_bps / 10⁴⌋; the royalty net of its part of the fee splits ⌊net × developer_bps
// / 10⁴⌋ to the developer, the rest to the data; a contribution of weight w gets
// ⌊data × w / 10⁶⌋ and the version's pool the rest.
func expectSplit(compute, royalty int64, feeBps, developerBps int64, weights map[uint64]uint64) split {
	s := split{direct: map[uint64]int64{}}
	s.fee = (compute + royalty) * feeBps / 10_000
	s.feeCompute = compute * feeBps / 10_000
	s.providerNet = compute - s.feeCompute
	royaltyNet := royalty - (s.fee - s.feeCompute)
	s.developer = royaltyNet * developerBps / 10_000
	s.data = royaltyNet - s.developer
	s.pool = s.data
	for id, w := range weights {
		s.direct[id] = s.data * int64(w) / 1_000_000
		s.pool -= s.direct[id]
	}
	return s
}

// poolModel is a version pool's reward-per-share accumulator (scale 10¹⁸, with the
// carry of the division) and the cursors of the contributions that collected.
type poolModel struct {
	totalShares *big.Int
	rps, carry  *big.Int
	cursor      map[uint64]*big.Int
}

var rpsScale = new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)

func newPoolModel(totalShares int64) *poolModel {
	return &poolModel{totalShares: big.NewInt(totalShares), rps: new(big.Int), carry: new(big.Int), cursor: map[uint64]*big.Int{}}
}

func (p *poolModel) deposit(amt int64) {
	scaled := new(big.Int).Mul(big.NewInt(amt), rpsScale)
	scaled.Add(scaled, p.carry)
	q, r := new(big.Int).QuoRem(scaled, p.totalShares, new(big.Int))
	p.rps.Add(p.rps, q)
	p.carry = r
}

// owed is ⌊(rps − cursor) × shares / 10¹⁸⌋.
func (p *poolModel) owed(id uint64, shares int64) int64 {
	last := p.cursor[id]
	if last == nil {
		last = new(big.Int)
	}
	d := new(big.Int).Sub(p.rps, last)
	d.Mul(d, big.NewInt(shares))
	return d.Quo(d, rpsScale).Int64()
}

func (p *poolModel) collect(id uint64) { p.cursor[id] = new(big.Int).Set(p.rps) }
