package sessions

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ReadState reads a session's state from the store in dir without a Manager:
// read-only, for `provider status` and for tests that inspect the store of a
// daemon that is not running (it waits up to a second for the file lock).
// ErrUnknownSession when no voucher of the session was ever committed.
func ReadState(dir string, id uint64) (State, error) {
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return State{}, fmt.Errorf("sessions: open store: %w", err)
	}
	defer db.Close()
	var r record
	found := false
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		if b == nil {
			return nil
		}
		bz := b.Get(sessionKey(id))
		if bz == nil {
			return nil
		}
		found = true
		return json.Unmarshal(bz, &r)
	})
	if err != nil {
		return State{}, fmt.Errorf("sessions: read %d: %w", id, err)
	}
	if !found {
		return State{}, reject(ErrUnknownSession, "no voucher for session %d", id)
	}
	return r.state()
}
