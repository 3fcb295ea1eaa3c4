package models

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/ipfs/go-cid"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/train"
	"github.com/openledger/openledger/storage"
	"github.com/openledger/openledger/x/models/types"
)

// BaseVersion is a chain model version fetched for fine-tuning: a directory
// holding its checkpoint (train.ModelFile) and its training manifest
// (train.ManifestFile), both verified against the chain, and, when asked for, the
// files of the manifest's inputs (for the evaluation on the parent's held-out set).
type BaseVersion struct {
	ModelID, Version uint64
	Dir              string
	Manifest         *train.Manifest
	// ParentData are the manifest's input files, in order (nil unless fetched).
	ParentData []string
}

// IsVersionRef reports whether s reads as MODEL/VERSION (two positive integers).
func IsVersionRef(s string) bool {
	a, b, ok := strings.Cut(s, "/")
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	return ok && err1 == nil && err2 == nil && x > 0 && y > 0
}

// FetchBaseVersion fetches model version modelID/version into cache/MODEL-VERSION:
// the checkpoint by its artifact CID, checked against the chain's sha256 and size,
// and the manifest by its CID, checked against the chain's manifest sha256 and
// required to name that checkpoint. With inputs, the manifest's input files are
// fetched by their CIDs and checked against the manifest's sha256 and size. Files
// already in the cache with the right digest are not fetched again.
func FetchBaseVersion(ctx context.Context, clientCtx client.Context, a storage.API, modelID, version uint64, cache string, inputs bool, log io.Writer) (*BaseVersion, error) {
	res, err := types.NewQueryClient(clientCtx).ModelVersion(ctx, &types.QueryModelVersionRequest{ModelId: modelID, Version: version})
	if err != nil {
		return nil, fmt.Errorf("--base %d/%d: no such model version on the chain: %w", modelID, version, err)
	}
	v := res.Version
	switch {
	case v.Kind == types.VERSION_KIND_LORA:
		parent := "its parent"
		if v.Parent != nil {
			parent = fmt.Sprintf("its parent %d/%d", v.Parent.ModelId, v.Parent.Version)
		}
		return nil, fmt.Errorf("--base %d/%d is a LoRA adapter, not a checkpoint: fine-tune %s (add --lora-rank for another adapter)", modelID, version, parent)
	case v.EngineName != checkpoint.EngineName:
		return nil, fmt.Errorf("--base %d/%d is a model of engine %q; the built-in trainer fine-tunes %q checkpoints", modelID, version, v.EngineName, checkpoint.EngineName)
	case v.ManifestCid == "" || v.ManifestSha256 == "":
		return nil, fmt.Errorf("--base %d/%d records no training manifest: it cannot be fine-tuned here", modelID, version)
	}
	dir := filepath.Join(cache, fmt.Sprintf("%d-%d", modelID, version))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("model %d version %d", modelID, version)
	ckpt := filepath.Join(dir, train.ModelFile)
	if err := FetchVerified(ctx, a, what+" checkpoint", v.ArtifactCid, v.ArtifactSha256, int64(v.ArtifactSize), ckpt); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "base %d/%d: checkpoint %s, %d bytes, sha256 %s verified\n", modelID, version, v.ArtifactCid, v.ArtifactSize, v.ArtifactSha256)
	manPath := filepath.Join(dir, train.ManifestFile)
	if err := FetchVerified(ctx, a, what+" manifest", v.ManifestCid, v.ManifestSha256, -1, manPath); err != nil {
		return nil, err
	}
	man, err := train.ReadManifest(manPath)
	if err != nil {
		return nil, err
	}
	if man.Checkpoint.SHA256 != v.ArtifactSha256 {
		return nil, fmt.Errorf("%s: its manifest describes checkpoint sha256 %s, but the version's artifact is %s", what, man.Checkpoint.SHA256, v.ArtifactSha256)
	}
	fmt.Fprintf(log, "base %d/%d: manifest %s verified (eval_loss %.4f)\n", modelID, version, v.ManifestCid, man.EvalLoss)
	bv := &BaseVersion{ModelID: modelID, Version: version, Dir: dir, Manifest: man}
	if !inputs {
		return bv, nil
	}
	for i, in := range man.Inputs {
		if in.CID == "" {
			return nil, fmt.Errorf("%s: its manifest's input %d (%s) has no CID, so its held-out set cannot be fetched: give the parent's files with --parent-data, or --no-parent-eval",
				what, i, in.Path)
		}
		path := filepath.Join(dir, "data", fmt.Sprintf("%06d-%s", i, in.CID))
		if err := FetchVerified(ctx, a, fmt.Sprintf("%s input %d", what, i), in.CID, in.SHA256, in.Bytes, path); err != nil {
			return nil, err
		}
		bv.ParentData = append(bv.ParentData, path)
	}
	fmt.Fprintf(log, "base %d/%d: %d training inputs verified (for the evaluation on its held-out set)\n", modelID, version, len(bv.ParentData))
	return bv, nil
}

// FetchVerified writes the file with CID c to path, requiring its sha256 (and its
// size, unless size < 0), unless path already holds exactly that file. It writes a
// temporary file beside path and renames it into place only when it checks out.
func FetchVerified(ctx context.Context, a storage.API, what, c, sha string, size int64, path string) error {
	if c == "" || sha == "" {
		return fmt.Errorf("%s: the chain records no CID or sha256", what)
	}
	if ok, _ := fileHas(path, sha, size); ok {
		return nil
	}
	id, err := cid.Decode(c)
	if err != nil {
		return fmt.Errorf("%s: cid %q: %w", what, c, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	rc, err := a.Cat(ctx, id)
	if err != nil {
		return fmt.Errorf("%s: fetching %s: %w", what, c, err)
	}
	defer rc.Close()
	limit := size + 1
	if size < 0 {
		limit = maxUnsizedFetch + 1
	}
	tmp := path + ".part"
	n, got, err := copyHashed(tmp, io.LimitReader(rc, limit))
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: reading %s: %w", what, c, err)
	}
	if size < 0 && n > maxUnsizedFetch {
		os.Remove(tmp)
		return fmt.Errorf("%s: %s is larger than %d bytes", what, c, int64(maxUnsizedFetch))
	}
	if got != sha || (size >= 0 && n != size) {
		os.Remove(tmp)
		if size < 0 {
			return fmt.Errorf("%s: %w: %s has sha256 %s; the chain records %s", what, ErrDigestMismatch, c, got, sha)
		}
		return fmt.Errorf("%s: %w: %s has sha256 %s and %d bytes; the chain records %s and %d bytes", what, ErrDigestMismatch, c, got, n, sha, size)
	}
	return os.Rename(tmp, path)
}

// maxUnsizedFetch bounds a file whose size the chain does not record (a manifest).
const maxUnsizedFetch = 64 << 20

// ErrDigestMismatch is returned when fetched bytes are not what the chain records.
var ErrDigestMismatch = errors.New("digest mismatch")
