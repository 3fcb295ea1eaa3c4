package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValidAndLoopback(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Chain.RPC, "127.0.0.1") || !strings.HasPrefix(c.Chain.GRPC, "127.0.0.1:") {
		t.Fatalf("chain endpoints not loopback: %s %s", c.Chain.RPC, c.Chain.GRPC)
	}
	for _, a := range c.P2P.ListenAddrs {
		if !strings.HasPrefix(a, "/ip4/127.0.0.1/") {
			t.Fatalf("listen address %s is not loopback", a)
		}
	}
}

func TestWriteThenLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "provider", FileName)
	c := Default()
	c.Chain.ID = "openledger-test-9"
	c.Price.Deployments = []DeploymentPrice{{DeploymentID: 3, BasePrice: "12uopen", FloorPrice: "10uopen", MaxConcurrency: 2}}
	c.Backends = append(c.Backends, Backend{Name: "vllm", Kind: BackendOpenAI, URL: "http://127.0.0.1:8000/v1", MaxConcurrency: 8, Timeout: Duration(time.Minute)})
	if err := c.Write(path); err != nil {
		t.Fatal(err)
	}
	bz, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Documented: every section and a few keys carry their comment.
	for _, want := range []string{"# Chain id the transactions are signed for.", "# Gas price,", "[chain]", "[[backends]]", "[[price.deployments]]"} {
		if !strings.Contains(string(bz), want) {
			t.Errorf("written file lacks %q:\n%s", want, bz)
		}
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Chain.ID != c.Chain.ID || len(got.Backends) != 2 || got.Backends[1].URL != c.Backends[1].URL ||
		len(got.Price.Deployments) != 1 || got.Price.Deployments[0].FloorPrice != "10uopen" ||
		got.Chain.RequestTimeout != c.Chain.RequestTimeout {
		t.Fatalf("round trip changed the config:\n%+v\n%+v", got, c)
	}
}

func TestSparseFileKeepsDefaults(t *testing.T) {
	got, err := Parse([]byte("[chain]\nid = \"x-1\"\n[gas]\nprice = \"0.01uopen\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if got.Chain.ID != "x-1" || got.Gas.Price != "0.01uopen" {
		t.Fatalf("file keys not applied: %+v", got)
	}
	if got.Chain.RPC != d.Chain.RPC || got.Gas.Limit != d.Gas.Limit || len(got.Backends) != 1 || len(got.P2P.ListenAddrs) != 2 {
		t.Fatalf("defaults lost: %+v", got)
	}
}

func TestListInFileReplacesDefault(t *testing.T) {
	got, err := Parse([]byte("[p2p]\nlisten_addrs = [\"/ip4/127.0.0.1/tcp/5001\"]\n[[backends]]\nname = \"ollama\"\nkind = \"openai\"\nurl = \"http://127.0.0.1:11434/v1\"\nmax_concurrency = 1\ntimeout = \"30s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.P2P.ListenAddrs) != 1 || len(got.Backends) != 1 || got.Backends[0].Name != "ollama" {
		t.Fatalf("lists merged instead of replaced: %+v %+v", got.P2P.ListenAddrs, got.Backends)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name, file, want string
	}{
		{"unknown top key", "colour = 1\n", "unknown key colour"},
		{"unknown nested key", "[chain]\nrcp = \"tcp://127.0.0.1:1\"\n", "unknown key chain.rcp"},
		{"bad duration", "[chain]\nrequest_timeout = \"ten\"\n", "line 2"},
		{"bad syntax", "[chain\n", "line 1"},
		{"bad grpc", "[chain]\ngrpc = \"nohost\"\n", "chain.grpc"},
		{"bad rpc scheme", "[chain]\nrpc = \"ws://127.0.0.1:1\"\n", "chain.rpc"},
		{"bad backend", "[[backends]]\nname = \"x\"\nkind = \"magic\"\nmax_concurrency = 1\ntimeout = \"1s\"\n", "backends[0].kind"},
		{"openai without url", "[[backends]]\nname = \"x\"\nkind = \"openai\"\nmax_concurrency = 1\ntimeout = \"1s\"\n", "backends[0].url"},
		{"bad price", "[[price.deployments]]\ndeployment_id = 1\nbase_price = \"ten\"\n", "price.deployments[0].base_price"},
		{"floor above base", "[[price.deployments]]\ndeployment_id = 1\nbase_price = \"5uopen\"\nfloor_price = \"6uopen\"\n", "price.deployments[0].floor_price"},
		{"duplicate deployment", "[[price.deployments]]\ndeployment_id = 1\nbase_price = \"5uopen\"\n[[price.deployments]]\ndeployment_id = 1\nbase_price = \"5uopen\"\n", "price.deployments[1].deployment_id"},
		{"keyring", "[key]\nkeyring_backend = \"vault\"\n", "key.keyring_backend"},
		{"gas price", "[gas]\nprice = \"free\"\n", "gas.price"},
		{"zero concurrency", "[price]\nmax_concurrency = 0\n", "price.max_concurrency"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestValidateReportsEveryFieldByKey(t *testing.T) {
	c := Default()
	c.Chain.ID = ""
	c.Key.Name = ""
	err := c.Validate()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("want a FieldError, got %v", err)
	}
	for _, key := range []string{"chain.id", "key.name"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("want ErrNotExist, got %v", err)
	}
}

func TestResolve(t *testing.T) {
	if got := Resolve("/h/provider/provider.toml", "data"); got != "/h/provider/data" {
		t.Fatal(got)
	}
	if got := Resolve("/h/provider/provider.toml", "/abs"); got != "/abs" {
		t.Fatal(got)
	}
}

func TestAPISection(t *testing.T) {
	c := Default()
	if c.API.Enabled || c.API.Listen != DefaultAPIListen {
		t.Fatalf("default api: %+v", c.API)
	}
	if got := c.APIURL("127.0.0.1:8088"); got != "http://127.0.0.1:8088" {
		t.Fatal(got)
	}
	got, err := Parse([]byte("[api]\nenabled = true\nlisten = \"127.0.0.1:9000\"\npublic_url = \"https://p.example.org/\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !got.API.Enabled || got.API.Listen != "127.0.0.1:9000" || got.APIURL("127.0.0.1:9000") != "https://p.example.org" {
		t.Fatalf("%+v", got.API)
	}
	for _, f := range []string{"[api]\nlisten = \"0.0.0.0:8088\"\n", "[api]\nlisten = \"8088\"\n", "[api]\npublic_url = \"ftp://x\"\n"} {
		if _, err := Parse([]byte(f)); err == nil || !strings.Contains(err.Error(), "api.") {
			t.Fatalf("%q: %v", f, err)
		}
	}
}
