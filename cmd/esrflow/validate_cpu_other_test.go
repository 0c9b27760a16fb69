//go:build !unix

package main

import "time"

// processCPU is not measured here (see the unix version).
func processCPU() time.Duration { return 0 }
