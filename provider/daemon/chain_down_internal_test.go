package daemon

import (
	"bytes"

	"context"
	"cosmossdk.io/math"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cosmos/cosmos-sdk/crypto/hd"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/provider/chainclient"
)

// TestWaitForChainBacksOffOnAClosedPort: with nothing listening on the node's
// gRPC port, the daemon does not give up at start: it retries with a doubling
// delay and says so, naming the endpoint.
func TestWaitForChainBacksOffOnAClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a closed loopback port: connection refused

	enc, err := chainclient.NewEncoding()
	if err != nil {
		t.Fatal(err)
	}
	kr, err := chainclient.OpenKeyring("test", t.TempDir(), enc)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := kr.NewMnemonic("op", keyring.English, sdk.FullFundraiserPath, "", hd.Secp256k1); err != nil {
		t.Fatal(err)
	}
	cl, err := chainclient.New(chainclient.Config{GRPCAddr: addr, ChainID: "test-1", KeyName: "op", Keyring: kr,
		GasLimit: 200_000, GasPrice: sdk.NewDecCoinFromDec("uopen", math.LegacyMustNewDecFromStr("0.0025")), RequestTimeout: time.Second}, enc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
	defer cancel()
	err = waitForChain(ctx, cl, addr, log)
	if err == nil || ctx.Err() == nil {
		t.Fatalf("waitForChain returned %v before its context ended", err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"in=1s", "in=2s", "in=4s"} // 1 s + 2 s < 3.5 s
	if len(lines) != len(want) {
		t.Fatalf("%d log lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, l := range lines {
		for _, s := range []string{"level=WARN", `msg="chain unreachable; retrying"`, "grpc=" + addr, want[i], "connection refused"} {
			if !strings.Contains(l, s) {
				t.Errorf("line %d lacks %q: %s", i, s, l)
			}
		}
	}
}
