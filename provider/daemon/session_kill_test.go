package daemon_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	sdkmath "cosmossdk.io/math"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/sessions"
)

// TestSessionFaults is the interactive path's fault tests (issue 11), on one
// real chain with the real `openledgerd provider start` (built-in engine, tiny
// model) and the real `openledgerd gateway`, each killed with SIGKILL:
//
//   - provider_kill: the provider dies with a request's voucher committed
//     before generation, mid-stream (output sent, no receipt), with the receipt
//     committed but not sent, and with its settlement in a block but not
//     recorded. After each restart the voucher it accepted is in its store,
//     the gateway carries on (resynchronising the receipt it missed), and the
//     session settles once, for exactly what the voucher rule says.
//   - gateway_kill: the gateway dies mid-stream after the provider committed
//     the receipt, and after sending a voucher the provider never received;
//     restarted on the same --home it never reuses a sequence nor lowers an
//     amount, and the chain settles exactly what was served plus at most the
//     reservation the rule allows, once; replayed vouchers are refused; the
//     provider dies with the final voucher committed, before answering, and
//     settles it after the restart.
//   - near_expiry: a one-request session left with an unsettled voucher (the
//     gateway killed, no final voucher: the voucher names no receipt) is
//     settled by the provider once the height reaches expiry − margin — killed
//     while settling, restarted, still before the chain's deadline — exactly;
//     it closes at expiry + grace and the rest of the deposit is refunded to
//     the unit.
//
// The application is told when the provider dies mid-stream (the gateway's
// error event). Every amount is checked to the unit: each session's settled
// tokens against the voucher rule over the requests sent and the provider's
// receipts, the refunds, and the requester's balance (settled + fees).
//
// What the requester owes for an interrupted request (docs/openai-api.md): the
// voucher it sent promised S + M (everything served plus the request's
// maximum), and that promise stands once the provider committed the voucher.
// An interrupted request serves no tokens; its reservation stays in T and is
// consumed by later requests, so the requester pays max(T, S) in the end — at
// most one request's unused reservation beyond what was served, never an
// interrupted request twice.
func TestSessionFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a chain, the provider daemon and the gateway")
	}
	start := time.Now()
	m := newMarket(t, func(app map[string]any) {
		setGenesis(t, app, strconv.Itoa(nearExpiryGrace), "inference", "params", "session_grace_blocks") // nearExpiry's grace
	})
	r := newSessionRig(t, newKillRig(t, m))
	t.Logf("chain, tiny model, deployment %s and provider config in %s", m.dep, time.Since(start).Round(time.Second))
	gina := m.c.Address("gina")
	before := r.balance(t, gina)

	var a, b uint64
	if !t.Run("provider_kill", func(t *testing.T) { a = r.providerKill(t) }) {
		t.FailNow()
	}
	if !t.Run("gateway_kill", func(t *testing.T) { b = r.gatewayKill(t) }) {
		t.FailNow()
	}
	var c uint64
	if !t.Run("near_expiry", func(t *testing.T) { c = r.nearExpiry(t) }) {
		t.FailNow()
	}

	// The provider closes A and B; the requester gets back exactly the
	// deposits less what was settled, having paid nothing but those and fees.
	var deposits, settled, refunds sdkmath.Int = sdkmath.ZeroInt(), sdkmath.ZeroInt(), sdkmath.ZeroInt()
	for _, id := range []uint64{a, b} {
		m.c.MustTx("frank", "inference", "close-session", strconv.FormatUint(id, 10))
	}
	for _, id := range []uint64{a, b, c} {
		s := r.waitSession(t, id, "closed and paid", 30*time.Second, func(s sessionJSON) bool {
			return s.Session.Status == "SESSION_STATUS_CLOSED" && s.Session.Paid == s.Session.SettledAmount
		}).Session
		dep, st, ref := intOf(t, s.Deposit.Amount), intOf(t, s.SettledAmount), intOf(t, s.Refunded)
		if !ref.Equal(dep.Sub(st)) {
			t.Fatalf("session %d: refunded %s, want deposit %s − settled %s", id, ref, dep, st)
		}
		deposits, settled, refunds = deposits.Add(dep), settled.Add(st), refunds.Add(ref)
	}
	fees := r.feesPaid(t, gina)
	if got, want := before.Sub(r.balance(t, gina)), settled.Add(fees); !got.Equal(want) {
		t.Fatalf("the requester spent %s, want %s settled + %s fees (deposits %s, refunds %s)", got, settled, fees, deposits, refunds)
	}
	t.Logf("sessions %d, %d, %d: deposits %s, settled %s, refunded %s; the requester spent exactly settled + %s fees; %s in all",
		a, b, c, deposits, settled, refunds, fees, time.Since(start).Round(time.Second))
}

// providerKill runs session A through four provider kills and stops the
// provider.
func (r *sessionRig) providerKill(t *testing.T) uint64 {
	gw := r.startGateway(t, 10_000)
	const prompt = "Patience is"

	// 1. Killed with the voucher committed, before generating.
	p := r.startProvider(t, "sessions.voucher_committed")
	ans, id := r.complete(t, prompt, 24, false, false)
	p.waitKilled(t, "sessions.voucher_committed", 60*time.Second)
	if ans.status == http.StatusOK {
		t.Fatalf("request answered %+v by a provider killed before generating", ans)
	}
	r.checkCommitted(t, id, 0)

	// 2. Killed mid-stream: the output is streamed, its receipt not committed.
	p = r.startProvider(t, "sessions.generated")
	ans, _ = r.complete(t, prompt, 24, true, false)
	p.waitKilled(t, "sessions.generated", 60*time.Second)
	if ans.status != http.StatusOK || ans.pieces == 0 || !strings.Contains(ans.errorBody, "provider_stream_cut") {
		t.Fatalf("mid-stream kill: the application got %+v, want output then the gateway's error event", ans)
	}
	t.Logf("killed mid-stream after %d content events", ans.pieces)
	r.checkCommitted(t, id, 0)

	// 3. Killed with the receipt committed, not yet sent.
	p = r.startProvider(t, "sessions.receipt_committed")
	ans, _ = r.complete(t, prompt, 24, true, true)
	p.waitKilled(t, "sessions.receipt_committed", 60*time.Second)
	if ans.status != http.StatusOK || !strings.Contains(ans.errorBody, "provider_stream_cut") {
		t.Fatalf("kill after the receipt: the application got %+v, want the gateway's error event", ans)
	}
	r.checkCommitted(t, id, 1)

	// 4. Two requests served (the gateway fetches receipt 1 back first), then
	// the final voucher; killed with the settlement in a block, unrecorded.
	p = r.startProvider(t, "sessions.settled")
	for i, stream := range []bool{false, true} {
		ans, got := r.complete(t, prompt, 24, stream, true)
		if ans.status != http.StatusOK || (stream && !ans.done) || ans.usage == 0 || got != id {
			t.Fatalf("request %d after the restarts: %+v on session %d (want %d)", i+1, ans, got, id)
		}
	}
	resynced := false
	for _, sv := range r.proxy.vouchers(id) {
		resynced = resynced || sv.Status == http.StatusConflict
	}
	if !resynced {
		t.Fatal("the gateway never met 409 receipts_out_of_sync: the receipt committed at the kill was not missing")
	}
	gw.stop(t) // sends the final voucher
	p.waitKilled(t, "sessions.settled", 60*time.Second)
	st := r.providerState(t, id)
	if s := r.session(t, id).Session; !st.Final || st.SettledSeq != 0 || s.Settlements != "1" || s.LastSequence != strconv.FormatUint(st.LastSequence, 10) {
		t.Fatalf("killed after settling: store %+v, chain %+v", st, s)
	}

	// 5. The restarted provider records the settlement; it does not send another.
	p = r.startProvider(t, "")
	r.waitProviderSettled(t, id, st.LastSequence)
	r.checkSettled(t, id, true)
	p.stop(t)
	return id
}

// checkCommitted checks, in the killed provider's store, that the last voucher
// the provider received is committed, with receipts receipts.
func (r *sessionRig) checkCommitted(t *testing.T, id uint64, receipts uint64) {
	t.Helper()
	v := r.lastForwarded(t, id)
	st := r.providerState(t, id)
	if st.LastSequence != v.Sequence || st.VoucherTokens != v.CumulativeTokens || st.VoucherAmount != v.CumulativeAmount.String() || st.ReceiptCount != receipts {
		t.Fatalf("session %d after the kill: the store holds %+v; the provider received voucher %d (%d tokens, %s) and %d receipts are expected",
			id, st, v.Sequence, v.CumulativeTokens, v.CumulativeAmount, receipts)
	}
	t.Logf("session %d: voucher %d (%d tokens, %s uopen) kept in the killed provider's store, %d receipts", id, v.Sequence, v.CumulativeTokens, v.CumulativeAmount, st.ReceiptCount)
}

// waitProviderSettled waits until the provider's API reports the session
// settled at sequence seq.
func (r *sessionRig) waitProviderSettled(t *testing.T, id, seq uint64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st sessions.State
		resp, err := http.Get(fmt.Sprintf("%s/v1/openledger/sessions/%d", r.apiURL, id))
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
		}
		if err == nil && st.SettledSeq == seq {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %d: the provider did not record settlement %d in 60 s: %+v (%v)", id, seq, st, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// gatewayKill runs session B through two gateway kills.
func (r *sessionRig) gatewayKill(t *testing.T) uint64 {
	p := r.startProvider(t, "sessions.final_committed")
	gw := r.startGateway(t, 10_000)
	const prompt = "Patience is"
	ans, id := r.complete(t, prompt, 24, true, true)
	if ans.status != http.StatusOK || !ans.done {
		t.Fatalf("first request: %+v", ans)
	}

	// 1. Killed mid-stream, the provider's receipt committed.
	ans = r.killGatewayDuring(t, gw, holdAfter, prompt, 24, id, true)
	if ans.done {
		t.Fatalf("the application got a whole stream from a killed gateway: %+v", ans)
	}
	r.checkPersisted(t, id, r.lastForwarded(t, id).Sequence)
	gw = r.startGateway(t, 10_000)
	n409 := r.count409(id)
	if ans, _ := r.complete(t, prompt, 24, false, true); ans.status != http.StatusOK || ans.usage == 0 {
		t.Fatalf("after the restart: %+v", ans)
	}
	if r.count409(id) == n409 {
		t.Fatal("the restarted gateway did not resynchronise: it knew a receipt it never persisted")
	}

	// 2. Killed after sending a voucher the provider never received.
	r.killGatewayDuring(t, gw, holdBefore, prompt, 24, id, false)
	vs := r.proxy.vouchers(id)
	lost := vs[len(vs)-1]
	if lost.Forwarded {
		t.Fatalf("the held voucher %d was forwarded", lost.V.Sequence)
	}
	r.checkPersisted(t, id, lost.V.Sequence)
	gw = r.startGateway(t, 10_000)
	if ans, _ := r.complete(t, prompt, 24, true, true); ans.status != http.StatusOK || !ans.done {
		t.Fatalf("after the second restart: %+v", ans)
	}
	if next := r.lastForwarded(t, id); next.Sequence <= lost.V.Sequence {
		t.Fatalf("the restarted gateway signed sequence %d again after %d", next.Sequence, lost.V.Sequence)
	}
	// Replayed straight to the provider, the first voucher and the one it
	// never received (superseded since) are refused.
	for _, old := range []voucher.Voucher{r.proxy.vouchers(id)[0].V, lost.V} {
		r.replay(t, old)
	}
	// The final voucher: the provider dies once it is committed, before
	// answering; restarted, it settles it.
	gw.stop(t)
	p.waitKilled(t, "sessions.final_committed", 60*time.Second)
	final := r.proxy.vouchers(id)
	last := final[len(final)-1]
	if st := r.providerState(t, id); !strings.HasSuffix(last.Path, "/final") || !st.Final || st.LastSequence != last.V.Sequence || st.SettledSeq != 0 {
		t.Fatalf("killed with the final voucher %d (%s) committed: the store holds %+v", last.V.Sequence, last.Path, st)
	}
	p = r.startProvider(t, "")
	r.waitSession(t, id, "settled", 60*time.Second, func(s sessionJSON) bool {
		return s.Session.LastSequence == strconv.FormatUint(last.V.Sequence, 10)
	})
	r.checkSettled(t, id, true)
	p.stop(t)
	return id
}

// killGatewayDuring sends a streamed request that the proxy holds (mode), kills
// the gateway while it is held and returns what the application got.
func (r *sessionRig) killGatewayDuring(t *testing.T, gw *proc, mode holdMode, prompt string, maxTokens uint64, id uint64, receipt bool) answer {
	t.Helper()
	r.proxy.holdNext(mode)
	ch := make(chan answer, 1)
	go func() {
		ch <- r.post("/v1/completions", fmt.Sprintf(`{"model":"tiny","prompt":%q,"max_tokens":%d,"stream":true}`, prompt, maxTokens), true)
	}()
	r.proxy.waitHeld(t)
	gw.kill9(t)
	r.proxy.releaseHeld()
	ans := <-ch
	if got := r.lastSession(t); got != id {
		t.Fatalf("the held request went to session %d, want %d", got, id)
	}
	r.reqs[id] = append(r.reqs[id], sentReq{max: uint64(len(prompt)) + maxTokens, receipt: receipt})
	return ans
}

// checkPersisted checks the killed gateway's state holds voucher seq, the last
// it sent.
func (r *sessionRig) checkPersisted(t *testing.T, id, seq uint64) {
	t.Helper()
	vs := r.proxy.vouchers(id)
	last := vs[len(vs)-1].V
	gs := r.gatewayState(t, id)
	if last.Sequence != seq || gs.Sequence != seq || gs.Tokens != last.CumulativeTokens || gs.Amount != last.CumulativeAmount.String() {
		t.Fatalf("session %d: the killed gateway persisted %+v; the last voucher it sent is %d (%d tokens, %s), want %d",
			id, gs, last.Sequence, last.CumulativeTokens, last.CumulativeAmount, seq)
	}
}

// replay sends an old voucher with a request straight to the provider: 409
// voucher_replayed.
func (r *sessionRig) replay(t *testing.T, v voucher.Voucher) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.apiURL+"/v1/completions",
		strings.NewReader(fmt.Sprintf(`{"model":%q,"prompt":"Patience is","max_tokens":1}`, r.m.dep)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(openai.HeaderVoucher, v.Encode())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(b), "voucher_replayed") {
		t.Fatalf("voucher %d of session %d replayed: %d %s", v.Sequence, v.SessionID, resp.StatusCode, b)
	}
}

func (r *sessionRig) count409(id uint64) int {
	n := 0
	for _, sv := range r.proxy.vouchers(id) {
		if sv.Status == http.StatusConflict {
			n++
		}
	}
	return n
}

func intOf(t *testing.T, s string) sdkmath.Int {
	t.Helper()
	v, ok := sdkmath.NewIntFromString(s)
	if !ok {
		t.Fatalf("%q is not an integer", s)
	}
	return v
}

func (r *sessionRig) balance(t *testing.T, addr string) sdkmath.Int {
	t.Helper()
	var b struct {
		Balance struct{ Amount string } `json:"balance"`
	}
	r.m.c.MustQuery(&b, "bank", "balance", addr, "uopen")
	return intOf(t, b.Balance.Amount)
}

// feesPaid sums the fees of the txs addr signed.
func (r *sessionRig) feesPaid(t *testing.T, addr string) sdkmath.Int {
	t.Helper()
	var out struct {
		Txs []struct {
			Tx struct {
				AuthInfo struct {
					Fee struct {
						Amount []struct{ Amount string } `json:"amount"`
					} `json:"fee"`
				} `json:"auth_info"`
			} `json:"tx"`
		} `json:"txs"`
	}
	r.m.c.MustQuery(&out, "txs", "--query", fmt.Sprintf("tx.fee_payer='%s'", addr), "--limit", "100")
	sum := sdkmath.ZeroInt()
	for _, tx := range out.Txs {
		for _, a := range tx.Tx.AuthInfo.Fee.Amount {
			sum = sum.Add(intOf(t, a.Amount))
		}
	}
	return sum
}

// nearExpiryGrace is the chain's session grace: settlements are accepted until
// expiry + grace, then the session closes. It leaves the provider killed while
// settling the time to restart on a loaded machine.
const nearExpiryGrace = 30

// nearExpiry opens session C with a short expiry, serves one request and
// kills the gateway (no final voucher): the provider settles the unsettled
// voucher once the height reaches expiry − margin (20 blocks). It is killed
// with that settlement on IPFS, not sent; restarted, it settles before the
// chain's deadline (expiry + grace), exactly, and the chain closes the session
// at expiry + grace with the refund.
func (r *sessionRig) nearExpiry(t *testing.T) uint64 {
	const blocks, grace = 60, nearExpiryGrace
	p := r.startProvider(t, "sessions.settling")
	gw := r.startGateway(t, blocks)
	// One request (a one-off call): the only voucher pays for it but names no
	// receipt; the settlement's attribution follows the provider's receipt.
	ans, id := r.complete(t, "Patience is", 24, true, true)
	if ans.status != http.StatusOK || !ans.done || ans.usage == 0 {
		t.Fatalf("request: %+v", ans)
	}
	gw.kill9(t)
	// From here the requester's balance only moves at the close (the refund).
	gina := r.m.c.Address("gina")
	before := r.balance(t, gina)
	s := r.session(t, id).Session
	expiry, err := strconv.ParseInt(s.ExpiryHeight, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if s.Settlements != "" && s.Settlements != "0" {
		t.Fatalf("session %d settled before the expiry margin: %+v", id, s)
	}
	p.waitKilled(t, "sessions.settling", 90*time.Second)
	killedAt, err := r.m.c.Height()
	if err != nil {
		t.Fatal(err)
	}
	if st := r.providerState(t, id); st.SettledSeq != 0 || st.LastSequence != r.lastForwarded(t, id).Sequence {
		t.Fatalf("killed settling: the store holds %+v", st)
	}
	p = r.startProvider(t, "")
	r.waitSession(t, id, "settled", 90*time.Second, func(s sessionJSON) bool { return s.Session.Settlements == "1" })
	var out struct {
		Settlements []struct {
			SubmittedHeight string `json:"submitted_height"`
		} `json:"settlements"`
	}
	r.m.c.MustQuery(&out, "inference", "settlements", strconv.FormatUint(id, 10))
	if len(out.Settlements) != 1 {
		t.Fatalf("session %d: settlements %+v", id, out.Settlements)
	}
	h, _ := strconv.ParseInt(out.Settlements[0].SubmittedHeight, 10, 64)
	if killedAt < expiry-20 || h > expiry+grace {
		t.Fatalf("session %d (expiry %d, grace %d): killed settling at height %d, settled at %d: want the settlement started within the 20-block margin and in a block by the deadline",
			id, expiry, grace, killedAt, h)
	}
	r.checkSettled(t, id, false)
	p.stop(t)
	s = r.waitSession(t, id, "closed at expiry + grace", 90*time.Second, func(s sessionJSON) bool {
		return s.Session.Status == "SESSION_STATUS_CLOSED"
	}).Session
	refund := intOf(t, s.Refunded)
	if want := intOf(t, s.Deposit.Amount).Sub(intOf(t, s.SettledAmount)); !refund.Equal(want) {
		t.Fatalf("session %d refunded %s, want %s", id, refund, want)
	}
	if got := r.balance(t, gina).Sub(before); !got.Equal(refund) {
		t.Fatalf("the requester received %s at the close, want the refund %s", got, refund)
	}
	t.Logf("session %d (expiry %d): the provider killed settling at height %d, restarted, settled at %d; closed with %s uopen refunded", id, expiry, killedAt, h, refund)
	return id
}
