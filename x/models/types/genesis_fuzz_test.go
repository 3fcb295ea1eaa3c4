package types_test

import (
	"testing"

	moduletestutil "github.com/cosmos/cosmos-sdk/types/module/testutil"

	"github.com/openledger/openledger/x/models/types"
)

// FuzzGenesisValidate: any JSON genesis either fails to decode or validates
// without panicking, and a genesis that validates survives a JSON round trip.
func FuzzGenesisValidate(f *testing.F) {
	enc := moduletestutil.MakeTestEncodingConfig()
	types.RegisterInterfaces(enc.InterfaceRegistry)
	def, err := enc.Codec.MarshalJSON(types.DefaultGenesis())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(def)
	f.Add([]byte(`{"params":{},"next_model_id":"1","next_deployment_id":"1"}`))
	f.Add([]byte(`{"next_model_id":"2","next_deployment_id":"1","models":[{"id":"1","owner":"x","name":"m","latest_version":"1"}],` +
		`"versions":[{"model_id":"1","version":"1","kind":"VERSION_KIND_LORA","parent":{"model_id":"1","version":"1"},"depth":1}]}`))
	f.Add([]byte(`{"deployments":[{"id":"1","data_shares":[{"datanet_id":"1","version":"1","bps":4294967295}]}]}`))
	f.Fuzz(func(t *testing.T, bz []byte) {
		var gs types.GenesisState
		if err := enc.Codec.UnmarshalJSON(bz, &gs); err != nil {
			return
		}
		if err := gs.Validate(); err != nil {
			return
		}
		again, err := enc.Codec.MarshalJSON(&gs)
		if err != nil {
			t.Fatal(err)
		}
		var back types.GenesisState
		if err := enc.Codec.UnmarshalJSON(again, &back); err != nil {
			t.Fatal(err)
		}
		if err := back.Validate(); err != nil {
			t.Fatalf("valid genesis invalid after a round trip: %v", err)
		}
	})
}
