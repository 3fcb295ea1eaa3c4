package feedback

import (
	"errors"
	"testing"
)

func TestChainReason(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"rpc error: code = Unknown desc = failed to execute message; message index: 0: feedback 2: the inference already has feedback [/root/go/pkg/mod/cosmossdk.io/errors@v1.1.0/errors.go:165] with gas used: '54865': unknown request",
			"feedback 2: the inference already has feedback"},
		{"rpc error: code = Unknown desc = job 99: inference not found [x.go:1]", "job 99: inference not found"},
		{"connection refused", "connection refused"},
	} {
		if got := chainReason(errors.New(tc.in)); got != tc.want {
			t.Errorf("chainReason(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
