package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func openTemp(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s := openTemp(t, dir)
	if _, err := s.AddJob(Job{ID: 7, DeploymentID: 2, MaxPrice: "20uopen", BidCloseHeight: 50}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(7, StateBid, func(j *Job) { j.BidPrice = "12uopen"; j.BidTxHash = "AB" }); err != nil {
		t.Fatal(err)
	}
	err := s.Update(func(tx *Tx) error {
		if err := tx.PutReceipt(Receipt{JobID: 7, Body: []byte("receipt")}); err != nil {
			return err
		}
		if err := tx.PutPendingTx(PendingTx{Hash: "ff01", Sequence: 9, Body: []byte("tx9")}); err != nil {
			return err
		}
		if err := tx.PutPendingTx(PendingTx{Hash: "ff00", Sequence: 8, Body: []byte("tx8")}); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := InboxEvent{Key: EventKey{Height: 41, TxIndex: -1, EventIndex: 3}, Type: "x", ABCI: []byte{1}}
	if ok, err := s.AcceptBlock(41, []InboxEvent{ev}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTemp(t, dir)
	defer s.Close()
	j, err := s.Job(7)
	if err != nil || j.State != StateBid || j.BidPrice != "12uopen" || len(j.History) != 2 {
		t.Fatalf("job after reopen: %+v, %v", j, err)
	}
	h, err := s.Height()
	if err != nil || h != 41 {
		t.Fatalf("height %d, %v", h, err)
	}
	txs, err := s.PendingTxs()
	if err != nil || len(txs) != 2 || txs[0].Sequence != 8 || txs[1].Hash != "FF01" {
		t.Fatalf("pending txs %+v, %v", txs, err)
	}
	err = s.View(func(tx *Tx) error {
		r, err := tx.Receipt(7)
		if err != nil || string(r.Body) != "receipt" {
			return fmt.Errorf("receipt %+v, %v", r, err)
		}
		evs, err := tx.Events(0)
		if err != nil || len(evs) != 1 || evs[0].Key != ev.Key {
			return fmt.Errorf("inbox %+v, %v", evs, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	s := openTemp(t, dir)
	defer s.Close()
	if _, err := Open(dir, nil, Options{LockTimeout: 100 * time.Millisecond}); err == nil {
		t.Fatal("a second Open of a held store succeeded")
	}
}

func TestJobTransitions(t *testing.T) {
	all := []State{StateSeen, StateBid, StateAwarded, StateExecuting, StateOutputStored, StateReceiptBuilt, StateReceiptSent, StateIncluded, StateGivenUp}
	legal := map[[2]State]bool{
		{StateSeen, StateBid}: true, {StateBid, StateAwarded}: true, {StateAwarded, StateExecuting}: true,
		{StateExecuting, StateOutputStored}: true, {StateOutputStored, StateReceiptBuilt}: true,
		{StateReceiptBuilt, StateReceiptSent}: true, {StateReceiptSent, StateIncluded}: true,
		{StateReceiptSent, StateReceiptBuilt}: true,
	}
	for _, from := range all {
		if !from.Final() {
			legal[[2]State{from, StateGivenUp}] = true
		}
	}
	s := openTemp(t, t.TempDir())
	defer s.Close()
	id := uint64(0)
	for _, from := range all {
		for _, to := range all {
			id++
			name := fmt.Sprintf("%s→%s", from, to)
			t.Run(name, func(t *testing.T) {
				// Drive a fresh job to `from` along the happy path (or give it up).
				if _, err := s.AddJob(Job{ID: id, DeploymentID: 1}); err != nil {
					t.Fatal(err)
				}
				path := []State{StateBid, StateAwarded, StateExecuting, StateOutputStored, StateReceiptBuilt, StateReceiptSent, StateIncluded}
				if from == StateGivenUp {
					path = []State{StateGivenUp}
				}
				for _, st := range path {
					if from == StateSeen {
						break
					}
					if _, err := s.Transition(id, st, nil); err != nil {
						t.Fatal(err)
					}
					if st == from {
						break
					}
				}
				_, err := s.Transition(id, to, func(j *Job) { j.Reason = "test" })
				if legal[[2]State{from, to}] {
					if err != nil {
						t.Fatalf("legal move rejected: %v", err)
					}
					got, _ := s.Job(id)
					if got.State != to || got.Reason != "test" {
						t.Fatalf("after move: %+v", got)
					}
					return
				}
				if !errors.Is(err, ErrIllegalTransition) {
					t.Fatalf("illegal move: err %v, want ErrIllegalTransition", err)
				}
				got, _ := s.Job(id)
				if got.State != from || got.Reason != "" {
					t.Fatalf("illegal move changed the job: %+v", got)
				}
			})
		}
	}
}

func TestAddJobTwiceAndMissingJob(t *testing.T) {
	s := openTemp(t, t.TempDir())
	defer s.Close()
	if _, err := s.AddJob(Job{ID: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddJob(Job{ID: 1}); !errors.Is(err, ErrExists) {
		t.Fatalf("second add: %v", err)
	}
	if _, err := s.Transition(2, StateBid, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing job: %v", err)
	}
	if _, err := s.AddJob(Job{}); err == nil {
		t.Fatal("job id 0 accepted")
	}
}

func TestUpdateRollsBackOnError(t *testing.T) {
	s := openTemp(t, t.TempDir())
	defer s.Close()
	boom := errors.New("boom")
	err := s.Update(func(tx *Tx) error {
		if _, err := tx.AddJob(Job{ID: 3}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := s.Job(3); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rolled back job persisted: %v", err)
	}
}

func TestAcceptBlockHeights(t *testing.T) {
	s := openTemp(t, t.TempDir())
	defer s.Close()
	ev := func(h int64, i int32) InboxEvent {
		return InboxEvent{Key: EventKey{Height: h, TxIndex: 0, EventIndex: i}, Type: "t"}
	}
	if ok, err := s.AcceptBlock(10, []InboxEvent{ev(10, 0), ev(10, 1)}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, err := s.AcceptBlock(10, []InboxEvent{ev(10, 2)}); ok || err != nil {
		t.Fatalf("block 10 accepted twice: %v %v", ok, err)
	}
	if _, err := s.AcceptBlock(12, nil); !errors.Is(err, ErrHeightGap) {
		t.Fatalf("gap: %v", err)
	}
	if _, err := s.AcceptBlock(11, []InboxEvent{ev(12, 0)}); err == nil {
		t.Fatal("event of another block accepted")
	}
	if ok, err := s.AcceptBlock(11, nil); !ok || err != nil {
		t.Fatal(ok, err)
	}
	var n int
	_ = s.View(func(tx *Tx) error { evs, err := tx.Events(0); n = len(evs); return err })
	if n != 2 {
		t.Fatalf("inbox holds %d events, want 2", n)
	}
	if err := s.Update(func(tx *Tx) error { return tx.SetHeight(5) }); !errors.Is(err, ErrHeightBackwards) {
		t.Fatalf("backwards: %v", err)
	}
}

func TestEventKeyOrder(t *testing.T) {
	keys := []EventKey{{5, -1, 0}, {5, -1, 9}, {5, 0, 0}, {5, 0, 1}, {5, 3, 0}, {5, TxIndexEndBlock, 0}, {6, -1, 0}}
	for i := 1; i < len(keys); i++ {
		if bytes.Compare(keys[i-1].Bytes(), keys[i].Bytes()) >= 0 {
			t.Fatalf("%s does not sort before %s", keys[i-1], keys[i])
		}
	}
	for _, k := range keys {
		got, err := ParseEventKey(k.Bytes())
		if err != nil || got != k {
			t.Fatalf("round trip %s: %v %v", k, got, err)
		}
	}
}

// ----- crash test: a child process writes in a loop and is killed with SIGKILL -----

const crashEnv = "PROVIDER_STORE_CRASH_CHILD_DIR"

// crashPayload is deterministic in i, so a torn or mixed record is detectable.
func crashPayload(i uint64) (string, []byte) {
	body := bytes.Repeat([]byte{byte(i)}, 512+int(i%2048))
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:]), body
}

// TestCrashChild is the child's body; it does nothing unless run by TestKill9.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestKill9")
	}
	s, err := Open(dir, nil, Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	for i := uint64(1); ; i++ {
		sum, body := crashPayload(i)
		err := s.Update(func(tx *Tx) error {
			if _, err := tx.AddJob(Job{ID: i, DeploymentID: i, OutputSHA256: sum}); err != nil {
				return err
			}
			if _, err := tx.Transition(i, StateBid, func(j *Job) { j.BidPrice = strconv.FormatUint(i, 10) + "uopen" }); err != nil {
				return err
			}
			if err := tx.PutPendingTx(PendingTx{Hash: fmt.Sprintf("%064X", i), Sequence: i, Body: body}); err != nil {
				return err
			}
			return tx.SetHeight(int64(i))
		})
		if err != nil {
			fmt.Println("update:", err)
			os.Exit(2)
		}
		// Acknowledge only after the commit returned.
		fmt.Fprintln(out, i)
		out.Flush()
	}
}

func TestKill9LeavesNoTornRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	for round := 0; round < 3; round++ {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		var acked uint64
		target := uint64(40 + round*60)
		for sc.Scan() {
			n, err := strconv.ParseUint(sc.Text(), 10, 64)
			if err != nil {
				continue // test framework noise
			}
			acked = n
			if acked >= target {
				break
			}
		}
		// Kill mid-loop, without warning.
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if acked < target {
			t.Fatalf("child acknowledged only %d writes", acked)
		}

		s := openTemp(t, dir)
		h, err := s.Height()
		if err != nil {
			t.Fatal(err)
		}
		if uint64(h) < acked {
			t.Fatalf("acknowledged write %d lost: height %d", acked, h)
		}
		jobs, err := s.Jobs()
		if err != nil {
			t.Fatal(err)
		}
		txs, err := s.PendingTxs()
		if err != nil {
			t.Fatal(err)
		}
		// Each commit wrote job i, its pending tx and height i together.
		if uint64(len(jobs)) != uint64(h) || len(txs) != len(jobs) {
			t.Fatalf("height %d but %d jobs and %d txs: a commit was split", h, len(jobs), len(txs))
		}
		for idx, j := range jobs {
			i := uint64(idx + 1)
			sum, body := crashPayload(i)
			if j.ID != i || j.State != StateBid || j.OutputSHA256 != sum || j.BidPrice != strconv.FormatUint(i, 10)+"uopen" {
				t.Fatalf("torn job %d: %+v", i, j)
			}
			if txs[idx].Sequence != i || !bytes.Equal(txs[idx].Body, body) {
				t.Fatalf("torn pending tx %d", i)
			}
		}
		t.Logf("round %d: killed after %d acknowledged writes; %d committed, all intact", round, acked, h)
		s.Close()
	}
}

func TestOpenRefusesOtherSchema(t *testing.T) {
	dir := t.TempDir()
	s := openTemp(t, dir)
	_ = s.db.Update(func(tx *bboltTx) error { return tx.Bucket(bucketMeta).Put(keySchema, u64(99)) })
	s.Close()
	if _, err := Open(filepath.Clean(dir), nil, Options{}); err == nil {
		t.Fatal("opened a store of another schema")
	}
}
