package cmd

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	svrcmd "github.com/cosmos/cosmos-sdk/server/cmd"
	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func TestReadsNodeConfig(t *testing.T) {
	root := NewRootCmd()
	for _, tc := range []struct {
		path []string
		want bool
	}{
		{[]string{"start"}, true},
		{[]string{"tx", "bank", "send"}, true},
		{[]string{"query", "inference", "job"}, true},
		{[]string{"genesis", "add-genesis-account"}, true},
		{[]string{"attribution", "index", "build"}, false},
		{[]string{"provider", "init"}, false},
		{[]string{"model", "train"}, false},
		{[]string{"ipfs", "add"}, false},
		{[]string{"session", "open"}, false},
		{[]string{"feedback", "prefer"}, false},
	} {
		cmd, _, err := root.Find(tc.path)
		if err != nil {
			t.Fatalf("%v: %v", tc.path, err)
		}
		if got := readsNodeConfig(cmd); got != tc.want {
			t.Errorf("%v: readsNodeConfig = %v, want %v", tc.path, got, tc.want)
		}
	}
}

// TestOffChainFlagsNotFilledFromNodeConfig runs `attribution index build` with a home
// whose config.toml has version = "0.39.0": its --version flag must stay unset (the
// command fails on its missing arguments, not on the config value).
func TestOffChainFlagsNotFilledFromNodeConfig(t *testing.T) {
	home := t.TempDir()
	root := NewRootCmd()
	root.SetArgs([]string{"init", "x", "--home", home})
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	if err := root.Execute(); err != nil {
		t.Fatalf("init: %v", err)
	}
	root = NewRootCmd()
	root.SetArgs([]string{"attribution", "index", "build", "--home", home})
	err := svrcmd.Execute(root, EnvPrefix, home) // as main does: with a server context

	if err == nil {
		t.Fatal("index build without arguments succeeded")
	}
	if strings.Contains(err.Error(), "0.39.0") {
		t.Fatalf("the node's config leaked into the flags: %v", err)
	}
}

// TestNoChainFlagNamedLikeANodeConfigKey walks every tx and query command: none may
// have a flag named like a top-level key or table of config.toml or app.toml, since
// the SDK's config interception would fill the unset flag from the file (an autocli
// `--version` flag once read config.toml's "0.39.0" and broke every update that did
// not give it).
func TestNoChainFlagNamedLikeANodeConfigKey(t *testing.T) {
	home := t.TempDir()
	root := NewRootCmd()
	root.SetArgs([]string{"init", "x", "--home", home})
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	if err := root.Execute(); err != nil {
		t.Fatalf("init: %v", err)
	}
	keys := map[string]string{}
	for _, f := range []string{"config.toml", "app.toml"} {
		b, err := os.ReadFile(filepath.Join(home, "config", f))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := toml.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for k := range m {
			keys[k] = f
		}
	}
	if keys["version"] == "" || keys["minimum-gas-prices"] == "" {
		t.Fatalf("the config files were not read: %v", keys)
	}
	root = NewRootCmd()
	var walk func(c *cobra.Command)
	checked := 0
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			checked++
			if file, ok := keys[f.Name]; ok {
				t.Errorf("%s: flag --%s is a key of %s; rename it", c.CommandPath(), f.Name, file)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	for _, tree := range []string{"tx", "query"} {
		c, _, err := root.Find([]string{tree})
		if err != nil {
			t.Fatal(err)
		}
		walk(c)
	}
	if checked < 500 {
		t.Fatalf("only %d flags checked: the command tree was not built", checked)
	}
}
