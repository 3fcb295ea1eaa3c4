package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/openledger/openledger/ml/generate"
	"github.com/openledger/openledger/provider/verifier"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

func verdict(out, attr, usage verifier.Status) verifier.Verdict {
	return verifier.Verdict{JobID: 7, Provider: "open1p", Method: verifier.MethodReexecute,
		Output:      verifier.Check{Status: out, Claimed: "sha256 aa", Recomputed: "sha256 bb", Reason: "re-execution gives a different output"},
		Attribution: verifier.Check{Status: attr, Claimed: "record 11", Recomputed: "record 22", Reason: "top entry 0 differs"},
		Usage:       verifier.Check{Status: usage, Claimed: "3 + 10", Recomputed: "3 + 8", Reason: "over-counted by 2 tokens"},
	}
}

func TestOutcomeAndText(t *testing.T) {
	job := inferencetypes.Job{Id: 7, Status: inferencetypes.JOB_STATUS_PENDING}
	r := inferencetypes.Receipt{JobId: 7, Provider: "open1p", ChallengeEndHeight: 120}
	P, F, U := verifier.Pass, verifier.Fail, verifier.Unknown
	for _, c := range []struct {
		name          string
		vd            verifier.Verdict
		err           error
		inText, notIn []string
	}{
		{"all hold", verdict(P, P, P), nil, []string{"Every claim holds."}, []string{"tx inference challenge"}},
		{"usage", verdict(P, P, F), ErrMismatch,
			[]string{"usage        MISMATCH", "claimed     3 + 10", "recomputed  3 + 8", "over-counted by 2 tokens", "until height 120",
				"tx inference challenge job-receipt 7 usage-overcount BOND --from KEY"},
			[]string{"output-mismatch", "attribution-mismatch"}},
		{"output and attribution", verdict(F, F, P), ErrMismatch,
			[]string{"7 output-mismatch BOND", "7 attribution-mismatch BOND"}, []string{"usage-overcount"}},
		{"unknown", verdict(P, U, P), ErrUnverified, []string{"could not be checked", "attribution  unknown"}, []string{"tx inference challenge"}},
	} {
		err := outcome(c.vd)
		if !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s: outcome %v, want %v", c.name, err, c.err)
		}
		var b bytes.Buffer
		writeText(&b, job, r, c.vd)
		for _, s := range c.inText {
			if !strings.Contains(b.String(), s) {
				t.Errorf("%s: no %q in\n%s", c.name, s, b.String())
			}
		}
		for _, s := range c.notIn {
			if strings.Contains(b.String(), s) {
				t.Errorf("%s: %q in\n%s", c.name, s, b.String())
			}
		}
	}
}

func TestJSON(t *testing.T) {
	vd := verdict(verifier.Pass, verifier.Fail, verifier.Pass)
	vd.Method = verifier.MethodScore
	vd.Score = &generate.Score{PromptTokens: 5, Tokens: 10, LogLik: -40, Entropy: 30, Variance: 25}
	var b bytes.Buffer
	if err := writeJSON(&b, inferencetypes.Job{Id: 7, Status: inferencetypes.JOB_STATUS_PENDING}, vd); err != nil {
		t.Fatal(err)
	}
	var got jsonVerdict
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.OK || !got.Mismatch || len(got.Checks) != 3 || got.Checks[1].Status != "MISMATCH" || got.Score == nil ||
		got.Score.Z != 2 || got.Score.Excess != 1 || got.JobStatus != "JOB_STATUS_PENDING" {
		t.Fatalf("%s", b.String())
	}
}
