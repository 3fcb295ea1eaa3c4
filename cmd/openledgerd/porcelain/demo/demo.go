// Package demo is `openledgerd demo`: the whole OpenLedger lifecycle against the
// running localnet (`make localnet`), one step at a time, each printed with the
// exact command it ran so that a newcomer can repeat it.
//
//   - `demo setup` (run by scripts/localnet.sh on a fresh localnet) builds the demo
//     model the provider serves: a datanet of the committed corpus contributed by
//     bob and carol, reviewed by alice, READY, frozen as a dataset version; a tiny
//     model trained on that version (cached under a directory keyed by the corpus
//     digest, so the next fresh localnet skips training) with its span index;
//     published and deployed with a royalty in one tx; and the provider's config.
//   - `demo` walks a job through the market: the requester posts a prompt, the
//     provider daemon bids by itself, wins, executes, posts its signed receipt; the
//     job finalises, the payment is split (x/rewards record), the attribution record
//     is verified from IPFS, and the contributors claim what they earned.
//   - `demo bench` measures jobs per minute end to end and the executor's overhead
//     beyond the engine's own time (docs/benchmarks.md).
//   - `demo genesis` shortens the localnet's windows (challenge, gov) in a genesis file.
//
// Every step runs this very binary as a subprocess, the way a user would.
package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// StateFile is written in the localnet home by `demo setup`: what it built.
const StateFile = "demo.json"

// State is what `demo setup` built, read by `demo` and `demo bench`.
type State struct {
	ChainID        string         `json:"chain_id"`
	DatanetID      uint64         `json:"datanet_id"`
	DatasetVersion uint64         `json:"dataset_version"`
	Contributions  []Contribution `json:"contributions"`
	ModelID        uint64         `json:"model_id"`
	ModelVersion   uint64         `json:"model_version"`
	DeploymentID   uint64         `json:"deployment_id"`
	Royalty        string         `json:"royalty"`
	DeveloperBps   uint32         `json:"developer_bps"`
	ProviderPrice  string         `json:"provider_price"`
	ProviderConfig string         `json:"provider_config"`
	// ModelDir holds the trained run (manifest.json, checkpoint) and its span index.
	ModelDir string `json:"model_dir"`
}

// Contribution is one contributed corpus file.
type Contribution struct {
	ID          uint64 `json:"id"`
	Contributor string `json:"contributor"`
	File        string `json:"file"`
}

// The demo's cast (keys in the localnet's test keyring).
const (
	curator   = "alice" // curates the datanet, trains and deploys the model
	requester = "requester"
	operator  = "provider"
)

// NewDemoCommand returns the `demo` command tree.
func NewDemoCommand() *cobra.Command {
	var o walkOpts
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Walk the lifecycle on the running localnet: job → bids → award → receipt → finalise → split → claims",
		Long: `Runs against the localnet started by 'make localnet' (home .localnet): a requester posts
a prompt for the demo deployment, the provider daemon bids by itself, wins, executes the
job with the built-in engine and posts its signed receipt; the job finalises after the
challenge window, x/rewards splits the payment (protocol fee, compute, developer, direct
contributor credits, the dataset version's pool), the receipt's attribution record is
fetched from IPFS and verified, and the contributors claim what they earned.

Each step prints the command it ran: set D as printed at the top and repeat any of them.`,
		Example: `  make localnet      # in one terminal
  make demo          # in another (= build/openledgerd demo --home .localnet)`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := newEnv(cmd)
			if err != nil {
				return err
			}
			return walk(e, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.prompt, "prompt", "A tall, dark stranger will", "the job's prompt")
	f.Uint32Var(&o.maxTokens, "max-tokens", 96, "the job's max tokens (prompt + output)")
	f.StringVar(&o.maxPrice, "max-price", "5000uopen", "the most the requester pays per 1,000 tokens of compute")
	f.Uint64Var(&o.seed, "seed", 0, "sampling seed (0: from the clock, so each run differs)")
	f.BoolVar(&o.noClaim, "no-claim", false, "show the pending rewards but do not claim them")
	cmd.PersistentFlags().String(flagNode, "tcp://127.0.0.1:26657", "CometBFT RPC of the localnet")
	cmd.AddCommand(newSetupCmd(), newBenchCmd(), newGenesisCmd())
	return cmd
}

const flagNode = "node"

// env runs this binary against the localnet and prints what it runs.
type env struct {
	bin  string
	home string
	node string
	out  io.Writer
	// show is how commands are printed: "$D" stands for the binary and --home.
	show string
}

func newEnv(cmd *cobra.Command) (*env, error) {
	bin, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("locating this binary: %w", err)
	}
	home, _ := cmd.Flags().GetString("home")
	if home == "" {
		return nil, fmt.Errorf("--home is required (the localnet's home, e.g. .localnet)")
	}
	home, err = filepath.Abs(home)
	if err != nil {
		return nil, err
	}
	node, _ := cmd.Flags().GetString(flagNode)
	return &env{bin: bin, home: home, node: node, out: cmd.OutOrStdout(), show: displayCmd(bin, home)}, nil
}

// displayCmd is "BIN --home HOME" with paths relative to the working directory
// when they are below it.
func displayCmd(bin, home string) string {
	wd, _ := os.Getwd()
	rel := func(p string) string {
		if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
			if !strings.Contains(r, "/") {
				return "./" + r
			}
			return r
		}
		return p
	}
	return rel(bin) + " --home " + rel(home)
}

func (e *env) printf(format string, args ...any) { fmt.Fprintf(e.out, format, args...) }

// header prints the line that defines $D.
func (e *env) header() {
	e.printf("Commands are shown as they were run, with D='%s'.\n", e.show)
}

// shellJoin quotes args for a POSIX shell.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = shellQuote(a)
	}
	return strings.Join(out, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./:=@,+%", r)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

// run runs the binary with args (and --home); shown commands are printed first.
func (e *env) run(show bool, args ...string) (string, error) {
	if show {
		e.printf("  $ $D %s\n", shellJoin(args))
	}
	return e.exec(append(append([]string{}, args...), "--home", e.home))
}

// runElsewhere runs a command with --home dir, a directory without a node
// config: `attribution index build` has a --version flag that the root command's
// config binding fills from config.toml's "version" key ("0.39.0"), which it
// then refuses.
func (e *env) runElsewhere(dir string, args ...string) (string, error) {
	args = append(append([]string{}, args...), "--home", rel(dir))
	e.printf("  $ %s %s\n", strings.Fields(e.show)[0], shellJoin(args))
	return e.exec(args)
}

func (e *env) exec(args []string) (string, error) {
	cmd := exec.Command(e.bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return stdout.String(), fmt.Errorf("%s: %v\n%s", shellJoin(args), err, msg)
	}
	return stdout.String(), nil
}

// query runs `query ARGS -o json` and decodes the answer into v.
func (e *env) query(show bool, v any, args ...string) error {
	full := append(append([]string{"query"}, args...), "--node", e.node, "-o", "json")
	if show {
		e.printf("  $ $D %s\n", shellJoin(append([]string{"query"}, args...)))
	}
	out, err := e.run(false, full...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("query %s: decoding %q: %w", shellJoin(args), out, err)
	}
	return nil
}

// txFlags are added to every tx (the localnet's client.toml has the chain id and
// the test keyring).
func (e *env) txFlags(from string) []string {
	return []string{"--from", from, "--node", e.node, "--gas", "400000", "--fees", "2000uopen", "-y"}
}

// tx signs and broadcasts `tx ARGS` from a key and waits for its block.
func (e *env) tx(from string, args ...string) (txResult, error) {
	full := append(append([]string{"tx"}, args...), e.txFlags(from)...)
	e.printf("  $ $D %s\n", shellJoin(append(append([]string{"tx"}, args...), "--from", from, "--fees", "2000uopen", "-y")))
	out, err := e.run(false, append(full, "-o", "json")...)
	if err != nil {
		return txResult{}, err
	}
	var res txResult
	if err := json.Unmarshal([]byte(lastJSON(out)), &res); err != nil {
		return res, fmt.Errorf("tx %s: decoding %q: %w", shellJoin(args), out, err)
	}
	if res.Code != 0 {
		return res, fmt.Errorf("tx %s refused (code %d): %s", shellJoin(args), res.Code, res.RawLog)
	}
	return e.waitTx(res.TxHash)
}

// lastJSON is the last line of out that looks like a JSON object (porcelain
// commands may print progress before the tx result).
func lastJSON(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(strings.TrimSpace(lines[i]), "{") {
			return lines[i]
		}
	}
	return out
}

func (e *env) waitTx(hash string) (txResult, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var res txResult
		err := e.query(false, &res, "tx", hash)
		if err == nil {
			if res.Code != 0 {
				return res, fmt.Errorf("tx %s failed in its block (code %d): %s", hash, res.Code, res.RawLog)
			}
			return res, nil
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("tx %s not in a block after 30 s: %v", hash, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// address is a key's address.
func (e *env) address(key string) (string, error) {
	out, err := e.run(false, "keys", "show", key, "-a", "--keyring-backend", "test")
	return strings.TrimSpace(out), err
}

// txResult is the part of a tx result the demo reads.
type txResult struct {
	TxHash string `json:"txhash"`
	Code   int    `json:"code"`
	RawLog string `json:"raw_log"`
	Height string `json:"height"`
	Events []struct {
		Type       string `json:"type"`
		Attributes []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"attributes"`
	} `json:"events"`
}

// attr is the first value of an event attribute, JSON quotes removed.
func (r txResult) attr(eventType, key string) string {
	for _, e := range r.Events {
		if e.Type != eventType {
			continue
		}
		for _, a := range e.Attributes {
			if a.Key == key {
				return strings.Trim(a.Value, `"`)
			}
		}
	}
	return ""
}

// id is attr parsed as a uint64.
func (r txResult) id(eventType, key string) (uint64, error) {
	v := r.attr(eventType, key)
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("tx %s: no %s.%s in its events", r.TxHash, eventType, key)
	}
	return n, nil
}

// num is a JSON integer, quoted (protojson's 64-bit form) or not.
type num int64

func (n *num) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("num %s: %w", b, err)
	}
	*n = num(v)
	return nil
}

// coin is a JSON coin.
type coin struct {
	Denom  string `json:"denom"`
	Amount string `json:"amount"`
}

func (c coin) String() string {
	if c.Amount == "" {
		return "0" + c.Denom
	}
	return c.Amount + c.Denom
}

func (c coin) Int() int64 {
	n, _ := strconv.ParseInt(c.Amount, 10, 64)
	return n
}

// readState reads what `demo setup` wrote, with a clear error when the localnet
// was not set up.
func readState(home string) (State, error) {
	var s State
	bz, err := os.ReadFile(filepath.Join(home, StateFile))
	if err != nil {
		return s, fmt.Errorf("no demo deployment in %s (%v): start the localnet first with 'make localnet' "+
			"(or scripts/localnet.sh), wait for 'Next: make demo', then run this again", home, err)
	}
	if err := json.Unmarshal(bz, &s); err != nil {
		return s, fmt.Errorf("%s: %w", filepath.Join(home, StateFile), err)
	}
	return s, nil
}

func writeState(home string, s State) error {
	bz, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(home, StateFile), append(bz, '\n'), 0o600)
}
