//go:build !unix

package render

import "os"

// peakRSS is not measured where the platform does not report it.
func peakRSS(*os.ProcessState) int64 { return 0 }

func killed(*os.ProcessState) bool { return false }
