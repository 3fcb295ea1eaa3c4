package models_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	testkeeper "github.com/openledger/openledger/testutil/keeper"
	"github.com/openledger/openledger/x/models/types"
)

// TestFeedbackInRealBlocks sends MsgSubmitFeedback as signed txs through the full
// app: the msg is routed, x/inference is wired as its reader (an unknown job fails
// with ErrInferenceNotFound, not ErrFeedbackUnavailable), and a malformed one fails
// alone in the same block with the models codespace.
func TestFeedbackInRealBlocks(t *testing.T) {
	c := testkeeper.NewChain(t, 2)
	rater := c.Accounts[0]
	res := c.Block([][]byte{
		c.Sign(0, &types.MsgSubmitFeedback{Rater: rater.Bech32, JobId: 42, Rating: types.FEEDBACK_RATING_UP}),
		c.Sign(1, &types.MsgSubmitFeedback{Rater: c.Accounts[1].Bech32, JobId: 42, SessionId: 1, Rating: types.FEEDBACK_RATING_UP}),
	})
	require.Equal(t, types.ModuleName, res[0].Codespace, res[0].Log)
	require.Equal(t, types.ErrInferenceNotFound.ABCICode(), res[0].Code, res[0].Log)
	require.Equal(t, types.ModuleName, res[1].Codespace, res[1].Log)
	require.Equal(t, types.ErrInvalidField.ABCICode(), res[1].Code, res[1].Log)
	require.NoError(t, c.App.ModelsKeeper.CheckInvariants(c.Context()))
}
