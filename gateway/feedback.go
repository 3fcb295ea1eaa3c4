package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/openledger/openledger/internal/atomicfile"
	"github.com/openledger/openledger/ml/train"
	modelstypes "github.com/openledger/openledger/x/models/types"
)

// Settlement is a session settlement as the chain holds it.
type Settlement struct {
	ID           uint64
	FirstRequest uint64 // 1-based sequence of its first request
	Requests     uint64
	ReceiptsRoot []byte
	// SubmittedHeight starts the feedback window.
	SubmittedHeight int64
}

// Covers reports whether request seq is in the settlement's increment.
func (s Settlement) Covers(seq uint64) bool {
	return s.Requests > 0 && seq >= s.FirstRequest && seq-s.FirstRequest < s.Requests
}

// Covering returns the settlement whose increment holds request seq.
func Covering(sts []Settlement, seq uint64) (Settlement, bool) {
	for _, s := range sts {
		if s.Covers(seq) {
			return s, true
		}
	}
	return Settlement{}, false
}

// FeedbackChain is what the gateway needs of the chain to rate the requests
// it served (POST /v1/feedback). A Chain without it answers 501 there.
type FeedbackChain interface {
	// Settlements lists a session's settlements.
	Settlements(ctx context.Context, sessionID uint64) ([]Settlement, error)
	// FeedbackWindow returns x/models' feedback window (blocks) and the
	// latest height.
	FeedbackWindow(ctx context.Context) (window uint64, height int64, err error)
	// SubmitFeedback signs msg with the requester key and waits for its
	// block. refused is the chain's reason when it refused the tx (err nil);
	// err is a failure worth retrying.
	SubmitFeedback(ctx context.Context, msg *modelstypes.MsgSubmitFeedback) (txHash string, feedbackID uint64, refused string, err error)
}

// Feedback statuses.
const (
	FeedbackQueued    = "queued"    // waiting for the request's settlement
	FeedbackSubmitted = "submitted" // on chain
	FeedbackRefused   = "refused"   // the chain (or its window) refused it
)

// Feedback is a rating of a served request, kept under
// <home>/gateway/feedback/ until (and after) it is on chain.
type Feedback struct {
	ID        string `json:"id"`
	Request   string `json:"request"`
	Session   uint64 `json:"-"`
	Seq       uint64 `json:"-"`
	Rating    int    `json:"rating"`
	Preferred string `json:"preferred,omitempty"`
	Status    string `json:"status"`
	// Settlement holding the request, once known.
	Settlement uint64 `json:"settlement,omitempty"`
	TxHash     string `json:"tx_hash,omitempty"`
	FeedbackID uint64 `json:"feedback_id,omitempty"`
	RecordCID  string `json:"record_cid,omitempty"`
	// Reason: why it was refused, or why it still waits.
	Reason string `json:"reason,omitempty"`
}

func feedbackDir(home string) string { return filepath.Join(home, "gateway", "feedback") }

func feedbackID(session, seq uint64) string { return fmt.Sprintf("fb-%d-%d", session, seq) }

func (g *Gateway) feedbackPath(id string) string {
	return filepath.Join(feedbackDir(g.cfg.Home), id+".json")
}

func (g *Gateway) saveFeedback(f *Feedback) error {
	b, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.Write(g.feedbackPath(f.ID), b, 0o600)
}

func (g *Gateway) loadFeedback(id string) (*Feedback, error) {
	if strings.ContainsAny(id, `/\.`) {
		return nil, os.ErrNotExist
	}
	b, err := os.ReadFile(g.feedbackPath(id))
	if err != nil {
		return nil, err
	}
	f := &Feedback{}
	if err := json.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("feedback %s: %w", id, err)
	}
	f.Session, f.Seq, err = ParseRequestID(f.Request)
	return f, err
}

// readSession reads a persisted session's state (without its key).
func readSession(home string, id uint64) (*session, error) {
	b, err := os.ReadFile(sessionPath(home, id))
	if err != nil {
		return nil, err
	}
	s := &session{}
	return s, json.Unmarshal(b, s)
}

type feedbackIn struct {
	Request   string          `json:"request"`
	Rating    json.RawMessage `json:"rating"`
	Preferred string          `json:"preferred"`
}

// postFeedback is POST /v1/feedback: it records a rating of a request this
// gateway served (durably, 202) for the submitter to put on chain once the
// request is in a settlement.
func (g *Gateway) postFeedback(w http.ResponseWriter, r *http.Request) {
	var in feedbackIn
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes)).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", "could not parse the JSON body: "+err.Error())
		return
	}
	rating := 0
	switch strings.TrimSpace(string(in.Rating)) {
	case "1", "+1":
		rating = 1
	case "-1":
		rating = -1
	default:
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_rating", fmt.Sprintf("rating %s: want 1 or -1", in.Rating))
		return
	}
	sid, seq, err := ParseRequestID(in.Request)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_request_id", err.Error())
		return
	}
	fc, ok := g.chain.(FeedbackChain)
	if !ok {
		writeError(w, http.StatusNotImplemented, "server_error", "feedback_unavailable", "this gateway's chain connection cannot submit feedback")
		return
	}
	s, err := readSession(g.cfg.Home, sid)
	if err != nil {
		writeError(w, http.StatusNotFound, "invalid_request_error", "request_not_found", fmt.Sprintf("session %d was not opened by this gateway", sid))
		return
	}
	if s.Requester != g.cfg.Requester {
		writeError(w, http.StatusForbidden, "permission_error", "not_requester",
			fmt.Sprintf("session %d belongs to %q, this gateway signs as %q: only the requester may rate its requests", sid, s.Requester, g.cfg.Requester))
		return
	}
	rec, found, err := g.receipts.Get(sid, seq)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "server_error", "store_error", err.Error())
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, "invalid_request_error", "request_not_found", fmt.Sprintf("this gateway served no request %d in session %d", seq, sid))
		return
	}
	if in.Preferred != "" {
		switch {
		case g.cfg.AddRecord == nil:
			writeError(w, http.StatusNotImplemented, "server_error", "feedback_unavailable", "this gateway has no IPFS node to add preference records to")
			return
		case !rec.Known:
			writeError(w, http.StatusUnprocessableEntity, "invalid_request_error", "output_unknown",
				fmt.Sprintf("request %s was recovered from the provider: its prompt and output are not known here, so it takes a rating only", in.Request))
			return
		case in.Preferred == rec.Output:
			writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_value", "the preferred completion equals the served one")
			return
		}
	}
	if _, err := os.Stat(g.feedbackPath(feedbackID(sid, seq))); err == nil {
		writeError(w, http.StatusConflict, "invalid_request_error", "feedback_exists", fmt.Sprintf("%s already has feedback %s", RequestID(sid, seq), feedbackID(sid, seq)))
		return
	}
	// The window is checked now when the request is already settled; the
	// chain checks it again on submission.
	if sts, err := fc.Settlements(r.Context(), sid); err == nil {
		if st, ok := Covering(sts, seq); ok {
			if window, h, err := fc.FeedbackWindow(r.Context()); err == nil && h > st.SubmittedHeight+int64(window) {
				writeError(w, http.StatusGone, "invalid_request_error", "feedback_window_closed",
					fmt.Sprintf("the feedback window of %s closed at height %d (settlement %d)", in.Request, st.SubmittedHeight+int64(window), st.ID))
				return
			}
		}
	}
	f := &Feedback{ID: feedbackID(sid, seq), Request: RequestID(sid, seq), Session: sid, Seq: seq, Rating: rating, Preferred: in.Preferred, Status: FeedbackQueued}
	g.fbMu.Lock()
	if _, err := os.Stat(g.feedbackPath(f.ID)); err == nil {
		g.fbMu.Unlock()
		writeError(w, http.StatusConflict, "invalid_request_error", "feedback_exists", fmt.Sprintf("%s already has feedback %s", f.Request, f.ID))
		return
	}
	err = g.saveFeedback(f)
	g.fbMu.Unlock()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "server_error", "store_error", err.Error())
		return
	}
	select {
	case g.fbKick <- struct{}{}:
	default:
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", "/v1/feedback/"+f.ID)
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(f)
}

// getFeedback is GET /v1/feedback/{id}.
func (g *Gateway) getFeedback(w http.ResponseWriter, r *http.Request) {
	f, err := g.loadFeedback(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusNotFound, "invalid_request_error", "feedback_not_found", fmt.Sprintf("no feedback %q", r.PathValue("id")))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(f)
}

// Feedback returns a recorded feedback by id.
func (g *Gateway) Feedback(id string) (*Feedback, error) { return g.loadFeedback(id) }

// SubmitFeedback puts every queued feedback whose request is now in a
// settlement on chain (from the requester key), or records why the chain
// refused it. Run calls it periodically; a failure worth retrying leaves the
// feedback queued.
func (g *Gateway) SubmitFeedback(ctx context.Context) error {
	fc, ok := g.chain.(FeedbackChain)
	if !ok {
		return nil
	}
	ents, err := os.ReadDir(feedbackDir(g.cfg.Home))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && strings.HasPrefix(n, "fb-") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var firstErr error
	for _, id := range names {
		f, err := g.loadFeedback(id)
		if err != nil || f.Status != FeedbackQueued {
			continue
		}
		if err := g.submitOne(ctx, fc, f); err != nil {
			f.Reason = err.Error()
			_ = g.saveFeedback(f)
			if firstErr == nil {
				firstErr = err
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return firstErr
}

func (g *Gateway) submitOne(ctx context.Context, fc FeedbackChain, f *Feedback) error {
	sts, err := fc.Settlements(ctx, f.Session)
	if err != nil {
		return fmt.Errorf("settlements of session %d: %w", f.Session, err)
	}
	st, ok := Covering(sts, f.Seq)
	if !ok {
		if f.Reason != "waiting for the request's settlement" {
			f.Reason = "waiting for the request's settlement"
			return g.saveFeedback(f)
		}
		return nil
	}
	f.Settlement = st.ID
	refuse := func(why string) error {
		f.Status, f.Reason = FeedbackRefused, why
		g.log.Warn("feedback refused", "feedback", f.ID, "reason", why)
		return g.saveFeedback(f)
	}
	window, h, err := fc.FeedbackWindow(ctx)
	if err != nil {
		return fmt.Errorf("feedback window: %w", err)
	}
	if last := st.SubmittedHeight + int64(window); h > last {
		return refuse(fmt.Sprintf("the feedback window closed at height %d", last))
	}
	n := st.FirstRequest + st.Requests - 1
	receipt, proof, root, err := g.receipts.Proof(f.Session, f.Seq, n)
	if err != nil {
		return refuse(err.Error())
	}
	if string(root[:]) != string(st.ReceiptsRoot) {
		return refuse(fmt.Sprintf("the stored receipts of session %d do not hash to settlement %d's receipts root", f.Session, st.ID))
	}
	s, err := readSession(g.cfg.Home, f.Session)
	if err != nil {
		return err
	}
	msg := &modelstypes.MsgSubmitFeedback{Rater: s.Requester, SessionId: f.Session, SettlementId: st.ID, Receipt: receipt, Rating: modelstypes.FEEDBACK_RATING_UP}
	if f.Rating < 0 {
		msg.Rating = modelstypes.FEEDBACK_RATING_DOWN
	}
	for _, p := range proof {
		msg.Proof = append(msg.Proof, append([]byte(nil), p[:]...))
	}
	if f.Preferred != "" {
		if err := g.attachPreference(ctx, f, msg); err != nil {
			return err
		}
	}
	if _, err := msg.CheckFields(); err != nil {
		return refuse(err.Error())
	}
	hash, id, refused, err := fc.SubmitFeedback(ctx, msg)
	if err != nil {
		return fmt.Errorf("submitting: %w", err)
	}
	f.TxHash = hash
	if refused != "" {
		return refuse(refused)
	}
	f.Status, f.FeedbackID, f.Reason = FeedbackSubmitted, id, ""
	g.log.Info("feedback submitted", "feedback", f.ID, "request", f.Request, "tx", hash, "id", id)
	return g.saveFeedback(f)
}

// attachPreference writes the preference record of a feedback (the preferred
// text chosen, the served output rejected), adds it and both completions to
// IPFS, and names them in msg.
func (g *Gateway) attachPreference(ctx context.Context, f *Feedback, msg *modelstypes.MsgSubmitFeedback) error {
	rec, found, err := g.receipts.Get(f.Session, f.Seq)
	if err != nil || !found {
		return fmt.Errorf("stored request %s: %v", f.Request, err)
	}
	record, err := PreferenceRecord(rec.Prompt, rec.Messages, f.Preferred, rec.Output, false)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(record)
	reason := fmt.Sprintf("feedback sha256:%x", digest)
	if msg.RecordCid, err = g.cfg.AddRecord(ctx, record, reason); err != nil {
		return fmt.Errorf("adding the record to IPFS: %w", err)
	}
	if msg.PreferredCompletionCid, err = g.cfg.AddRecord(ctx, []byte(f.Preferred), reason); err != nil {
		return fmt.Errorf("adding the preferred completion to IPFS: %w", err)
	}
	rejected, err := g.cfg.AddRecord(ctx, []byte(rec.Output), reason)
	if err != nil {
		return fmt.Errorf("adding the served output to IPFS: %w", err)
	}
	msg.RecordSha256, msg.RecordSize = hex.EncodeToString(digest[:]), uint64(len(record))
	msg.ChosenCid, msg.RejectedCid = msg.PreferredCompletionCid, rejected
	f.RecordCID = msg.RecordCid
	return nil
}

// PreferenceRecord is a feedback record line in the form the built-in
// trainer reads (ml/train): a preference pair {"prompt"|"messages","chosen",
// "rejected"}, or with sft an instruction example. msgs, when not nil, is a
// chat request's messages.
func PreferenceRecord(prompt string, msgs []train.Message, chosen, rejected string, sft bool) ([]byte, error) {
	if sft {
		return train.EncodeInstruction(prompt, msgs, chosen)
	}
	if chosen == rejected {
		return nil, errors.New("the preferred completion equals the rejected one")
	}
	return train.EncodePreference(prompt, msgs, chosen, rejected)
}
