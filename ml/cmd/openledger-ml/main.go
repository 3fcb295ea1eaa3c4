// Command openledger-ml runs the `model` command tree on its own, for
// development and benchmarks before (or without) the full openledgerd
// binary: `go run ./ml/cmd/openledger-ml train --data ... --out ...`.
package main

import (
	"context"
	"os"

	"github.com/openledger/openledger/ml/cli"
)

func main() {
	cmd := cli.NewModelCommand()
	cmd.Use = "openledger-ml"
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		os.Exit(1)
	}
}
