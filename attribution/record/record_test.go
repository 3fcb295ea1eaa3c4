package record

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestApportionSumsAndRemainderRule(t *testing.T) {
	pool := Party{DatanetID: 1, Version: 1, Pool: true}
	c := func(id, v uint64) Credit {
		return Credit{Party: Party{DatanetID: 1, Version: 1, ContributionID: id}, Credit: v}
	}
	// Three equal credits: 333,333 each plus 1 ppm left over, which goes
	// to the earliest party in canonical order (all remainders tie).
	got, err := Apportion([]Credit{c(3, 1), c(1, 1), c(2, 1), {Party: pool}})
	if err != nil {
		t.Fatal(err)
	}
	want := []uint32{333334, 333333, 333333, 0}
	for i, s := range got {
		if s.PPM != want[i] {
			t.Fatalf("share %d = %+v, want %d", i, s, want[i])
		}
	}
	if got[0].Party.ContributionID != 1 {
		t.Fatal("not in canonical order")
	}
	// Largest remainder wins: credits 1 and 2 of 3 → 333333.33 and 666666.67.
	got, _ = Apportion([]Credit{c(1, 1), c(2, 2), {Party: pool}})
	if got[0].PPM != 333333 || got[1].PPM != 666667 {
		t.Fatalf("got %+v", got)
	}
	// No credit at all: everything to the pool.
	got, _ = Apportion([]Credit{c(1, 0), {Party: pool}})
	if got[1].PPM != Scale {
		t.Fatalf("got %+v", got)
	}
	if _, err := Apportion([]Credit{c(1, 1)}); err == nil {
		t.Fatal("no pool accepted")
	}
	if _, err := Apportion([]Credit{c(1, 1), c(1, 2), {Party: pool}}); err == nil {
		t.Fatal("duplicate accepted")
	}
	if _, err := Apportion([]Credit{c(1, 1<<63), c(2, 1<<63), {Party: pool}}); err == nil {
		t.Fatal("overflow accepted")
	}
	r := rand.New(rand.NewPCG(1, 1))
	for iter := 0; iter < 2000; iter++ {
		var cs []Credit
		for i := 0; i < 1+r.IntN(50); i++ {
			cs = append(cs, c(uint64(i), r.Uint64N(1<<40)))
		}
		cs = append(cs, Credit{Party: pool, Credit: r.Uint64N(1 << 40)})
		sh, err := Apportion(cs)
		if err != nil {
			t.Fatal(err)
		}
		var sum uint64
		for _, s := range sh {
			sum += uint64(s.PPM)
		}
		if sum != Scale {
			t.Fatalf("sum %d", sum)
		}
	}
}

func sampleRecord(t testing.TB) *Record {
	rec := &Record{
		FormatVersion: FormatVersion, Method: METHOD_SPAN,
		OutputSha256: strings.Repeat("ab", 32), OutputTokens: 40,
		DatasetVersion: DatasetVersionRef{DatanetId: 1, Version: 2},
		Index:          Artifact{Cid: "bafy", Sha256: strings.Repeat("cd", 32), SizeBytes: 10},
		SpanParams:     &SpanParams{MinSpanTokens: 8, MaxOccurrences: 64},
		Spans:          []Span{{Start: 0, Length: 20, Occurrences: 1, CreditedTokens: 20, ContributionIds: []uint64{7}}},
	}
	var cs []Credit
	for i := uint64(1); i <= 10; i++ {
		cs = append(cs, Credit{Party: Party{DatanetID: 1, Version: 2, ContributionID: i}, Credit: i * i})
	}
	cs = append(cs, Credit{Party: Party{DatanetID: 1, Version: 2, Pool: true}, Credit: 5})
	sh, err := Apportion(cs)
	if err != nil {
		t.Fatal(err)
	}
	SetShares(rec, sh)
	return rec
}

func TestEncodeDecodeSummary(t *testing.T) {
	rec := sampleRecord(t)
	b, err := Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := Encode(back)
	if string(b) != string(b2) {
		t.Fatal("round trip differs")
	}
	s, err := Summarize(rec, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Top) != 3 || s.Top[0].ContributionId != 10 || s.Top[2].ContributionId != 8 {
		t.Fatalf("top %+v", s.Top)
	}
	var sum uint32
	for _, w := range s.Top {
		sum += w.Ppm
	}
	for _, p := range s.Pools {
		sum += p.Ppm
	}
	if sum != Scale || len(s.Pools) != 1 {
		t.Fatalf("summary sums to %d, pools %+v", sum, s.Pools)
	}
	// Bad inputs.
	if _, err := Decode(append(b, 0x08, 0x01)); err == nil {
		t.Fatal("non-canonical bytes accepted")
	}
	if _, err := Decode(b[:len(b)-1]); err == nil {
		t.Fatal("truncated record accepted")
	}
	bad := sampleRecord(t)
	bad.Pools[0].Ppm++
	if _, err := Encode(bad); err == nil {
		t.Fatal("sum != 1e6 accepted")
	}
	batch := &RecordBatch{FormatVersion: FormatVersion, Records: []Record{*rec, *rec}}
	bb, err := EncodeBatch(batch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeBatch(bb); err != nil {
		t.Fatal(err)
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := Encode(sampleRecord(f))
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := Decode(b)
		if err != nil {
			return
		}
		c, err := Encode(rec)
		if err != nil || string(c) != string(b) {
			t.Fatalf("decoded record does not re-encode: %v", err)
		}
		if _, err := Summarize(rec, 2); err != nil {
			t.Fatal(err)
		}
	})
}
