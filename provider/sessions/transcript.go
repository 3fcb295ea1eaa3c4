package sessions

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/openledger/openledger/inference/batchrecord"
)

var bucketTranscripts = []byte("session_transcripts")

// ErrNoTranscript: the store has no transcript of the request.
var ErrNoTranscript = errors.New("sessions: no transcript of the request")

// Transcript is what a request was served from and what it served, kept with
// its receipt (same key, same transaction) and published in the settlement's
// batch record (inference/batchrecord.Request) so that anyone can re-execute
// the request and check its receipt.
type Transcript struct {
	// Endpoint is batchrecord.EndpointChat or EndpointCompletions.
	Endpoint string `json:"endpoint"`
	// MaxTokens is the completion cap the provider applied.
	MaxTokens uint64 `json:"max_tokens"`
	// Body is the exact request body (the receipt's RequestSHA256).
	Body []byte `json:"body"`
	// Output is the exact output (the receipt's OutputSHA256).
	Output []byte `json:"output"`
}

// transcript validates a served request's transcript against its digests.
func (s Served) transcript() (Transcript, error) {
	t := Transcript{Endpoint: s.Endpoint, MaxTokens: s.MaxTokens, Body: s.Body, Output: s.Output}
	switch {
	case t.Endpoint != batchrecord.EndpointChat && t.Endpoint != batchrecord.EndpointCompletions:
		return t, fmt.Errorf("sessions: endpoint %q is not %q or %q", t.Endpoint, batchrecord.EndpointChat, batchrecord.EndpointCompletions)
	case t.MaxTokens == 0:
		return t, errors.New("sessions: the applied max_tokens must be positive")
	case len(t.Body) == 0:
		return t, errors.New("sessions: the request body is empty")
	case sha256.Sum256(t.Output) != s.OutputSHA256:
		return t, errors.New("sessions: the output does not hash to the receipt's output sha256")
	}
	return t, nil
}

func putTranscript(tx *bolt.Tx, id, seq uint64, t Transcript) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketTranscripts).Put(receiptKey(id, seq), b)
}

// Transcript returns request seq's transcript in session id; ErrNoTranscript
// when the store has none.
func (m *Manager) Transcript(id, seq uint64) (Transcript, error) {
	var t Transcript
	err := m.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTranscripts).Get(receiptKey(id, seq))
		if b == nil {
			return fmt.Errorf("%w: session %d request %d", ErrNoTranscript, id, seq)
		}
		return json.Unmarshal(b, &t)
	})
	return t, err
}
