// Package voucher defines the canonical encoding, signing and verification of session
// payment vouchers and provider receipts of the inference market, and the Merkle tree
// that commits a session's receipts.
//
// The chain (x/inference), the provider daemon and the client gateway all use this
// package, so it is deterministic: no floats, clocks, randomness, goroutines or map
// iteration. It imports nothing under x/; Summary mirrors x/rewards' AttributionSummary
// and the chain converts between them.
//
// # Primitive encodings
//
// All integers are unsigned and big-endian:
//
//	u16, u32, u64   2, 4, 8 bytes, big-endian
//	str             u16 byte length, then the bytes (no terminator)
//	bytes32         32 raw bytes, no length
//	sig             u16 length (always 64), then the 64-byte ed25519 signature
//
// A decoder rejects a length above the field's bound before reading further, a
// signature that is not 64 bytes, a value that fails Validate, and any trailing byte.
// So every accepted input is the unique encoding of its value: re-encoding gives the
// same bytes.
//
// # Voucher (wire form, at most MaxVoucherSize = 415 bytes)
//
//	str     domain              "openledger/voucher/v1"
//	str     chain_id            1..50 bytes of ASCII 0x21..0x7e
//	u64     session_id          >= 1
//	u64     sequence            >= 1, strictly increasing per session
//	str     denom               3..128 bytes matching [a-zA-Z][a-zA-Z0-9/:._-]*
//	str     cumulative_amount   decimal digits: "0" or [1-9][0-9]*, at most 78 digits and
//	                            at most 2^256-1; no sign, no leading zero, no spaces
//	u64     cumulative_tokens
//	u64     receipt_count      requests served so far (leaves under receipts_root)
//	bytes32 receipts_root       Root of the session's receipt leaf hashes
//	sig     signature
//
// The sign bytes are everything before the signature: the wire form without its last
// 66 bytes. The signature is ed25519 (RFC 8032, pure, no pre-hash or context) by the
// requester's session key over the sign bytes, verified with crypto/ed25519 both on and
// off chain. The leading domain string separates vouchers from receipts and from
// anything else the same key might sign, and versions the format.
//
// In HTTP the wire form travels in the HeaderName header ("X-Openledger-Voucher") as
// unpadded base64url (RFC 4648 §5) with zero trailing bits and no line breaks.
//
// # Receipt (wire form, at most MaxReceiptSize = 8021 bytes)
//
//	str     domain              "openledger/receipt/v2"
//	str     chain_id            1..50 bytes of ASCII 0x21..0x7e
//	str     provider            1..128 bytes of ASCII 0x21..0x7e (operator address)
//	u64     job_id              exactly one of job_id and session_id is non-zero
//	u64     session_id
//	u64     request_seq         >= 1 when session_id != 0; 0 when job_id != 0
//	bytes32 request_sha256      sha256 of the session request's exact body; all zero
//	                            for a job (v1 had no such field)
//	str     output_cid          1..128 bytes of ASCII 0x21..0x7e
//	bytes32 output_sha256
//	u64     prompt_tokens
//	u64     completion_tokens
//	str     engine_name         1..64 bytes of ASCII 0x20..0x7e
//	str     engine_version      0..64 bytes of ASCII 0x20..0x7e
//	u64     model_id            >= 1
//	u64     model_version       >= 1
//	str     record_cid          0..128 bytes of ASCII 0x21..0x7e
//	str     record_sha256       "" or 64 lowercase hex digits
//	u16     top_count           then top_count entries of:
//	          u64 datanet_id, u64 version, u64 contribution_id, u32 ppm
//	u16     pool_count          then pool_count entries of:
//	          u64 datanet_id, u64 version, u32 ppm
//	sig     signature
//
// The summary is either empty (record_cid, record_sha256 empty and no entries: the
// output carries no attribution) or complete: record_cid and record_sha256 set, 1..256
// entries in all, every ppm in [1, 1_000_000] and the ppms summing to exactly 1_000_000.
// Entries are kept in the order given; whether they name versions of the deployed model
// and are free of duplicates is the chain's check.
//
// The sign bytes are the wire form without its last 66 bytes. The signature is pure
// ed25519 by the provider's libp2p identity key, whose peer id (an identity multihash
// that embeds the ed25519 public key) the provider registers on chain; VerifyPeer
// extracts the key from the peer id. Other libp2p key types are refused.
//
// # Receipts tree
//
// A receipt's leaf hash is SHA-256(0x00 || wire form), so a root commits to signed
// receipts. The tree over a session's leaf hashes, in request order, is RFC 6962 §2.1:
// the root of no leaves is SHA-256(""), of one leaf the leaf hash itself, and of n > 1
// leaves SHA-256(0x01 || root(first k) || root(remaining n-k)) with k the largest power
// of two smaller than n. Inclusion proofs are RFC 9162 §2.1.3 audit paths, sibling
// hashes listed from the leaf up. Accumulator computes the root incrementally in
// O(log n) memory; its persisted form is u64 n then popcount(n) 32-byte perfect-subtree
// roots, largest first.
//
// # Batch verification
//
// There is no batch verifier. Ed25519 batch verification (a random linear combination
// checked with one multi-scalar multiplication) is only sound with the cofactored
// equation, which accepts signatures carrying small-order components that the
// cofactorless crypto/ed25519 the chain uses rejects. A requester could then hand a
// provider vouchers that pass off chain and fail at settlement. Closing that gap needs a
// subgroup check of every R and A, which costs about what batching saves.
package voucher
