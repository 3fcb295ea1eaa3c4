package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/openledger/openledger/p2p"
	"github.com/openledger/openledger/storage"
	"github.com/openledger/openledger/storage/daemon"
)

func newInitCmd() *cobra.Command {
	var loopback bool
	var apiAddr, gwAddr, dht string
	var swarm, bootstrap []string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the IPFS repo in <home>/ipfs (config, identity key, block store, datastore)",
		Args:  exactArgs(0, "init takes no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := repoDir(cmd)
			if err != nil {
				return err
			}
			cfg := storage.DefaultConfig()
			if loopback {
				cfg = storage.LoopbackConfig()
			}
			if cmd.Flags().Changed("api-addr") {
				cfg.Addresses.API = apiAddr
			}
			if cmd.Flags().Changed("gateway-addr") {
				cfg.Addresses.Gateway = gwAddr
			}
			if cmd.Flags().Changed("swarm") {
				cfg.Addresses.Swarm = swarm
			}
			if cmd.Flags().Changed("dht") {
				cfg.Routing.DHT = dht
			}
			cfg.Bootstrap = append(cfg.Bootstrap, bootstrap...)
			if err := storage.Init(dir, &cfg); err != nil {
				return err
			}
			key, err := p2p.LoadOrCreateIdentity(dir + "/" + storage.IdentityFile)
			if err != nil {
				return err
			}
			id, _ := p2p.PeerIDFromKey(key)
			fmt.Fprintf(cmd.OutOrStdout(), "initialised IPFS repo at %s\npeer identity: %s\n", dir, id)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&loopback, "loopback", false, "listen on ephemeral loopback ports only, DHT in server mode (local networks, tests)")
	f.StringVar(&apiAddr, "api-addr", storage.DefaultAPIAddr, "host:port of the local API")
	f.StringVar(&gwAddr, "gateway-addr", storage.DefaultGatewayAddr, "host:port of the gateway (\"\" disables it)")
	f.StringSliceVar(&swarm, "swarm", nil, "libp2p listen multiaddrs (repeatable)")
	f.StringVar(&dht, "dht", string(p2p.DHTAuto), "DHT mode: none, client, server or auto")
	f.StringSliceVar(&bootstrap, "bootstrap", nil, "bootstrap peer multiaddr ending in /p2p/<id> (repeatable)")
	return cmd
}

func newDaemonCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "daemon",
		Short: "Run the IPFS node online: libp2p, bitswap, DHT, local API and read-only gateway",
		Args:  exactArgs(0, "daemon takes no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := repoDir(cmd)
			if err != nil {
				return err
			}
			parent := cmd.Context()
			if parent == nil {
				parent = context.Background()
			}
			ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			out := cmd.OutOrStdout()
			return daemon.Run(ctx, dir, daemon.Options{Logger: log, OnReady: func(i daemon.Info) {
				fmt.Fprintf(out, "peer id: %s\n", i.PeerID)
				for _, a := range i.SwarmAddrs {
					fmt.Fprintf(out, "swarm listening on %s\n", a)
				}
				fmt.Fprintf(out, "API server listening on %s\n", i.APIURL)
				if i.GatewayURL != "" {
					fmt.Fprintf(out, "gateway (read-only) listening on %s\n", i.GatewayURL)
				}
				fmt.Fprintln(out, "daemon is ready")
			}})
		},
	}
}

func newIDCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "id",
		Short: "Show the node's peer ID and addresses (JSON)",
		Args:  exactArgs(0, "id takes no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAPI(cmd, func(ctx context.Context, a storage.API) error {
				id, err := a.ID(ctx)
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), id)
			})
		},
	}
}

func newPeersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "peers", Short: "Connect to peers and list connections (daemon only)"}
	cmd.AddCommand(&cobra.Command{
		Use:   "connect MULTIADDR",
		Short: "Connect to a peer, e.g. /ip4/10.0.0.2/tcp/4101/p2p/12D3Koo…",
		Args:  exactArgs(1, "peers connect MULTIADDR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := p2p.ParseAddrInfo(args[0]); err != nil {
				return err
			}
			return withAPI(cmd, func(ctx context.Context, a storage.API) error {
				if err := a.Connect(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "connected %s\n", args[0])
				return nil
			})
		},
	}, &cobra.Command{
		Use:   "ls",
		Short: "List connected peers",
		Args:  exactArgs(0, "peers ls takes no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAPI(cmd, func(ctx context.Context, a storage.API) error {
				ps, err := a.Peers(ctx)
				if err != nil {
					return err
				}
				for _, p := range ps {
					fmt.Fprintf(cmd.OutOrStdout(), "%s/p2p/%s\n", p.Addr, p.ID)
				}
				return nil
			})
		},
	})
	return cmd
}

func newGCCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "gc",
		Short: "Delete every block not reachable from a pin",
		Args:  exactArgs(0, "gc takes no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAPI(cmd, func(ctx context.Context, a storage.API) error {
				res, err := a.GC(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %d blocks (%d bytes), kept %d\n", res.Removed, res.FreedBytes, res.Kept)
				return nil
			})
		},
	}
}

func newRepoCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "repo", Short: "Repo maintenance"}
	var repair bool
	verify := &cobra.Command{
		Use:   "verify [--repair]",
		Short: "Re-hash every block and report corruption (exit status 1 if any)",
		Long: `Re-hash every block file. With --repair, corrupt blocks are deleted so
that re-adding the data, a network fetch or a CAR import can store good copies.`,
		Args: exactArgs(0, "repo verify takes no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAPI(cmd, func(ctx context.Context, a storage.API) error {
				res, err := a.Verify(ctx, repair)
				if err != nil {
					return err
				}
				for _, c := range res.Corrupt {
					state := ""
					if c.Removed {
						state = ", removed"
					}
					fmt.Fprintf(cmd.OutOrStdout(), "corrupt block %s (%s): %s%s\n", c.Cid, c.Key, c.Error, state)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "verified %d blocks, %d corrupt\n", res.Checked, len(res.Corrupt))
				if len(res.Corrupt) > 0 && !repair {
					return fmt.Errorf("repo verify: %d corrupt blocks (run with --repair to delete them)", len(res.Corrupt))
				}
				return nil
			})
		},
	}
	verify.Flags().BoolVar(&repair, "repair", false, "delete corrupt blocks")
	cmd.AddCommand(verify)
	return cmd
}
