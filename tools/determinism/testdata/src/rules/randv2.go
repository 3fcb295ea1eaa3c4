package rules

import (
	crand "crypto/rand"   // want `import of crypto/rand`
	randv2 "math/rand/v2" // want `import of math/rand/v2`
)

var _ = randv2.IntN
var _ = crand.Read
