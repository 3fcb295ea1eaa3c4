package train

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecodeRecords(t *testing.T) {
	chat := `{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}`
	recs, err := DecodeRecords(strings.NewReader("{\"prompt\":\"p\",\"response\":\"r\"}\n\n"+chat+"\n"), "f.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Prompt != "p" || recs[0].Response != "r" || recs[1].Source != "f.jsonl:3" || recs[0].Kind != KindSFT || recs[1].Kind != KindSFT {
		t.Fatalf("%+v", recs)
	}
	// The chat form renders the documented default template (docs/openai-api.md).
	if want := "<|system|>\nbe brief\n<|user|>\nhi\n<|assistant|>\n"; recs[1].Prompt != want || recs[1].Response != "hello\n<|" {
		t.Fatalf("chat record rendered as %q + %q", recs[1].Prompt, recs[1].Response)
	}
	prefs, err := DecodeRecords(strings.NewReader(`{"prompt":"p","chosen":"a","rejected":"b"}`+"\r\n"+
		`{"messages":[{"role":"user","content":"q"}],"chosen":"a","rejected":"b"}`), "g")
	if err != nil {
		t.Fatal(err)
	}
	if len(prefs) != 2 || prefs[0].Kind != KindDPO || prefs[1].Kind != KindDPO || prefs[1].Prompt != "<|user|>\nq\n<|assistant|>\n" || prefs[1].Chosen != "a\n<|" || prefs[0].Rejected != "b" {
		t.Fatalf("%+v", prefs)
	}
}

// Every bad record is refused with an error naming its file and line.
func TestDecodeRecordsRejectsBadInput(t *testing.T) {
	good := `{"prompt":"p","chosen":"a","rejected":"b"}` + "\n"
	for _, c := range []struct {
		name, kind, line, want string
	}{
		{"empty prompt", KindDPO, `{"prompt":"","chosen":"a","rejected":"b"}`, "empty prompt"},
		{"blank prompt", KindSFT, `{"prompt":"  \n","response":"a"}`, "empty prompt"},
		{"no prompt", KindDPO, `{"chosen":"a","rejected":"b"}`, `needs "prompt" or "messages"`},
		{"prompt and messages", KindDPO, `{"prompt":"p","messages":[],"chosen":"a","rejected":"b"}`, "not both"},
		{"no messages", KindDPO, `{"messages":[],"chosen":"a","rejected":"b"}`, "empty prompt"},
		{"chosen equals rejected", KindDPO, `{"prompt":"p","chosen":"same","rejected":"same"}`, "same text"},
		{"empty chosen", KindDPO, `{"prompt":"p","chosen":"","rejected":"b"}`, "non-empty"},
		{"missing rejected", KindDPO, `{"prompt":"p","chosen":"a"}`, "non-empty"},
		{"response and chosen", KindDPO, `{"prompt":"p","response":"a","chosen":"a","rejected":"b"}`, "not both"},
		{"response and rejected", KindSFT, `{"prompt":"p","response":"a","rejected":"b"}`, "not both"},
		{"empty response", KindSFT, `{"prompt":"p","response":""}`, "empty response"},
		{"chat without assistant", KindSFT, `{"messages":[{"role":"user","content":"q"}]}`, "final assistant"},
		{"chat with response", KindSFT, `{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}],"response":"x"}`, "last message"},
		{"bad role", KindDPO, `{"messages":[{"role":"robot","content":"q"}],"chosen":"a","rejected":"b"}`, `role "robot"`},
		{"malformed JSON", KindDPO, `{"prompt":"p","chosen":"a",`, "malformed JSON"},
		{"not an object", KindDPO, `["p","a","b"]`, "malformed JSON"},
		{"unknown field", KindDPO, `{"prompt":"p","chosen":"a","rejected":"b","score":1}`, "unknown field"},
		{"two values", KindDPO, `{"prompt":"p","chosen":"a","rejected":"b"} {}`, "more than one value"},
		{"wrong type", KindDPO, `{"prompt":7,"chosen":"a","rejected":"b"}`, "malformed JSON"},
		{"invalid UTF-8", KindDPO, "{\"prompt\":\"\xff\",\"chosen\":\"a\",\"rejected\":\"b\"}", "UTF-8"},
		{"line too long", KindDPO, `{"prompt":"` + strings.Repeat("x", MaxRecordLine) + `","chosen":"a","rejected":"b"}`, "longer than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			good := good
			if c.kind == KindSFT {
				good = `{"prompt":"p","response":"r"}` + "\n"
			}
			_, err := DecodeRecords(strings.NewReader(good+good+c.line+"\n"+good), "feedback.jsonl")
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), "feedback.jsonl:3: ") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not name line 3 and %q", err, c.want)
			}
		})
	}
	if _, err := DecodeRecords(strings.NewReader("\n \n"), "empty.jsonl"); err == nil || !strings.Contains(err.Error(), "no records") {
		t.Fatalf("empty file: %v", err)
	}
}

// Bad specs and bad files are refused before any training.
func TestFineTuneRejectsBadRuns(t *testing.T) {
	dir := t.TempDir()
	prefs := writeJSONL(t, dir, "prefs.jsonl", prefRecords(8, 1))
	bad := writeJSONL(t, dir, "bad.jsonl", []any{prefRecords(1, 1)[0], map[string]string{"prompt": "p", "chosen": "x", "rejected": "x"}})
	one := writeJSONL(t, dir, "one.jsonl", prefRecords(1, 1))
	for _, c := range []struct {
		name string
		edit func(*Spec)
		want string
	}{
		{"no base", func(s *Spec) { s.Base = nil }, "fine-tunes a base"},
		{"zero beta", func(s *Spec) { s.Beta = 0 }, "beta"},
		{"beta for sft", func(s *Spec) { s.Kind = KindSFT }, "beta is for"},
		{"unknown kind", func(s *Spec) { s.Kind = "ppo" }, "unknown kind"},
		{"chosen equals rejected", func(s *Spec) { s.Inputs = []Input{{Path: bad}} }, "bad.jsonl:2"},
		{"sft records for dpo", func(s *Spec) { s.Inputs = []Input{{Path: writeJSONL(t, dir, "s.jsonl", sftRecords(4, 1))}} }, "no dpo records (4 of the other kind)"},
		{"one record", func(s *Spec) { s.Inputs = []Input{{Path: one}} }, "at least one to train on and one to hold out"},
		{"parent not the base", func(s *Spec) {
			s.Parent = &ParentRun{Manifest: filepath.Join(feedbackBase(t), ManifestFile)}
			s.Base = &Base{Path: filepath.Join(writeJSONL(t, dir, "x", nil), "..", "nope")}
		}, "nope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := fineTuneSpec(t, KindDPO, prefs, 2)
			c.edit(&spec)
			_, err := Run(context.Background(), spec, Options{OutDir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

func FuzzDecodeRecords(f *testing.F) {
	f.Add([]byte(`{"prompt":"p","chosen":"a","rejected":"b"}`))
	f.Add([]byte(`{"prompt":"p","response":"r"}` + "\n" + `{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}`))
	f.Add([]byte("{\"messages\":[{\"role\":\"user\",\"content\":\"\"}],\"chosen\":\"\\u0000\",\"rejected\":\"b\"}\r\n\n"))
	f.Add([]byte(`{"prompt":"p","chosen":"a","rejected":"a"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeRecords(strings.NewReader(string(b)), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "train: fuzz") {
				t.Fatalf("error does not name the input: %v", err)
			}
			return
		}
		for _, r := range recs {
			if strings.TrimSpace(r.Prompt) == "" || !strings.HasPrefix(r.Source, "fuzz:") {
				t.Fatalf("accepted %+v", r)
			}
			dpo := r.Kind == KindDPO
			if !dpo && r.Kind != KindSFT {
				t.Fatalf("record of kind %q", r.Kind)
			}
			if dpo && (r.Chosen == "" || r.Rejected == "" || r.Chosen == r.Rejected || r.Response != "") {
				t.Fatalf("accepted preference record %+v", r)
			}
			if !dpo && (r.Response == "" || r.Chosen != "" || r.Rejected != "") {
				t.Fatalf("accepted SFT record %+v", r)
			}
		}
	})
}

// A feedback dataset version may mix instruction and preference records:
// each kind of run trains on its own kind and counts the others as skipped.
func TestMixedFeedbackFile(t *testing.T) {
	dir := t.TempDir()
	var mixed []any
	sft, prefs := sftRecords(12, 4), prefRecords(20, 4)
	for i := range prefs {
		if i < len(sft) {
			mixed = append(mixed, sft[i])
		}
		mixed = append(mixed, prefs[i])
	}
	data := writeJSONL(t, dir, "mixed.jsonl", mixed)
	for _, c := range []struct {
		kind          string
		kept, skipped int
	}{{KindDPO, 20, 12}, {KindSFT, 12, 20}} {
		spec := fineTuneSpec(t, c.kind, data, 2)
		if c.kind == KindSFT {
			spec.Beta = 0
		}
		m := mustRun(t, spec, Options{OutDir: t.TempDir()}).Manifest
		if m.TrainRecords+m.EvalRecords != c.kept || m.SkippedRecords != c.skipped {
			t.Fatalf("%s: %d+%d records, %d skipped", c.kind, m.TrainRecords, m.EvalRecords, m.SkippedRecords)
		}
	}
}

// The encoders write lines DecodeRecords reads back to the same record,
// and refuse what it would refuse.
func TestEncodeRecords(t *testing.T) {
	msgs := []Message{{Role: "user", Content: "a <b> & c"}}
	var lines []byte
	for _, f := range []func() ([]byte, error){
		func() ([]byte, error) { return EncodeInstruction("p", nil, "r") },
		func() ([]byte, error) { return EncodeInstruction("", msgs, "r") },
		func() ([]byte, error) { return EncodePreference("p", nil, "c", "r") },
		func() ([]byte, error) { return EncodePreference("", msgs, "c", "r") },
	} {
		b, err := f()
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, b...)
	}
	want := `{"prompt":"p","response":"r"}` + "\n" +
		`{"messages":[{"role":"user","content":"a <b> & c"},{"role":"assistant","content":"r"}]}` + "\n" +
		`{"prompt":"p","chosen":"c","rejected":"r"}` + "\n" +
		`{"messages":[{"role":"user","content":"a <b> & c"}],"chosen":"c","rejected":"r"}` + "\n"
	if string(lines) != want {
		t.Fatalf("encoded:\n%s\nwant:\n%s", lines, want)
	}
	recs, err := DecodeRecords(bytes.NewReader(lines), "enc")
	if err != nil || len(recs) != 4 || recs[1].Prompt != "<|user|>\na <b> & c\n<|assistant|>\n" || recs[3].Chosen != "c\n<|" {
		t.Fatalf("%v %+v", err, recs)
	}
	for _, bad := range []func() ([]byte, error){
		func() ([]byte, error) { return EncodeInstruction("", nil, "r") },
		func() ([]byte, error) { return EncodeInstruction("p", nil, "") },
		func() ([]byte, error) { return EncodePreference("p", nil, "same", "same") },
		func() ([]byte, error) { return EncodePreference("", []Message{}, "c", "r") },
		func() ([]byte, error) { return EncodePreference("", []Message{{Role: "bot", Content: "x"}}, "c", "r") },
	} {
		if b, err := bad(); err == nil {
			t.Fatalf("encoded a bad record: %s", b)
		}
	}
}
