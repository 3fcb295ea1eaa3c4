package p2pinfer_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openledger/openledger/provider/openai"
)

// BenchmarkRequest is one paid, receipted completion (the scripted engine)
// over the libp2p protocol and over HTTP on loopback: the transport's cost
// per request, voucher checks and receipt signing included in both.
func BenchmarkRequest(b *testing.B) {
	for _, via := range []string{"libp2p", "http"} {
		b.Run(via, func(b *testing.B) {
			f := setup(b, nil)
			client, base := f.client, f.base
			if via == "http" {
				client, base = http.DefaultClient, f.prov.HTTP.URL
			}
			body := `{"model":"7","prompt":"one two three four","max_tokens":4}`
			bound := openai.PromptBound(false, "one two three four", nil)
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, base+"/v1/completions", strings.NewReader(body))
				req.Header.Set(openai.HeaderVoucher, f.voucher(b, bound+4, f.sk))
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var c openai.Completion
				if resp.StatusCode != 200 || json.Unmarshal(raw, &c) != nil || len(c.Choices) != 1 {
					b.Fatalf("%d %s", resp.StatusCode, raw)
				}
				f.take(b, resp.Header.Get(openai.HeaderReceipt), []byte(c.Choices[0].Text))
			}
		})
	}
}
