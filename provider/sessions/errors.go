package sessions

import (
	"errors"
	"fmt"
)

// Rejections of a voucher or request, in the order docs/openai-api.md checks
// them. provider/openai maps each onto its HTTP status and OpenAI error code.
var (
	ErrInvalidVoucher  = errors.New("invalid voucher")           // 400
	ErrUnknownSession  = errors.New("session not found")         // 404
	ErrSessionClosed   = errors.New("session closed")            // 402
	ErrBadSignature    = errors.New("voucher signature invalid") // 401
	ErrReplayed        = errors.New("voucher replayed")          // 409
	ErrOutOfSync       = errors.New("receipts out of sync")      // 409
	ErrInsufficient    = errors.New("insufficient voucher")      // 402
	ErrExceedsDeposit  = errors.New("voucher exceeds deposit")   // 402
	ErrSessionBusy     = errors.New("session busy")              // 429
	ErrWrongDeployment = errors.New("session is for another deployment")
	ErrFinalised       = errors.New("session finalised") // 402
	ErrCompleted       = errors.New("ticket already completed")
)

func reject(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
}
