// Package p2p builds the libp2p host shared by the OpenLedger off-chain
// daemons: the IPFS node in storage/ and, later, the provider daemon.
//
// A host is built from three explicit pieces:
//
//   - an identity: an Ed25519 key persisted in a file (LoadOrCreateIdentity),
//     so the peer ID survives restarts;
//   - a Config: listen multiaddrs (TCP and QUIC), connection-manager
//     watermarks, resource-manager memory budget, NAT and relay switches;
//   - New, which assembles the host with every option spelled out: TCP and
//     QUIC-v1 transports, Noise and TLS security, yamux, identify (always on in
//     go-libp2p), ping, a scaled resource manager and a connection manager.
//
// Peering helpers (ParseAddrInfos, ConnectAll) turn "/ip4/…/p2p/<id>" strings
// into dials with a timeout, for configured bootstrap peers and the
// `peers connect` command. NewDHT starts a kad-dht in the requested mode for
// content routing.
package p2p
