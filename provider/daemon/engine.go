package daemon

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openledger/openledger/provider/openai"
	inferencetypes "github.com/openledger/openledger/x/inference/types"
)

// DefaultEngine is the API's engine of a real provider (api.enabled): the
// requests run on the executor's pool (DefaultExecutor's: the same workers,
// resident weights, backends and attribution as the jobs) for the deployments
// of price.deployments.
func DefaultEngine(_ context.Context, env ExecEnv) (openai.Engine, error) {
	pe, ok := env.Executor.(PoolExecutor)
	if !ok {
		return nil, fmt.Errorf("the API's default engine runs on the default executor's pool; the executor is a %T", env.Executor)
	}
	gen, ok := pe.Pool.(openai.Generator)
	if !ok {
		return nil, fmt.Errorf("the executor %T cannot run interactive generations", pe.Pool)
	}
	offered := make([]uint64, 0, len(env.Config.Price.Deployments))
	for _, d := range env.Config.Price.Deployments {
		offered = append(offered, d.DeploymentID)
	}
	return &openai.PoolEngine{Pool: gen, Offered: offered}, nil
}

// registerAPIURL sets the provider's api_url on chain (MsgUpdateProvider, the
// other fields unchanged) when it differs, so that gateways find the API.
func (d *daemonState) registerAPIURL(ctx context.Context, url string) error {
	res, err := d.cl.Inference().Provider(ctx, &inferencetypes.QueryProviderRequest{Operator: d.cl.Address()})
	if status.Code(err) == codes.NotFound {
		d.log.Warn("the operator is not a registered provider: the API URL is not on chain, gateways will not find it", "url", url)
		return nil
	}
	if err != nil {
		return fmt.Errorf("query provider %s: %w", d.cl.Address(), err)
	}
	p := res.Provider
	if p.ApiUrl == url {
		return nil
	}
	if p.Operator == "" {
		return errors.New("the chain returned an empty provider")
	}
	msg := &inferencetypes.MsgUpdateProvider{Operator: d.cl.Address(), Multiaddrs: p.Multiaddrs, ApiUrl: url,
		Hardware: p.Hardware, Engines: p.Engines, Moniker: p.Moniker}
	if _, err := d.cl.SubmitAndWait(ctx, "update provider api_url", msg); err != nil {
		return fmt.Errorf("updating the provider's api_url: %w", err)
	}
	d.log.Info("API URL registered on chain", "api_url", url, "was", p.ApiUrl)
	return nil
}
