package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/gateway"
	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/ml/train"
	"github.com/openledger/openledger/provider/openai/openaitest"
	"github.com/openledger/openledger/provider/sessions"
	modelstypes "github.com/openledger/openledger/x/models/types"
)

// fbChain adds to the fake chain what feedback needs: settlements are the
// vouchers the providers settled (their receipts roots as signed), and a
// submitted feedback is checked the way x/models checks a session request
// (the receipt proven under the settlement's root, the requester, the
// window, once per request).
type fbChain struct {
	*fakeChain
	mu     sync.Mutex
	height int64
	window uint64
	done   map[[2]uint64]uint64
	msgs   []*modelstypes.MsgSubmitFeedback
	ipfs   map[string][]byte
}

func (f *fbChain) Settlements(_ context.Context, id uint64) ([]gateway.Settlement, error) {
	var out []gateway.Settlement
	prev := uint64(0)
	for i, m := range f.c.Settled {
		if m.SessionId != id {
			continue
		}
		out = append(out, gateway.Settlement{ID: uint64(i + 1), FirstRequest: prev + 1, Requests: m.Voucher.ReceiptCount - prev,
			ReceiptsRoot: m.Voucher.ReceiptsRoot, SubmittedHeight: 100})
		prev = m.Voucher.ReceiptCount
	}
	return out, nil
}

func (f *fbChain) FeedbackWindow(context.Context) (uint64, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.window, f.height, nil
}

func (f *fbChain) SubmitFeedback(ctx context.Context, msg *modelstypes.MsgSubmitFeedback) (string, uint64, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	hash := fmt.Sprintf("TX%d", len(f.msgs)+1)
	if _, err := msg.CheckFields(); err != nil {
		return hash, 0, err.Error(), nil
	}
	sts, _ := f.Settlements(ctx, msg.SessionId)
	var st gateway.Settlement
	for _, s := range sts {
		if s.ID == msg.SettlementId {
			st = s
		}
	}
	r, err := voucher.UnmarshalReceipt(msg.Receipt)
	if err != nil || st.ID == 0 || !st.Covers(r.RequestSeq) {
		return hash, 0, "inference not found", nil
	}
	var root [32]byte
	copy(root[:], st.ReceiptsRoot)
	var proof [][32]byte
	for _, p := range msg.Proof {
		proof = append(proof, [32]byte(p))
	}
	if err := voucher.VerifyProof(root, r.LeafHash(), r.RequestSeq-1, st.FirstRequest+st.Requests-1, proof); err != nil {
		return hash, 0, "invalid proof: " + err.Error(), nil
	}
	info, _ := f.c.Info(msg.SessionId)
	switch key := [2]uint64{msg.SessionId, r.RequestSeq}; {
	case msg.Rater != info.Requester:
		return hash, 0, "not the requester", nil
	case f.height > st.SubmittedHeight+int64(f.window):
		return hash, 0, "the feedback window of the inference has closed", nil
	case f.done[key] != 0:
		return hash, 0, "the inference already has feedback", nil
	default:
		f.msgs = append(f.msgs, msg)
		f.done[key] = uint64(len(f.msgs))
		return hash, uint64(len(f.msgs)), "", nil
	}
}

func (f *fbChain) add(_ context.Context, b []byte, _ string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := sessions.RawCID(b)
	f.ipfs[c] = append([]byte(nil), b...)
	return c, nil
}

func fbGateway(t *testing.T, home string, c gateway.Chain, who string, add func(context.Context, []byte, string) (string, error)) (*gateway.Gateway, string) {
	t.Helper()
	g, err := gateway.New(gateway.Config{
		Home: home, Budget: sdk.NewInt64Coin(openaitest.Denom, 100_000_000), Deposit: sdkmath.NewInt(1_000_000),
		Aliases: map[string]uint64{"tiny": deployment}, Requester: who, AddRecord: add,
	}, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(g.Handler())
	t.Cleanup(hs.Close)
	return g, hs.URL
}

func postJSON(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// TestFeedbackAPI: every response names its request (header, JSON body,
// final stream chunk); POST /v1/feedback records a rating durably (202), the
// submitter waits for the request's settlement, then submits a message whose
// receipt is proven under the settlement's root, with the preference record
// (chosen: the preferred text, rejected: the served output) on IPFS; the
// error table; a window closed before submission is reported as refused.
func TestFeedbackAPI(t *testing.T) {
	w := newWorld(t)
	p := w.addProvider("open1p", 1000, nil, nil)
	fc := &fbChain{fakeChain: w.gc, height: 100, window: 50, done: map[[2]uint64]uint64{}, ipfs: map[string][]byte{}}
	home := t.TempDir()
	g, url := fbGateway(t, home, fc, requester, fc.add)

	// Three requests: plain completion, streamed chat, plain chat.
	bodies := []struct{ path, body string }{
		{"/v1/completions", `{"model":"tiny","prompt":"one two three four","max_tokens":3}`},
		{"/v1/chat/completions", `{"model":"tiny","stream":true,"messages":[{"role":"user","content":"x y z"}]}`},
		{"/v1/chat/completions", `{"model":"tiny","messages":[{"role":"user","content":"alpha beta"}]}`},
		{"/v1/completions", `{"model":"tiny","stream":true,"prompt":"five six","max_tokens":2}`},
	}
	for i, b := range bodies {
		resp, err := http.Post(url+b.path, "application/json", strings.NewReader(b.body))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		id := gateway.RequestID(1, uint64(i+1))
		if resp.StatusCode != 200 || resp.Header.Get(gateway.HeaderRequest) != id {
			t.Fatalf("request %d: %d, %s %q", i+1, resp.StatusCode, gateway.HeaderRequest, resp.Header.Get(gateway.HeaderRequest))
		}
		if !bytes.Contains(raw, []byte(`"openledger":{"request":"`+id+`"}`)) || bytes.Contains(raw, []byte("receipt")) {
			t.Fatalf("request %d: body without the request id, or with the receipt: %s", i+1, raw)
		}
	}
	store, err := gateway.OpenReceipts(home)
	if err != nil {
		t.Fatal(err)
	}
	served, ok, err := store.Get(1, 2)
	if err != nil || !ok || served.Output != "x y z " || len(served.Messages) != 1 || served.Messages[0].Content != "x y z" {
		t.Fatalf("stored request 2: %+v %v %v", served, ok, err)
	}

	// Feedback on request 2 with a preferred completion.
	st, m := postJSON(t, url+"/v1/feedback", `{"request":"session:1:2","rating":-1,"preferred":"z y x"}`)
	if st != http.StatusAccepted || m["id"] != "fb-1-2" || m["status"] != gateway.FeedbackQueued {
		t.Fatalf("POST feedback: %d %v", st, m)
	}

	// The error table.
	_, otherURL := fbGateway(t, home, fc, "open1mallory", fc.add)
	for _, c := range []struct {
		name, url, body string
		status          int
		code            string
	}{
		{"rating 0", url, `{"request":"session:1:1","rating":0}`, 400, "invalid_rating"},
		{"rating 2", url, `{"request":"session:1:1","rating":2}`, 400, "invalid_rating"},
		{"rating as text", url, `{"request":"session:1:1","rating":"up"}`, 400, "invalid_rating"},
		{"no rating", url, `{"request":"session:1:1"}`, 400, "invalid_rating"},
		{"malformed id", url, `{"request":"job:1","rating":1}`, 400, "invalid_request_id"},
		{"not JSON", url, `{"request":`, 400, "invalid_json"},
		{"unknown request", url, `{"request":"session:1:9","rating":1}`, 404, "request_not_found"},
		{"another home's session", url, `{"request":"session:77:1","rating":1}`, 404, "request_not_found"},
		{"another requester", otherURL, `{"request":"session:1:1","rating":1}`, 403, "not_requester"},
		{"preferred equals served", url, `{"request":"session:1:3","rating":-1,"preferred":"alpha beta "}`, 400, "invalid_value"},
		{"twice", url, `{"request":"session:1:2","rating":1}`, 409, "feedback_exists"},
	} {
		st, m := postJSON(t, c.url+"/v1/feedback", c.body)
		if st != c.status || errCode(m) != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.name, st, m, c.status, c.code)
		}
		if e, _ := m["error"].(map[string]any); e == nil || e["message"] == "" || e["type"] == "" {
			t.Errorf("%s: not the OpenAI error shape: %v", c.name, m)
		}
	}
	if st, m := getJSON(t, url+"/v1/feedback/fb-9-9"); st != 404 || errCode(m) != "feedback_not_found" {
		t.Fatalf("GET unknown: %d %v", st, m)
	}

	// Not settled yet: stays queued.
	if err := g.SubmitFeedback(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, m := getJSON(t, url+"/v1/feedback/fb-1-2"); m["status"] != gateway.FeedbackQueued || !strings.Contains(fmt.Sprint(m["reason"]), "settlement") {
		t.Fatalf("before the settlement: %v", m)
	}
	// Rate request 1 too, then settle all three.
	if st, m := postJSON(t, url+"/v1/feedback", `{"request":"session:1:1","rating":1}`); st != 202 {
		t.Fatalf("%d %v", st, m)
	}
	g.FinaliseIdle(true)
	if k := p.Sessions.SettleDue(context.Background(), false); k != 1 {
		t.Fatalf("%d settlements", k)
	}
	// A restarted gateway (same home) submits what the first one queued.
	g2, url2 := fbGateway(t, home, fc, requester, fc.add)
	if err := g2.SubmitFeedback(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, m = getJSON(t, url2+"/v1/feedback/fb-1-2")
	if st != 200 || m["status"] != gateway.FeedbackSubmitted || m["tx_hash"] == "" || m["settlement"] != float64(1) {
		t.Fatalf("after the settlement: %d %v", st, m)
	}
	if len(fc.msgs) != 2 {
		t.Fatalf("%d feedback messages on chain", len(fc.msgs))
	}
	var pref *modelstypes.MsgSubmitFeedback
	for _, msg := range fc.msgs {
		if r, _ := voucher.UnmarshalReceipt(msg.Receipt); r.RequestSeq == 2 {
			pref = msg
		}
	}
	if pref == nil || pref.Rating != modelstypes.FEEDBACK_RATING_DOWN || pref.Rater != requester || len(pref.Proof) == 0 {
		t.Fatalf("request 2's feedback: %+v", pref)
	}
	want, err := train.EncodePreference("", []train.Message{{Role: "user", Content: "x y z"}}, "z y x", "x y z ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fc.ipfs[pref.RecordCid], want) || string(fc.ipfs[pref.ChosenCid]) != "z y x" || string(fc.ipfs[pref.RejectedCid]) != "x y z " ||
		pref.PreferredCompletionCid != pref.ChosenCid || pref.RecordSize != uint64(len(want)) {
		t.Fatalf("preference record %q (want %q), chosen %q, rejected %q", fc.ipfs[pref.RecordCid], want, fc.ipfs[pref.ChosenCid], fc.ipfs[pref.RejectedCid])
	}

	// Window: queued while open, closed by the time it is submitted.
	if st, m := postJSON(t, url2+"/v1/feedback", `{"request":"session:1:3","rating":1}`); st != 202 {
		t.Fatalf("%d %v", st, m)
	}
	fc.mu.Lock()
	fc.height = 151
	fc.mu.Unlock()
	if err := g2.SubmitFeedback(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, m := getJSON(t, url2+"/v1/feedback/fb-1-3"); m["status"] != gateway.FeedbackRefused || !strings.Contains(fmt.Sprint(m["reason"]), "window closed") {
		t.Fatalf("after the window: %v", m)
	}
	// A first rating after the window of a settled request: 410.
	if st, m := postJSON(t, url2+"/v1/feedback", `{"request":"session:1:4","rating":1}`); st != http.StatusGone || errCode(m) != "feedback_window_closed" {
		t.Fatalf("after the window: %d %v", st, m)
	}
	if st, m := postJSON(t, url2+"/v1/feedback", `{"request":"session:1:3","rating":1}`); st != 409 {
		t.Fatalf("again after refusal: %d %v", st, m)
	}
}
