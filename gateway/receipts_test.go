package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"testing"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/openledger/openledger/inference/voucher"
)

func storeReceipt(t *testing.T, key libp2pcrypto.PrivKey, session, seq uint64) StoredReceipt {
	t.Helper()
	out := fmt.Sprintf("output %d", seq)
	rc, err := voucher.SignReceipt(voucher.Receipt{
		ChainID: "openledger-test", Provider: "open1provider", SessionID: session, RequestSeq: seq, OutputCID: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
		RequestSHA256: sha256.Sum256(fmt.Appendf(nil, `{"model":"1","prompt":"p","max_tokens":%d}`, seq)),
		OutputSHA256:  sha256.Sum256([]byte(out)), PromptTokens: 3, CompletionTokens: seq,
		EngineName: "builtin", EngineVersion: "1", ModelID: 1, ModelVersion: 1,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return StoredReceipt{Session: session, Seq: seq, Receipt: rc.Marshal(), Prompt: "p", Output: out, Known: true}
}

// TestReceiptStore: receipts survive a restart, a torn last record is cut
// and the next append continues after the last whole one, and the proof of
// every request N verifies against voucher.Root of the first n receipts for
// every n >= N (the roots settlements commit to).
func TestReceiptStore(t *testing.T) {
	key, _, err := libp2pcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	st, err := OpenReceipts(home)
	if err != nil {
		t.Fatal(err)
	}
	const total = 13
	var leaves [][32]byte
	for seq := uint64(1); seq <= total; seq++ {
		rec := storeReceipt(t, key, 4, seq)
		if err := st.Append(rec); err != nil {
			t.Fatal(err)
		}
		if err := st.Append(rec); err != nil { // a repeat is a no-op
			t.Fatal(err)
		}
		rc, _ := voucher.UnmarshalReceipt(rec.Receipt)
		leaves = append(leaves, rc.LeafHash())
	}
	if err := st.Append(storeReceipt(t, key, 4, total+2)); err == nil {
		t.Fatal("a gap was accepted")
	}
	if err := st.Append(storeReceipt(t, key, 5, 1)); err != nil { // another session
		t.Fatal(err)
	}

	// Restart, then tear the last record of session 4 mid-write.
	p := receiptsDir(home) + "/4.log"
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, fi.Size()-5); err != nil {
		t.Fatal(err)
	}
	st, err = OpenReceipts(home)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.Session(4)
	if err != nil || len(recs) != total-1 {
		t.Fatalf("after a torn record: %d receipts, %v; want %d", len(recs), err, total-1)
	}
	if got, ok, _ := st.Get(4, 3); !ok || got.Output != "output 3" || !got.Known {
		t.Fatalf("request 3: %+v %v", got, ok)
	}
	if _, ok, _ := st.Get(4, total); ok {
		t.Fatal("the torn request is still there")
	}
	// The torn one is appended again (from the provider, say) and more follow.
	if err := st.Append(storeReceipt(t, key, 4, total)); err != nil {
		t.Fatal(err)
	}
	if err := st.Append(storeReceipt(t, key, 4, total+1)); err != nil {
		t.Fatal(err)
	}
	rc, _ := voucher.UnmarshalReceipt(storeReceipt(t, key, 4, total+1).Receipt)
	leaves = append(leaves, rc.LeafHash())
	if recs, _ := st.Session(4); len(recs) != total+1 {
		t.Fatalf("%d receipts after the re-append, want %d", len(recs), total+1)
	}

	for n := uint64(1); n <= total+1; n++ {
		root := voucher.Root(leaves[:n])
		for seq := uint64(1); seq <= n; seq++ {
			b, proof, got, err := st.Proof(4, seq, n)
			if err != nil {
				t.Fatalf("proof of %d in %d: %v", seq, n, err)
			}
			if got != root {
				t.Fatalf("root of %d: differs from voucher.Root", n)
			}
			r, err := voucher.UnmarshalReceipt(b)
			if err != nil || r.RequestSeq != seq {
				t.Fatalf("receipt %d: %v %d", seq, err, r.RequestSeq)
			}
			if err := voucher.VerifyProof(root, r.LeafHash(), seq-1, n, proof); err != nil {
				t.Fatalf("proof of %d in %d: %v", seq, n, err)
			}
		}
	}
	if _, _, _, err := st.Proof(4, 2, total+5); err == nil {
		t.Fatal("a proof over receipts not stored")
	}
	if _, _, _, err := st.Proof(4, 5, 4); err == nil {
		t.Fatal("a proof of a request outside the tree")
	}
}

func TestParseRequestID(t *testing.T) {
	for _, c := range []struct {
		in       string
		s, n     uint64
		wantFail bool
	}{
		{in: "session:3:7", s: 3, n: 7},
		{in: RequestID(12, 1), s: 12, n: 1},
		{in: "session:0:1", wantFail: true},
		{in: "session:1:0", wantFail: true},
		{in: "session:+1:2", wantFail: true},
		{in: "job:1", wantFail: true},
		{in: "session:1:2:3", wantFail: true},
	} {
		s, n, err := ParseRequestID(c.in)
		if (err != nil) != c.wantFail || !c.wantFail && (s != c.s || n != c.n) {
			t.Errorf("%q: %d %d %v", c.in, s, n, err)
		}
	}
}

// FuzzReceiptLog: whatever bytes a session's log holds (a torn or corrupt
// file), reading it does not panic, returns only whole records in sequence,
// and an append after it continues from the last whole one.
func FuzzReceiptLog(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 2, 0, 0, 0, 0, '{', '}'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		home := t.TempDir()
		st, err := OpenReceipts(home)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(st.path(1), b, 0o600); err != nil {
			t.Fatal(err)
		}
		recs, err := st.Session(1)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			if r.Session != 1 || r.Seq != uint64(i+1) {
				t.Fatalf("record %d: %+v", i, r)
			}
		}
		next := StoredReceipt{Session: 1, Seq: uint64(len(recs)) + 1, Receipt: []byte{1}}
		if err := st.Append(next); err != nil {
			t.Fatal(err)
		}
		again, err := st.Session(1)
		if err != nil || len(again) != len(recs)+1 {
			t.Fatalf("after an append: %d records, want %d (%v)", len(again), len(recs)+1, err)
		}
	})
}
