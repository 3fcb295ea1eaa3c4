package e2e_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openledger/openledger/testutil/e2e"
)

// TestGatewayLocalnetRealEngine runs scripts/localnet.sh (the chain, the demo
// model, a provider daemon serving the OpenAI API with the built-in engine on
// the executor, and `openledgerd gateway`), sends N requests through the
// gateway with a plain HTTP client (completions and chat, streamed and not),
// and checks that the gateway's idle final voucher is settled in one
// transaction for every request, at exactly the chain's price of the tokens,
// and that the requester paid exactly the deposit and the open tx's fee. The
// trained demo model is taken from build/cache/demo when there (else trained
// once into it). The localnet uses fixed loopback ports: the test skips when one
// is taken.
func TestGatewayLocalnetRealEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts the localnet")
	}
	const n = 50
	start := time.Now()
	ln := e2e.StartLocalnet(t, e2e.LocalnetOptions{Logs: []string{"provider.log", "gateway.log"}})
	bin, home := ln.Bin, ln.Home
	if !strings.Contains(ln.Output(), "Gateway       http://127.0.0.1:8787/v1") {
		t.Fatalf("localnet output lacks the gateway:\n%s", ln.Output())
	}

	run := func(v any, args ...string) {
		t.Helper()
		c := exec.Command(bin, append(args, "--home", home)...)
		b, err := c.Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%v: %v: %s", args, err, b)
		}
	}
	addrOut, err := exec.Command(bin, "keys", "show", "requester", "-a", "--keyring-backend", "test", "--home", home).Output()
	if err != nil {
		t.Fatal(err)
	}
	requester := strings.TrimSpace(string(addrOut))
	balance := func() uint64 {
		var b struct {
			Balance struct{ Amount string } `json:"balance"`
		}
		run(&b, "query", "bank", "balance", requester, "uopen", "-o", "json")
		v, _ := strconv.ParseUint(b.Balance.Amount, 10, 64)
		return v
	}
	before := balance()

	const url = "http://127.0.0.1:8787/v1"
	var served, maxUnused uint64
	for i := range n {
		stream := i%2 == 1
		var path, body string
		var bound uint64
		const maxTokens = 16
		if i%4 < 2 {
			prompt := fmt.Sprintf("The sea %d", i)
			path, bound = "/completions", uint64(len(prompt))
			body = fmt.Sprintf(`{"model":"demo","prompt":%q,"max_tokens":%d,"stream":%t}`, prompt, maxTokens, stream)
		} else {
			content := fmt.Sprintf("Tell me a fortune %d", i)
			path, bound = "/chat/completions", uint64(len("user")+len(content)+8+14)
			body = fmt.Sprintf(`{"model":"1","messages":[{"role":"user","content":%q}],"max_tokens":%d,"stream":%t}`, content, maxTokens, stream)
		}
		resp, err := http.Post(url+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
		if id, want := resp.Header.Get("X-Openledger-Request"), fmt.Sprintf("session:1:%d", i+1); id != want {
			t.Fatalf("request %d: X-Openledger-Request %q, want %q", i, id, want)
		}
		var usage struct {
			PromptTokens     uint64 `json:"prompt_tokens"`
			CompletionTokens uint64 `json:"completion_tokens"`
		}
		if stream {
			sc := bufio.NewScanner(resp.Body)
			last := ""
			for sc.Scan() {
				line := sc.Text()
				if line == "" {
					continue
				}
				last = line
				var chunk struct {
					Usage *json.RawMessage `json:"usage"`
				}
				if data, ok := strings.CutPrefix(line, "data: "); ok && data != "[DONE]" {
					if err := json.Unmarshal([]byte(data), &chunk); err != nil {
						t.Fatalf("request %d: chunk %q: %v", i, data, err)
					}
					if chunk.Usage != nil {
						_ = json.Unmarshal(*chunk.Usage, &usage)
					}
				}
			}
			if last != "data: [DONE]" {
				t.Fatalf("request %d: stream ends with %q", i, last)
			}
		} else {
			var r struct {
				Usage json.RawMessage `json:"usage"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
				t.Fatal(err)
			}
			_ = json.Unmarshal(r.Usage, &usage)
		}
		resp.Body.Close()
		used := usage.PromptTokens + usage.CompletionTokens
		if usage.CompletionTokens == 0 || usage.CompletionTokens > maxTokens || usage.PromptTokens > bound {
			t.Fatalf("request %d: usage %+v (bound %d, max_tokens %d)", i, usage, bound, maxTokens)
		}
		served += used
		maxUnused = max(maxUnused, bound+maxTokens-used)
	}
	t.Logf("%d requests through the gateway in %s", n, time.Since(start).Round(time.Millisecond))

	// The gateway sends the final voucher after 30 s idle; the provider settles it.
	var s struct {
		Session struct {
			Deposit         struct{ Amount string } `json:"deposit"`
			SettledAmount   string                  `json:"settled_amount"`
			SettledTokens   string                  `json:"settled_tokens"`
			SettledRequests string                  `json:"settled_requests"`
			Settlements     string                  `json:"settlements"`
			Paid            string                  `json:"paid"`
		} `json:"session"`
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		run(&s, "query", "inference", "session", "1", "-o", "json")
		if s.Session.Paid != "" && s.Session.Paid != "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session not settled and paid: %+v", s.Session)
		}
		time.Sleep(time.Second)
	}
	if s.Session.SettledRequests != strconv.Itoa(n) || s.Session.Settlements != "1" {
		t.Fatalf("%s settlements for %s requests, want 1 for %d", s.Session.Settlements, s.Session.SettledRequests, n)
	}
	tokens, _ := strconv.ParseUint(s.Session.SettledTokens, 10, 64)
	if tokens < served || tokens-served > maxUnused {
		t.Fatalf("settled %d tokens for %d served (overpay above the largest unused reservation %d)", tokens, served, maxUnused)
	}
	// The demo's prices: compute 2000uopen, royalty 10000uopen per 1,000 tokens.
	if want := strconv.FormatUint(tokens*2000/1000+tokens*10000/1000, 10); s.Session.SettledAmount != want || s.Session.Paid != want {
		t.Fatalf("settled %s paid %s, want %s for %d tokens", s.Session.SettledAmount, s.Session.Paid, want, tokens)
	}
	// The requester paid the deposit and the fees of its txs (the open session,
	// signed by the gateway): nothing else until the session is closed.
	var txs struct {
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
	run(&txs, "query", "txs", "--query", "message.sender='"+requester+"'", "-o", "json")
	var fees uint64
	for _, tx := range txs.Txs {
		for _, a := range tx.Tx.AuthInfo.Fee.Amount {
			v, _ := strconv.ParseUint(a.Amount, 10, 64)
			fees += v
		}
	}
	deposit, _ := strconv.ParseUint(s.Session.Deposit.Amount, 10, 64)
	if got, want := before-balance(), deposit+fees; len(txs.Txs) != 1 || got != want {
		t.Fatalf("requester spent %d, want deposit %d + fees %d of %d txs", got, deposit, fees, len(txs.Txs))
	}
	t.Logf("%d requests, 1 settlement tx: %d tokens (%d served), %suopen paid; %s in all", n, tokens, served, s.Session.Paid,
		time.Since(start).Round(time.Second))
	checkGatewayFeedback(t, bin, home, url, requester)
	checkInfer(t, bin, home)
}
