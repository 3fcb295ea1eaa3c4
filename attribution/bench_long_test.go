//go:build long

package attribution

func init() {
	benchSizes = append(benchSizes, struct {
		name            string
		bytes, contribs int
	}{"100MB", 100 << 20, 5000})
}
