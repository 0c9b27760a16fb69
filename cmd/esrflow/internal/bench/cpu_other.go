//go:build !unix

package bench

import "time"

// ProcessCPU is 0 where getrusage(2) does not exist.
func ProcessCPU() time.Duration { return 0 }
