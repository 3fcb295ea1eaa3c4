package cli

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/openledger/openledger/storage"
)

// WithAPI runs fn against the IPFS daemon of the repo under the command's --home
// when it runs, else directly on the repo. Porcelain commands outside the `ipfs`
// tree (e.g. `tx datanet contribute`) use it so they behave like `ipfs add`.
func WithAPI(cmd *cobra.Command, fn func(ctx context.Context, a storage.API) error) error {
	return withAPI(cmd, fn)
}

// ProgressBar returns a byte-progress callback drawing on w when w is a terminal
// and the input is large, and a function that finishes the bar.
func ProgressBar(w io.Writer, total int64, desc string) (func(int64), func()) {
	return newBar(w, total, desc)
}
