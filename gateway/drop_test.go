package gateway_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/openai"
	"github.com/openledger/openledger/provider/openai/openaitest"
	"github.com/openledger/openledger/provider/sessions"
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
			name: "receipt signs the digest of another request body",
			cheat: func(rc *voucher.Receipt, b []byte, key libp2pcrypto.PrivKey) (libp2pcrypto.PrivKey, []byte) {
				rc.RequestSHA256 = sha256.Sum256([]byte(`{"model":"7","prompt":"something else","max_tokens":4}`))
				return key, b
			},
			why: "request digest",
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

// TestForgedLostReceiptDropped: a provider answers 409 receipts_out_of_sync
// and serves, as the receipt of a response the gateway "lost", a receipt it
// signed for 1,000,000 tokens. A lost receipt belongs to a request the gateway
// sent a voucher for, so with what was served before it, it fits in the
// tokens those vouchers covered; this one does not: the provider is dropped
// and no voucher the gateway signs pays for the forged tokens.
func TestForgedLostReceiptDropped(t *testing.T) {
	w := newWorld(t)
	var cheat *openaitest.Provider
	var mu sync.Mutex
	var signed []voucher.Voucher
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if hv := r.Header.Get(openai.HeaderVoucher); hv != "" {
				v, err := voucher.DecodeVoucher(hv)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				signed = append(signed, v)
				mu.Unlock()
			}
			var id uint64
			if _, err := fmt.Sscanf(r.URL.Path, "/v1/openledger/sessions/%d/receipts", &id); err == nil {
				if r.URL.Query().Get("from") != "0" {
					_, _ = rw.Write([]byte(`{"receipts":[]}`))
					return
				}
				rc, err := voucher.SignReceipt(voucher.Receipt{
					ChainID: openaitest.ChainID, Provider: "open1cheat", SessionID: id, RequestSeq: 1, RequestSHA256: sha256.Sum256([]byte("{}")),
					OutputCID: sessions.RawCID([]byte("never sent")), OutputSHA256: sha256.Sum256([]byte("never sent")),
					PromptTokens: 3, CompletionTokens: 999_997, EngineName: "fake", EngineVersion: "1", ModelID: 1, ModelVersion: 1,
				}, cheat.Key)
				if err != nil {
					t.Error(err)
				}
				_, _ = fmt.Fprintf(rw, `{"receipts":[%q]}`, openai.EncodeReceipt(rc))
				return
			}
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/completions") {
				rw.Header().Set("Content-Type", "application/json")
				rw.WriteHeader(http.StatusConflict)
				_, _ = rw.Write([]byte(`{"error":{"message":"this provider issued 1 receipt","type":"invalid_request_error","param":null,"code":"receipts_out_of_sync"}}`))
				return
			}
			h.ServeHTTP(rw, r)
		})
	}
	cheat = w.addProvider("open1cheat", 1000, nil, wrap)
	w.addProvider("open1honest", 2000, nil, nil)
	g, hs := w.gateway(t.TempDir())
	st, text, raw := call(t, hs.URL, "/v1/completions", `{"model":"tiny","prompt":"a b","max_tokens":4}`)
	if st != http.StatusOK || text != "a b " {
		t.Fatalf("%d %q %s", st, text, raw)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, v := range signed {
		if v.CumulativeTokens > 3+4 { // the one request's prompt bound + max_tokens
			t.Fatalf("the gateway signed voucher %d for %d tokens (%s) to the forger", v.Sequence, v.CumulativeTokens, v.CumulativeAmount)
		}
	}
	if why := g.Dropped("open1cheat"); !strings.Contains(why, "receipt 1") {
		t.Fatalf("the forger was not dropped for its receipt: %q", why)
	}
}
