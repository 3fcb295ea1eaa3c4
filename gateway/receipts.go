package gateway

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/openledger/openledger/inference/voucher"
	"github.com/openledger/openledger/internal/atomicfile"
	"github.com/openledger/openledger/ml/train"
)

// StoredReceipt is one verified request of a session as the gateway keeps it
// (<home>/gateway/receipts/<session>.log, append-only, fsynced before the
// response is released): the provider's signed receipt in its canonical bytes
// (a leaf of the receipts root the requester's vouchers commit to, so the
// proof of request N is built from these alone), and what was asked and
// answered. Prompt (or Messages for a chat) and Output are kept because
// neither is on chain and a preference record (prompt, chosen, rejected)
// needs both; the receipt already binds the output by its SHA-256. A receipt
// recovered from the provider after a crash (resync) has neither.
type StoredReceipt struct {
	Session  uint64          `json:"session,string"`
	Seq      uint64          `json:"seq,string"`
	Receipt  []byte          `json:"receipt"`
	Prompt   string          `json:"prompt,omitempty"`
	Messages []train.Message `json:"messages,omitempty"`
	Output   string          `json:"output,omitempty"`
	// Known: Prompt/Messages and Output were seen (not a recovered receipt).
	Known bool `json:"known,omitempty"`
}

// maxRecord bounds one record of the log.
const maxRecord = 64 << 20

// Receipts is the append-only per-session receipt store of a gateway home.
type Receipts struct {
	dir  string
	mu   sync.Mutex
	last map[uint64]uint64 // session -> last request seq stored
}

func receiptsDir(home string) string { return filepath.Join(home, "gateway", "receipts") }

// OpenReceipts opens the receipt store under home (created if absent). A
// torn last record (a crash mid-append) is cut off when the session is first
// appended to again.
func OpenReceipts(home string) (*Receipts, error) {
	dir := receiptsDir(home)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &Receipts{dir: dir, last: map[uint64]uint64{}}, nil
}

func (r *Receipts) path(session uint64) string {
	return filepath.Join(r.dir, fmt.Sprintf("%d.log", session))
}

// read returns a session's records and the byte length of its valid prefix.
func (r *Receipts) read(session uint64) ([]StoredReceipt, int64, error) {
	f, err := os.Open(r.path(session))
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var out []StoredReceipt
	var good int64
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return out, good, nil // end, or a torn header
		}
		n, sum := binary.BigEndian.Uint32(hdr[:4]), binary.BigEndian.Uint32(hdr[4:])
		if n == 0 || n > maxRecord {
			return out, good, nil
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil || crc32.ChecksumIEEE(b) != sum {
			return out, good, nil // torn or corrupt tail
		}
		var rec StoredReceipt
		if err := json.Unmarshal(b, &rec); err != nil || rec.Session != session || rec.Seq != uint64(len(out))+1 {
			return out, good, nil
		}
		out = append(out, rec)
		good += int64(8 + n)
	}
}

// Session returns every stored receipt of a session, request 1 first.
func (r *Receipts) Session(session uint64) ([]StoredReceipt, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	recs, _, err := r.read(session)
	return recs, err
}

// Get returns request seq of a session.
func (r *Receipts) Get(session, seq uint64) (StoredReceipt, bool, error) {
	recs, err := r.Session(session)
	if err != nil || seq == 0 || seq > uint64(len(recs)) {
		return StoredReceipt{}, false, err
	}
	return recs[seq-1], true, nil
}

// Append adds the next request of a session and fsyncs it. A request already
// stored is not written again; one out of order is an error.
func (r *Receipts) Append(rec StoredReceipt) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	last, ok := r.last[rec.Session]
	if !ok {
		recs, good, err := r.read(rec.Session)
		if err != nil {
			return err
		}
		if err := r.truncate(rec.Session, good); err != nil {
			return err
		}
		last = uint64(len(recs))
		r.last[rec.Session] = last
	}
	switch {
	case rec.Seq <= last:
		return nil
	case rec.Seq != last+1:
		return fmt.Errorf("receipt store: session %d request %d after %d", rec.Session, rec.Seq, last)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	buf := make([]byte, 8, 8+len(b))
	binary.BigEndian.PutUint32(buf[:4], uint32(len(b)))
	binary.BigEndian.PutUint32(buf[4:], crc32.ChecksumIEEE(b))
	buf = append(buf, b...)
	p := r.path(rec.Session)
	_, statErr := os.Stat(p)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if errors.Is(statErr, os.ErrNotExist) {
		if err := atomicfile.SyncDir(r.dir); err != nil {
			return err
		}
	}
	r.last[rec.Session] = rec.Seq
	return nil
}

// truncate cuts a session's log to its valid prefix.
func (r *Receipts) truncate(session uint64, good int64) error {
	st, err := os.Stat(r.path(session))
	if errors.Is(err, os.ErrNotExist) || err == nil && st.Size() == good {
		return nil
	}
	if err != nil {
		return err
	}
	f, err := os.OpenFile(r.path(session), os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(good); err != nil {
		return err
	}
	return f.Sync()
}

// Proof returns the receipt of request seq and its inclusion proof in the tree
// of the session's first n requests (a settlement's receipts root covers
// requests 1..first_request+requests-1). root is that tree's root, for the
// caller to compare with the settlement's.
func (r *Receipts) Proof(session, seq, n uint64) (rc []byte, proof [][32]byte, root [32]byte, err error) {
	recs, err := r.Session(session)
	if err != nil {
		return nil, nil, root, err
	}
	if seq == 0 || seq > n {
		return nil, nil, root, fmt.Errorf("request %d is not among the first %d", seq, n)
	}
	if uint64(len(recs)) < n {
		return nil, nil, root, fmt.Errorf("session %d: %d receipts stored, the settlement covers %d", session, len(recs), n)
	}
	leaves := make([][32]byte, n)
	for i := range n {
		rcpt, err := voucher.UnmarshalReceipt(recs[i].Receipt)
		if err != nil {
			return nil, nil, root, fmt.Errorf("stored receipt %d of session %d: %w", i+1, session, err)
		}
		leaves[i] = rcpt.LeafHash()
	}
	if proof, err = voucher.Proof(leaves, int(seq-1)); err != nil {
		return nil, nil, root, err
	}
	return recs[seq-1].Receipt, proof, voucher.Root(leaves), nil
}

// RequestID is the id of request seq of a session: "session:S:N", the
// inference argument of `openledgerd feedback`.
func RequestID(session, seq uint64) string { return fmt.Sprintf("session:%d:%d", session, seq) }

// ParseRequestID reads "session:S:N".
func ParseRequestID(s string) (session, seq uint64, err error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] != "session" {
		return 0, 0, fmt.Errorf("request %q: want session:SESSION:REQUEST", s)
	}
	session, err1 := strconv.ParseUint(parts[1], 10, 64)
	seq, err2 := strconv.ParseUint(parts[2], 10, 64)
	if err1 != nil || err2 != nil || session == 0 || seq == 0 {
		return 0, 0, fmt.Errorf("request %q: want positive integers in session:SESSION:REQUEST", s)
	}
	return session, seq, nil
}
