//go:build unix

package render

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// watchRSS follows the peak resident memory of the started process cmd
// and returns a function that, once cmd has been waited for, gives it in
// bytes. Where /proc exists it samples the process's own high-water mark
// (VmHWM) every 10 ms: the kernel's ru_maxrss also counts the high-water
// mark of this process, whose memory map a child started by Go shares
// until it execs, so the worker's (or a test binary's) own peak would
// mask ffmpeg's. Elsewhere it is ru_maxrss, in KiB on Linux and bytes on
// macOS.
func watchRSS(cmd *exec.Cmd) func() int64 {
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	sample := func() (int64, bool) { return vmHWM(status) }
	if _, ok := sample(); !ok {
		return func() int64 {
			ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			if !ok || ru == nil {
				return 0
			}
			if runtime.GOOS == "darwin" {
				return int64(ru.Maxrss)
			}
			return int64(ru.Maxrss) << 10
		}
	}
	var peak atomic.Int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if v, ok := sample(); ok {
				peak.Store(max(peak.Load(), v))
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-done
		return peak.Load()
	}
}

// vmHWM is the peak resident memory (VmHWM, in bytes) that the /proc
// status file at path reports, and whether it reports one.
func vmHWM(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
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
