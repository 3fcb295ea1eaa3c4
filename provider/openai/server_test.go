package openai_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"

	sdkmath "cosmossdk.io/math"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/openai/openaitest"
	"github.com/openledger/openledger/provider/sessions"
)

const (
	operator = "open1provider"
	royalty  = 500
	compute  = 2000
)

// payer signs vouchers by the rule of docs/openai-api.md.
type payer struct {
	id     uint64
	sk     ed25519.PrivateKey
	price  sessions.Price
	seq    uint64
	tokens uint64
	served uint64
	acc    voucher.Accumulator
}

func (p *payer) next(t *testing.T, maxTokens uint64) string {
	t.Helper()
	p.seq++
	p.tokens = sessions.Reserve(p.tokens, p.served, maxTokens)
	v, err := voucher.Sign(voucher.Voucher{
		ChainID: openaitest.ChainID, SessionID: p.id, Sequence: p.seq, Denom: openaitest.Denom,
		CumulativeAmount: p.price.Cost(p.tokens), CumulativeTokens: p.tokens,
		ReceiptCount: p.acc.Len(), ReceiptsRoot: p.acc.Root(),
	}, p.sk)
	if err != nil {
		t.Fatal(err)
	}
	return v.Encode()
}

func (p *payer) take(t *testing.T, prov *openaitest.Provider, enc string, output []byte) voucher.Receipt {
	t.Helper()
	r, err := openai.DecodeReceipt(enc)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.VerifyPeer(prov.PeerID); err != nil {
		t.Fatal(err)
	}
	if r.SessionID != p.id || r.RequestSeq != p.acc.Len()+1 {
		t.Fatalf("receipt %d/%d, want %d/%d", r.SessionID, r.RequestSeq, p.id, p.acc.Len()+1)
	}
	if r.OutputSHA256 != sha256.Sum256(output) {
		t.Fatalf("output digest mismatch for %q", output)
	}
	p.acc.Append(r.LeafHash())
	p.served += r.PromptTokens + r.CompletionTokens
	return r
}

type fixture struct {
	chain *openaitest.Chain
	prov  *openaitest.Provider
	pay   *payer
}

func setup(t *testing.T, eng *openaitest.Engine) *fixture {
	chain := openaitest.NewChain()
	if eng == nil {
		eng = &openaitest.Engine{IDs: []uint64{7}}
	}
	prov := openaitest.StartProvider(t, chain, operator, compute, eng, "")
	pub, sk, _ := ed25519.GenerateKey(rand.Reader)
	id := chain.OpenSession("open1req", operator, 7, 10_000_000, royalty, pub)
	return &fixture{chain: chain, prov: prov, pay: &payer{id: id, sk: sk, price: sessions.Price{Compute: sdkmath.NewInt(compute), Royalty: sdkmath.NewInt(royalty)}}}
}

func (f *fixture) post(t *testing.T, path, body, v string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.prov.HTTP.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if v != "" {
		req.Header.Set(openai.HeaderVoucher, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// sameShape checks that ours has exactly the keys and JSON types of the
// reference (reference null admits null or a string), recursively; arrays
// are compared element by element against the reference's first element.
func sameShape(t *testing.T, path string, ours, ref any) {
	t.Helper()
	switch r := ref.(type) {
	case map[string]any:
		o, ok := ours.(map[string]any)
		if !ok {
			t.Fatalf("%s: %T, reference has an object", path, ours)
		}
		for k := range o {
			if _, ok := r[k]; !ok {
				t.Fatalf("%s: field %q is not in the reference", path, k)
			}
		}
		for k, rv := range r {
			ov, ok := o[k]
			if !ok {
				if k == "system_fingerprint" {
					continue // optional in the reference
				}
				t.Fatalf("%s: field %q missing", path, k)
			}
			sameShape(t, path+"."+k, ov, rv)
		}
	case []any:
		o, ok := ours.([]any)
		if !ok {
			t.Fatalf("%s: %T, reference has an array", path, ours)
		}
		if len(r) == 0 {
			if len(o) != 0 {
				t.Fatalf("%s: %d elements, reference has none", path, len(o))
			}
			return
		}
		for i, e := range o {
			sameShape(t, fmt.Sprintf("%s[%d]", path, i), e, r[0])
		}
	case nil:
		if _, ok := ours.(string); ours != nil && !ok {
			t.Fatalf("%s: %T where the reference has null", path, ours)
		}
	default:
		if fmt.Sprintf("%T", ours) != fmt.Sprintf("%T", ref) {
			t.Fatalf("%s: %T (%v), reference %T", path, ours, ours, ref)
		}
	}
}

func strictDecode(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	if dec.More() {
		t.Fatalf("trailing data after the JSON value in %q", b)
	}
	return v
}

func readFixture(t *testing.T, name string) []byte {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readSSE reads `data: …\n\n` events strictly: every line is a data line or
// empty, events end with a blank line, the stream ends with [DONE].
func readSSE(t *testing.T, r io.Reader) [][]byte {
	t.Helper()
	var events [][]byte
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	expectBlank := false
	for sc.Scan() {
		line := sc.Text()
		if expectBlank {
			if line != "" {
				t.Fatalf("event not followed by a blank line: %q", line)
			}
			expectBlank = false
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("not a data line: %q", line)
		}
		events = append(events, []byte(data))
		expectBlank = true
	}
	if expectBlank {
		t.Fatal("stream ended without the blank line after its last event")
	}
	if len(events) == 0 || string(events[len(events)-1]) != "[DONE]" {
		t.Fatalf("stream does not end with [DONE]: %q", events)
	}
	return events[:len(events)-1]
}

func TestModels(t *testing.T) {
	f := setup(t, nil)
	resp, err := http.Get(f.prov.HTTP.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	sameShape(t, "models", strictDecode(t, b), strictDecode(t, readFixture(t, "models.json")))
	if !strings.Contains(string(b), `"id":"7"`) || !strings.Contains(string(b), operator) {
		t.Fatalf("models %s", b)
	}
}

func TestCompletionNonStreamed(t *testing.T) {
	f := setup(t, nil)
	for i, c := range []struct{ path, body, fixture, text string }{
		{"/v1/completions", `{"model":"7","prompt":"say this is a test","max_tokens":3}`, "completion.json", "say this is "},
		{"/v1/chat/completions", `{"model":"7","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there"}],"max_tokens":16}`, "chat_completion.json", "hello there "},
	} {
		var req openai.Request
		_ = json.Unmarshal([]byte(c.body), &req)
		chat := len(req.Messages) > 0
		prompt, _ := req.PromptText()
		m := openai.PromptBound(chat, prompt, req.Messages) + req.Completion(256)
		resp := f.post(t, c.path, c.body, f.pay.next(t, m))
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", c.path, resp.StatusCode, b)
		}
		sameShape(t, c.path, strictDecode(t, b), strictDecode(t, readFixture(t, c.fixture)))
		var out struct {
			Choices []struct {
				Text    string `json:"text"`
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
				FinishReason string `json:"finish_reason"`
			} `json:"choices"`
			Usage openai.Usage `json:"usage"`
		}
		_ = json.Unmarshal(b, &out)
		text := out.Choices[0].Text + out.Choices[0].Message.Content
		if text != c.text {
			t.Fatalf("text %q, want %q", text, c.text)
		}
		r := f.pay.take(t, f.prov, resp.Header.Get(openai.HeaderReceipt), []byte(text))
		if r.RequestSeq != uint64(i+1) || r.CompletionTokens != out.Usage.CompletionTokens || r.PromptTokens != out.Usage.PromptTokens {
			t.Fatalf("receipt %+v vs usage %+v", r, out.Usage)
		}
		if i == 0 && out.Choices[0].FinishReason != "length" {
			t.Fatalf("finish reason %q", out.Choices[0].FinishReason)
		}
	}
}

func TestStreamed(t *testing.T) {
	f := setup(t, nil)
	for _, c := range []struct {
		path, body, fixture string
		chat                bool
	}{
		{"/v1/chat/completions", `{"model":"7","messages":[{"role":"user","content":"one two three"}],"stream":true,"stream_options":{"include_usage":true}}`, "chat_stream.txt", true},
		{"/v1/completions", `{"model":"7","prompt":"alpha beta gamma delta","stream":true,"max_tokens":10}`, "completion_stream.txt", false},
	} {
		var req openai.Request
		_ = json.Unmarshal([]byte(c.body), &req)
		prompt, _ := req.PromptText()
		m := openai.PromptBound(c.chat, prompt, req.Messages) + req.Completion(256)
		resp := f.post(t, c.path, c.body, f.pay.next(t, m))
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		ours := readSSE(t, resp.Body)
		resp.Body.Close()
		ref := readSSE(t, bytes.NewReader(readFixture(t, c.fixture)))
		// Map our chunks onto the reference's: (role chunk,) content chunks,
		// the finish chunk, the usage chunk.
		var text strings.Builder
		var receipt string
		for i, ev := range ours {
			v := strictDecode(t, ev).(map[string]any)
			var r any
			switch {
			case i == len(ours)-1:
				ext, ok := v["openledger"].(map[string]any)
				if !ok {
					t.Fatalf("last chunk without the openledger receipt: %s", ev)
				}
				receipt = ext["receipt"].(string)
				delete(v, "openledger")
				r = strictDecode(t, ref[len(ref)-1])
			case i == len(ours)-2:
				r = strictDecode(t, ref[len(ref)-2])
			case c.chat && i == 0:
				r = strictDecode(t, ref[0])
			default:
				if c.chat {
					r = strictDecode(t, ref[1])
				} else {
					r = strictDecode(t, ref[0])
				}
				ch := v["choices"].([]any)[0].(map[string]any)
				if c.chat {
					text.WriteString(ch["delta"].(map[string]any)["content"].(string))
				} else {
					text.WriteString(ch["text"].(string))
				}
			}
			if _, ok := v["openledger"]; ok {
				t.Fatalf("openledger field before the last chunk: %s", ev)
			}
			sameShape(t, fmt.Sprintf("%s chunk %d", c.fixture, i), v, r)
		}
		f.pay.take(t, f.prov, receipt, []byte(text.String()))
	}
}

func TestErrors(t *testing.T) {
	block := make(chan struct{})
	eng := &openaitest.Engine{IDs: []uint64{7}}
	f := setup(t, eng)
	refErr := strictDecode(t, readFixture(t, "error.json"))
	check := func(resp *http.Response, status int, code string) {
		t.Helper()
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, b)
		}
		sameShape(t, "error", strictDecode(t, b), refErr)
		var e openai.ErrorBody
		_ = json.Unmarshal(b, &e)
		if e.Error.Code == nil || *e.Error.Code != code || e.Error.Message == "" {
			t.Fatalf("code %v, want %s: %s", e.Error.Code, code, b)
		}
	}
	body := `{"model":"7","prompt":"a b c","max_tokens":4}`
	const m = 5 + 4
	check(f.post(t, "/v1/completions", body, ""), 402, "voucher_required")
	check(f.post(t, "/v1/completions", body, "!!"), 400, "invalid_voucher")
	check(f.post(t, "/v1/completions", `{"model":`, f.pay.next(t, m)), 400, "invalid_json")
	check(f.post(t, "/v1/completions", `{"model":"9","prompt":"x"}`, f.pay.next(t, m)), 404, "model_not_found")
	check(f.post(t, "/v1/completions", `{"model":"gpt-4","prompt":"x"}`, f.pay.next(t, m)), 404, "model_not_found")
	check(f.post(t, "/v1/completions", `{"model":"7","prompt":"x","n":2}`, f.pay.next(t, m)), 400, "unsupported_parameter")
	check(f.post(t, "/v1/completions", `{"model":"7","prompt":"x","max_tokens":100000}`, f.pay.next(t, m)), 400, "invalid_value")
	check(f.post(t, "/v1/completions", `{"model":"7","prompt":"`+strings.Repeat("x", 2<<20)+`"}`, f.pay.next(t, m)), 413, "request_too_large")
	// Too small a voucher, a bad signature.
	low := *f.pay
	low.tokens = 0
	check(f.post(t, "/v1/completions", body, low.next(t, m-1)), 402, "insufficient_voucher")
	f.pay.seq = low.seq
	v, _ := voucher.DecodeVoucher(f.pay.next(t, m))
	v.Signature[5] ^= 1
	check(f.post(t, "/v1/completions", body, v.Encode()), 401, "invalid_signature")
	// A good request, then its voucher replayed.
	good := f.pay.next(t, m)
	resp := f.post(t, "/v1/completions", body, good)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var cmp openai.Completion
	_ = json.Unmarshal(out, &cmp)
	f.pay.take(t, f.prov, resp.Header.Get(openai.HeaderReceipt), []byte(cmp.Choices[0].Text))
	check(f.post(t, "/v1/completions", body, good), 409, "voucher_replayed")
	// A voucher that forgets the last receipt.
	stale := *f.pay
	stale.acc = voucher.Accumulator{}
	check(f.post(t, "/v1/completions", body, stale.next(t, m)), 409, "receipts_out_of_sync")
	f.pay.seq = stale.seq
	// The engine fails: 500, nothing recorded.
	eng.Fail = errors.New("boom")
	check(f.post(t, "/v1/completions", body, f.pay.next(t, m)), 500, "engine_error")
	eng.Fail = fmt.Errorf("%w: all workers", openai.ErrBusy)
	check(f.post(t, "/v1/completions", body, f.pay.next(t, m)), 503, "busy")
	eng.Fail = nil
	// A request in flight: the session's next request gets 429.
	eng.Block = block
	before := f.prov.Sessions.Stats().Accepted.Load()
	done := make(chan *http.Response)
	go func() { done <- f.post(t, "/v1/completions", body, f.pay.next(t, m)) }()
	for f.prov.Sessions.Stats().Accepted.Load() == before {
		runtime.Gosched() // until the blocked request's voucher is accepted
	}
	check(f.post(t, "/v1/completions", body, f.pay.next(t, m)), 429, "too_many_requests")
	close(block)
	resp = <-done
	out, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("blocked request: %d %s", resp.StatusCode, out)
	}
	// Wrong method.
	r, _ := http.Get(f.prov.HTTP.URL + "/v1/completions")
	check(r, 405, "method_not_allowed")
}

func TestFinalAndResync(t *testing.T) {
	f := setup(t, nil)
	body := `{"model":"7","prompt":"a b c d e f","max_tokens":2}`
	for range 3 {
		resp := f.post(t, "/v1/completions", body, f.pay.next(t, 11+2)) // prompt bound 11 bytes
		var cmp openai.Completion
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		_ = json.Unmarshal(b, &cmp)
		f.pay.take(t, f.prov, resp.Header.Get(openai.HeaderReceipt), []byte(cmp.Choices[0].Text))
	}
	// Receipts from 1 on.
	resp, err := http.Get(fmt.Sprintf("%s/v1/openledger/sessions/%d/receipts?from=1", f.prov.HTTP.URL, f.pay.id))
	if err != nil {
		t.Fatal(err)
	}
	var page struct{ Receipts []string }
	_ = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if len(page.Receipts) != 2 {
		t.Fatalf("receipts page %d", len(page.Receipts))
	}
	// The final voucher: no reservation, all receipts.
	p := f.pay
	p.seq++
	p.tokens = max(p.tokens, p.served)
	v, _ := voucher.Sign(voucher.Voucher{ChainID: openaitest.ChainID, SessionID: p.id, Sequence: p.seq, Denom: openaitest.Denom,
		CumulativeAmount: p.price.Cost(p.tokens), CumulativeTokens: p.tokens, ReceiptCount: p.acc.Len(), ReceiptsRoot: p.acc.Root()}, p.sk)
	resp = f.post(t, fmt.Sprintf("/v1/openledger/sessions/%d/final", p.id), "", v.Encode())
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("final: %d %s", resp.StatusCode, b)
	}
	if n := f.prov.Sessions.SettleDue(context.Background(), false); n != 1 {
		t.Fatalf("final voucher not settled: %d", n)
	}
	s := f.chain.Settled[0]
	// 3 requests of 6 + 2 tokens (the fake counts words) reserved 13 each: the
	// vouchers' tokens are 13, 21, 29 and the final one stays at 29 = 24 served
	// + one request's unused reservation (5).
	if s.Voucher.ReceiptCount != 3 || p.served != 24 || s.Voucher.CumulativeTokens != 29 || !s.Voucher.CumulativeAmount.Equal(p.price.Cost(29)) {
		t.Fatalf("settled %+v", s.Voucher)
	}
}
