package duty

import (
	"log/slog"
	"time"

	cmtservice "github.com/cosmos/cosmos-sdk/client/grpc/cmtservice"

	"github.com/openledger/openledger/provider/backend"
	"github.com/openledger/openledger/provider/chainclient"
	"github.com/openledger/openledger/provider/executor"
	"github.com/openledger/openledger/provider/store"
	"github.com/openledger/openledger/provider/verifier"
	"github.com/openledger/openledger/storage"
)

// DaemonEnv is what the provider daemon hands committee duty.
type DaemonEnv struct {
	Client *chainclient.Client
	Store  *store.Store
	IPFS   storage.API
	// Pool is the daemon's executor pool (nil when the daemon runs another
	// executor: a pool of the built-in engine is made over CacheDir).
	Pool     *executor.Pool
	CacheDir string
	Log      *slog.Logger
}

// ForDaemon assembles the service over the daemon's chain client, store,
// IPFS node and executor pool (audits share its cache and resident weights).
func ForDaemon(env DaemonEnv) (*Service, error) {
	pool := env.Pool
	if pool == nil {
		p, err := executor.New(executor.Config{CacheDir: env.CacheDir},
			executor.Deps{Storage: env.IPFS, Models: executor.ChainModels{Query: env.Client.Models()},
				Backends: []backend.Backend{backend.NewBuiltin("")}}, env.Log)
		if err != nil {
			return nil, err
		}
		pool = p
	}
	chain := verifier.ChainQueries{Query: env.Client.Inference(), Node: cmtservice.NewServiceClient(env.Client.Conn())}
	// A batch record that does not come within 15 s is retried at the next
	// poll rather than holding the other disputes up (see the package doc).
	v, err := verifier.New(pool, chain, env.IPFS, verifier.Config{RecordFetchTimeout: 15 * time.Second}, env.Log)
	if err != nil {
		return nil, err
	}
	return New(Config{Operator: env.Client.Address()}, ClientChain{Client: env.Client}, v, env.Store, env.IPFS, env.Log)
}
