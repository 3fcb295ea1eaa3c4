package verifier

import (
	"context"
	"fmt"
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
type fakeChain struct {
	job     inferencetypes.Job
	receipt inferencetypes.Receipt
}

func (c fakeChain) Job(_ context.Context, id uint64) (inferencetypes.Job, error) {
	if id != c.job.Id {
		return inferencetypes.Job{}, fmt.Errorf("job %d: not found", id)
	}
	return c.job, nil
}

func (c fakeChain) Receipt(_ context.Context, id uint64) (inferencetypes.Receipt, error) {
	if id != c.receipt.JobId {
		return inferencetypes.Receipt{}, fmt.Errorf("receipt of job %d: not found", id)
	}
	return c.receipt, nil
}
