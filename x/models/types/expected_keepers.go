package types

import (
	"context"

	datanettypes "github.com/openledger/openledger/x/datanet/types"
)

// DatanetKeeper is the part of x/datanet the models module reads: a dataset version
// exists only once frozen, so existence is the check.
type DatanetKeeper interface {
	GetDatasetVersion(ctx context.Context, datanetID, version uint64) (datanettypes.DatasetVersion, error)
}
