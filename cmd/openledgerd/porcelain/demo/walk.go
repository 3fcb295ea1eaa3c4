package demo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

type walkOpts struct {
	prompt, maxPrice string
	maxTokens        uint32
	seed             uint64
	noClaim          bool
}

// Job and receipt as the CLI prints them.
type jobJSON struct {
	Job struct {
		ID             num    `json:"id"`
		Status         string `json:"status"`
		Winner         string `json:"winner"`
		WinningPrice   coin   `json:"winning_price"`
		Escrow         coin   `json:"escrow"`
		Paid           coin   `json:"paid"`
		Refunded       coin   `json:"refunded"`
		BidCloseHeight num    `json:"bid_close_height"`
		DeadlineHeight num    `json:"deadline_height"`
	} `json:"job"`
}

type receiptJSON struct {
	Receipt struct {
		Provider           string `json:"provider"`
		OutputCid          string `json:"output_cid"`
		PromptTokens       num    `json:"prompt_tokens"`
		CompletionTokens   num    `json:"completion_tokens"`
		EngineName         string `json:"engine_name"`
		EngineVersion      string `json:"engine_version"`
		RecordCid          string `json:"record_cid"`
		ChallengeEndHeight num    `json:"challenge_end_height"`
		Status             string `json:"status"`
		SettlementID       num    `json:"settlement_id"`
		Summary            struct {
			Top []struct {
				ContributionID num `json:"contribution_id"`
				Ppm            num `json:"ppm"`
			} `json:"top"`
			Pools []struct {
				DatanetID num `json:"datanet_id"`
				Version   num `json:"version"`
				Ppm       num `json:"ppm"`
			} `json:"pools"`
		} `json:"summary"`
	} `json:"receipt"`
}

type recordJSON struct {
	Record struct {
		ProtocolFee coin `json:"protocol_fee"`
		Compute     coin `json:"compute"`
		Developer   coin `json:"developer"`
		Direct      coin `json:"direct"`
		Pooled      coin `json:"pooled"`
	} `json:"record"`
}

type pendingJSON struct {
	Total num `json:"total"`
}

// localnetUp checks that the chain answers, with the error a newcomer needs.
func localnetUp(e *env) error {
	if _, err := e.run(false, "status", "--node", e.node); err != nil {
		return fmt.Errorf("the localnet is not running (no answer from %s): start it with 'make localnet' in another terminal, "+
			"wait for 'Next: make demo', then run this again", e.node)
	}
	return nil
}

func walk(e *env, o walkOpts) error {
	start := time.Now()
	if err := localnetUp(e); err != nil {
		return err
	}
	st, err := readState(e.home)
	if err != nil {
		return err
	}
	dep := strconv.FormatUint(st.DeploymentID, 10)
	e.printf("OpenLedger demo on the localnet (%s)\n", st.ChainID)
	e.header()

	// What the localnet built, and who serves it.
	e.printf("\n== What 'make localnet' built (its log shows each command: .localnet/setup.log) ==\n")
	var files []string
	for _, c := range st.Contributions {
		files = append(files, fmt.Sprintf("#%d %s by %s", c.ID, filepath.Base(c.File), c.Contributor))
	}
	e.printf("  datanet %d, READY, dataset version %d/%d: contributions %s\n", st.DatanetID, st.DatanetID, st.DatasetVersion, strings.Join(files, ", "))
	e.printf("  model %d version %d (a tiny model trained on that version, with its span index)\n", st.ModelID, st.ModelVersion)
	e.printf("  deployment %d: royalty %s per 1,000 tokens, %d%% to the developer (alice), %d%% to the data\n",
		st.DeploymentID, st.Royalty, st.DeveloperBps/100, 100-st.DeveloperBps/100)
	providerAddr, err := e.address(operator)
	if err != nil {
		return err
	}
	var offers struct {
		Offers []struct {
			Operator string `json:"operator"`
			Price    coin   `json:"compute_price_per_thousand_tokens"`
		} `json:"offers"`
	}
	if err := e.query(true, &offers, "inference", "offers", dep); err != nil {
		return err
	}
	offered := false
	for _, of := range offers.Offers {
		who := of.Operator
		if who == providerAddr {
			who, offered = "the provider daemon ("+who+")", true
		}
		e.printf("  → offer: %s at %s per 1,000 tokens\n", who, of.Price)
	}
	if !offered {
		return fmt.Errorf("the provider daemon has no offer for deployment %s yet: is it running? see %s "+
			"(it registers and sets its offer on start)", dep, rel(filepath.Join(e.home, "provider.log")))
	}

	// 1. The job.
	seed := o.seed
	if seed == 0 {
		seed = uint64(time.Now().Unix() % 100000)
	}
	e.printf("\n== 1. The requester posts a job: a prompt for deployment %s ==\n", dep)
	res, err := e.tx(requester, "inference", "create-job", dep, "--input-text", o.prompt,
		"--max-tokens", strconv.FormatUint(uint64(o.maxTokens), 10), "--max-price", o.maxPrice,
		"--bid-window", "5", "--execution-blocks", "50", "--temperature", "0.8", "--top-k", "40", "--seed", strconv.FormatUint(seed, 10))
	if err != nil {
		return err
	}
	jobID, err := res.id("openledger.inference.v1.EventJobCreated", "job_id")
	if err != nil {
		return err
	}
	job := strconv.FormatUint(jobID, 10)
	var j jobJSON
	if err := e.query(false, &j, "inference", "job", job); err != nil {
		return err
	}
	e.printf("  → job %s %s: prompt %q on IPFS, escrow %s (max tokens × (max price + royalty)), bids until height %d\n",
		job, short(j.Job.Status), o.prompt, j.Job.Escrow, j.Job.BidCloseHeight)

	// 2. Bids.
	e.printf("\n== 2. The provider daemon sees the job and bids by itself (price policy: base price, markup with load) ==\n")
	var bids struct {
		Bids []struct {
			Provider string `json:"provider"`
			Price    coin   `json:"price"`
		} `json:"bids"`
	}
	shown := false
	err = poll(30*time.Second, func() (bool, error) {
		if err := e.query(!shown, &bids, "inference", "bids", job); err != nil {
			return false, err
		}
		shown = true
		if len(bids.Bids) > 0 {
			return true, nil
		}
		// The auction may already be over: bids are pruned with the award.
		if err := e.query(false, &j, "inference", "job", job); err != nil {
			return false, err
		}
		return j.Job.Status != "JOB_STATUS_OPEN", nil
	})
	if err != nil {
		return e.providerHint(fmt.Errorf("no bid on job %s: %w", job, err))
	}
	for _, b := range bids.Bids {
		e.printf("  → bid: %s at %s per 1,000 tokens\n", whoIs(b.Provider, providerAddr), b.Price)
	}

	// 3. Award.
	e.printf("\n== 3. The bid window closes: the lowest bid wins ==\n")
	if err := poll(30*time.Second, func() (bool, error) {
		err := e.query(false, &j, "inference", "job", job)
		return err == nil && j.Job.Status != "JOB_STATUS_OPEN", err
	}); err != nil {
		return err
	}
	if err := e.query(true, &j, "inference", "job", job); err != nil {
		return err
	}
	if j.Job.Winner == "" {
		return e.providerHint(fmt.Errorf("job %s is %s with no winner", job, j.Job.Status))
	}
	e.printf("  → job %s %s: won by %s at %s per 1,000 tokens; receipt due by height %d\n",
		job, short(j.Job.Status), whoIs(j.Job.Winner, providerAddr), j.Job.WinningPrice, j.Job.DeadlineHeight)

	// 4. Receipt.
	e.printf("\n== 4. The provider executes the job (built-in engine), stores the output on IPFS and posts its signed receipt ==\n")
	var r receiptJSON
	if err := poll(60*time.Second, func() (bool, error) {
		if err := e.query(false, &r, "inference", "receipt", job); err != nil {
			return false, nil // not yet
		}
		return true, nil
	}); err != nil {
		return e.providerHint(fmt.Errorf("no receipt for job %s: %w", job, err))
	}
	if err := e.query(true, &r, "inference", "receipt", job); err != nil {
		return err
	}
	rc := r.Receipt
	e.printf("  → receipt by %s: %d prompt + %d completion tokens, engine %s %s\n", whoIs(rc.Provider, providerAddr),
		rc.PromptTokens, rc.CompletionTokens, rc.EngineName, rc.EngineVersion)
	e.printf("  → output %s, attribution record %s; challenge window until height %d\n", rc.OutputCid, rc.RecordCid, rc.ChallengeEndHeight)
	dir := filepath.Join(e.home, "demo", "job-"+job)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	output, err := e.catTo(rc.OutputCid, filepath.Join(dir, "output.txt"))
	if err != nil {
		return err
	}
	e.printf("  → the model wrote: %q\n", output)

	// 5. Finalised.
	e.printf("\n== 5. Nobody challenges the receipt: after the challenge window the job is finalised ==\n")
	if err := poll(60*time.Second, func() (bool, error) {
		err := e.query(false, &j, "inference", "job", job)
		return err == nil && j.Job.Status != "JOB_STATUS_PENDING" && j.Job.Status != "JOB_STATUS_AWARDED", err
	}); err != nil {
		return err
	}
	if err := e.query(true, &j, "inference", "job", job); err != nil {
		return err
	}
	if j.Job.Status != "JOB_STATUS_FINALIZED" {
		return fmt.Errorf("job %s ended %s, not FINALIZED", job, j.Job.Status)
	}
	if err := e.query(false, &r, "inference", "receipt", job); err != nil {
		return err
	}
	tokens := int64(r.Receipt.PromptTokens + r.Receipt.CompletionTokens)
	e.printf("  → job %s %s: the requester paid %s for %d tokens (compute at the winning bid + royalty) and got %s back\n",
		job, short(j.Job.Status), j.Job.Paid, tokens, j.Job.Refunded)

	// 6. The split.
	sid := strconv.FormatInt(int64(r.Receipt.SettlementID), 10)
	e.printf("\n== 6. How the payment was split (x/rewards settlement %s) ==\n", sid)
	var rec recordJSON
	if err := e.query(true, &rec, "rewards", "record", "inference", sid); err != nil {
		return err
	}
	rr := rec.Record
	e.printf("  → protocol fee (community pool)   %s\n", rr.ProtocolFee)
	e.printf("  → provider, compute               %s\n", rr.Compute)
	e.printf("  → developer (alice), royalty      %s\n", rr.Developer)
	e.printf("  → contributors, direct credits    %s\n", rr.Direct)
	e.printf("  → dataset version pool            %s\n", rr.Pooled)
	byID := map[uint64]Contribution{}
	for _, c := range st.Contributions {
		byID[c.ID] = c
	}
	top := r.Receipt.Summary.Top
	sort.Slice(top, func(a, b int) bool { return top[a].Ppm > top[b].Ppm })
	for _, t := range top {
		c := byID[uint64(t.ContributionID)]
		e.printf("    attribution: contribution #%d (%s by %s) %.1f%%\n", t.ContributionID, filepath.Base(c.File), c.Contributor, float64(t.Ppm)/1e4)
	}
	for _, p := range r.Receipt.Summary.Pools {
		e.printf("    attribution: pool of dataset version %d/%d %.1f%%\n", p.DatanetID, p.Version, float64(p.Ppm)/1e4)
	}

	// 7. Verify the attribution record.
	e.printf("\n== 7. Anyone can check the attribution: fetch the record, the index and the model from IPFS and recompute it ==\n")
	if err := verifyRecord(e, st, rc.RecordCid, dir); err != nil {
		return err
	}

	// 8. Pending rewards.
	e.printf("\n== 8. What the contributors and the developer can claim now ==\n")
	who := []string{"bob", "carol", curator}
	pending := map[string]int64{}
	for _, k := range who {
		addr, err := e.address(k)
		if err != nil {
			return err
		}
		var p pendingJSON
		if err := e.query(false, &p, "attribution", "rewards", addr); err != nil {
			return err
		}
		pending[k] = int64(p.Total)
		e.printf("  $ $D query attribution rewards %s   # %s\n", addr, k)
		out, err := e.run(false, "query", "attribution", "rewards", addr, "--node", e.node, "-o", "text")
		if err != nil {
			return err
		}
		for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
			e.printf("    %s\n", l)
		}
	}
	if o.noClaim {
		e.printf("\n(--no-claim: not claiming)\n")
		return nil
	}

	// 9. Claims.
	e.printf("\n== 9. They claim: one transfer each ==\n")
	for _, k := range who {
		if pending[k] == 0 {
			e.printf("  %s has nothing to claim\n", k)
			continue
		}
		addr, _ := e.address(k)
		before, err := e.balance(addr)
		if err != nil {
			return err
		}
		if _, err := e.tx(k, "rewards", "claim"); err != nil {
			return err
		}
		after, err := e.balance(addr)
		if err != nil {
			return err
		}
		got := after - before + 2000 // the claim's fee
		e.printf("  → %s received %duopen (pending was %duopen)\n", k, got, pending[k])
		if got != pending[k] {
			return fmt.Errorf("%s's claim paid %duopen, but %duopen was pending", k, got, pending[k])
		}
	}
	e.printf("\nDone in %s: job %s went from prompt to paid contributors.\n", time.Since(start).Round(100*time.Millisecond), job)
	e.printf("More: '$D provider status --config %s', the provider's log %s, 'make demo' again, or\n",
		rel(st.ProviderConfig), rel(filepath.Join(e.home, "provider.log")))
	e.printf("'%s demo bench --home %s --jobs 20' for jobs per minute.\n", strings.Fields(e.show)[0], rel(e.home))
	return nil
}

// verifyRecord fetches the record, the span index and the checkpoint by their
// on-chain CIDs and runs `attribution verify`.
func verifyRecord(e *env, st State, recordCID, dir string) error {
	var v struct {
		Version struct {
			ArtifactCid  string `json:"artifact_cid"`
			SpanIndexCid string `json:"span_index_cid"`
		} `json:"version"`
	}
	if err := e.query(true, &v, "models", "version", strconv.FormatUint(st.ModelID, 10), strconv.FormatUint(st.ModelVersion, 10)); err != nil {
		return err
	}
	if v.Version.SpanIndexCid == "" {
		return errors.New("the model version has no span index")
	}
	files := []struct{ cid, name string }{
		{recordCID, "record.pb"}, {v.Version.SpanIndexCid, "index.olspan"}, {v.Version.ArtifactCid, "model.safetensors"},
	}
	for _, f := range files {
		if _, err := e.catTo(f.cid, filepath.Join(dir, f.name)); err != nil {
			return err
		}
	}
	out, err := e.runElsewhere(dir, "attribution", "verify", rel(filepath.Join(dir, "record.pb")), "--index", rel(filepath.Join(dir, "index.olspan")),
		"--tokenizer", rel(filepath.Join(dir, "model.safetensors")), "--output-file", rel(filepath.Join(dir, "output.txt")))
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" {
			e.printf("  → %s\n", l)
		}
	}
	if err != nil {
		return fmt.Errorf("the attribution record does not verify: %w", err)
	}
	return nil
}

// catTo writes `ipfs cat CID` to path (shown as a redirection) and returns it.
func (e *env) catTo(cid, path string) (string, error) {
	e.printf("  $ $D ipfs cat %s > %s\n", cid, rel(path))
	out, err := e.run(false, "ipfs", "cat", cid)
	if err != nil {
		return "", err
	}
	return out, os.WriteFile(path, []byte(out), 0o644)
}

func (e *env) balance(addr string) (int64, error) {
	var b struct {
		Balance coin `json:"balance"`
	}
	if err := e.query(false, &b, "bank", "balance", addr, "uopen"); err != nil {
		return 0, err
	}
	return b.Balance.Int(), nil
}

func (e *env) providerHint(err error) error {
	return fmt.Errorf("%w\nthe provider daemon's log is %s; its state: %s provider status --config %s",
		err, rel(filepath.Join(e.home, "provider.log")), e.show, rel(filepath.Join(e.home, "provider", "provider.toml")))
}

func whoIs(addr, provider string) string {
	if addr == provider {
		return "the provider daemon (" + addr + ")"
	}
	return addr
}

// short is a status without its enum prefix.
func short(s string) string {
	if i := strings.Index(s, "_STATUS_"); i >= 0 {
		return s[i+len("_STATUS_"):]
	}
	return s
}

// poll calls cond every 200 ms until it is true, fails, or timeout passes.
func poll(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
