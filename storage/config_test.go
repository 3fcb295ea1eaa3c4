package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSparseConfigTakesDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	os.WriteFile(path, []byte(`{"Datastore":{"StorageMax":1048576},"FetchTimeout":"45s"}`), 0o600)
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultConfig()
	if c.Datastore.StorageMax != 1<<20 || time.Duration(c.FetchTimeout) != 45*time.Second {
		t.Fatalf("overrides not applied: %+v", c)
	}
	// A struct given partially keeps defaults for its other keys too.
	if c.Datastore.SyncWrites != d.Datastore.SyncWrites || c.Addresses.API != d.Addresses.API || c.Import != d.Import {
		t.Fatalf("defaults lost: %+v", c)
	}
	raw, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, raw, 0o600)
	c2, err := LoadConfig(path)
	if err != nil || c2.Datastore.StorageMax != c.Datastore.StorageMax || c2.Gateway != c.Gateway {
		t.Fatalf("round trip: %+v %v", c2, err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"api empty", func(c *Config) { c.Addresses.API = "" }, "Addresses.API"},
		{"api not host:port", func(c *Config) { c.Addresses.API = "localhost" }, "host:port"},
		{"dht", func(c *Config) { c.Routing.DHT = "lan" }, "Routing.DHT"},
		{"bootstrap", func(c *Config) { c.Bootstrap = []string{"/ip4/1.2.3.4/tcp/1"} }, "Bootstrap"},
		{"swarm", func(c *Config) { c.Addresses.Swarm = []string{"tcp://x"} }, "listen address"},
		{"chunk", func(c *Config) { c.Import.ChunkSize = 10 }, "ChunkSize"},
		{"links", func(c *Config) { c.Import.MaxLinks = 1 }, "MaxLinks"},
		{"timeout", func(c *Config) { c.FetchTimeout = 0 }, "FetchTimeout"},
		{"reprovide", func(c *Config) { c.Routing.ReprovideInterval = -1 }, "ReprovideInterval"},
	} {
		c := DefaultConfig()
		tc.mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: want %q, got %v", tc.name, tc.want, err)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config")
	os.WriteFile(path, []byte(`{"FetchTimeout":30}`), 0o600)
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), "duration") {
		t.Fatalf("numeric duration: %v", err)
	}
}
