package demo

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/provider/chainclient"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

type benchOpts struct {
	jobs, concurrency int
	maxTokens         uint64
	grpc              string
}

func newBenchCmd() *cobra.Command {
	var o benchOpts
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Jobs per minute end to end on the localnet, and the executor's overhead beyond the engine",
		Long: `Posts --jobs jobs for the demo deployment from the requester key, keeping --concurrency of them
in flight (a new one is posted when one finalises), and waits until each is FINALIZED: bid,
award, execution by the provider daemon, receipt, challenge window, payment. Prints the wall
time, jobs per minute and the per-job latency, then the executor's own figures for these jobs
from the provider's log ('job done' lines): total time per job vs the engine's generation time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := newEnv(cmd)
			if err != nil {
				return err
			}
			return bench(cmd.Context(), e, o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.jobs, "jobs", 20, "jobs to post")
	f.IntVar(&o.concurrency, "concurrency", 4, "jobs in flight at once")
	f.Uint64Var(&o.maxTokens, "max-tokens", 96, "max tokens per job (prompt + output)")
	f.StringVar(&o.grpc, "grpc-addr", "127.0.0.1:9090", "gRPC endpoint of the localnet (not --grpc: the node config binds that name)")
	return cmd
}

type benchJob struct {
	id              uint64
	posted, settled time.Time
	status          string
}

func bench(ctx context.Context, e *env, o benchOpts) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.jobs < 1 || o.concurrency < 1 {
		return fmt.Errorf("--jobs and --concurrency must be at least 1")
	}
	if err := localnetUp(e); err != nil {
		return err
	}
	st, err := readState(e.home)
	if err != nil {
		return err
	}
	enc, err := chainclient.NewEncoding()
	if err != nil {
		return err
	}
	kr, err := chainclient.OpenKeyring("test", e.home, enc)
	if err != nil {
		return err
	}
	gp, err := sdk.ParseDecCoin("0.0025uopen")
	if err != nil {
		return err
	}
	cl, err := chainclient.New(chainclient.Config{GRPCAddr: o.grpc, ChainID: st.ChainID, KeyName: requester, Keyring: kr,
		GasLimit: 400_000, GasPrice: gp, InclusionTimeout: 30 * time.Second, PollInterval: 100 * time.Millisecond}, enc, nil)
	if err != nil {
		return err
	}
	defer cl.Close()

	// One prompt on the localnet's IPFS node; each job samples with its own seed.
	prompt := []byte("A fool and his money")
	dir := filepath.Join(e.home, "demo", "bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pf := filepath.Join(dir, "prompt.txt")
	if err := os.WriteFile(pf, prompt, 0o644); err != nil {
		return err
	}
	out, err := e.run(true, "ipfs", "add", "-q", rel(pf))
	if err != nil {
		return err
	}
	cid := strings.TrimSpace(out)
	sum := sha256.Sum256(prompt)
	e.printf("bench: %d jobs for deployment %d, %d in flight, max %d tokens each, prompt %s\n", o.jobs, st.DeploymentID, o.concurrency, o.maxTokens, cid)

	var (
		mu   sync.Mutex
		jobs []*benchJob
		next int
		errs []error
		wg   sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= o.jobs || len(errs) > 0 {
					mu.Unlock()
					return
				}
				next++
				seed := uint64(1000 + next)
				mu.Unlock()
				j, err := runJob(ctx, cl, st.DeploymentID, cid, hex.EncodeToString(sum[:]), o.maxTokens, seed)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					jobs = append(jobs, j)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if len(errs) > 0 {
		return fmt.Errorf("bench: %w", errs[0])
	}
	lat := make([]time.Duration, 0, len(jobs))
	ids := map[uint64]bool{}
	for _, j := range jobs {
		lat = append(lat, j.settled.Sub(j.posted))
		ids[j.id] = true
	}
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	e.printf("\n| jobs | in flight | all finalised after | jobs/min | latency p50 | latency p90 |\n")
	e.printf("|-----:|----------:|--------------------:|---------:|------------:|------------:|\n")
	e.printf("| %d | %d | %.1f s | %.1f | %.2f s | %.2f s |\n", len(jobs), o.concurrency, wall.Seconds(),
		float64(len(jobs))/wall.Minutes(), pct(0.5).Seconds(), pct(0.9).Seconds())

	logPath := filepath.Join(e.home, "provider.log")
	ex, err := executorTimes(logPath, ids)
	if err != nil {
		e.printf("\n(executor figures unavailable: %v)\n", err)
		return nil
	}
	if len(ex) == 0 {
		e.printf("\n(no 'job done' lines for these jobs in %s)\n", rel(logPath))
		return nil
	}
	var total, engine time.Duration
	for _, t := range ex {
		total += t[0]
		engine += t[1]
	}
	n := time.Duration(len(ex))
	over := total - engine
	e.printf("\nexecutor, per job (mean of %d 'job done' lines in %s):\n", len(ex), rel(logPath))
	e.printf("| total | engine (generation) | overhead (IPFS fetch/add, attribution, record) | overhead / engine |\n")
	e.printf("|------:|--------------------:|-----------------------------------------------:|------------------:|\n")
	e.printf("| %.2f ms | %.2f ms | %.2f ms | %.0f %% |\n", ms(total/n), ms(engine/n), ms(over/n), 100*float64(over)/float64(max(engine, 1)))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// runJob posts one job and waits until it is settled (finalised or failed).
func runJob(ctx context.Context, cl *chainclient.Client, dep uint64, cid, sha string, maxTokens, seed uint64) (*benchJob, error) {
	msg := &inferencetypes.MsgCreateJob{Requester: cl.Address(), DeploymentId: dep, InputCid: cid, InputSha256: sha,
		MaxTokens: maxTokens, MaxComputePricePerThousandTokens: sdk.NewInt64Coin("uopen", 5000), BidWindowBlocks: 3,
		ExecutionBlocks: 50, Params: inferencetypes.GenerationParams{TemperatureMilli: 800, Seed: seed}}
	j := &benchJob{posted: time.Now()}
	res, err := cl.SubmitAndWait(ctx, "bench job", msg)
	if err != nil {
		return nil, fmt.Errorf("create-job: %w", err)
	}
	for _, ev := range res.Events {
		if ev.Type != "openledger.inference.v1.EventJobCreated" {
			continue
		}
		for _, a := range ev.Attributes {
			if a.Key == "job_id" {
				j.id, _ = strconv.ParseUint(strings.Trim(a.Value, `"`), 10, 64)
			}
		}
	}
	if j.id == 0 {
		return nil, fmt.Errorf("create-job tx %s: no job id in its events", res.TxHash)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r, err := cl.Inference().Job(ctx, &inferencetypes.QueryJobRequest{JobId: j.id})
		if err == nil {
			switch r.Job.Status {
			case inferencetypes.JOB_STATUS_FINALIZED:
				j.settled, j.status = time.Now(), r.Job.Status.String()
				return j, nil
			case inferencetypes.JOB_STATUS_EXPIRED, inferencetypes.JOB_STATUS_FAILED, inferencetypes.JOB_STATUS_CANCELLED, inferencetypes.JOB_STATUS_VOIDED:
				return nil, fmt.Errorf("job %d ended %s (see the provider's log)", j.id, r.Job.Status)
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("job %d not finalised in 2 minutes (last: %v %v)", j.id, r.GetJob().Status, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var (
	reJob     = regexp.MustCompile(`\bjob=(\d+)\b`)
	reElapsed = regexp.MustCompile(`\belapsed=(\S+)`)
	reEngine  = regexp.MustCompile(`\bengine_time=(\S+)`)
)

// executorTimes reads the executor's "job done" lines of the given jobs:
// job id → [total, engine].
func executorTimes(path string, ids map[uint64]bool) (map[uint64][2]time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[uint64][2]time.Duration{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.Contains(l, `msg="job done"`) {
			continue
		}
		m, el, en := reJob.FindStringSubmatch(l), reElapsed.FindStringSubmatch(l), reEngine.FindStringSubmatch(l)
		if m == nil || el == nil || en == nil {
			continue
		}
		id, _ := strconv.ParseUint(m[1], 10, 64)
		if !ids[id] {
			continue
		}
		total, err1 := time.ParseDuration(el[1])
		engine, err2 := time.ParseDuration(en[1])
		if err1 != nil || err2 != nil {
			continue
		}
		out[id] = [2]time.Duration{total, engine}
	}
	return out, sc.Err()
}
