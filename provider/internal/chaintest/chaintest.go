// Package chaintest connects provider components to a real chain started by
// testutil/e2e (the openledgerd binary on loopback). It is for tests only.
package chaintest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/provider/chainclient"
	"github.com/openledger/openledger/testutil/e2e"
)

// GasPrice is the e2e chain's minimum gas price (the app.toml default).
const GasPrice = "0.0025uopen"

var grpcAddrRE = regexp.MustCompile(`(?ms)^\[grpc\].*?^address = "([^"]+)"`)

// GRPCAddr reads the chain's gRPC address from its app.toml.
func GRPCAddr(t testing.TB, c *e2e.Chain) string {
	t.Helper()
	bz, err := os.ReadFile(filepath.Join(c.Home, "config", "app.toml"))
	if err != nil {
		t.Fatal(err)
	}
	m := grpcAddrRE.FindSubmatch(bz)
	if m == nil {
		t.Fatal("no [grpc] address in app.toml")
	}
	return string(m[1])
}

// RPCAddr is the chain's CometBFT RPC endpoint.
func RPCAddr(c *e2e.Chain) string { return fmt.Sprintf("tcp://127.0.0.1:%d", c.RPCPort) }

// Client returns a chain client signing with a test key of the chain's keyring
// (keyring-backend test in the chain's home), closed by t.Cleanup.
func Client(t testing.TB, c *e2e.Chain, key string, journal chainclient.Journal) *chainclient.Client {
	t.Helper()
	enc, err := chainclient.NewEncoding()
	if err != nil {
		t.Fatal(err)
	}
	kr, err := chainclient.OpenKeyring("test", c.Home, enc)
	if err != nil {
		t.Fatal(err)
	}
	price, err := sdk.ParseDecCoin(GasPrice)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := chainclient.New(chainclient.Config{
		GRPCAddr: GRPCAddr(t, c), ChainID: e2e.ChainID, KeyName: key, Keyring: kr,
		GasLimit: 400_000, GasPrice: price, InclusionTimeout: 30 * time.Second, Journal: journal,
	}, enc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}
