// Package gateway is `openledgerd gateway`: the local OpenAI-compatible
// endpoint of package gateway, paying providers by session vouchers
// (docs/openai-api.md).
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

const (
	flagListen       = "listen"
	flagBudget       = "budget"
	flagDeposit      = "deposit"
	flagAlias        = "alias"
	flagExpiryBlocks = "expiry-blocks"
	flagIdle         = "idle-final"
	flagGRPC         = "grpc-addr"
	flagTransport    = "transport"
)

// DefaultListen is the gateway's default address.
const DefaultListen = "127.0.0.1:8787"

// NewCmd is `openledgerd gateway`.
func NewCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gateway --budget AMOUNT --from KEY [--listen 127.0.0.1:8787]",
		Short: "Run a local OpenAI-compatible endpoint that pays providers by session vouchers",
		Long: `Serves the OpenAI API (GET /v1/models, POST /v1/completions, POST /v1/chat/completions,
streamed or not) on a loopback address. The model is a deployment id or an --alias.
For each request the gateway picks a provider offering the deployment (cheapest, then
fastest, preferring warm ones), opens or tops up a session within --budget (signed with
--from), signs a prepaid cumulative voucher, forwards the request and verifies the
provider's receipt (docs/openai-api.md). Session keys live under <home>/sessions/ and
voucher state under <home>/gateway/; idle sessions get their final voucher.

Every response names its request (X-Openledger-Request: session:S:N); POST /v1/feedback
{"request":"session:S:N","rating":1|-1,"preferred":"..."} rates it: the gateway submits
MsgSubmitFeedback from --from once the provider has settled the request (the preferred
text becomes a preference record on the home's IPFS node); GET /v1/feedback/{id} shows it.`,
		Example: `openledgerd gateway --budget 10000000uopen --from alice --alias tiny=1
curl -s http://127.0.0.1:8787/v1/chat/completions -d '{"model":"tiny","messages":[{"role":"user","content":"Hello"}]}'`,
		Args: cobra.NoArgs,
		RunE: run,
	}
	cmd.Flags().String(flagListen, DefaultListen, "loopback host:port to serve on")
	cmd.Flags().Duration(flagIdle, time.Minute, "send the final voucher of a session idle this long")
	AddFlags(cmd)
	return cmd
}

func run(cmd *cobra.Command, _ []string) error {
	listen, _ := cmd.Flags().GetString(flagListen)
	if host, _, err := net.SplitHostPort(listen); err != nil || !(host == "localhost" || net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback()) {
		return fmt.Errorf("--%s %q: the gateway serves on loopback only", flagListen, listen)
	}
	idle, _ := cmd.Flags().GetDuration(flagIdle)
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	env, err := Open(cmd, log, idle)
	if err != nil {
		return err
	}
	defer env.Close()
	g := env.Gateway
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: g.Handler(), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	eg, ectx := errgroup.WithContext(ctx)
	eg.Go(func() error { return g.Run(ectx) })
	eg.Go(func() error {
		<-ectx.Done()
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		return srv.Shutdown(sctx)
	})
	eg.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	log.Info("gateway listening", "url", "http://"+ln.Addr().String()+"/v1", "account", env.Client.Address(),
		"budget", env.Budget, "state", filepath.Join(env.Home, "gateway"))
	return eg.Wait()
}
