package p2pinfer_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	sdkmath "cosmossdk.io/math"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/p2p"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/openai/openaitest"
	"github.com/openledger/openledger/provider/p2pinfer"
	"github.com/openledger/openledger/provider/sessions"
)

const (
	operator = "open1provider"
	royalty  = 500
	compute  = 2000
	dep      = 7
)

type fixture struct {
	prov   *openaitest.Provider
	ph, ch host.Host
	client *http.Client
	base   string
	id     uint64
	sk     ed25519.PrivateKey
	price  sessions.Price
	seq    uint64
	tokens uint64
	served uint64
	acc    voucher.Accumulator
}

func newHost(t testing.TB, key libp2pcrypto.PrivKey) host.Host {
	t.Helper()
	if key == nil {
		var err error
		if key, _, err = libp2pcrypto.GenerateEd25519Key(rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	h, err := p2p.New(key, p2p.LoopbackConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func setup(t testing.TB, srv *p2pinfer.Server) *fixture {
	chain := openaitest.NewChain()
	prov := openaitest.StartProvider(t, chain, operator, compute, &openaitest.Engine{IDs: []uint64{dep}}, "")
	ph := newHost(t, prov.Key)
	if srv == nil {
		srv = &p2pinfer.Server{}
	}
	srv.Handler = prov.Server.Handler()
	srv.Register(t.Context(), ph)
	ch := newHost(t, nil)
	var addrs []string
	for _, a := range ph.Addrs() {
		addrs = append(addrs, a.String())
	}
	if err := p2pinfer.AddAddrs(ch, prov.PeerID, addrs); err != nil {
		t.Fatal(err)
	}
	pub, sk, _ := ed25519.GenerateKey(rand.Reader)
	id := chain.OpenSession("open1req", operator, dep, 10_000_000, royalty, pub)
	return &fixture{
		prov: prov, ph: ph, ch: ch, client: &http.Client{Transport: &p2pinfer.Transport{Host: ch}},
		base: p2pinfer.URL(prov.PeerID), id: id, sk: sk,
		price: sessions.Price{Compute: sdkmath.NewInt(compute), Royalty: sdkmath.NewInt(royalty)},
	}
}

func (f *fixture) voucher(t testing.TB, maxTokens uint64, sk ed25519.PrivateKey) string {
	t.Helper()
	f.seq++
	f.tokens = sessions.Reserve(f.tokens, f.served, maxTokens)
	v, err := voucher.Sign(voucher.Voucher{
		ChainID: openaitest.ChainID, SessionID: f.id, Sequence: f.seq, Denom: openaitest.Denom,
		CumulativeAmount: f.price.Cost(f.tokens), CumulativeTokens: f.tokens,
		ReceiptCount: f.acc.Len(), ReceiptsRoot: f.acc.Root(),
	}, sk)
	if err != nil {
		t.Fatal(err)
	}
	return v.Encode()
}

func (f *fixture) post(t testing.TB, path, body, v string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if v != "" {
		req.Header.Set(openai.HeaderVoucher, v)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (f *fixture) take(t testing.TB, enc string, output []byte) voucher.Receipt {
	t.Helper()
	r, err := openai.DecodeReceipt(enc)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.VerifyPeer(f.prov.PeerID); err != nil {
		t.Fatal(err)
	}
	if r.SessionID != f.id || r.RequestSeq != f.acc.Len()+1 || r.OutputSHA256 != sha256.Sum256(output) {
		t.Fatalf("receipt %+v does not match session %d request %d output %q", r, f.id, f.acc.Len()+1, output)
	}
	f.acc.Append(r.LeafHash())
	f.served += r.PromptTokens + r.CompletionTokens
	return r
}

// TestBodyArrivesUnchanged: a body spanning several BODY frames reaches the
// provider's handler byte for byte: its receipt signs the sha256 of the body
// sent, and the provider's transcript is that body.
func TestBodyArrivesUnchanged(t *testing.T) {
	f := setup(t, nil)
	// JSON whitespace and escapes a re-encoding would change, over 3 frames of the client's 64 KiB reads.
	body := "{\"model\":\"7\",  \"prompt\":\"one \\u0074wo\"," + strings.Repeat(" \t\n", 50_000) + "\"max_tokens\":4}\n"
	resp := f.post(t, "/v1/completions", body, f.voucher(t, openai.PromptBound(false, "one two", nil)+4, f.sk))
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	var c openai.Completion
	if err := json.Unmarshal(raw, &c); err != nil || len(c.Choices) != 1 {
		t.Fatalf("body %s: %v", raw, err)
	}
	r := f.take(t, resp.Header.Get(openai.HeaderReceipt), []byte(c.Choices[0].Text))
	if r.RequestSHA256 != sha256.Sum256([]byte(body)) {
		t.Fatal("the receipt does not sign the sha256 of the body sent")
	}
	tr, err := f.prov.Sessions.Transcript(f.id, r.RequestSeq)
	if err != nil || string(tr.Body) != body {
		t.Fatalf("the provider's transcript is not the body sent (%d bytes of %d): %v", len(tr.Body), len(body), err)
	}
}

// The same requests as over HTTP, non-streamed then streamed, chat and
// completions, each paid and receipted; the voucher state carries over.
func TestRequestsOverLibp2p(t *testing.T) {
	f := setup(t, nil)
	const maxTok = 8
	// Completions, not streamed: the receipt is in the header.
	body := `{"model":"7","prompt":"one two three","max_tokens":8}`
	resp := f.post(t, "/v1/completions", body, f.voucher(t, openai.PromptBound(false, "one two three", nil)+maxTok, f.sk))
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	var c openai.Completion
	if err := json.Unmarshal(raw, &c); err != nil || len(c.Choices) != 1 {
		t.Fatalf("body %s: %v", raw, err)
	}
	if c.Choices[0].Text != "one two three " {
		t.Fatalf("text %q", c.Choices[0].Text)
	}
	if r := f.take(t, resp.Header.Get(openai.HeaderReceipt), []byte(c.Choices[0].Text)); r.RequestSHA256 != sha256.Sum256([]byte(body)) {
		t.Fatal("the receipt does not sign the sha256 of the body sent")
	}

	// Chat, streamed: SSE events arrive frame by frame, the receipt in the
	// last chunk.
	body = `{"model":"7","messages":[{"role":"user","content":"alpha beta gamma delta"}],"max_tokens":8,"stream":true}`
	bound := openai.PromptBound(true, "", []openai.Message{{Role: "user", Content: "alpha beta gamma delta"}})
	resp = f.post(t, "/v1/chat/completions", body, f.voucher(t, bound+maxTok, f.sk))
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var text strings.Builder
	var receipt string
	contentChunks, done := 0, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var ev openai.ChatCompletion
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		for _, ch := range ev.Choices {
			if ch.Delta != nil && ch.Delta.Content != nil && *ch.Delta.Content != "" {
				contentChunks++
				text.WriteString(*ch.Delta.Content)
			}
		}
		if ev.Openledger != nil {
			receipt = ev.Openledger.Receipt
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !done || text.String() != "alpha beta gamma delta " || contentChunks != 4 {
		t.Fatalf("done %v, %d content chunks, text %q", done, contentChunks, text.String())
	}
	r := f.take(t, receipt, []byte(text.String()))
	if r.RequestSeq != 2 || r.CompletionTokens != 4 || r.RequestSHA256 != sha256.Sum256([]byte(body)) {
		t.Fatalf("receipt %+v", r)
	}

	// GET works too (the session state and the receipts page).
	req, _ := http.NewRequest(http.MethodGet, f.base+"/v1/openledger/sessions/"+itoa(f.id)+"/receipts?from=1", nil)
	gr, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page struct{ Receipts []string }
	err = json.NewDecoder(gr.Body).Decode(&page)
	gr.Body.Close()
	if err != nil || gr.StatusCode != 200 || len(page.Receipts) != 1 {
		t.Fatalf("receipts page: %d %v %v", gr.StatusCode, page, err)
	}
}

func itoa(u uint64) string { b, _ := json.Marshal(u); return string(b) }

// Payment errors are the HTTP API's: same status, same OpenAI error object.
func TestVoucherErrorsAsHTTP(t *testing.T) {
	f := setup(t, nil)
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	body := `{"model":"7","prompt":"one two","max_tokens":4}`
	cases := []struct {
		name   string
		body   string
		v      func() string
		status int
		code   string
	}{
		{"no voucher", body, func() string { return "" }, http.StatusPaymentRequired, "voucher_required"},
		{"wrong key", body, func() string { return f.voucher(t, openai.PromptBound(false, "one two", nil)+4, otherKey) }, http.StatusUnauthorized, "invalid_signature"},
		{"too little", `{"model":"7","prompt":"one two","max_tokens":4000}`, func() string { return f.voucher(t, 1, f.sk) }, http.StatusPaymentRequired, "insufficient_voucher"},
		{"garbage", body, func() string { return "not-a-voucher" }, http.StatusBadRequest, "invalid_voucher"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.v()
			over := f.post(t, "/v1/completions", tc.body, v)
			ob, _ := io.ReadAll(over.Body)
			over.Body.Close()
			hreq, _ := http.NewRequest(http.MethodPost, f.prov.HTTP.URL+"/v1/completions", strings.NewReader(tc.body))
			hreq.Header.Set("Content-Type", "application/json")
			if v != "" {
				hreq.Header.Set(openai.HeaderVoucher, v)
			}
			hr, err := http.DefaultClient.Do(hreq)
			if err != nil {
				t.Fatal(err)
			}
			hb, _ := io.ReadAll(hr.Body)
			hr.Body.Close()
			var oe, he openai.ErrorBody
			if err := json.Unmarshal(ob, &oe); err != nil || oe.Error.Code == nil {
				t.Fatalf("libp2p body %s: %v", ob, err)
			}
			_ = json.Unmarshal(hb, &he)
			if over.StatusCode != tc.status || *oe.Error.Code != tc.code {
				t.Fatalf("libp2p: %d %s, want %d %s", over.StatusCode, *oe.Error.Code, tc.status, tc.code)
			}
			if hr.StatusCode != over.StatusCode || he.Error.Code == nil || *he.Error.Code != *oe.Error.Code || he.Error.Type != oe.Error.Type {
				t.Fatalf("HTTP answered %d %s, libp2p %d %s", hr.StatusCode, hb, over.StatusCode, ob)
			}
		})
	}
}

// A body over the limit, and a frame whose header claims more than a frame
// may hold, are refused with 413 before the handler runs.
func TestOversizedRefused(t *testing.T) {
	f := setup(t, &p2pinfer.Server{MaxBody: 1 << 10})
	big := `{"model":"7","prompt":"` + strings.Repeat("x ", 1<<10) + `"}`
	resp := f.post(t, "/v1/completions", big, "")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var eb openai.ErrorBody
	_ = json.Unmarshal(b, &eb)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || eb.Error.Code == nil || *eb.Error.Code != "request_too_large" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}

	// A raw stream: HEAD, then a BODY frame header claiming 64 MiB.
	pid, _ := peer.Decode(f.prov.PeerID)
	st, err := f.ch.NewStream(t.Context(), pid, p2pinfer.ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	head, _ := json.Marshal(p2pinfer.RequestHead{Method: "POST", Path: "/v1/completions"})
	if err := p2pinfer.WriteFrame(st, p2pinfer.FrameHead, head); err != nil {
		t.Fatal(err)
	}
	var hdr [5]byte
	hdr[0] = p2pinfer.FrameBody
	binary.BigEndian.PutUint32(hdr[1:], 64<<20)
	if _, err := st.Write(hdr[:]); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(st)
	typ, p, err := p2pinfer.ReadFrame(br)
	if err != nil || typ != p2pinfer.FrameHead {
		t.Fatalf("frame %d %q: %v", typ, p, err)
	}
	var rh p2pinfer.ResponseHead
	if err := json.Unmarshal(p, &rh); err != nil || rh.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("head %s: %v", p, err)
	}
}

func TestFrameLimits(t *testing.T) {
	var buf bytes.Buffer
	if err := p2pinfer.WriteFrame(&buf, p2pinfer.FrameBody, make([]byte, p2pinfer.MaxFrameSize+1)); !errors.Is(err, p2pinfer.ErrFrameTooLarge) {
		t.Fatalf("writing an oversized frame: %v", err)
	}
	if err := p2pinfer.WriteFrame(&buf, p2pinfer.FrameEnd, []byte{1}); !errors.Is(err, p2pinfer.ErrFrameTooLarge) {
		t.Fatalf("an END frame with a payload: %v", err)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"head too large", []byte{p2pinfer.FrameHead, 0, 1, 0, 1}, p2pinfer.ErrFrameTooLarge},
		{"unknown type", []byte{9, 0, 0, 0, 0}, p2pinfer.ErrMalformed},
		{"truncated", []byte{p2pinfer.FrameBody, 0, 0, 0, 4, 'a'}, p2pinfer.ErrMalformed},
		{"short header", []byte{p2pinfer.FrameBody, 0}, io.ErrUnexpectedEOF},
	} {
		if _, _, err := p2pinfer.ReadFrame(bytes.NewReader(tc.in)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	buf.Reset()
	_ = p2pinfer.WriteFrame(&buf, p2pinfer.FrameBody, []byte("hello"))
	typ, p, err := p2pinfer.ReadFrame(&buf)
	if err != nil || typ != p2pinfer.FrameBody || string(p) != "hello" {
		t.Fatalf("round trip: %d %q %v", typ, p, err)
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{p2pinfer.FrameBody, 0, 0, 0, 2, 'h', 'i'})
	f.Add([]byte{p2pinfer.FrameEnd, 0, 0, 0, 0})
	f.Add([]byte{p2pinfer.FrameHead, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		typ, p, err := p2pinfer.ReadFrame(bytes.NewReader(in))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := p2pinfer.WriteFrame(&buf, typ, p); err != nil {
			t.Fatalf("a frame read back does not write: %v", err)
		}
		if !bytes.Equal(buf.Bytes(), in[:buf.Len()]) {
			t.Fatal("frame does not round-trip")
		}
	})
}
