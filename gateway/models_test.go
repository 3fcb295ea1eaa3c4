package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/openledger/openledger/gateway"
	"github.com/openledger/openledger/provider/openai/openaitest"
)

// GET /v1/models lists every offered deployment (by id) and the aliases of
// offered deployments, in the OpenAI list shape.
func TestModelsListsOfferedDeployments(t *testing.T) {
	w := newWorld(t)
	w.addProvider("open1only", 1000, nil, nil)
	w.gc.more = []uint64{12, 3}
	g, err := gateway.New(gateway.Config{Home: t.TempDir(), Budget: sdk.NewInt64Coin(openaitest.Denom, 1_000_000), Deposit: sdkmath.NewInt(1000),
		Aliases: map[string]uint64{"tiny": deployment, "small": 3, "ghost": 99}}, w.gc, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(g.Handler())
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Object string
		Data   []map[string]any
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || resp.StatusCode != 200 || list.Object != "list" {
		t.Fatalf("%d %+v %v", resp.StatusCode, list, err)
	}
	var ids []string
	for _, m := range list.Data {
		if m["object"] != "model" || m["owned_by"] != "openledger" || m["created"] == nil || len(m) != 4 {
			t.Fatalf("model object %v", m)
		}
		ids = append(ids, m["id"].(string))
	}
	if want := []string{"3", "7", "12", "small", "tiny"}; !slices.Equal(ids, want) {
		t.Fatalf("models %v, want %v", ids, want)
	}
}
