//go:build unix

package render

import (
	"errors"
	"os"
	"runtime"
	"syscall"
)

// peakRSS is the most resident memory a finished process held, in bytes:
// the kernel's ru_maxrss, in KiB on Linux and bytes on macOS.
func peakRSS(ps *os.ProcessState) int64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return int64(ru.Maxrss)
	}
	return int64(ru.Maxrss) << 10
}

// killed reports whether a process ended by a signal: something outside
// it (the OOM killer, an operator, a dying sandbox) stopped it, which says
// nothing about its input.
func killed(ps *os.ProcessState) bool {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

// makePipe makes the named pipe path.
func makePipe(path string) error { return syscall.Mkfifo(path, 0o600) }

// openPipe opens the named pipe path for writing if a reader has it open,
// and reports false if none has yet.
func openPipe(path string) (*os.File, bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ENXIO) {
		return nil, false, nil
	}
	return f, err == nil, err
}
