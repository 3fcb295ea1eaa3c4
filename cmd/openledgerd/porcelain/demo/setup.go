package demo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/openledger/openledger/ml/train"
	"github.com/openledger/openledger/p2p"
	"github.com/openledger/openledger/provider/config"
	"github.com/openledger/openledger/provider/daemon"
)

type setupOpts struct {
	corpus, cache, royalty, price, chainID string
	developerBps                           uint32
	steps                                  int
}

// corpusFiles are contributed in this order, by these keys.
var corpusFiles = []struct{ file, from string }{
	{"fortunes.txt", "bob"},
	{"riddles.txt", "bob"},
	{"literature.txt", "carol"},
}

func newSetupCmd() *cobra.Command {
	var o setupOpts
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Build the demo model on a fresh localnet and write the provider's config (run by scripts/localnet.sh)",
		Long: `On a fresh localnet: alice creates a datanet; bob and carol contribute the committed corpus
(ml/testdata/corpus); alice reviews, the datanet is READY and alice freezes dataset version 1;
a tiny model is trained on that version (model train --dataset-version) and its span index
built (attribution index build); both are published and deployed with a royalty in one tx
(tx models publish-version new ... --deploy); then 'provider init' writes the provider's
config offering that deployment, and its IPFS node is set to peer with the localnet's.

The trained run is cached under --cache in a directory named by the digest of the corpus
and the training settings: the next fresh localnet publishes it again without training.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := newEnv(cmd)
			if err != nil {
				return err
			}
			return setup(e, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.corpus, "corpus", "ml/testdata/corpus", "directory of the corpus files to contribute")
	f.StringVar(&o.cache, "cache", "build/cache/demo", "cache of trained demo models, one directory per corpus digest")
	f.StringVar(&o.royalty, "royalty", "10000uopen", "the deployment's royalty per 1,000 tokens")
	f.Uint32Var(&o.developerBps, "developer-bps", 3000, "the developer's share of the royalty (the data gets the rest)")
	f.StringVar(&o.price, "provider-price", "2000uopen", "the provider's compute price per 1,000 tokens")
	f.StringVar(&o.chainID, "chain-id", "openledger-local-1", "chain id")
	f.IntVar(&o.steps, "steps", 1000, "training steps of the tiny model")
	return cmd
}

func setup(e *env, o setupOpts) error {
	start := time.Now()
	e.header()
	e.printf("\n== The demo model: datanet → contributions → reviews → READY → dataset version → train → publish → deploy ==\n")
	alice, err := e.address(curator)
	if err != nil {
		return fmt.Errorf("the localnet's keys: %w", err)
	}

	e.printf("\n[1/8] alice creates a datanet she curates (1 approval accepts a contribution)\n")
	res, err := e.tx(curator, "datanet", "create", "Demo corpus", "CC-BY-4.0", "--curators", alice, "--quorum", "1",
		"--review-window", "600", // two minutes at 200 ms blocks: reviews follow every contribution, and a loaded machine takes seconds per tx
		"--deposit", "1000uopen", "--min-contributions", strconv.Itoa(len(corpusFiles)))
	if err != nil {
		return err
	}
	dn, err := res.id("openledger.datanet.v1.EventDatanetCreated", "datanet_id")
	if err != nil {
		return err
	}
	e.printf("  → datanet %d, collecting contributions\n", dn)

	e.printf("\n[2/8] bob and carol contribute the corpus files (added to IPFS, pinned, recorded on chain)\n")
	var contribs []Contribution
	for _, c := range corpusFiles {
		path := filepath.Join(o.corpus, c.file)
		res, err := e.tx(c.from, "datanet", "contribute", strconv.FormatUint(dn, 10), path)
		if err != nil {
			return err
		}
		id, err := res.id("openledger.datanet.v1.EventContributionSubmitted", "contribution_id")
		if err != nil {
			return err
		}
		contribs = append(contribs, Contribution{ID: id, Contributor: c.from, File: path})
		e.printf("  → contribution %d: %s by %s, cid %s\n", id, c.file, c.from,
			res.attr("openledger.datanet.v1.EventContributionSubmitted", "cid"))
	}

	e.printf("\n[3/8] alice reviews each contribution\n")
	for _, c := range contribs {
		if _, err := e.tx(curator, "datanet", "review", strconv.FormatUint(c.ID, 10), "approve"); err != nil {
			return err
		}
		var ct struct {
			Contribution struct {
				Status string `json:"status"`
				Shares num    `json:"shares"`
			} `json:"contribution"`
		}
		if err := e.query(false, &ct, "datanet", "contribution", strconv.FormatUint(c.ID, 10)); err != nil {
			return err
		}
		e.printf("  → contribution %d: %s, %d shares\n", c.ID, ct.Contribution.Status, ct.Contribution.Shares)
	}

	e.printf("\n[4/8] the datanet has its minimum of accepted contributions\n")
	var d struct {
		Datanet struct {
			Status string `json:"status"`
		} `json:"datanet"`
	}
	if err := e.query(true, &d, "datanet", "datanet", strconv.FormatUint(dn, 10)); err != nil {
		return err
	}
	e.printf("  → datanet %d is %s\n", dn, d.Datanet.Status)

	e.printf("\n[5/8] alice freezes dataset version 1 (a Merkle root over the accepted contributions)\n")
	res, err = e.tx(curator, "datanet", "create-version", strconv.FormatUint(dn, 10))
	if err != nil {
		return err
	}
	ver, err := res.id("openledger.datanet.v1.EventDatasetVersionCreated", "version")
	if err != nil {
		return err
	}
	var v struct {
		Version struct {
			TotalShares num    `json:"total_shares"`
			MerkleRoot  string `json:"merkle_root"`
		} `json:"version"`
	}
	if err := e.query(false, &v, "datanet", "version", strconv.FormatUint(dn, 10), strconv.FormatUint(ver, 10)); err != nil {
		return err
	}
	e.printf("  → dataset version %d/%d: %d contributions, %d shares\n", dn, ver, len(contribs), v.Version.TotalShares)

	dsv := fmt.Sprintf("%d/%d", dn, ver)
	trainArgs := []string{"--preset", "tiny", "--tokenizer", "byte", "--steps", strconv.Itoa(o.steps), "--seq", "32", "--batch", "4", "--seed", "1"}
	key, err := cacheKey(contribs, dsv, trainArgs)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(filepath.Join(o.cache, key))
	if err != nil {
		return err
	}
	e.printf("\n[6/8] a tiny model is trained on dataset version %s and its span index built\n", dsv)
	if cached(dir) {
		e.printf("  → cached in %s (the corpus digest and settings are unchanged; delete it to train again)\n", rel(dir))
	} else if err := trainModel(e, dir, dsv, contribs, trainArgs); err != nil {
		return err
	}

	e.printf("\n[7/8] alice publishes the model with its span index and deploys it, in one tx\n")
	res, err = e.tx(curator, "models", "publish-version", "new", "--name", "Demo fortunes", "--license", "MIT",
		"--manifest", rel(filepath.Join(dir, "model", "manifest.json")), "--span-index", rel(filepath.Join(dir, indexFile)),
		"--dataset-version", dsv, "--deploy", o.royalty, "--developer-bps", strconv.FormatUint(uint64(o.developerBps), 10))
	if err != nil {
		return err
	}
	model, err := res.id("openledger.models.v1.EventModelCreated", "model_id")
	if err != nil {
		return err
	}
	mver, err := res.id("openledger.models.v1.EventVersionPublished", "version")
	if err != nil {
		return err
	}
	dep, err := res.id("openledger.models.v1.EventDeploymentCreated", "deployment_id")
	if err != nil {
		return err
	}
	e.printf("  → model %d version %d; deployment %d ACTIVE at a royalty of %s per 1,000 tokens (%d%% developer, %d%% data)\n",
		model, mver, dep, o.royalty, o.developerBps/100, 100-o.developerBps/100)

	e.printf("\n[8/8] the provider's config: it offers deployment %d at %s per 1,000 tokens and registers itself on start\n", dep, o.price)
	cfgPath := filepath.Join(e.home, "provider", config.FileName)
	peer, err := writeProviderConfig(cfgPath, o.chainID, dep, o.price)
	if err != nil {
		return err
	}
	e.printf("  → wrote %s (the documented config 'provider init' writes): key provider, deployment %d at %s, register on start\n", rel(cfgPath), dep, o.price)
	e.printf("  → provider identity (peer id) %s\n", peer)
	boot, err := peerWithLocalnet(e, filepath.Join(e.home, "provider", "ipfs"))
	if err != nil {
		return err
	}
	e.printf("  → its IPFS node peers with the localnet's (%s)\n", boot)

	st := State{ChainID: o.chainID, DatanetID: dn, DatasetVersion: ver, Contributions: contribs, ModelID: model, ModelVersion: mver,
		DeploymentID: dep, Royalty: o.royalty, DeveloperBps: o.developerBps, ProviderPrice: o.price, ProviderConfig: cfgPath, ModelDir: dir}
	if err := writeState(e.home, st); err != nil {
		return err
	}
	e.printf("\ndemo deployment %d ready in %s (recorded in %s)\n", dep, time.Since(start).Round(100*time.Millisecond), rel(filepath.Join(e.home, StateFile)))
	return nil
}

const indexFile = "index.olspan"

func cached(dir string) bool {
	for _, p := range []string{filepath.Join(dir, "model", "manifest.json"), filepath.Join(dir, "model", train.ModelFile), filepath.Join(dir, indexFile)} {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

// cacheKey digests the corpus bytes, the contribution ids, the dataset version
// and the training settings: everything the trained run and the index depend on.
func cacheKey(contribs []Contribution, dsv string, trainArgs []string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "demo-model v1\n%s\n%s\n", dsv, strings.Join(trainArgs, " "))
	for _, c := range contribs {
		f, err := os.Open(c.File)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%d %s\n", c.ID, filepath.Base(c.File))
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// trainModel trains into a temp dir beside dir and renames it into place.
func trainModel(e *env, dir, dsv string, contribs []Contribution, trainArgs []string) error {
	tmp := fmt.Sprintf("%s.tmp-%d", dir, os.Getpid())
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "data"), 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	args := append([]string{"model", "train", "--dataset-version", dsv, "--out", rel(filepath.Join(tmp, "model"))}, trainArgs...)
	out, err := e.run(true, append(args, "--node", e.node)...)
	if err != nil {
		return err
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "parameters") || strings.HasPrefix(l, "final loss") || strings.HasPrefix(l, "held-out loss") {
			e.printf("  → %s\n", strings.Join(strings.Fields(l), " "))
		}
	}
	// The index is built over the contributions' bytes in version order.
	type entry struct {
		ID   uint64 `json:"id"`
		Path string `json:"path"`
	}
	var m struct {
		DatanetID     uint64  `json:"datanet_id"`
		Version       uint64  `json:"version"`
		Contributions []entry `json:"contributions"`
	}
	dn, ver, _ := strings.Cut(dsv, "/")
	m.DatanetID, _ = strconv.ParseUint(dn, 10, 64)
	m.Version, _ = strconv.ParseUint(ver, 10, 64)
	for _, c := range contribs {
		bz, err := os.ReadFile(c.File)
		if err != nil {
			return err
		}
		name := filepath.Join("data", fmt.Sprintf("%d-%s", c.ID, filepath.Base(c.File)))
		if err := os.WriteFile(filepath.Join(tmp, name), bz, 0o644); err != nil {
			return err
		}
		m.Contributions = append(m.Contributions, entry{ID: c.ID, Path: name})
	}
	bz, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "dataset.json"), bz, 0o644); err != nil {
		return err
	}
	if _, err := e.runElsewhere(tmp, "attribution", "index", "build", "-q", "--tokenizer", rel(filepath.Join(tmp, "model", train.ModelFile)),
		"--manifest", rel(filepath.Join(tmp, "dataset.json")), "--out", rel(filepath.Join(tmp, indexFile))); err != nil {
		return err
	}
	if fi, err := os.Stat(filepath.Join(tmp, indexFile)); err == nil {
		e.printf("  → span index %s (%d bytes)\n", indexFile, fi.Size())
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	e.printf("  → cached in %s\n", rel(dir))
	return nil
}

// rel is p relative to the working directory when below it.
func rel(p string) string {
	wd, _ := os.Getwd()
	if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// writeProviderConfig writes what `provider init --key provider --keyring-backend
// test --deployment DEP=PRICE --register --loopback` writes (the config, the
// libp2p identity, the IPFS repo), with price.max_concurrency 8 for the demo and
// the benchmark (the built-in engine still runs one job at a time; won jobs
// queue). It returns the peer id. (`provider init --home <node home>` itself
// fails: the root command binds its --rpc and --grpc flags to the node config's
// [rpc] and [grpc] sections.)
func writeProviderConfig(path, chainID string, dep uint64, price string) (string, error) {
	cfg := config.Default()
	cfg.Chain.ID = chainID
	cfg.Key = config.Key{Name: operator, KeyringBackend: "test", KeyringDir: ".."}
	cfg.P2P.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	cfg.Bid.RegisterOnStart = true
	cfg.Bid.Moniker = "demo-provider"
	cfg.Price.MaxConcurrency = 8
	cfg.Price.Deployments = []config.DeploymentPrice{{DeploymentID: dep, BasePrice: price}}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := cfg.Write(path); err != nil {
		return "", err
	}
	key, err := p2p.LoadOrCreateIdentity(config.Resolve(path, cfg.P2P.IdentityFile))
	if err != nil {
		return "", err
	}
	id, err := p2p.PeerIDFromKey(key)
	if err != nil {
		return "", err
	}
	return id.String(), daemon.EnsureIPFSRepo(config.Resolve(path, cfg.IPFS.RepoPath), true)
}

// peerWithLocalnet sets the provider's IPFS repo to keep a connection to the
// localnet's IPFS node (its TCP loopback swarm address), so that prompts, models
// and outputs move between them by bitswap without any DHT. It returns the
// bootstrap address.
func peerWithLocalnet(e *env, providerRepo string) (string, error) {
	out, err := e.run(false, "ipfs", "id")
	if err != nil {
		return "", err
	}
	var id struct {
		PeerID string `json:"peer_id"`
	}
	if err := json.Unmarshal([]byte(out), &id); err != nil || id.PeerID == "" {
		return "", fmt.Errorf("ipfs id: %q: %v", out, err)
	}
	var local struct {
		Addresses struct{ Swarm []string }
	}
	bz, err := os.ReadFile(filepath.Join(e.home, "ipfs", "config"))
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(bz, &local); err != nil {
		return "", err
	}
	var boot string
	for _, a := range local.Addresses.Swarm {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") && !strings.HasSuffix(a, "/tcp/0") {
			boot = a + "/p2p/" + id.PeerID
			break
		}
	}
	if boot == "" {
		return "", errors.New("the localnet's IPFS node has no fixed loopback TCP swarm address (scripts/localnet.sh sets /ip4/127.0.0.1/tcp/4101)")
	}
	path := filepath.Join(providerRepo, "config")
	raw := map[string]any{}
	bz, err = os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(bz, &raw); err != nil {
		return "", err
	}
	raw["Bootstrap"] = []string{boot}
	bz, err = json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return "", err
	}
	return boot, os.WriteFile(path, append(bz, '\n'), 0o600)
}

func newGenesisCmd() *cobra.Command {
	var challenge string
	var tolerance uint32
	cmd := &cobra.Command{
		Use:    "genesis GENESIS_FILE",
		Short:  "Shorten a localnet genesis's windows (challenge window, governance periods) and set its model quality tolerance",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return editGenesis(args[0], func(app map[string]any) error {
				sets := []struct {
					v    any
					path []string
				}{
					{challenge, []string{"inference", "params", "challenge_window_blocks"}},
					{"60s", []string{"gov", "params", "voting_period"}},
					{"30s", []string{"gov", "params", "expedited_voting_period"}},
					{"60s", []string{"gov", "params", "max_deposit_period"}},
					{json.Number(strconv.FormatUint(uint64(tolerance), 10)), []string{"models", "params", "quality_tolerance_bps"}},
				}
				for _, s := range sets {
					if err := setPath(app, s.v, s.path...); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&challenge, "challenge-window", "3", "inference challenge window in blocks")
	// A fine-tune on a few feedback pairs moves the parent's held-out loss a little
	// either way (a DPO step at lr 3e-5 on the demo model: +0.25%); 1% admits such a
	// version while refusing one that damages the model.
	cmd.Flags().Uint32Var(&tolerance, "quality-tolerance-bps", 100, "models quality_tolerance_bps: how much a new version may exceed its parent's held-out loss")
	return cmd
}

func editGenesis(path string, edit func(map[string]any) error) error {
	bz, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var g map[string]any
	dec := json.NewDecoder(strings.NewReader(string(bz)))
	dec.UseNumber()
	if err := dec.Decode(&g); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	app, ok := g["app_state"].(map[string]any)
	if !ok {
		return fmt.Errorf("%s: no app_state", path)
	}
	if err := edit(app); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	out, err := json.MarshalIndent(g, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(out, '\n'), 0o600)
}

func setPath(m map[string]any, v any, path ...string) error {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			return fmt.Errorf("genesis: no object at %s", k)
		}
		m = next
	}
	if _, ok := m[path[len(path)-1]]; !ok {
		return fmt.Errorf("genesis: no key %s", strings.Join(path, "."))
	}
	m[path[len(path)-1]] = v
	return nil
}
