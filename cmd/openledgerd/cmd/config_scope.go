package cmd

import "github.com/spf13/cobra"

// offChainTrees are the command trees that never read the node's config files. The
// SDK's config interception (server.InterceptConfigsPreRunHandler) copies every key
// of config.toml and app.toml into the running command's flag of the same name when
// the flag was not given, which silently turned `attribution index build --version`
// into "0.39.0" and filled `provider init --rpc/--grpc` from the node's sections.
var offChainTrees = map[string]bool{
	"attribution": true,
	"demo":        true,
	"feedback":    true,
	"gateway":     true,
	"infer":       true,
	"ipfs":        true,
	"model":       true,
	"provider":    true,
	"session":     true,
	"verify":      true,
}

// readsNodeConfig reports whether cmd belongs to a tree that uses the node's config
// files (the node itself, genesis, keys, tx and query commands).
func readsNodeConfig(cmd *cobra.Command) bool {
	top := cmd
	for top.HasParent() && top.Parent().HasParent() {
		top = top.Parent()
	}
	return !offChainTrees[top.Name()]
}
