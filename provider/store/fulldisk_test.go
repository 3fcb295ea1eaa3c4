package store_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openledger/openledger/provider/follower"
	"github.com/openledger/openledger/provider/store"
)

// diskFull makes the disk "full" for the store's file: the process's file size
// limit (RLIMIT_FSIZE, settable without root) is lowered to the file's current
// size, so a transaction that needs the file to grow fails with EFBIG, as it
// would with ENOSPC on a full disk. SIGXFSZ is ignored meanwhile (its default
// action kills the process). The returned func restores both.
func diskFull(t *testing.T, path string) (restore func()) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	signal.Ignore(syscall.SIGXFSZ)
	lim := old
	lim.Cur = uint64(fi.Size())
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		signal.Reset(syscall.SIGXFSZ)
		t.Skipf("cannot lower RLIMIT_FSIZE: %v", err)
	}
	done := false
	restore = func() {
		if done {
			return
		}
		done = true
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
			t.Fatalf("restoring RLIMIT_FSIZE: %v", err)
		}
		signal.Reset(syscall.SIGXFSZ)
	}
	t.Cleanup(restore)
	return restore
}

// TestFullDiskNeitherAcksNorMarksDone: a follower delivers an event to a handler
// that records its effect (the job done, its receipt stored) and acks the event
// in one store transaction. With the disk full the commit fails: the store logs
// and returns an error naming its file and the OS error, the follower stops with
// that error, the event stays in the inbox, the job is not marked done, and
// everything committed before is intact after a reopen.
func TestFullDiskNeitherAcksNorMarksDone(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	st, err := store.Open(dir, slog.New(slog.NewTextHandler(&logs, nil)), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { st.Close() }()
	// Committed before the disk fills: a job, a journaled tx, height 10 with one
	// inbox event.
	if _, err := st.AddJob(store.Job{ID: 1, DeploymentID: 1}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []store.State{store.StateBid, store.StateAwarded} {
		if _, err := st.Transition(1, s, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SavePendingTx("ABCD", 3, []byte("signed"), "bid job 1"); err != nil {
		t.Fatal(err)
	}
	key := store.EventKey{Height: 10, TxIndex: 0, EventIndex: 0}
	if ok, err := st.AcceptBlock(10, []store.InboxEvent{{Key: key, Type: "test", ABCI: nil}}); err != nil || !ok {
		t.Fatalf("accept block: %v %v", ok, err)
	}

	restore := diskFull(t, st.Path())
	handled := 0
	handler := func(_ context.Context, ev follower.Event) error {
		handled++
		return st.Update(func(tx *store.Tx) error {
			if _, err := tx.Transition(1, store.StateGivenUp, func(j *store.Job) { j.Reason = "done" }); err != nil {
				return err
			}
			// An output large enough that the file must grow.
			if err := tx.PutReceipt(store.Receipt{JobID: 1, Body: bytes.Repeat([]byte{7}, 4<<20)}); err != nil {
				return err
			}
			return tx.AckEvent(ev.Key)
		})
	}
	// The follower starts from the stored height and serves the inbox before it
	// talks to the node, here a closed loopback port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rpc := "tcp://" + ln.Addr().String()
	ln.Close()
	f, err := follower.New(follower.Config{RPCAddr: rpc, PollOnly: true, PollInterval: 50 * time.Millisecond}, st, handler, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	runErr := f.Run(ctx)
	restore()

	if runErr == nil || ctx.Err() != nil {
		t.Fatalf("follower returned %v (context: %v); want the store error", runErr, ctx.Err())
	}
	for _, s := range []string{"store " + st.Path() + ": write failed", "file too large"} {
		if !strings.Contains(runErr.Error(), s) {
			t.Errorf("follower error %q lacks %q", runErr, s)
		}
	}
	if handled != 1 {
		t.Errorf("handler called %d times, want 1", handled)
	}
	line := ""
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "store write failed") {
			line = l
			break
		}
	}
	for _, s := range []string{"level=ERROR", "path=" + st.Path(), "file too large"} {
		if !strings.Contains(line, s) {
			t.Errorf("log line %q lacks %q\n%s", line, s, logs.String())
		}
	}

	if !strings.Contains(logs.String(), `msg="store write failed handling an event; stopping with the event kept"`) ||
		strings.Contains(logs.String(), "event dropped") {
		t.Errorf("follower log:\n%s", logs.String())
	}

	check := func(when string) {
		t.Helper()
		j, err := st.Job(1)
		if err != nil || j.State != store.StateAwarded {
			t.Errorf("%s: job %+v, %v; want still awarded", when, j, err)
		}
		var inbox []store.InboxEvent
		if err := st.View(func(tx *store.Tx) (err error) { inbox, err = tx.Events(0); return err }); err != nil || len(inbox) != 1 || inbox[0].Key != key {
			t.Errorf("%s: inbox %+v, %v; want the unacked event", when, inbox, err)
		}
		if h, err := st.Height(); err != nil || h != 10 {
			t.Errorf("%s: height %d, %v", when, h, err)
		}
		if txs, err := st.PendingTxs(); err != nil || len(txs) != 1 || txs[0].Hash != "ABCD" {
			t.Errorf("%s: pending txs %+v, %v", when, txs, err)
		}
		var rerr error
		_ = st.View(func(tx *store.Tx) error { _, rerr = tx.Receipt(1); return nil })
		if !errors.Is(rerr, store.ErrNotFound) {
			t.Errorf("%s: receipt lookup %v, want not found", when, rerr)
		}
	}
	check("after the failed write")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = store.Open(dir, nil, store.Options{})
	if err != nil {
		t.Fatalf("reopen after the full disk: %v", err)
	}
	check("after reopening")
	// With room again, the same change commits.
	if err := st.Update(func(tx *store.Tx) error {
		if err := tx.PutReceipt(store.Receipt{JobID: 1, Body: bytes.Repeat([]byte{7}, 4<<20)}); err != nil {
			return err
		}
		return tx.AckEvent(key)
	}); err != nil {
		t.Fatalf("write with room again: %v", err)
	}
}
