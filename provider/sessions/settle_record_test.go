package sessions_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"testing"

	"github.com/openledger/openledger/inference/batchrecord"
	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/provider/sessions"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// attributed is served with a pool-only summary crediting datanet d.
func attributed(out string, d uint64) sessions.Served {
	s := served(out, 10, 20)
	rec := []byte("attribution record of " + out)
	sum := sha256.Sum256(rec)
	s.RecordCID = sessions.RawCID(rec)
	s.Summary = voucher.Summary{RecordSha256: hex.EncodeToString(sum[:]), Pools: []voucher.PoolEntry{{DatanetID: d, Version: 1, Ppm: voucher.PpmScale}}}
	return s
}

// serve runs one accepted request that serves s.
func (e *env) serve(s sessions.Served) voucher.Receipt {
	e.t.Helper()
	tk, err := e.m.Accept(context.Background(), e.client.next(100), sessions.Request{DeploymentID: 7, MaxTokens: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := tk.Complete(s)
	if err != nil {
		e.t.Fatal(err)
	}
	e.client.take(r)
	return r
}

// settleOne settles and returns the settlement and its published record,
// checked as a verifier would: it decodes and validates, its receipts give
// the voucher's root over the prior accumulator, its sha256 is the summary's
// and the summary merges its receipts'.
func (e *env) settleOne() (*inferencetypes.MsgSettleSession, batchrecord.Record, []voucher.Receipt) {
	e.t.Helper()
	before := len(e.chain.settled)
	if n := e.m.SettleDue(context.Background(), true); n != 1 || len(e.chain.settled) != before+1 {
		e.t.Fatalf("settled %d", n)
	}
	msg := e.chain.settled[before]
	b, ok := e.records.get(msg.RecordCid)
	if !ok {
		e.t.Fatalf("record %s not published", msg.RecordCid)
	}
	rec, err := batchrecord.Decode(b)
	if err != nil {
		e.t.Fatal(err)
	}
	rs, err := rec.Receipts()
	if err != nil {
		e.t.Fatal(err)
	}
	prior, err := rec.PriorAccumulator()
	if err != nil {
		e.t.Fatal(err)
	}
	if root := batchrecord.Root(prior, rs); !bytes.Equal(root[:], msg.Voucher.ReceiptsRoot) {
		e.t.Fatalf("the record gives root %x, the voucher's is %x", root, msg.Voucher.ReceiptsRoot)
	}
	if rec.SessionID != msg.SessionId || rec.Sequence != msg.Voucher.Sequence || rec.ReceiptCount != msg.Voucher.ReceiptCount {
		e.t.Fatalf("record names session %d voucher %d count %d; the settlement %d %d %d", rec.SessionID, rec.Sequence, rec.ReceiptCount,
			msg.SessionId, msg.Voucher.Sequence, msg.Voucher.ReceiptCount)
	}
	want := batchrecord.MergeSummaries(rs, rec.TopK)
	if len(want.Top)+len(want.Pools) > 0 {
		sum := sha256.Sum256(b)
		want.RecordSha256 = hex.EncodeToString(sum[:])
	}
	if !reflect.DeepEqual(msg.Summary, want) {
		e.t.Fatalf("settlement summary %+v, the record's %+v", msg.Summary, want)
	}
	for i, q := range rec.Requests {
		tr, err := e.m.Transcript(1, rs[i].RequestSeq)
		if err != nil || q.Endpoint != tr.Endpoint || q.MaxTokens != tr.MaxTokens || !bytes.Equal(q.Body, tr.Body) || !bytes.Equal(q.Output, tr.Output) {
			e.t.Fatalf("request %d is not its stored transcript (%v)", rs[i].RequestSeq, err)
		}
	}
	return msg, rec, rs
}

// TestSettlementRecordIncrement: the second settlement's record covers the
// requests after the first's, over the accumulator of the settled ones.
func TestSettlementRecordIncrement(t *testing.T) {
	e := newEnv(t)
	e.serve(attributed("one", 3))
	e.serve(attributed("two", 4))
	_, rec, rs := e.settleOne() // voucher 2 names receipt 1
	if rec.FromRequest != 1 || len(rs) != 1 || rs[0].RequestSeq != 1 || len(rec.Prior) == 0 {
		t.Fatalf("first record from %d with %d requests", rec.FromRequest, len(rs))
	}
	e.serve(attributed("three", 5))
	e.serve(attributed("four", 6))
	msg, rec, rs := e.settleOne() // voucher 4 names receipts 1..3
	if rec.FromRequest != 2 || len(rs) != 2 || rs[1].RequestSeq != 3 {
		t.Fatalf("second record from %d with %d requests", rec.FromRequest, len(rs))
	}
	if prior, _ := rec.PriorAccumulator(); prior.Len() != 1 {
		t.Fatalf("prior accumulator of %d receipts", prior.Len())
	}
	if len(msg.Summary.Pools) != 2 || msg.Summary.Pools[0].DatanetId != 4 || msg.Summary.Pools[1].DatanetId != 5 {
		t.Fatalf("summary %v, want datanets 4 and 5", msg.Summary.Pools)
	}
}

// TestSettlementRecordFallback: an increment whose receipts carry no
// attribution is attributed over every request under the voucher's root, and
// its record covers them all — never the receipt served after the voucher.
func TestSettlementRecordFallback(t *testing.T) {
	e := newEnv(t)
	e.serve(attributed("one", 3))
	e.serve(served("two", 10, 20))
	e.settleOne() // voucher 2 names receipt 1
	e.serve(served("three", 10, 20))
	e.serve(attributed("four", 9)) // receipt 4 is not under voucher 4
	msg, rec, rs := e.settleOne()
	if rec.FromRequest != 1 || len(rs) != 3 || rec.ReceiptCount != 3 || len(rec.Prior) == 0 {
		t.Fatalf("fallback record from %d with %d requests, receipt count %d", rec.FromRequest, len(rs), rec.ReceiptCount)
	}
	if prior, _ := rec.PriorAccumulator(); prior.Len() != 0 {
		t.Fatalf("prior accumulator of %d receipts", prior.Len())
	}
	if len(msg.Summary.Pools) != 1 || msg.Summary.Pools[0].DatanetId != 3 {
		t.Fatalf("summary %v, want datanet 3 alone", msg.Summary.Pools)
	}
}
