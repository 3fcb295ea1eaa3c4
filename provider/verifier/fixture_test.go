package verifier

import (
	"os"
	"sync"
	"testing"

	"github.com/openledger/openledger/provider/verifier/verifiertest"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// The shared fixture (verifiertest): a real IPFS node, a tiny trained model
// with a span index, x/models faked at the process boundary.
const (
	vSpan     = verifiertest.VSpan
	vNoAttrib = verifiertest.VNoAttrib
	vLoRA     = verifiertest.VLoRA
)

var (
	execJob   = verifiertest.ExecJob
	receiptOf = verifiertest.ReceiptOf
)

var (
	worldOnce sync.Once
	theWorld  *verifiertest.World
	worldErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if theWorld != nil {
		os.RemoveAll(theWorld.Dir)
	}
	os.Exit(code)
}

func getWorld(t testing.TB) *verifiertest.World {
	t.Helper()
	worldOnce.Do(func() { theWorld, worldErr = verifiertest.Build() })
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return theWorld
}

// fakeChain is x/inference at the process boundary: one job and its receipt.
func fakeChain(j inferencetypes.Job, r inferencetypes.Receipt) *verifiertest.Chain {
	return &verifiertest.Chain{Jobs: map[uint64]inferencetypes.Job{j.Id: j}, Receipts: map[uint64]inferencetypes.Receipt{r.JobId: r}}
}
