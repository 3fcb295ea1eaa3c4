package voucher

// VerifyRaw exposes the signature check to the differential fuzz test.
func VerifyRaw(k *Verifier, msg, sig []byte) bool { return k.verify(msg, sig) }
