package app

import (
	sdk "github.com/cosmos/cosmos-sdk/types"
)

const (
	// Name is the application's name.
	Name = "openledger"
	// BondDenom is the base denom: 1 OPEN = 10^6 uopen.
	BondDenom = "uopen"
	// DisplayDenom is the denom wallets show.
	DisplayDenom = "OPEN"
	// Bech32Prefix is the account address prefix.
	Bech32Prefix = "open"
	// CoinType is the BIP-44 coin type (the Cosmos Hub's).
	CoinType = 118
)

// Bech32 prefixes of the six address kinds.
var (
	Bech32PrefixAccPub   = Bech32Prefix + sdk.PrefixPublic
	Bech32PrefixValAddr  = Bech32Prefix + sdk.PrefixValidator + sdk.PrefixOperator
	Bech32PrefixValPub   = Bech32Prefix + sdk.PrefixValidator + sdk.PrefixOperator + sdk.PrefixPublic
	Bech32PrefixConsAddr = Bech32Prefix + sdk.PrefixValidator + sdk.PrefixConsensus
	Bech32PrefixConsPub  = Bech32Prefix + sdk.PrefixValidator + sdk.PrefixConsensus + sdk.PrefixPublic
)

func init() {
	SetConfig()
}

// SetConfig sets the address prefixes, coin type and bond denom in the SDK's global
// config. It runs before any module is constructed and is idempotent until sealed.
func SetConfig() {
	cfg := sdk.GetConfig()
	if cfg.GetBech32AccountAddrPrefix() == Bech32Prefix {
		return
	}
	cfg.SetBech32PrefixForAccount(Bech32Prefix, Bech32PrefixAccPub)
	cfg.SetBech32PrefixForValidator(Bech32PrefixValAddr, Bech32PrefixValPub)
	cfg.SetBech32PrefixForConsensusNode(Bech32PrefixConsAddr, Bech32PrefixConsPub)
	cfg.SetCoinType(CoinType)
	sdk.DefaultBondDenom = BondDenom
}
