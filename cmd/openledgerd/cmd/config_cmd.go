package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/client"
)

// clientKeys are the settings of config/client.toml.
var clientKeys = []string{"chain-id", "keyring-backend", "keyring-default-keyname", "output", "node", "broadcast-mode", "grpc-address", "grpc-insecure"}

// NewConfigCmd reads and writes the client settings in <home>/config/client.toml.
func NewConfigCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "config [key] [value]",
		Short: "Show or set client settings (chain-id, keyring-backend, node, output, broadcast-mode, …)",
		Long: `Without arguments, prints every client setting. With a key, prints its value.
With a key and a value, sets it in <home>/config/client.toml.`,
		Example: "openledgerd config chain-id openledger-local-1\nopenledgerd config keyring-backend test",
		Args:    cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			clientCtx := client.GetClientContextFromCmd(cmd)
			path := filepath.Join(clientCtx.HomeDir, "config", "client.toml")
			settings := map[string]any{}
			if bz, err := os.ReadFile(path); err == nil {
				if err := toml.Unmarshal(bz, &settings); err != nil {
					return fmt.Errorf("%s is not valid TOML: %w", path, err)
				}
			} else if !os.IsNotExist(err) {
				return err
			}
			if len(args) == 0 {
				keys := make([]string, 0, len(settings))
				for k := range settings {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					cmd.Printf("%s = %v\n", k, settings[k])
				}
				return nil
			}
			key := args[0]
			if !knownClientKey(key) {
				return fmt.Errorf("unknown client setting %q; known settings: %v", key, clientKeys)
			}
			if len(args) == 1 {
				cmd.Println(settings[key])
				return nil
			}
			if key == "grpc-insecure" {
				settings[key] = args[1] == "true"
			} else {
				settings[key] = args[1]
			}
			bz, err := toml.Marshal(settings)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			return os.WriteFile(path, bz, 0o600)
		},
	}
}

func knownClientKey(k string) bool {
	for _, c := range clientKeys {
		if c == k {
			return true
		}
	}
	return false
}
