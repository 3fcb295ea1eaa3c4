package rules

import "time"

func clock(t time.Time) time.Duration {
	now := time.Now() // want `determinism/time: time.Now reads the local wall clock.*//determinism:allow <reason>`
	_ = time.Since(t) // want `time.Since reads the local wall clock`
	_ = time.Until(t) // want `time.Until`
	f := time.Now     // want `time.Now`
	_ = f
	_ = time.Unix(0, 0) // deterministic: from given values
	return now.Sub(t) + t.Sub(time.Unix(1, 0))
}
