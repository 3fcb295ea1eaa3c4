//go:build long

package e2e_test

import "testing"

// TestFeedbackFlywheelLocalnetLong is the flywheel on seven jobs: six preferred
// completions from two raters and one rating, and bases `model train` refuses.
func TestFeedbackFlywheelLocalnetLong(t *testing.T) {
	runFlywheel(t, 7, true)
}
