package cmd

import (
	"io"
	"strings"
	"testing"

	svrcmd "github.com/cosmos/cosmos-sdk/server/cmd"
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
