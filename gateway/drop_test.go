package gateway_test

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/openai/openaitest"
)

// TestCheatingProvidersDropped: the receipt checks TestOverchargingProviderDropped
// (prompt tokens above the bound) and TestLyingProviderDropped (output digest)
// do not cover. Each cheat re-signs its receipt with the provider's own key,
// so only the gateway's checks catch it; the request is served by the honest
// (dearer) provider and only the cheat is dropped.
func TestCheatingProvidersDropped(t *testing.T) {
	const body = `{"model":"tiny","prompt":"a b","max_tokens":4}` // 2 + 2 tokens; bound 3, max 4
	otherKey, _, err := libp2pcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		// cheat rewrites a 200 response: its receipt (re-signed with key) and body.
		cheat func(rc *voucher.Receipt, body []byte, key libp2pcrypto.PrivKey) (libp2pcrypto.PrivKey, []byte)
		// status replaces the answer with an error of this code when set.
		code string
		why  string
	}{
		{
			name: "completion tokens above max_tokens, usage to match",
			cheat: func(rc *voucher.Receipt, b []byte, key libp2pcrypto.PrivKey) (libp2pcrypto.PrivKey, []byte) {
				rc.CompletionTokens = 9
				return key, bytes.Replace(b, []byte(`"completion_tokens":2`), []byte(`"completion_tokens":9`), 1)
			},
			why: "over-charged",
		},
		{
			name: "receipt counts more than the usage it reports",
			cheat: func(rc *voucher.Receipt, b []byte, key libp2pcrypto.PrivKey) (libp2pcrypto.PrivKey, []byte) {
				rc.CompletionTokens = 4 // within max_tokens; the body still says 2
				return key, b
			},
			why: "differs from the receipt",
		},
		{
			name: "receipt signed by a key other than the registered peer id",
			cheat: func(rc *voucher.Receipt, b []byte, _ libp2pcrypto.PrivKey) (libp2pcrypto.PrivKey, []byte) {
				return otherKey, b
			},
			why: "peer id",
		},
		{
			name: "refuses the voucher at the agreed price",
			code: "insufficient_voucher",
			why:  "agreed price",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			var cheat *openaitest.Provider
			wrap := func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
					if tc.code != "" {
						rw.Header().Set("Content-Type", "application/json")
						rw.WriteHeader(http.StatusPaymentRequired)
						_, _ = rw.Write([]byte(`{"error":{"message":"the price is 10000 now","type":"insufficient_quota","param":null,"code":"` + tc.code + `"}}`))
						return
					}
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, r)
					b := rec.Body.Bytes()
					if enc := rec.Header().Get(openai.HeaderReceipt); rec.Code == http.StatusOK && enc != "" {
						rc, err := openai.DecodeReceipt(enc)
						if err != nil {
							t.Error(err)
						}
						key, nb := tc.cheat(&rc, b, cheat.Key)
						if rc, err = voucher.SignReceipt(rc, key); err != nil {
							t.Error(err)
						}
						rec.Header().Set(openai.HeaderReceipt, openai.EncodeReceipt(rc))
						b = nb
					}
					for k, v := range rec.Header() {
						rw.Header()[k] = v
					}
					rw.WriteHeader(rec.Code)
					_, _ = rw.Write(b)
				})
			}
			cheat = w.addProvider("open1cheat", 1000, nil, wrap)
			w.addProvider("open1honest", 2000, nil, nil)
			g, hs := w.gateway(t.TempDir())
			st, text, raw := call(t, hs.URL, "/v1/completions", body)
			if st != http.StatusOK || text != "a b " {
				t.Fatalf("%d %q %s", st, text, raw)
			}
			if why := g.Dropped("open1cheat"); !strings.Contains(why, tc.why) {
				t.Fatalf("the cheat was not dropped for %q: %q", tc.why, why)
			}
			if why := g.Dropped("open1honest"); why != "" {
				t.Fatalf("the honest provider was dropped: %s", why)
			}
		})
	}
}
