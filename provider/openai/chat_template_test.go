package openai

import (
	"strings"
	"testing"

	"github.com/openledger/openledger/ml/train"
)

// TestChatTemplateIsTheTrainersOne: a chat request is rendered to exactly the
// prompt an SFT chat record with the same messages trains on, the trained
// response ends with the stop sequence the provider adds, and the bytes are
// those docs/openai-api.md documents.
func TestChatTemplateIsTheTrainersOne(t *testing.T) {
	msgs := []Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Capital of Peru?"}}
	got := RenderChat(msgs)
	if want := "<|system|>\nBe brief.\n<|user|>\nCapital of Peru?\n<|assistant|>\n"; got != want {
		t.Fatalf("RenderChat = %q, want %q", got, want)
	}
	line := `{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Capital of Peru?"},{"role":"assistant","content":"Lima."}]}`
	recs, err := train.DecodeRecords(strings.NewReader(line+"\n"), "chat.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Prompt != got {
		t.Fatalf("trained prompt %q, served prompt %q", recs[0].Prompt, got)
	}
	if !strings.HasSuffix(recs[0].Response, ChatStop) || recs[0].Response != "Lima."+ChatStop {
		t.Fatalf("trained response %q does not end at the served stop sequence %q", recs[0].Response, ChatStop)
	}
	if n := uint64(len(chatGenPrompt)); n != 14 {
		t.Fatalf("generation prompt is %d bytes; the prompt-token bound counts 14", n)
	}
}
