package openai_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/openai"
)

// TestAcknowledgeVoucher: POST /v1/openledger/sessions/{id}/voucher takes a
// voucher naming every receipt issued and reserving nothing; it answers like
// /final, refuses as the request vouchers are refused, leaves the session
// open, and the acknowledged request settles with its receipt named.
func TestAcknowledgeVoucher(t *testing.T) {
	f := setup(t, nil)
	body := `{"model":"7","prompt":"a b c","max_tokens":2}`
	resp := f.post(t, "/v1/completions", body, f.pay.next(t, 5+2)) // prompt bound 5 bytes
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var cmp openai.Completion
	if err := json.Unmarshal(b, &cmp); err != nil || resp.StatusCode != 200 {
		t.Fatalf("request: %d %s", resp.StatusCode, b)
	}
	f.pay.take(t, f.prov, resp.Header.Get(openai.HeaderReceipt), []byte(cmp.Choices[0].Text))

	path := fmt.Sprintf("/v1/openledger/sessions/%d/voucher", f.pay.id)
	ack := f.pay.next(t, 0)
	stale := *f.pay
	stale.acc = voucher.Accumulator{} // a requester that lost the receipt
	other := *f.pay
	other.id++
	unknown := *f.pay
	unknown.id = 99
	for _, tc := range []struct {
		name, path, voucher string
		status              int
		code                string
	}{
		{"no voucher", path, "", 400, "invalid_voucher"},
		{"another session's voucher", path, other.next(t, 0), 400, "invalid_voucher"},
		{"out of sync", path, stale.next(t, 0), 409, "receipts_out_of_sync"},
		{"accepted", path, ack, 200, ""},
		{"replayed", path, ack, 409, "voucher_replayed"},
		{"unknown session", "/v1/openledger/sessions/99/voucher", unknown.next(t, 0), 404, "session_not_found"},
	} {
		resp := f.post(t, tc.path, "", tc.voucher)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Fatalf("%s: %d %s, want %d", tc.name, resp.StatusCode, b, tc.status)
		}
		if tc.code != "" {
			var eb openai.ErrorBody
			if err := json.Unmarshal(b, &eb); err != nil || eb.Error.Code == nil || *eb.Error.Code != tc.code {
				t.Fatalf("%s: %s, want code %s", tc.name, b, tc.code)
			}
			continue
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil || got["accepted"] != true || got["sequence"] != "2" || got["tokens"] != "7" {
			t.Fatalf("%s: %s", tc.name, b)
		}
	}
	st, err := f.prov.Sessions.State(f.pay.id)
	if err != nil || st.LastSequence != 2 || st.ReceiptCount != 1 || st.Final {
		t.Fatalf("state after the acknowledgement %+v (%v)", st, err)
	}
	if n := f.prov.Sessions.SettleDue(context.Background(), true); n != 1 || len(f.chain.Settled) != 1 {
		t.Fatalf("%d settled", n)
	}
	if v := f.chain.Settled[0].Voucher; v.Sequence != 2 || v.ReceiptCount != 1 {
		t.Fatalf("settled %+v", v)
	}
	// The session stays open: the next request is served.
	resp = f.post(t, "/v1/completions", body, f.pay.next(t, 5+2))
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("request after the acknowledgement: %d %s", resp.StatusCode, b)
	}
}
