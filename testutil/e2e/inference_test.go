package e2e_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/p2p"
	"github.com/openledger/openledger/testutil/e2e"
)

// The story's prices and quantities (uopen; prices per 1,000 tokens).
const (
	royaltyPrice  = 100 // the deployment's royalty
	developerBps  = 3000
	erinBid       = 300 // the dearer provider
	frankBid      = 200 // the cheaper provider: the winner
	maxPrice      = 500
	maxTokens     = 20_000
	promptTokens  = 1_234
	outputTokens  = 5_678
	feeBps        = 200 // x/rewards protocol_fee_bps (default)
	providerStake = 1_000_000

	sessionDeposit  = 100_000
	sessionRequests = 1_000
	sessionTokens   = 123_457
	sessionAmount   = 37_037 // cumulative amount of the one voucher
)

type jobJSON struct {
	Job struct {
		ID             num    `json:"id"`
		Status         string `json:"status"`
		Winner         string `json:"winner"`
		WinningPrice   coin   `json:"winning_price"`
		Escrow         coin   `json:"escrow"`
		Paid           coin   `json:"paid"`
		Refunded       coin   `json:"refunded"`
		BidCloseHeight num    `json:"bid_close_height"`
		DeadlineHeight num    `json:"deadline_height"`
		ModelID        num    `json:"model_id"`
		ModelVersion   num    `json:"model_version"`
	} `json:"job"`
}

type sessionJSON struct {
	Session struct {
		ID              num    `json:"id"`
		Requester       string `json:"requester"`
		Provider        string `json:"provider"`
		Deposit         coin   `json:"deposit"`
		SettledAmount   num    `json:"settled_amount"`
		SettledTokens   num    `json:"settled_tokens"`
		SettledRequests num    `json:"settled_requests"`
		Paid            num    `json:"paid"`
		Refunded        num    `json:"refunded"`
		LastSequence    num    `json:"last_sequence"`
		ExpiryHeight    num    `json:"expiry_height"`
		Status          string `json:"status"`
		Settlements     num    `json:"settlements"`
	} `json:"session"`
}

type settlementsJSON struct {
	Settlements []struct {
		ID           num    `json:"id"`
		Sequence     num    `json:"sequence"`
		Amount       coin   `json:"amount"`
		Royalty      coin   `json:"royalty"`
		Tokens       num    `json:"tokens"`
		Requests     num    `json:"requests"`
		FirstRequest num    `json:"first_request"`
		Status       string `json:"status"`
	} `json:"settlements"`
}

// TestInferenceMarketStory is issue 9's "Done when", against the real binary: a
// datanet, a dataset version, a model and a deployment with a royalty; two providers
// register and offer; a requester posts a job, both providers bid, the cheaper one
// wins and posts a signed receipt (the other cannot), the job finalises and every
// party is paid exactly (requester, both providers, the community pool, the developer
// and the contributors, who claim); then a session with the winner settles 1,000
// requests with one voucher in one tx, a replay is refused, the requester cannot
// close early, the provider closes and the requester gets the rest of the deposit.
//
// The genesis sets x/distribution's community_tax to 0 so that the community pool
// moves only by protocol fees (tx fees then all go to the validator), which makes
// "the pool grew by the fee" exact; and a 4-block challenge window.
func TestInferenceMarketStory(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a chain")
	}
	start := time.Now()
	c := e2e.StartChainWithGenesis(t, func(app map[string]any) {
		setGenesis(t, app, "0.000000000000000000", "distribution", "params", "community_tax")
		setGenesis(t, app, "4", "inference", "params", "challenge_window_blocks")
	})
	m := market{t: t, c: c}
	dir := t.TempDir()
	if _, err := c.Run("ipfs", "init"); err != nil {
		t.Fatal(err)
	}

	// Cast: alice curates (and validates), bob and carol contribute, dave builds and
	// deploys the model, erin and frank provide, gina requests.
	for _, k := range []string{"dave", "erin", "frank", "gina"} {
		if _, err := c.Run("keys", "add", k, "--keyring-backend", "test", "--output", "json"); err != nil {
			t.Fatal(err)
		}
	}
	alice, bob, carol := c.Address("alice"), c.Address("bob"), c.Address("carol")
	dave, erin, frank, gina := c.Address("dave"), c.Address("erin"), c.Address("frank"), c.Address("gina")
	c.MustTx("alice", "bank", "multi-send", "alice", dave, erin, frank, gina, "50000000uopen")

	var params struct {
		Params struct {
			ProtocolFeeBps num `json:"protocol_fee_bps"`
			MaxTopK        num `json:"max_top_k"`
		} `json:"params"`
	}
	c.MustQuery(&params, "rewards", "params")
	if params.Params.ProtocolFeeBps != feeBps || params.Params.MaxTopK < 3 {
		t.Fatalf("x/rewards params: %+v", params.Params)
	}

	// A datanet with three accepted contributions, frozen as dataset version 1.
	res := c.MustTx("alice", "datanet", "create", "Proverbs", "CC-BY-4.0",
		"--curators", alice, "--quorum", "1", "--review-window", "500", "--deposit", "1000uopen", "--min-contributions", "1")
	dn := res.Attr("openledger.datanet.v1.EventDatanetCreated", "datanet_id")
	bodies := []struct{ from, text string }{
		{"bob", "A stitch in time saves nine.\nLook before you leap.\n"},
		{"bob", "Many hands make light work.\n"},
		{"carol", "Still waters run deep.\nThe early bird catches the worm.\nPatience is a virtue.\n"},
	}
	var contribs []uint64
	for _, b := range bodies {
		body, digest, cid := content(t, b.text)
		res := c.MustTx(b.from, "datanet", "submit", dn, cid, digest, strconv.Itoa(len(body)),
			strconv.Itoa(strings.Count(body, "\n")), "text/plain")
		id, err := strconv.ParseUint(res.Attr("openledger.datanet.v1.EventContributionSubmitted", "contribution_id"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		contribs = append(contribs, id)
	}
	for _, id := range contribs {
		c.MustTx("alice", "datanet", "review", strconv.FormatUint(id, 10), "approve")
	}
	c.MustTx("alice", "datanet", "create-version", dn)
	c1, c2, c3 := contribs[0], contribs[1], contribs[2]
	shares := map[uint64]int64{}
	for i, id := range contribs {
		var ct struct {
			Contribution struct {
				Shares num `json:"shares"`
			} `json:"contribution"`
		}
		c.MustQuery(&ct, "datanet", "contribution", strconv.FormatUint(id, 10))
		if int(ct.Contribution.Shares) != len(bodies[i].text) {
			t.Fatalf("contribution %d: %d shares, want its %d bytes", id, ct.Contribution.Shares, len(bodies[i].text))
		}
		shares[id] = int64(ct.Contribution.Shares)
	}
	var ver struct {
		Version struct {
			TotalShares num `json:"total_shares"`
		} `json:"version"`
	}
	c.MustQuery(&ver, "datanet", "version", dn, "1")
	if int64(ver.Version.TotalShares) != shares[c1]+shares[c2]+shares[c3] {
		t.Fatalf("version 1 total shares %d, want %d", ver.Version.TotalShares, shares[c1]+shares[c2]+shares[c3])
	}
	pool := newPoolModel(int64(ver.Version.TotalShares))

	// dave's model, version 1 trained on it, deployed at a royalty of 100uopen per
	// 1,000 tokens, 30 % to the developer and 70 % to the data.
	res = c.MustTx("dave", "models", "create", "Proverb teller", "text-generation", "MIT")
	model := res.Attr("openledger.models.v1.EventModelCreated", "model_id")
	_, artSHA, artCID := content(t, "checkpoint bytes of the proverb teller")
	_, manSHA, manCID := content(t, `{"manifest":"proverb teller"}`)
	c.MustTx("dave", "models", "publish", model, "pretrain", artCID, artSHA, "38", manCID, manSHA, "openledger-ml", "v1",
		"--dataset-versions", `{"datanet_id":"`+dn+`","version":"1"}`)
	res = c.MustTx("dave", "models", "deploy", model, "1", fmt.Sprintf("%duopen", royaltyPrice),
		strconv.Itoa(developerBps), strconv.Itoa(10_000-developerBps))
	dep := res.Attr("openledger.models.v1.EventDeploymentCreated", "deployment_id")
	modelID, _ := strconv.ParseUint(model, 10, 64)
	dnID, _ := strconv.ParseUint(dn, 10, 64)

	// Two providers register (each with its own libp2p identity) and offer.
	keyOf := map[string]string{"erin": filepath.Join(dir, "erin", "identity.key"), "frank": filepath.Join(dir, "frank", "identity.key")}
	for i, p := range []struct {
		name  string
		price int
	}{{"erin", erinBid}, {"frank", frankBid}} {
		c.MustTx(p.name, "inference", "register-provider", "--stake", fmt.Sprintf("%duopen", providerStake),
			"--multiaddr", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 4001+i), "--engine", "openledger-ml",
			"--accelerator", "cpu", "--count", "2", "--provider-name", p.name, "--identity", keyOf[p.name])
		c.MustTx(p.name, "inference", "set-offer", dep, fmt.Sprintf("%duopen", p.price), "--max-concurrency", "4")
	}
	var providers struct {
		Providers []struct {
			Operator string `json:"operator"`
			PeerID   string `json:"peer_id"`
			Status   string `json:"status"`
			Stake    coin   `json:"stake"`
		} `json:"providers"`
	}
	c.MustQuery(&providers, "inference", "providers")
	if len(providers.Providers) != 2 {
		t.Fatalf("providers: %+v", providers.Providers)
	}
	for _, p := range providers.Providers {
		if p.Status != "PROVIDER_STATUS_ACTIVE" || p.Stake.Amount != strconv.Itoa(providerStake) || !strings.HasPrefix(p.PeerID, "12D3Koo") {
			t.Fatalf("provider: %+v", p)
		}
	}
	var offers struct {
		Offers []struct {
			Operator                      string `json:"operator"`
			ComputePricePerThousandTokens coin   `json:"compute_price_per_thousand_tokens"`
		} `json:"offers"`
	}
	c.MustQuery(&offers, "inference", "offers", dep)
	if len(offers.Offers) != 2 || offers.Offers[0].Operator != frank || offers.Offers[1].Operator != erin {
		t.Fatalf("offers, cheapest first: %+v", offers.Offers)
	}

	// gina posts a job; the prompt goes to the node's IPFS repo, the escrow is taken.
	ginaBefore, erinBefore, frankBefore := m.balance(gina), m.balance(erin), m.balance(frank)
	poolBefore := m.communityPool()
	res = c.MustTx("gina", "inference", "create-job", dep, "--input-text", "Tell me a proverb about patience.",
		"--max-tokens", strconv.Itoa(maxTokens), "--max-price", fmt.Sprintf("%duopen", maxPrice),
		"--bid-window", "40", "--execution-blocks", "200", "--seed", "7")
	job := res.Attr("openledger.inference.v1.EventJobCreated", "job_id")
	wantEscrow := (maxTokens*(maxPrice+royaltyPrice) + 999) / 1000
	var j jobJSON
	c.MustQuery(&j, "inference", "job", job)
	if j.Job.Status != "JOB_STATUS_OPEN" || j.Job.Escrow.Amount != strconv.Itoa(wantEscrow) ||
		uint64(j.Job.ModelID) != modelID || j.Job.ModelVersion != 1 {
		t.Fatalf("new job: %+v, want escrow %d", j.Job, wantEscrow)
	}
	if got := m.balance(gina); got != ginaBefore-txFee-int64(wantEscrow) {
		t.Fatalf("gina after create-job: %d, want %d", got, ginaBefore-txFee-int64(wantEscrow))
	}

	// Both bid; the cheaper wins when the window closes.
	c.MustTx("erin", "inference", "bid", job, fmt.Sprintf("%duopen", erinBid))
	c.MustTx("frank", "inference", "bid", job, fmt.Sprintf("%duopen", frankBid))
	var bids struct {
		Bids []struct {
			Provider string `json:"provider"`
			Price    coin   `json:"price"`
		} `json:"bids"`
	}
	c.MustQuery(&bids, "inference", "bids", job)
	if len(bids.Bids) != 2 || bids.Bids[0].Provider != frank || bids.Bids[1].Provider != erin {
		t.Fatalf("bids, best first: %+v", bids.Bids)
	}
	m.waitFor("job awarded", 60*time.Second, func() bool {
		c.MustQuery(&j, "inference", "job", job)
		return j.Job.Status != "JOB_STATUS_OPEN"
	})
	if j.Job.Status != "JOB_STATUS_AWARDED" || j.Job.Winner != frank || j.Job.WinningPrice.Amount != strconv.Itoa(frankBid) {
		t.Fatalf("after the bid window: %+v", j.Job)
	}
	t.Logf("job %s awarded to frank at %suopen (bid window closed at %d, deadline %d)",
		job, j.Job.WinningPrice.Amount, j.Job.BidCloseHeight, j.Job.DeadlineHeight)

	// The receipt's attribution record credits the three contributions and the pool.
	output := "Patience is a virtue; still waters run deep."
	jobRecord := writeRecord(t, dir, "job-record.pb", modelID, dnID, 1, output, outputTokens,
		map[uint64]uint64{c1: 37, c2: 11, c3: 29}, 7)
	receiptArgs := func(identity string) []string {
		return []string{"inference", "submit-receipt", job, "--output-text", output, "--record", jobRecord,
			"--prompt-tokens", strconv.Itoa(promptTokens), "--completion-tokens", strconv.Itoa(outputTokens),
			"--engine", "openledger-ml", "--engine-version", "v1", "--identity", identity}
	}

	// The loser cannot post a receipt: the porcelain refuses before signing, and the
	// chain refuses the same msg when it is built for the winner and signed by erin.
	_, err := c.Tx("erin", receiptArgs(keyOf["erin"])...)
	m.refused("erin's receipt (porcelain)", err, "only its winner can post a receipt")
	if inBlock(err) {
		t.Fatal("the porcelain's refusal reached a block")
	}
	forged := filepath.Join(dir, "forged.json")
	unsigned, err := c.Run(append(append([]string{"tx"}, receiptArgs(keyOf["frank"])...),
		"--from", "frank", "--keyring-backend", "test", "--chain-id", e2e.ChainID, "--node", m.node(),
		"--fees", e2e.DefaultFees, "--gas", "400000", "--generate-only")...)
	if err != nil || !strings.Contains(unsigned, frank) {
		t.Fatalf("generate-only receipt: %v\n%s", err, unsigned)
	}
	if err := os.WriteFile(forged, []byte(strings.ReplaceAll(unsigned, frank, erin)), 0o600); err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(dir, "forged-signed.json")
	if out, err := c.Run("tx", "sign", forged, "--from", "erin", "--keyring-backend", "test", "--chain-id", e2e.ChainID,
		"--node", m.node(), "--output-document", signed); err != nil {
		t.Fatalf("sign: %v %s", err, out)
	}
	out, err := c.Run("tx", "broadcast", signed, "--node", m.node(), "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var bres e2e.TxResult
	if err := jsonDecode(out, &bres); err != nil {
		t.Fatal(err)
	}
	if bres.Code != 0 {
		t.Fatalf("forged receipt refused in CheckTx (code %d): %s", bres.Code, bres.RawLog)
	}
	_, err = c.WaitTx(bres.TxHash)
	m.refused("erin's receipt (chain)", err, "not the job's winner")
	if !inBlock(err) {
		t.Fatalf("the chain's refusal was not in a block: %v", err)
	}

	// The winner posts its signed receipt; the job is PENDING, then FINALIZED.
	res = c.MustTx("frank", receiptArgs(keyOf["frank"])...)
	challengeEnd := res.Attr("openledger.inference.v1.EventReceiptSubmitted", "challenge_end_height")
	var rcpt struct {
		Receipt struct {
			Provider     string `json:"provider"`
			Status       string `json:"status"`
			SettlementID num    `json:"settlement_id"`
			Price        coin   `json:"price"`
			RecordCid    string `json:"record_cid"`
			Summary      struct {
				Top []struct {
					ContributionID num `json:"contribution_id"`
					Ppm            num `json:"ppm"`
				} `json:"top"`
			} `json:"summary"`
		} `json:"receipt"`
	}
	// PENDING in the receipt's block (read at that height: the 4-block challenge
	// window may be over by the time this runs).
	c.MustQuery(&j, "inference", "job", job, "--height", res.Height)
	if j.Job.Status != "JOB_STATUS_PENDING" {
		t.Fatalf("at the receipt's height %s: %+v", res.Height, j.Job)
	}
	m.waitFor("job finalised", 60*time.Second, func() bool {
		c.MustQuery(&j, "inference", "job", job)
		return j.Job.Status != "JOB_STATUS_PENDING"
	})
	c.MustQuery(&rcpt, "inference", "receipt", job)
	t.Logf("receipt submitted, challenge window to height %s; job %s, receipt %s (settlement %d)",
		challengeEnd, j.Job.Status, rcpt.Receipt.Status, rcpt.Receipt.SettlementID)

	// Exactly: compute = ⌊tokens × bid / 1000⌋, royalty = ⌊tokens × royalty / 1000⌋.
	tokens := int64(promptTokens + outputTokens)
	compute, royalty := tokens*frankBid/1000, tokens*royaltyPrice/1000
	weights, _ := ppmOf(t, jobRecord)
	want := expectSplit(compute, royalty, feeBps, developerBps, weights)
	if j.Job.Status != "JOB_STATUS_FINALIZED" || rcpt.Receipt.Status != "SETTLEMENT_STATUS_FINALIZED" ||
		j.Job.Paid.Amount != strconv.FormatInt(compute+royalty, 10) ||
		j.Job.Refunded.Amount != strconv.FormatInt(int64(wantEscrow)-compute-royalty, 10) ||
		rcpt.Receipt.SettlementID == 0 || len(rcpt.Receipt.Summary.Top) != 3 {
		t.Fatalf("finalised job %+v\nreceipt %+v\nwant paid %d", j.Job, rcpt.Receipt, compute+royalty)
	}
	ginaAfter, erinAfter, frankAfter := m.balance(gina), m.balance(erin), m.balance(frank)
	poolAfter := m.communityPool()
	t.Logf("job: %d tokens × (%d + %d)/1000 = compute %d + royalty %d; fee %d (compute's %d), provider %d, developer %d, data %d (direct %v, pool %d)",
		tokens, frankBid, royaltyPrice, compute, royalty, want.fee, want.feeCompute, want.providerNet, want.developer, want.data, want.direct, want.pool)
	t.Logf("gina %d → %d, frank %d → %d, erin %d → %d, community pool %s → %s",
		ginaBefore, ginaAfter, frankBefore, frankAfter, erinBefore, erinAfter, poolBefore.FloatString(6), poolAfter.FloatString(6))
	if want := ginaBefore - txFee - (compute + royalty); ginaAfter != want {
		t.Errorf("gina paid %d, want exactly %d (compute %d + royalty %d + one tx fee)", ginaBefore-ginaAfter, ginaBefore-want, compute, royalty)
	}
	if want := frankBefore - 2*txFee + want.providerNet; frankAfter != want {
		t.Errorf("frank: %d, want %d (bid and receipt fees, compute %d less its fee %d)", frankAfter, want, compute, compute*feeBps/10_000)
	}
	if want := erinBefore - 2*txFee; erinAfter != want {
		t.Errorf("erin: %d, want %d (a bid and the refused receipt's fee, nothing earned)", erinAfter, want)
	}
	if d := new(big.Rat).Sub(poolAfter, poolBefore); d.Cmp(big.NewRat(want.fee, 1)) != 0 {
		t.Errorf("community pool grew by %s, want the protocol fee %d", d.FloatString(18), want.fee)
	}
	var rec settlementRecordJSON
	c.MustQuery(&rec, "rewards", "record", "inference", strconv.FormatInt(int64(rcpt.Receipt.SettlementID), 10))
	directSum := want.direct[c1] + want.direct[c2] + want.direct[c3]
	if r := rec.Record; r.ProtocolFee.Amount != strconv.FormatInt(want.fee, 10) || r.Compute.Amount != strconv.FormatInt(want.providerNet, 10) ||
		r.Developer.Amount != strconv.FormatInt(want.developer, 10) || r.Direct.Amount != strconv.FormatInt(directSum, 10) ||
		r.Pooled.Amount != strconv.FormatInt(want.pool, 10) {
		t.Errorf("x/rewards record of the job: %+v, want fee %d compute %d developer %d direct %d pooled %d",
			r, want.fee, want.providerNet, want.developer, directSum, want.pool)
	}

	// The developer and the contributors see their rewards, and a claim pays them.
	pool.deposit(want.pool)
	expectRewards := func(stage string) map[string]int64 {
		t.Helper()
		out := map[string]int64{}
		pd := m.pending(dave)
		if len(pd.Developer) != 1 || strconv.FormatInt(int64(pd.Developer[0].SourceID), 10) != dep {
			t.Fatalf("%s: dave's developer rewards %+v", stage, pd.Developer)
		}
		out["dave"] = int64(pd.Total)
		for _, who := range []struct {
			name, addr string
			ids        []uint64
		}{{"bob", bob, []uint64{c1, c2}}, {"carol", carol, []uint64{c3}}} {
			p := m.pending(who.addr)
			for _, id := range who.ids {
				if got, w := p.pooled(id), pool.owed(id, shares[id]); got != w {
					t.Errorf("%s: %s's pool share of contribution %d: %d, want %d", stage, who.name, id, got, w)
				}
			}
			out[who.name] = int64(p.Total)
			t.Logf("%s: %s can claim %d (direct %+v, pools %+v)", stage, who.name, p.Total, p.Direct, p.Pools)
		}
		return out
	}
	got := expectRewards("after the job")
	wantPending := map[string]int64{
		"dave":  want.developer,
		"bob":   want.direct[c1] + want.direct[c2] + pool.owed(c1, shares[c1]) + pool.owed(c2, shares[c2]),
		"carol": want.direct[c3] + pool.owed(c3, shares[c3]),
	}
	for k, w := range wantPending {
		if got[k] != w {
			t.Errorf("after the job: %s's pending rewards %d, want %d", k, got[k], w)
		}
	}
	for _, who := range []struct {
		name, addr string
		ids        []uint64
	}{{"dave", dave, nil}, {"bob", bob, []uint64{c1, c2}}, {"carol", carol, []uint64{c3}}} {
		before := m.balance(who.addr)
		claim(t, c, who.name)
		if after := m.balance(who.addr); after != before-txFee+wantPending[who.name] {
			t.Errorf("%s's claim paid %d, want %d", who.name, after-before+txFee, wantPending[who.name])
		}
		for _, id := range who.ids {
			pool.collect(id)
		}
		if p := m.pending(who.addr); p.Total != 0 {
			t.Errorf("%s still has %d pending after the claim", who.name, p.Total)
		}
	}
	t.Logf("claims paid dave %d, bob %d, carol %d", wantPending["dave"], wantPending["bob"], wantPending["carol"])

	// A session with frank: one voucher for 1,000 requests, settled in one tx.
	ginaBefore, frankBefore, poolBefore = m.balance(gina), m.balance(frank), m.communityPool()
	res = m.mustRun("gina", "session", "open", dep, frank, fmt.Sprintf("%duopen", sessionDeposit), "--expiry-blocks", "2000")
	sid := res.Attr("openledger.inference.v1.EventSessionOpened", "session_id")
	var sessions struct {
		Sessions []struct {
			ID num `json:"id"`
		} `json:"sessions"`
	}
	c.MustQuery(&sessions, "inference", "sessions", "--requester", gina)
	if len(sessions.Sessions) != 1 || strconv.FormatInt(int64(sessions.Sessions[0].ID), 10) != sid {
		t.Fatalf("gina's sessions: %+v (opened %q)", sessions.Sessions, sid)
	}
	sessionID, _ := strconv.ParseUint(sid, 10, 64)

	// frank served 1,000 requests and signed a receipt for each with its libp2p key;
	// their Merkle root is what gina's voucher commits to.
	frankKey, err := p2p.LoadOrCreateIdentity(keyOf["frank"])
	if err != nil {
		t.Fatal(err)
	}
	leaves := make([][32]byte, sessionRequests)
	for i := range leaves {
		text := fmt.Sprintf("answer %d", i+1)
		_, _, cid := content(t, text)
		r, err := voucher.SignReceipt(voucher.Receipt{
			ChainID: e2e.ChainID, Provider: frank, SessionID: sessionID, RequestSeq: uint64(i + 1), RequestSHA256: sha256.Sum256([]byte(fmt.Sprintf("request %d", i+1))),
			OutputCID: cid, OutputSHA256: sha256.Sum256([]byte(text)), PromptTokens: 23, CompletionTokens: 100,
			EngineName: "openledger-ml", EngineVersion: "v1", ModelID: modelID, ModelVersion: 1,
		}, frankKey)
		if err != nil {
			t.Fatal(err)
		}
		leaves[i] = r.LeafHash()
	}
	root := voucher.Root(leaves)
	v, err := c.Run("session", "voucher", sid, "--amount", strconv.Itoa(sessionAmount), "--tokens", strconv.Itoa(sessionTokens),
		"--requests", strconv.Itoa(sessionRequests), "--receipts-root", hex.EncodeToString(root[:]), "--node", m.node())
	if err != nil {
		t.Fatal(err)
	}
	v = strings.TrimSpace(v)
	if dv, err := voucher.DecodeVoucher(v); err != nil || dv.Sequence != 1 || dv.ReceiptCount != sessionRequests || dv.ReceiptsRoot != root {
		t.Fatalf("voucher %q: %+v %v", v, dv, err)
	}
	sessionRecord := writeRecord(t, dir, "session-record.pb", modelID, dnID, 1, "1,000 answers", sessionRequests*100,
		map[uint64]uint64{c1: 5, c3: 13}, 3)
	res = c.MustTx("frank", "inference", "settle-session", sid, v, "--record", sessionRecord)
	settlementID := res.Attr("openledger.inference.v1.EventSessionSettled", "settlement_id")
	var sess sessionJSON
	c.MustQuery(&sess, "inference", "session", sid)
	if s := sess.Session; s.Status != "SESSION_STATUS_OPEN" || s.SettledAmount != sessionAmount || s.SettledTokens != sessionTokens ||
		s.SettledRequests != sessionRequests || s.LastSequence != 1 || s.Settlements != 1 {
		t.Fatalf("session after settling: %+v", s)
	}

	// A replayed voucher is refused and changes nothing.
	_, err = c.Tx("frank", "inference", "settle-session", sid, v, "--record", sessionRecord)
	m.refused("replayed voucher", err, "voucher sequence not above the last settled one")
	replayFees := int64(0)
	if inBlock(err) {
		replayFees = txFee
	}

	var sts settlementsJSON
	m.waitFor("settlement finalised", 60*time.Second, func() bool {
		c.MustQuery(&sts, "inference", "settlements", sid)
		return len(sts.Settlements) == 1 && sts.Settlements[0].Status != "SETTLEMENT_STATUS_PENDING"
	})
	sroyalty := int64(sessionTokens) * royaltyPrice / 1000
	scompute := int64(sessionAmount) - sroyalty
	st := sts.Settlements[0]
	if st.Status != "SETTLEMENT_STATUS_FINALIZED" || strconv.FormatInt(int64(st.ID), 10) != settlementID || st.Sequence != 1 ||
		st.Amount.Amount != strconv.Itoa(sessionAmount) || st.Royalty.Amount != strconv.FormatInt(sroyalty, 10) ||
		st.Tokens != sessionTokens || st.Requests != sessionRequests || st.FirstRequest != 1 {
		t.Fatalf("settlement: %+v", st)
	}
	sweights, _ := ppmOf(t, sessionRecord)
	swant := expectSplit(scompute, sroyalty, feeBps, developerBps, sweights)
	frankAfter, poolAfter = m.balance(frank), m.communityPool()
	t.Logf("session %s: 1 voucher, %d requests, %d tokens, amount %d = compute %d + royalty %d; fee %d, provider %d, developer %d, data %d (direct %v, pool %d)",
		sid, st.Requests, st.Tokens, sessionAmount, scompute, sroyalty, swant.fee, swant.providerNet, swant.developer, swant.data, swant.direct, swant.pool)
	if want := frankBefore - txFee - replayFees + swant.providerNet; frankAfter != want {
		t.Errorf("frank after the settlement: %d, want %d", frankAfter, want)
	}
	if d := new(big.Rat).Sub(poolAfter, poolBefore); d.Cmp(big.NewRat(swant.fee, 1)) != 0 {
		t.Errorf("community pool grew by %s in the session, want the protocol fee %d", d.FloatString(18), swant.fee)
	}
	pool.deposit(swant.pool)
	got = expectRewards("after the session")
	wantPending = map[string]int64{
		"dave":  swant.developer,
		"bob":   swant.direct[c1] + pool.owed(c1, shares[c1]) + pool.owed(c2, shares[c2]),
		"carol": swant.direct[c3] + pool.owed(c3, shares[c3]),
	}
	for k, w := range wantPending {
		if got[k] != w {
			t.Errorf("after the session: %s's pending rewards %d, want %d", k, got[k], w)
		}
	}

	// The requester may not close before expiry + grace; the provider may, and the
	// unspent deposit goes back to the requester exactly.
	_, err = m.run("gina", "session", "close", sid)
	m.refused("gina closes early", err, "session not expired")
	closeFees := int64(0)
	if inBlock(err) {
		closeFees = txFee
	}
	ginaMid := m.balance(gina)
	res = c.MustTx("frank", "inference", "close-session", sid)
	c.MustQuery(&sess, "inference", "session", sid)
	ginaAfter = m.balance(gina)
	if s := sess.Session; s.Status != "SESSION_STATUS_CLOSED" || s.Refunded != sessionDeposit-sessionAmount || s.Paid != sessionAmount {
		t.Fatalf("closed session: %+v", s)
	}
	if ginaAfter-ginaMid != sessionDeposit-sessionAmount {
		t.Errorf("gina got %d back, want the unspent %d", ginaAfter-ginaMid, sessionDeposit-sessionAmount)
	}
	if want := ginaBefore - txFee - closeFees - sessionAmount; ginaAfter != want {
		t.Errorf("gina over the session: %d → %d, want %d (the voucher's %d and fees)", ginaBefore, ginaAfter, want, sessionAmount)
	}

	// Nothing is left in the inference module but the two providers' stakes.
	var acct struct {
		Account struct {
			Value struct {
				Address string `json:"address"`
			} `json:"value"`
			BaseAccount struct {
				Address string `json:"address"`
			} `json:"base_account"`
		} `json:"account"`
	}
	c.MustQuery(&acct, "auth", "module-account", "inference")
	modAddr := acct.Account.Value.Address
	if modAddr == "" {
		modAddr = acct.Account.BaseAccount.Address
	}
	if modAddr == "" {
		t.Errorf("inference module account: no address in the answer")
	} else if b := m.balance(modAddr); b != 2*providerStake {
		t.Errorf("inference module holds %d, want the two stakes %d", b, 2*providerStake)
	} else {
		t.Logf("inference module %s holds %d: the two stakes, no escrow or deposit left", modAddr, b)
	}
	t.Logf("story done in %s", time.Since(start).Round(time.Second))
}

// setGenesis sets app_state.<path...> to value, failing if the path does not exist.
func setGenesis(t *testing.T, app map[string]any, value any, path ...string) {
	t.Helper()
	obj := app
	for i, k := range path {
		if i == len(path)-1 {
			if _, ok := obj[k]; !ok {
				t.Fatalf("genesis: no %s", strings.Join(path, "."))
			}
			obj[k] = value
			return
		}
		next, ok := obj[k].(map[string]any)
		if !ok {
			t.Fatalf("genesis: no object %s", strings.Join(path[:i+1], "."))
		}
		obj = next
	}
}

// claim runs `tx attribution claim --from name` on a home whose config.toml has a
// top-level "version" key: the command's flag is --dataset-version, so the SDK's
// config-to-flag binding cannot fill it (it used to be --version and failed here).
func claim(t *testing.T, c *e2e.Chain, name string) {
	t.Helper()
	if _, err := c.Tx(name, "attribution", "claim"); err != nil {
		t.Fatal(err)
	}
}
