package gateway_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestFinalVoucherRetried: the provider is unreachable when the gateway sends
// a session's final voucher (down, or the gateway killed meanwhile). The
// final voucher is not lost: a gateway restarted on the same home sends it
// again, the provider commits it (every receipt, ready to settle), and once
// delivered it is never sent again.
func TestFinalVoucherRetried(t *testing.T) {
	w := newWorld(t)
	var down atomic.Bool
	var finals atomic.Int64
	cut := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/final") {
				finals.Add(1)
				if down.Load() {
					panic(http.ErrAbortHandler)
				}
			}
			h.ServeHTTP(rw, r)
		})
	}
	p := w.addProvider("open1p", 1000, nil, cut)
	home := t.TempDir()
	g, hs := w.gateway(home)
	for range 2 {
		if st, _, raw := call(t, hs.URL, "/v1/completions", `{"model":"tiny","prompt":"a b","max_tokens":2}`); st != http.StatusOK {
			t.Fatalf("%d %s", st, raw)
		}
	}
	down.Store(true)
	g.FinaliseIdle(true)
	if st, err := p.Sessions.State(1); err != nil || st.Final {
		t.Fatalf("the provider got the final voucher while down: %+v %v", st, err)
	}

	down.Store(false)
	g2, _ := w.gateway(home) // restarted
	g2.FinaliseIdle(true)
	st, err := p.Sessions.State(1)
	if err != nil || !st.Final || st.ReceiptCount != 2 {
		t.Fatalf("after the restart the provider holds %+v (%v), want the final voucher over 2 receipts", st, err)
	}
	g2.FinaliseIdle(true)
	g3, _ := w.gateway(home)
	g3.FinaliseIdle(true)
	if n := finals.Load(); n != 2 {
		t.Fatalf("%d final vouchers sent, want 2 (one cut, one delivered)", n)
	}
}
