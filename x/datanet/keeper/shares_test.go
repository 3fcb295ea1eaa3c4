package keeper_test

import (
	"strings"
	"testing"

	"github.com/openledger/openledger/x/datanet/types"
)

// TestSharesCapped: a contribution's reward shares are its size capped at
// max_shares_per_contribution (fixed at acceptance), and a version's total_shares is
// the sum of its contributions' capped shares — a padded contribution buys no more
// than the cap.
func TestSharesCapped(t *testing.T) {
	const capBytes = 100
	cases := []struct {
		name  string
		cap   uint64
		sizes []int // content lengths; SubmitMsg declares len+1 bytes
	}{
		{name: "all below the cap", cap: capBytes, sizes: []int{9, 19, 49}},
		{name: "one at the cap", cap: capBytes, sizes: []int{9, capBytes - 1}},
		{name: "padding attack: one huge contribution", cap: capBytes, sizes: []int{9, 1 << 16}},
		{name: "all above the cap", cap: capBytes, sizes: []int{1 << 10, 1 << 12, 1 << 14}},
		{name: "no cap (0): shares are bytes", cap: 0, sizes: []int{9, 1 << 16}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := e.Ctx
			p, err := e.K.Params.Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			p.MaxSharesPerContribution = tc.cap
			if err := e.K.Params.Set(ctx, p); err != nil {
				t.Fatal(err)
			}
			id := e.CreateDatanet(ctx, e.collecting())
			var wantShares, wantBytes uint64
			for i, n := range tc.sizes {
				who := e.alice
				if i%2 == 1 {
					who = e.bob
				}
				cid := e.accept(ctx, who, id, strings.Repeat(string(rune('a'+i)), n))
				c := e.Contribution(ctx, cid)
				want := c.SizeBytes
				if tc.cap != 0 && want > tc.cap {
					want = tc.cap
				}
				if c.Shares != want {
					t.Fatalf("contribution %d of %d bytes: shares %d, want %d", cid, c.SizeBytes, c.Shares, want)
				}
				wantShares += want
				wantBytes += c.SizeBytes
			}
			if _, err := e.Msg.CreateDatasetVersion(ctx, &types.MsgCreateDatasetVersion{Creator: e.owner, DatanetId: id}); err != nil {
				t.Fatal(err)
			}
			v, err := e.K.GetDatasetVersion(ctx, id, 1)
			if err != nil {
				t.Fatal(err)
			}
			if v.TotalShares != wantShares || v.TotalBytes != wantBytes {
				t.Fatalf("version shares %d bytes %d, want %d and %d", v.TotalShares, v.TotalBytes, wantShares, wantBytes)
			}
			if tc.cap != 0 && v.TotalShares > tc.cap*uint64(len(tc.sizes)) {
				t.Fatalf("version shares %d above %d contributions × cap", v.TotalShares, len(tc.sizes))
			}
			e.CheckInvariants(ctx)
		})
	}
}
