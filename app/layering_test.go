package app_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestChainImportsNoOffChainRoom: the state machine (app and every x/ module) must
// never link the off-chain rooms; they see the chain only through its types and clients.
func TestChainImportsNoOffChainRoom(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/openledger/openledger/app").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	offChain := []string{"storage", "p2p", "ml", "attribution", "provider", "cmd"}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list returned only %d packages", len(deps))
	}
	for _, dep := range deps {
		for _, room := range offChain {
			prefix := "github.com/openledger/openledger/" + room
			if dep == prefix || strings.HasPrefix(dep, prefix+"/") {
				t.Errorf("the chain links the off-chain package %s", dep)
			}
		}
	}
}
