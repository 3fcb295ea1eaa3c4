package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/openledger/openledger/provider/verifier"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

func settlementVerdict(out, attr, usage verifier.Status) verifier.SettlementVerdict {
	req := func(n uint64, o verifier.Status) verifier.Verdict {
		vd := verdict(o, verifier.Pass, verifier.Pass)
		vd.JobID, vd.Request = 0, n
		return vd
	}
	return verifier.SettlementVerdict{SettlementID: 21, SessionID: 3, Sequence: 5, Provider: "open1p", DeploymentID: 1,
		RecordCID: "bafyrecord", ChallengeEndHeight: 140, Status: inferencetypes.SETTLEMENT_STATUS_PENDING,
		ClaimedRoot: strings.Repeat("ab", 32), ClaimedTokens: 90,
		Requests:    []verifier.Verdict{req(4, verifier.Pass), req(5, out)},
		Output:      verifier.Check{Status: out, Claimed: "receipts root abab", Reason: "request 5: re-execution gives a different output"},
		Attribution: verifier.Check{Status: attr, Claimed: "record 11", Recomputed: "record 22", Reason: "the settlement's summary is not the merge"},
		Usage:       verifier.Check{Status: usage, Claimed: "90 tokens settled", Recomputed: "80 tokens", Reason: "over-counted by 10 tokens"},
	}
}

func TestSettlementOutcomeAndText(t *testing.T) {
	P, F, U := verifier.Pass, verifier.Fail, verifier.Unknown
	for _, c := range []struct {
		name          string
		sv            verifier.SettlementVerdict
		err           error
		inText, notIn []string
	}{
		{"all hold", settlementVerdict(P, P, P), nil,
			[]string{"Settlement 21 of session 3 (voucher 5) by open1p", "request 4    re-execution  output ok, attribution ok, usage ok", "Every claim holds."},
			[]string{"tx inference challenge"}},
		{"output and usage", settlementVerdict(F, P, F), ErrSettlementMismatch,
			[]string{"request 5    re-execution  output MISMATCH", "  output: re-execution gives a different output", "until height 140",
				"tx inference challenge session-settlement 21 output-mismatch BOND --from KEY",
				"tx inference challenge session-settlement 21 usage-overcount BOND --from KEY"},
			[]string{"attribution-mismatch", "job-receipt"}},
		{"attribution", settlementVerdict(P, F, P), ErrSettlementMismatch,
			[]string{"attribution  MISMATCH", "not the merge", "challenge session-settlement 21 attribution-mismatch"}, []string{"output-mismatch"}},
		{"unknown", settlementVerdict(P, U, P), ErrSettlementUnverified, []string{"could not be checked"}, []string{"tx inference challenge"}},
	} {
		err := outcomeOf(c.sv.Checks(), ErrSettlementMismatch, ErrSettlementUnverified)
		if !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s: outcome %v, want %v", c.name, err, c.err)
		}
		var b bytes.Buffer
		writeSettlementText(&b, c.sv)
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

	sv := settlementVerdict(U, U, U)
	sv.Requests, sv.RecordUnavailable = nil, true
	var b bytes.Buffer
	writeSettlementText(&b, sv)
	if !strings.Contains(b.String(), "The batch record could not be fetched") {
		t.Errorf("unavailable record:\n%s", b.String())
	}
}

func TestSettlementJSON(t *testing.T) {
	sv := settlementVerdict(verifier.Pass, verifier.Pass, verifier.Fail)
	var b bytes.Buffer
	if err := writeSettlementJSON(&b, sv); err != nil {
		t.Fatal(err)
	}
	var got jsonSettlement
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	// Usage failed with no request over-counting in this synthetic verdict:
	// the established tokens are the settlement's less 0 over-counts.
	if got.OK || !got.Mismatch || len(got.Checks) != 3 || got.Checks[2].Status != "MISMATCH" || len(got.Requests) != 2 ||
		got.Requests[1].Request != 5 || got.Established.Output != sv.ClaimedRoot || got.Established.CompletionTokens != 90 {
		t.Fatalf("%s", b.String())
	}
}
