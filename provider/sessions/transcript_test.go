package sessions_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"reflect"
	"testing"

	"github.com/openledger/openledger/provider/sessions"
)

// TestTranscriptStoredWithReceipt: Complete signs the body's sha256 and keeps
// the transcript under the receipt's key, across a restart; an inconsistent
// transcript gets no receipt and releases the session.
func TestTranscriptStoredWithReceipt(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	req := sessions.Request{DeploymentID: 7, MaxTokens: 100}

	bad := []struct {
		name string
		edit func(*sessions.Served)
	}{
		{"unknown endpoint", func(s *sessions.Served) { s.Endpoint = "embeddings" }},
		{"no max tokens", func(s *sessions.Served) { s.MaxTokens = 0 }},
		{"empty body", func(s *sessions.Served) { s.Body = nil }},
		{"output not the digested one", func(s *sessions.Served) { s.Output = []byte("hello!") }},
	}
	for _, c := range bad {
		tk, err := e.m.Accept(ctx, e.client.next(100), req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		s := served("hello", 10, 50)
		c.edit(&s)
		if _, err := tk.Complete(s); err == nil {
			t.Fatalf("%s: completed", c.name)
		}
	}
	s := served("hello", 10, 50)
	r := e.request(100, 10, 50) // the session was released by every failure
	if r.RequestSeq != 1 || r.RequestSHA256 != sha256.Sum256(s.Body) {
		t.Fatalf("receipt %d signs %x, want request 1 signing the body's sha256", r.RequestSeq, r.RequestSHA256)
	}
	e.reopen()
	got, err := e.m.Transcript(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := sessions.Transcript{Endpoint: s.Endpoint, MaxTokens: s.MaxTokens, Body: s.Body, Output: s.Output}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("transcript %+v, want %+v", got, want)
	}
	if _, err := e.m.Transcript(1, 2); !errors.Is(err, sessions.ErrNoTranscript) {
		t.Fatalf("missing transcript: %v", err)
	}
}
