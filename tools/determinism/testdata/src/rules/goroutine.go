package rules

func work() {}

func goroutines(a, b chan int) int {
	go work()   // want `determinism/goroutine: go statement`
	go func() { // want `go statement`
		a <- 1
	}()
	// select on channels is fine.
	select {
	case v := <-a:
		return v
	case v := <-b:
		return v
	default:
		return 0
	}
}
