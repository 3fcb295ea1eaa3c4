package feedback

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/x/models/types"
)

func TestParseInference(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Inference
		err  bool
	}{
		{in: "12", want: Inference{JobID: 12}},
		{in: "job:7", want: Inference{JobID: 7}},
		{in: "session:5:3", want: Inference{SessionID: 5, RequestSeq: 3}},
		{in: "0", err: true},
		{in: "job:", err: true},
		{in: "session:5", err: true},
		{in: "session:5:0", err: true},
		{in: "receipt:1", err: true},
		{in: "-1", err: true},
	} {
		got, err := ParseInference(tc.in)
		if tc.err != (err != nil) || !tc.err && got != tc.want {
			t.Errorf("%q: %+v, %v", tc.in, got, err)
		}
	}
}

func TestParseRating(t *testing.T) {
	for in, want := range map[string]types.FeedbackRating{
		"+1": types.FEEDBACK_RATING_UP, "1": types.FEEDBACK_RATING_UP, "UP": types.FEEDBACK_RATING_UP,
		"-1": types.FEEDBACK_RATING_DOWN, "down": types.FEEDBACK_RATING_DOWN,
	} {
		if got, err := ParseRating(in); err != nil || got != want {
			t.Errorf("%q: %s %v", in, got, err)
		}
	}
	for _, in := range []string{"0", "+2", "", "meh"} {
		if _, err := ParseRating(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// TestBuildInferenceMsg: a job takes no session flags; a session request's receipt
// must decode and name the request the argument names; the proof is 32-byte hashes.
func TestBuildInferenceMsg(t *testing.T) {
	r := voucher.Receipt{
		ChainID: "openledger-local-1", Provider: "open1provider", SessionID: 5, RequestSeq: 3, RequestSHA256: sha256.Sum256([]byte("request body")),
		OutputCID: "bafkreie2ckidrwnablwqz5vh5iczzjikqe2esbq2xb4erty2cpvp34z3fq", EngineName: "openledger-ml",
		ModelID: 1, ModelVersion: 1, Signature: make([]byte, 64),
	}
	wire := base64.StdEncoding.EncodeToString(r.Marshal())
	h := strings.Repeat("ab", 32)

	msg, err := BuildInferenceMsg(Inference{JobID: 9}, 0, "", "")
	if err != nil || msg.JobId != 9 {
		t.Fatalf("job: %+v %v", msg, err)
	}
	if _, err := BuildInferenceMsg(Inference{JobID: 9}, 4, "", ""); err == nil {
		t.Fatal("a job with --settlement accepted")
	}
	msg, err = BuildInferenceMsg(Inference{SessionID: 5, RequestSeq: 3}, 4, wire, h+","+h)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	if msg.SessionId != 5 || msg.SettlementId != 4 || !bytes.Equal(msg.Receipt, r.Marshal()) || len(msg.Proof) != 2 || hex.EncodeToString(msg.Proof[1]) != h {
		t.Fatalf("session msg %+v", msg)
	}
	msg.Rater, msg.Rating = "x", types.FEEDBACK_RATING_UP
	if _, err := msg.CheckFields(); err != nil {
		t.Fatalf("the chain's field checks refuse it: %v", err)
	}
	for name, args := range map[string][3]string{
		"other request": {"5", wire, h},
		"no receipt":    {"5", "", h},
		"not base64":    {"5", "!!", h},
		"short hash":    {"5", wire, "abcd"},
		"not a receipt": {"5", base64.StdEncoding.EncodeToString([]byte("nope")), ""},
		"no settlement": {"0", wire, h},
	} {
		inf := Inference{SessionID: 5, RequestSeq: 3}
		if name == "other request" {
			inf.RequestSeq = 2
		}
		settlement := uint64(4)
		if args[0] == "0" {
			settlement = 0
		}
		if _, err := BuildInferenceMsg(inf, settlement, args[1], args[2]); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRecord: the record is one JSON line the trainer reads, in both forms.
func TestRecord(t *testing.T) {
	pref, err := Record("Finish: a stitch in time", "saves nine", "saves time", false)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]string
	if err := json.Unmarshal(pref, &p); err != nil || p["prompt"] != "Finish: a stitch in time" || p["chosen"] != "saves nine" || p["rejected"] != "saves time" {
		t.Fatalf("preference record %q: %v", pref, err)
	}
	if !bytes.HasSuffix(pref, []byte("\n")) || bytes.Count(pref, []byte("\n")) != 1 {
		t.Fatalf("not one line: %q", pref)
	}
	sft, err := Record("Finish: a stitch in time", "saves nine", "", true)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]string
	if err := json.Unmarshal(sft, &s); err != nil || s["response"] != "saves nine" || s["chosen"] != "" {
		t.Fatalf("instruction record %q: %v", sft, err)
	}
	if _, err := Record("p", "same", "same", false); err == nil {
		t.Fatal("chosen == rejected accepted")
	}
}
