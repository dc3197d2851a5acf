//go:build !unix

package render

import (
	"errors"
	"os"
)

// peakRSS is not measured where the platform does not report it.
func peakRSS(*os.ProcessState) int64 { return 0 }

func killed(*os.ProcessState) bool { return false }

// makePipe fails where there are no named pipes: the stills are then
// read once they are written.
func makePipe(string) error { return errors.ErrUnsupported }

func openPipe(string) (*os.File, bool, error) { return nil, false, errors.ErrUnsupported }
