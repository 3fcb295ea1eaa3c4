package voucher_test

import (
	"crypto/ed25519"
	"syscall"
	"testing"
	"time"

	"github.com/openledger/openledger/inference/voucher"
)

func BenchmarkVoucherVerify(b *testing.B) {
	v, pub := signedVoucher(b)
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		if err := v.Verify(pub); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "vouchers/s")
	b.ReportMetric(float64(b.N)/(cpuTime(b)-cpu0).Seconds(), "vouchers/cpu-s")
}

// BenchmarkVoucherVerifier is the provider's check: the session key decoded once.
func BenchmarkVoucherVerifier(b *testing.B) {
	v, pub := signedVoucher(b)
	k, err := voucher.NewVerifier(pub)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		if err := k.Verify(v); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "vouchers/s")
	b.ReportMetric(float64(b.N)/(cpuTime(b)-cpu0).Seconds(), "vouchers/cpu-s")
}

// The provider's full path for one request: header string to verified voucher.
func BenchmarkVoucherDecodeVerify(b *testing.B) {
	v, pub := signedVoucher(b)
	s := v.Encode()
	b.ReportAllocs()
	for b.Loop() {
		w, err := voucher.DecodeVoucher(s)
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Verify(pub); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "vouchers/s")
}

func BenchmarkVoucherSign(b *testing.B) {
	_, priv := key(1)
	v := testVoucher()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := voucher.Sign(v, priv); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReceiptVerifyPeer(b *testing.B) {
	r, id := signedReceipt(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := r.VerifyPeer(id); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "receipts/s")
}

func BenchmarkAccumulatorAppend(b *testing.B) {
	leaf := hash("leaf")
	var acc voucher.Accumulator
	b.ReportAllocs()
	for b.Loop() {
		acc.Append(leaf)
	}
	_ = acc.Root()
}

// The floor: crypto/ed25519.Verify alone over a message of a voucher's size. The gap to
// BenchmarkVoucherVerify is this package's own cost (Validate and SignBytes).
func BenchmarkEd25519VerifyBaseline(b *testing.B) {
	v, pub := signedVoucher(b)
	msg := v.SignBytes()
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, v.Signature) {
			b.Fatal("does not verify")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
}

// cpuTime is the CPU time (user + system) the process has used so far: a rate per
// CPU-second is what "per core" means on a shared machine.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
