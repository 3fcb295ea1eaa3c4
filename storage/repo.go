package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	flatfs "github.com/ipfs/go-ds-flatfs"
	leveldb "github.com/ipfs/go-ds-leveldb"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/openledger/openledger/p2p"

	"github.com/openledger/openledger/internal/atomicfile"
)

// Repo layout, relative to the repo directory (<home>/ipfs):
//
//	config        sparse JSON config (see Config)
//	identity.key  libp2p Ed25519 private key (mode 0600)
//	blocks/       flatfs block store, kubo's layout: /repo/flatfs/shard/v1/next-to-last/2,
//	              file name = base32 of the block's multihash + ".data"
//	datastore/    leveldb: pins, pin reasons, metadata
//	version       repo format version
//	repo.lock     flock held by the process that has the repo open
//	api           written by a running daemon: URL of its local HTTP API
const (
	ConfigFile   = "config"
	IdentityFile = "identity.key"
	BlocksDir    = "blocks"
	DatastoreDir = "datastore"
	VersionFile  = "version"
	LockFile     = "repo.lock"
	APIFile      = "api"

	// RepoVersion is the on-disk format version written by Init.
	RepoVersion = "1"
)

// Errors returned when opening a repo.
var (
	ErrNoRepo     = errors.New("no IPFS repo")
	ErrRepoLocked = errors.New("IPFS repo is locked by another process")
)

// RepoPath returns the IPFS repo directory inside an openledgerd home.
func RepoPath(home string) string { return filepath.Join(home, "ipfs") }

// Repo is an open repo: config, identity and the two datastores. It holds
// an exclusive lock on the directory until Close.
type Repo struct {
	Path   string
	Config Config
	Key    crypto.PrivKey
	Blocks *flatfs.Datastore
	Meta   *leveldb.Datastore
	lock   *os.File
}

// IsInitialized reports whether dir holds a repo.
func IsInitialized(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, VersionFile))
	return err == nil
}

// Init creates a repo at dir with cfg (DefaultConfig when nil). It fails if
// a repo already exists there.
func Init(dir string, cfg *Config) error {
	if IsInitialized(dir) {
		return fmt.Errorf("IPFS repo already initialised at %s", dir)
	}
	c := DefaultConfig()
	if cfg != nil {
		c = *cfg
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating repo directory: %w", err)
	}
	raw, err := c.Marshal()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, ConfigFile), raw, 0o600); err != nil {
		return fmt.Errorf("writing config: %w", err)
	}
	if _, err := p2p.LoadOrCreateIdentity(filepath.Join(dir, IdentityFile)); err != nil {
		return err
	}
	if err := flatfs.Create(filepath.Join(dir, BlocksDir), flatfs.NextToLast(2)); err != nil && !errors.Is(err, flatfs.ErrDatastoreExists) {
		return fmt.Errorf("creating block store: %w", err)
	}
	// The version file is written last: its presence marks a complete repo.
	return atomicfile.Write(filepath.Join(dir, VersionFile), []byte(RepoVersion+"\n"), 0o600)
}

// OpenRepo locks and opens the repo at dir.
func OpenRepo(dir string) (*Repo, error) {
	if !IsInitialized(dir) {
		return nil, fmt.Errorf("%w at %s: run `openledgerd ipfs init` first", ErrNoRepo, dir)
	}
	v, err := os.ReadFile(filepath.Join(dir, VersionFile))
	if err != nil {
		return nil, fmt.Errorf("reading repo version: %w", err)
	}
	if got := strings.TrimSpace(string(v)); got != RepoVersion {
		return nil, fmt.Errorf("repo %s has format version %q, this binary reads %q", dir, got, RepoVersion)
	}
	lock, err := lockRepo(dir)
	if err != nil {
		return nil, err
	}
	r := &Repo{Path: dir, lock: lock}
	if err := r.open(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Repo) open() error {
	var err error
	if r.Config, err = LoadConfig(filepath.Join(r.Path, ConfigFile)); err != nil {
		return err
	}
	if r.Key, err = p2p.LoadOrCreateIdentity(filepath.Join(r.Path, IdentityFile)); err != nil {
		return err
	}
	if r.Blocks, err = flatfs.Open(filepath.Join(r.Path, BlocksDir), r.Config.Datastore.SyncWrites); err != nil {
		return fmt.Errorf("opening block store: %w", err)
	}
	if r.Meta, err = leveldb.NewDatastore(filepath.Join(r.Path, DatastoreDir), nil); err != nil {
		return fmt.Errorf("opening datastore: %w", err)
	}
	return nil
}

// Close closes the datastores and releases the lock.
func (r *Repo) Close() error {
	var errs []error
	if r.Meta != nil {
		errs = append(errs, r.Meta.Close())
		r.Meta = nil
	}
	if r.Blocks != nil {
		errs = append(errs, r.Blocks.Close())
		r.Blocks = nil
	}
	if r.lock != nil {
		errs = append(errs, syscall.Flock(int(r.lock.Fd()), syscall.LOCK_UN), r.lock.Close())
		r.lock = nil
	}
	return errors.Join(errs...)
}

func lockRepo(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening repo lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s); if a daemon runs, commands use its API", ErrRepoLocked, dir)
		}
		return nil, fmt.Errorf("locking repo: %w", err)
	}
	return f, nil
}
