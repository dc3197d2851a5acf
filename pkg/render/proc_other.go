//go:build !unix

package render

import (
	"errors"
	"os"
	"os/exec"
)

// watchRSS does not measure where the platform does not report it.
func watchRSS(*exec.Cmd) func() int64 { return func() int64 { return 0 } }

func killed(*os.ProcessState) bool { return false }

// makePipe fails where there are no named pipes: the stills are then
// read once they are written.
func makePipe(string) error { return errors.ErrUnsupported }

func openPipe(string) (*os.File, bool, error) { return nil, false, errors.ErrUnsupported }

// vmHWM reports nothing where there is no /proc.
func vmHWM(string) (int64, bool) { return 0, false }
