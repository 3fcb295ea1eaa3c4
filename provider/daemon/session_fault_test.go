package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sdkmath "cosmossdk.io/math"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/config"
	"github.com/openledger/openledger/provider/internal/chaintest"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/sessions"
	"github.com/openledger/openledger/testutil/e2e"
)

// The session fault rig (TestSessionFaults): the real `openledgerd provider
// start` serving the OpenAI API with the built-in engine on a tiny model, the
// real `openledgerd gateway`, and between them a loopback proxy — the
// provider's registered api_url — that records every voucher the gateway sends
// and can hold a request so that the test kills the gateway at a chosen moment.

// holdMode tells the proxy what to do with the next generation request.
type holdMode int

const (
	holdNone holdMode = iota
	// holdBefore: the voucher reached the proxy; it is never forwarded.
	holdBefore
	// holdAfter: the provider answers in full (its receipt is committed); the
	// gateway gets the first event only.
	holdAfter
)

// sentVoucher is a voucher the gateway sent, and what became of it.
type sentVoucher struct {
	V         voucher.Voucher
	Path      string
	Forwarded bool
	Status    int // the provider's status (0 when not forwarded or no answer)
}

// voucherProxy is the provider's api_url: a pass-through recording vouchers.
type voucherProxy struct {
	target    string // the provider's API, http://127.0.0.1:P
	srv       *httptest.Server
	transport *http.Transport

	mu      sync.Mutex
	sent    []sentVoucher
	hold    holdMode
	held    chan struct{}
	release chan struct{}
}

func newVoucherProxy(t *testing.T, target string) *voucherProxy {
	p := &voucherProxy{target: target, transport: &http.Transport{}, held: make(chan struct{}, 1), release: make(chan struct{})}
	p.srv = httptest.NewServer(p)
	t.Cleanup(func() {
		p.srv.Close()
		p.transport.CloseIdleConnections()
	})
	return p
}

// holdNext arms the proxy for the next generation request.
func (p *voucherProxy) holdNext(m holdMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = m
	p.release = make(chan struct{})
}

// vouchers returns the vouchers the gateway sent for a session, in order.
func (p *voucherProxy) vouchers(id uint64) []sentVoucher {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []sentVoucher
	for _, s := range p.sent {
		if s.V.SessionID == id {
			out = append(out, s)
		}
	}
	return out
}

func (p *voucherProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	idx := -1
	mode := holdNone
	var release chan struct{}
	p.mu.Lock()
	if hv := r.Header.Get(openai.HeaderVoucher); hv != "" {
		if v, err := voucher.DecodeVoucher(hv); err == nil {
			p.sent = append(p.sent, sentVoucher{V: v, Path: r.URL.Path})
			idx = len(p.sent) - 1
		}
		if !strings.HasSuffix(r.URL.Path, "/final") {
			mode, p.hold = p.hold, holdNone
			release = p.release
		}
	}
	p.mu.Unlock()
	if mode == holdBefore {
		p.held <- struct{}{}
		<-release
		panic(http.ErrAbortHandler) // the connection is cut, nothing forwarded
	}
	ctx := r.Context()
	if mode == holdAfter {
		ctx = context.WithoutCancel(ctx) // the provider finishes whatever the gateway does
	}
	up, err := http.NewRequestWithContext(ctx, r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	up.Header = r.Header.Clone()
	p.setForwarded(idx, 0)
	resp, err := p.transport.RoundTrip(up)
	if err != nil {
		panic(http.ErrAbortHandler) // as the gateway would see the provider: gone
	}
	defer resp.Body.Close()
	p.setForwarded(idx, resp.StatusCode)
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	if mode == holdAfter {
		all, _ := io.ReadAll(resp.Body)
		first, _, _ := bytes.Cut(all, []byte("\n\n"))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(append(first, '\n', '\n'))
		w.(http.Flusher).Flush()
		p.held <- struct{}{}
		<-release
		panic(http.ErrAbortHandler)
	}
	w.WriteHeader(resp.StatusCode)
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			_, _ = w.Write(buf[:n])
			w.(http.Flusher).Flush()
		}
		if err != nil {
			if err != io.EOF {
				panic(http.ErrAbortHandler) // pass a cut stream on as a cut stream
			}
			return
		}
	}
}

func (p *voucherProxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sent)
}

func (p *voucherProxy) setForwarded(idx, status int) {
	if idx < 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent[idx].Forwarded, p.sent[idx].Status = true, status
}

// waitHeld waits until the proxy holds a request.
func (p *voucherProxy) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-p.held:
	case <-time.After(60 * time.Second):
		t.Fatal("the proxy held no request in 60 s")
	}
}

func (p *voucherProxy) releaseHeld() {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.release)
	p.release = make(chan struct{})
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// sessionRig is the kill rig's provider with its API on, behind the proxy, and
// a gateway home.
type sessionRig struct {
	*killRig
	apiURL  string // the provider's API (direct)
	proxy   *voucherProxy
	dataDir string
	dep     uint64
	price   sessions.Price
	gwHome  string
	gwAddr  string
	grpc    string
	gwRuns  int
	// reqs are the requests sent through the gateway per session, in order.
	reqs map[uint64][]sentReq
}

// sentReq is a request sent through the gateway: its maximum M and whether
// the provider is expected to have committed its receipt.
type sentReq struct {
	max     uint64
	receipt bool
}

func newSessionRig(t *testing.T, k *killRig) *sessionRig {
	t.Helper()
	cfg, err := config.Load(k.path)
	if err != nil {
		t.Fatal(err)
	}
	api := freeAddr(t)
	r := &sessionRig{killRig: k, apiURL: "http://" + api, dataDir: config.Resolve(k.path, cfg.DataDir),
		gwHome: t.TempDir(), gwAddr: freeAddr(t), grpc: chaintest.GRPCAddr(t, k.m.c), reqs: map[uint64][]sentReq{}}
	r.proxy = newVoucherProxy(t, r.apiURL)
	cfg.API = config.API{Enabled: true, Listen: api, PublicURL: r.proxy.srv.URL}
	if err := cfg.Write(k.path); err != nil {
		t.Fatal(err)
	}
	r.dep, err = strconv.ParseUint(k.m.dep, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	// frank's offer (200uopen) and the deployment's royalty (100uopen) per 1,000 tokens.
	r.price = sessions.Price{Compute: sdkmath.NewInt(200), Royalty: sdkmath.NewInt(100)}
	return r
}

// startGateway runs `openledgerd gateway` on the rig's home and waits until it
// listens.
func (r *sessionRig) startGateway(t *testing.T, expiryBlocks int) *proc {
	t.Helper()
	r.gwRuns++
	p := &proc{done: make(chan struct{}), stdout: filepath.Join(r.gwHome, fmt.Sprintf("gw%d.out", r.gwRuns)),
		log: filepath.Join(r.gwHome, fmt.Sprintf("gw%d.log", r.gwRuns))}
	out, err := os.Create(p.stdout)
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	c := r.m.c
	p.cmd = exec.Command(c.Bin, "gateway", "--listen", r.gwAddr, "--budget", "20000000uopen", "--deposit", "1000000uopen",
		"--alias", "tiny="+r.m.dep, "--expiry-blocks", strconv.Itoa(expiryBlocks), "--idle-final", "1h", "--transport", "http",
		"--grpc-addr", r.grpc, "--chain-id", e2e.ChainID, "--from", "gina",
		"--home", r.gwHome, "--keyring-dir", c.Home, "--keyring-backend", "test")
	p.cmd.Stdout, p.cmd.Stderr = out, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		out.Close()
		logf.Close()
		close(p.done)
	}()
	run := r.gwRuns
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("gateway run %d log:\n%s", run, tail(p.log))
		}
	})
	deadline := time.After(30 * time.Second)
	for {
		bz, _ := os.ReadFile(p.log)
		if bytes.Contains(bz, []byte("gateway listening")) {
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("gateway exited before listening: %v\n%s", p.err, tail(p.log))
		case <-deadline:
			t.Fatalf("gateway not listening in 30 s\n%s", tail(p.log))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// kill9 kills a process with SIGKILL and waits for it.
func (p *proc) kill9(t *testing.T) {
	t.Helper()
	_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
	p.waitKilled(t, "(killed by the test)", 10*time.Second)
}

// answer is what the application got from the gateway.
type answer struct {
	status    int
	pieces    int  // content pieces received (streamed)
	done      bool // the stream ended with data: [DONE]
	usage     uint64
	errorBody string
}

// complete sends a completion through the gateway (prompt bound = the prompt's
// bytes) and records its maximum for the session the gateway sent it on;
// receipt says whether the provider is to commit its receipt.
func (r *sessionRig) complete(t *testing.T, prompt string, maxTokens uint64, stream, receipt bool) (answer, uint64) {
	t.Helper()
	before := r.proxy.count()
	body := fmt.Sprintf(`{"model":"tiny","prompt":%q,"max_tokens":%d,"stream":%t}`, prompt, maxTokens, stream)
	a := r.post("/v1/completions", body, stream)
	if r.proxy.count() == before {
		t.Fatalf("the gateway sent no voucher for the request: %+v", a)
	}
	id := r.lastSession(t)
	r.reqs[id] = append(r.reqs[id], sentReq{max: uint64(len(prompt)) + maxTokens, receipt: receipt})
	return a, id
}

// post sends a request to the gateway (safe to call from any goroutine).
func (r *sessionRig) post(path, body string, stream bool) answer {
	resp, err := http.Post("http://"+r.gwAddr+path, "application/json", strings.NewReader(body))
	if err != nil {
		return answer{errorBody: err.Error()} // the gateway died before answering
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode}
	if resp.StatusCode != http.StatusOK || !stream {
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			a.errorBody = string(b)
			return a
		}
		var out struct {
			Usage openai.Usage `json:"usage"`
		}
		if err := json.Unmarshal(b, &out); err != nil {
			a.errorBody = fmt.Sprintf("%v: %s", err, b)
		}
		a.usage = out.Usage.PromptTokens + out.Usage.CompletionTokens
		return a
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			a.done = true
			continue
		}
		var ev struct {
			Choices []struct {
				Text string `json:"text"`
			} `json:"choices"`
			Usage *openai.Usage `json:"usage"`
			Error *struct{}     `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			a.errorBody = fmt.Sprintf("event %q: %v", data, err)
			continue
		}
		if ev.Error != nil {
			a.errorBody = data
		}
		for _, c := range ev.Choices {
			if c.Text != "" {
				a.pieces++
			}
		}
		if ev.Usage != nil {
			a.usage = ev.Usage.PromptTokens + ev.Usage.CompletionTokens
		}
	}
	return a
}

// lastSession is the session of the last voucher the gateway sent.
func (r *sessionRig) lastSession(t *testing.T) uint64 {
	t.Helper()
	r.proxy.mu.Lock()
	defer r.proxy.mu.Unlock()
	if len(r.proxy.sent) == 0 {
		t.Fatal("the gateway sent no voucher")
	}
	return r.proxy.sent[len(r.proxy.sent)-1].V.SessionID
}

// gwState is the gateway's persisted state of a session.
type gwState struct {
	ID       uint64 `json:"id,string"`
	Sequence uint64 `json:"sequence,string"`
	Tokens   uint64 `json:"tokens,string"`
	Amount   string `json:"amount"`
	Deposit  string `json:"deposit"`
	Final    bool   `json:"final"`
}

func (r *sessionRig) gatewayState(t *testing.T, id uint64) gwState {
	t.Helper()
	bz, err := os.ReadFile(filepath.Join(r.gwHome, "gateway", "sessions", fmt.Sprintf("%d.json", id)))
	if err != nil {
		t.Fatal(err)
	}
	var s gwState
	if err := json.Unmarshal(bz, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// receipts are the session's receipts as the provider's API serves them.
func (r *sessionRig) receipts(t *testing.T, id uint64) []voucher.Receipt {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/v1/openledger/sessions/%d/receipts?from=0", r.apiURL, id))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Receipts []string `json:"receipts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	out := make([]voucher.Receipt, 0, len(page.Receipts))
	for _, enc := range page.Receipts {
		rc, err := openai.DecodeReceipt(enc)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rc)
	}
	return out
}

// expectedTokens applies the voucher rule of docs/openai-api.md to the
// requests sent for a session and the receipts the provider issued: every
// voucher reserved S + M (S the tokens of the receipts issued before it), T is
// the high-water mark of those reservations, and the final voucher pays
// max(T, S). A request interrupted before its receipt serves nothing: the
// requester owes its reservation only as far as T still exceeds S. Without a
// final voucher the last request voucher is settled: T, with the receipts it
// names (those issued before its request).
func (r *sessionRig) expectedTokens(t *testing.T, id uint64, final bool) (tokens, served uint64, receipts int) {
	t.Helper()
	rs := r.receipts(t, id)
	var T, S uint64
	n, named := 0, 0
	for i, q := range r.reqs[id] {
		T = max(T, S+q.max)
		named = n
		if q.receipt {
			if n >= len(rs) {
				t.Fatalf("session %d: request %d should have receipt %d; the provider issued %d", id, i+1, n+1, len(rs))
			}
			rc := rs[n]
			if rc.RequestSeq != uint64(n+1) || rc.PromptTokens+rc.CompletionTokens > q.max {
				t.Fatalf("session %d: receipt %d (request %d): seq %d, %d+%d tokens for a maximum of %d", id, n+1, i+1, rc.RequestSeq, rc.PromptTokens, rc.CompletionTokens, q.max)
			}
			S += rc.PromptTokens + rc.CompletionTokens
			n++
		}
	}
	if n != len(rs) {
		t.Fatalf("session %d: %d receipts expected, the provider issued %d", id, n, len(rs))
	}
	if final {
		return max(T, S), S, n
	}
	return T, S, named
}

// sessionJSON is `query inference session`.
type sessionJSON struct {
	Session struct {
		Deposit         struct{ Amount string } `json:"deposit"`
		SettledAmount   string                  `json:"settled_amount"`
		SettledTokens   string                  `json:"settled_tokens"`
		SettledRequests string                  `json:"settled_requests"`
		Settlements     string                  `json:"settlements"`
		LastSequence    string                  `json:"last_sequence"`
		Paid            string                  `json:"paid"`
		Refunded        string                  `json:"refunded"`
		Status          string                  `json:"status"`
		ExpiryHeight    string                  `json:"expiry_height"`
	} `json:"session"`
}

func (r *sessionRig) session(t *testing.T, id uint64) sessionJSON {
	t.Helper()
	var s sessionJSON
	r.m.c.MustQuery(&s, "inference", "session", strconv.FormatUint(id, 10))
	return s
}

// waitSession polls the session until ok holds.
func (r *sessionRig) waitSession(t *testing.T, id uint64, what string, timeout time.Duration, ok func(sessionJSON) bool) sessionJSON {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := r.session(t, id)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %d: not %s in %s: %+v", id, what, timeout, s.Session)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkSettled checks the chain settled exactly what the rule says, in one
// settlement, and the vouchers the gateway sent never reused a sequence nor
// lowered an amount.
func (r *sessionRig) checkSettled(t *testing.T, id uint64, final bool) sessionJSON {
	t.Helper()
	tokens, served, n := r.expectedTokens(t, id, final)
	s := r.session(t, id).Session
	want := r.price.Cost(tokens).String()
	if s.SettledRequests == "" { // 0 is left out of the JSON
		s.SettledRequests = "0"
	}
	if s.SettledTokens != strconv.FormatUint(tokens, 10) || s.SettledAmount != want || s.SettledRequests != strconv.Itoa(n) || s.Settlements != "1" {
		t.Fatalf("session %d settled %s tokens, %s uopen, %s requests in %s settlements; want %d tokens (%d served), %s uopen, %d requests in 1",
			id, s.SettledTokens, s.SettledAmount, s.SettledRequests, s.Settlements, tokens, served, want, n)
	}
	vs := r.proxy.vouchers(id)
	for i, sv := range vs {
		if sv.V.CumulativeAmount.String() != r.price.Cost(sv.V.CumulativeTokens).String() {
			t.Fatalf("session %d voucher %d: amount %s for %d tokens, want %s", id, sv.V.Sequence, sv.V.CumulativeAmount, sv.V.CumulativeTokens, r.price.Cost(sv.V.CumulativeTokens))
		}
		if i == 0 {
			continue
		}
		prev := vs[i-1].V
		if sv.V.Sequence <= prev.Sequence || sv.V.CumulativeTokens < prev.CumulativeTokens || sv.V.CumulativeAmount.LT(prev.CumulativeAmount) {
			t.Fatalf("session %d: voucher (seq %d, %d tokens, %s) sent after (seq %d, %d tokens, %s)", id,
				sv.V.Sequence, sv.V.CumulativeTokens, sv.V.CumulativeAmount, prev.Sequence, prev.CumulativeTokens, prev.CumulativeAmount)
		}
	}
	if last := vs[len(vs)-1].V; s.LastSequence != strconv.FormatUint(last.Sequence, 10) || last.CumulativeTokens != tokens {
		t.Fatalf("session %d settled sequence %s; the last voucher sent is %d for %d tokens", id, s.LastSequence, last.Sequence, last.CumulativeTokens)
	}
	t.Logf("session %d: %d vouchers sent, %d requests, %d tokens served; settled %d receipts, %d tokens = %s uopen in one settlement",
		id, len(vs), len(r.reqs[id]), served, n, tokens, want)
	return sessionJSON{Session: s}
}

// providerState reads a session's state from the provider's store (the daemon
// is not running).
func (r *sessionRig) providerState(t *testing.T, id uint64) sessions.State {
	t.Helper()
	st, err := sessions.ReadState(r.dataDir, id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// lastForwarded is the last voucher of the session the provider received.
func (r *sessionRig) lastForwarded(t *testing.T, id uint64) voucher.Voucher {
	t.Helper()
	vs := r.proxy.vouchers(id)
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].Forwarded {
			return vs[i].V
		}
	}
	t.Fatalf("no voucher of session %d reached the provider", id)
	return voucher.Voucher{}
}
