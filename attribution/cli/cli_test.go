package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openledger/openledger/ml/checkpoint"
	"github.com/openledger/openledger/ml/model"
	"github.com/openledger/openledger/ml/tokenizer"
	"github.com/openledger/openledger/storage"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewAttributionCommand()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestCommandsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("../../ml/testdata/corpus/fortunes.txt")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Train(context.Background(), data, 400)
	if err != nil {
		t.Fatal(err)
	}
	tj, _ := tok.MarshalJSON()
	tokPath := filepath.Join(dir, "tok.json")
	os.WriteFile(tokPath, tj, 0o644)
	parts := strings.Split(string(data), "%\n")
	third := len(parts) / 3
	var paths []string
	for i := 0; i < 3; i++ {
		p := filepath.Join(dir, []string{"a.txt", "b.txt", "c.txt"}[i])
		os.WriteFile(p, []byte(strings.Join(parts[i*third:(i+1)*third], "%\n")), 0o644)
		paths = append(paths, p)
	}
	manifest := `{"datanet_id":4,"version":2,"contributions":[{"id":10,"path":"a.txt"},{"id":11,"path":"b.txt"},{"id":12,"path":"c.txt"}]}`
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(manifest), 0o644)
	idx := filepath.Join(dir, "v2.spanidx")
	out, err := run(t, "index", "build", "-q", "--tokenizer", tokPath, "--manifest", filepath.Join(dir, "manifest.json"), "--out", idx)
	if err != nil {
		t.Fatal(err)
	}
	var built map[string]any
	if err := json.Unmarshal([]byte(out), &built); err != nil || !strings.HasPrefix(built["cid"].(string), "baf") {
		t.Fatalf("build output %s (%v)", out, err)
	}
	if _, err := run(t, "index", "info", "--check", idx); err != nil {
		t.Fatal(err)
	}
	// An output splicing contributions 10 and 12.
	output := parts[5] + "%\n" + parts[2*third+7]
	outPath := filepath.Join(dir, "out.txt")
	os.WriteFile(outPath, []byte(output), 0o644)
	recPath := filepath.Join(dir, "rec.pb")
	text, err := run(t, "explain", "--index", idx, "--tokenizer", tokPath, "--output-file", outPath, "--text", "--record-out", recPath, "--model-id", "1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "contribution 10") || !strings.Contains(text, "contribution 12") || strings.Contains(text, "contribution 11 ") {
		t.Fatalf("explain:\n%s", text)
	}
	t.Logf("explain --text:\n%s", text)
	if _, err := run(t, "explain", "--index", idx, "--tokenizer", tokPath, "--output-text", output); err != nil {
		t.Fatal(err)
	}
	ok, err := run(t, "verify", recPath, "--index", idx, "--tokenizer", tokPath, "--output-file", outPath)
	if err != nil || !strings.HasPrefix(ok, "OK") {
		t.Fatalf("verify: %q %v", ok, err)
	}
	if _, err := run(t, "summary", recPath, "--k", "1"); err != nil {
		t.Fatal(err)
	}
	// Mismatches and bad input fail.
	if _, err := run(t, "verify", recPath, "--index", idx, "--tokenizer", tokPath, "--output-text", output+"x"); err == nil {
		t.Fatal("verify accepted a different output")
	}
	rec, _ := os.ReadFile(recPath)
	bad := append([]byte(nil), rec...)
	bad[len(bad)-1] ^= 1
	os.WriteFile(recPath+".bad", bad, 0o644)
	if _, err := run(t, "verify", recPath+".bad", "--index", idx, "--tokenizer", tokPath, "--output-file", outPath); err == nil {
		t.Fatal("verify accepted a modified record")
	}
	if _, err := run(t, "explain", "--index", idx, "--tokenizer", tokPath, "--output-text", ""); err == nil {
		t.Fatal("empty output accepted")
	}
	other := filepath.Join(dir, "byte.json")
	bj, _ := tokenizer.NewByte().MarshalJSON()
	os.WriteFile(other, bj, 0o644)
	if _, err := run(t, "explain", "--index", idx, "--tokenizer", other, "--output-text", output); err == nil || !strings.Contains(err.Error(), "mismatch") {
		t.Fatalf("tokenizer mismatch: %v", err)
	}
	ib, _ := os.ReadFile(idx)
	os.WriteFile(idx+".trunc", ib[:len(ib)/2], 0o644)
	if _, err := run(t, "explain", "--index", idx+".trunc", "--tokenizer", tokPath, "--output-text", output); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("truncated index: %v", err)
	}
	// A rebuilt index is byte-identical, so the record still verifies.
	if _, err := run(t, "index", "build", "-q", "--tokenizer", tokPath, "--datanet", "4", "--version", "2",
		"--contribution", "10="+paths[0], "--contribution", "11="+paths[1], "--contribution", "12="+paths[2], "--out", idx+".2"); err != nil {
		t.Fatal(err)
	}
	ib2, _ := os.ReadFile(idx + ".2")
	if !bytes.Equal(ib, ib2) {
		t.Fatal("rebuilt index differs")
	}
}

// --ipfs-add stores the index on the node under --home with the CID the
// record cites.
func TestIndexBuildAddsToIPFS(t *testing.T) {
	home := t.TempDir()
	if err := storage.Init(storage.RepoPath(home), nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "a.txt")
	os.WriteFile(p, []byte("some contribution text, long enough to index"), 0o644)
	cmd := NewAttributionCommand()
	cmd.PersistentFlags().String("home", home, "")
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"index", "build", "-q", "--tokenizer", writeByteTokenizer(t, dir), "--contribution", "1=" + p,
		"--out", filepath.Join(dir, "x.spanidx"), "--ipfs-add"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "added and pinned") {
		t.Fatalf("output:\n%s", out.String())
	}
}

func writeByteTokenizer(t *testing.T, dir string) string {
	b, _ := tokenizer.NewByte().MarshalJSON()
	p := filepath.Join(dir, "byte.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The influence path through the commands: sketch build, explain, verify.
func TestInfluenceCommands(t *testing.T) {
	dir := t.TempDir()
	tok := tokenizer.NewByte()
	cfg, _ := model.Preset("tiny", tok.VocabSize())
	cfg.ContextLen = 32
	p, err := model.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	basePath := filepath.Join(dir, "base.safetensors")
	baseSHA, err := checkpoint.SaveModel(basePath, p, tok)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := model.NewAdapter(cfg, model.AdapterConfig{Rank: 2, Alpha: 4, Targets: model.DefaultTargets})
	a.Init(3)
	for i := range a.Data { // a trained-looking adapter: B non-zero
		a.Data[i] += float32(i%7-3) * 1e-3
	}
	adPath := filepath.Join(dir, "adapter.safetensors")
	if _, err := checkpoint.SaveAdapter(adPath, a, baseSHA); err != nil {
		t.Fatal(err)
	}
	c1, c2 := filepath.Join(dir, "c1.txt"), filepath.Join(dir, "c2.txt")
	os.WriteFile(c1, []byte("The quick brown fox jumps over the lazy dog. The quick brown fox again."), 0o644)
	os.WriteFile(c2, []byte("1234567890 numbers and more numbers 0987654321, nothing about animals."), 0o644)
	sk := filepath.Join(dir, "v1.sketch")
	if out, err := run(t, "sketch", "build", "-q", "--model", basePath, "--checkpoint", adPath+":500",
		"--contribution", "1="+c1, "--contribution", "2="+c2, "--datanet", "5", "--version", "1", "--dim", "128", "--out", sk); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	rec := filepath.Join(dir, "rec.pb")
	args := []string{"--sketches", sk, "--model", basePath, "--checkpoint", adPath + ":500", "--output-text", "the quick brown fox jumps"}
	text, err := run(t, append([]string{"explain", "--text", "--record-out", rec}, args...)...)
	if err != nil || !strings.Contains(text, "METHOD_INFLUENCE") {
		t.Fatalf("%v\n%s", err, text)
	}
	if out, err := run(t, append([]string{"verify", rec}, args...)...); err != nil || !strings.HasPrefix(out, "OK") {
		t.Fatalf("verify: %v %s", err, out)
	}
	// Another checkpoint weight is another record.
	bad := append([]string{"verify", rec}, args...)
	bad[7] = adPath + ":501"
	if _, err := run(t, bad...); err == nil || !strings.Contains(err.Error(), "weight") {
		t.Fatalf("verify with a different checkpoint weight: %v", err)
	}
}
