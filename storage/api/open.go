package api

import (
	"context"

	"github.com/openledger/openledger/storage"
)

// Open returns the daemon's API when a daemon runs on repoDir, else the repo
// opened in-process (offline, holding the repo lock until close is called).
// It is what every `ipfs` command does; the contribution porcelain and other
// callers use it the same way:
//
//	a, closeFn, err := api.Open(ctx, storage.RepoPath(home))
//	if err != nil { … }
//	defer closeFn()
//	res, err := a.Add(ctx, files.NewReaderFile(f), storage.AddOptions{PinReason: "datanet 3 contribution 17", SHA256: true})
func Open(ctx context.Context, repoDir string) (a storage.API, closeFn func() error, err error) {
	client, err := DiscoverClient(ctx, repoDir)
	if err != nil {
		return nil, nil, err
	}
	if client != nil {
		return client, func() error { return nil }, nil
	}
	n, err := storage.Open(ctx, repoDir, storage.OpenOptions{})
	if err != nil {
		return nil, nil, err
	}
	return n, n.Close, nil
}
