// Package storage is the IPFS node built into openledgerd, assembled from
// boxo with every layer visible:
//
//	flatfs (kubo's next-to-last/2 layout)     leveldb (pins, pin reasons)
//	        │                                        │
//	blockstore (re-hash on read, quota) ── idstore   dspinner
//	        │
//	blockservice ── bitswap ── libp2p host (p2p.New) ── kad-dht (optional)
//	        │
//	merkledag ── UnixFS importer (balanced, raw leaves, CIDv1) / reader, HAMT dirs
//
// A repo lives in <home>/ipfs (RepoPath): Init creates it, Open locks it and
// returns a *Node. Other packages use the API interface, implemented by
// *Node (in-process) and by storage/api.Client (a running daemon):
//
//	res, err := a.Add(ctx, files.NewReaderFile(r), storage.AddOptions{
//		Name: "rows.jsonl", PinReason: "datanet 3 contribution 17", SHA256: true})
//	// res.Root (CID), res.Size (bytes), res.SHA256 (hex digest of the content)
//	rc, err := a.Cat(ctx, res.Root)
//	err = a.Get(ctx, c, "/path/out", nil)
//	err = a.Pin(ctx, c, "model 2 version 5")      // fetches first when online
//	err = a.Unpin(ctx, c, "model 2 version 5")    // the pin goes with its last reason
//	st, err := a.Stat(ctx, c)
//	err = a.ExportCAR(ctx, c, w); res2, err := a.ImportCAR(ctx, r, reason, false)
//
// OpenInput turns a local file or directory path into the files.Node Add
// takes. To use the daemon when it runs and the repo otherwise, call
// api.Open(ctx, storage.RepoPath(home)), as storage/cli does. ParseCID
// validates user-supplied CIDs.
//
// Guarantees: imports give kubo's CIDs for `ipfs add --cid-version=1
// --raw-leaves`; a pin is recorded only for a complete DAG and flushed before
// Add/Pin return; a failed add leaves no pin (gc removes its blocks); a block
// whose bytes do not hash to its CID is never returned (CorruptBlockError);
// missing blocks fail with ErrNotFound, at once offline and after
// Config.FetchTimeout without progress online. Errors to test with
// errors.Is/As: ErrNotFound, ErrNotPinned, ErrRepoFull, ErrOffline,
// ErrNoRepo, ErrRepoLocked, *CorruptBlockError.
package storage
