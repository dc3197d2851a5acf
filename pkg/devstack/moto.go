// Package devstack runs framegate on one machine the way it runs on AWS:
// moto_server plays DynamoDB, SQS, S3 and Secrets Manager; Provision creates
// what template.yaml declares; Gateway plays API Gateway (REST) with the
// template's authorizer and gateway responses; the SQS loops play Lambda's
// event source mappings; Registry maps each function directory to the
// constructor its Lambda binary runs. Everything is read from template.yaml,
// so there is no second list of functions, routes, tables or queues.
package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// MotoInstallHint says exactly what to install when moto is missing.
const MotoInstallHint = "install the AWS emulator with: pip install 'moto[server]' (Python 3.9+), " +
	"or point AWS_ENDPOINT_URL at a running moto_server"

// MotoOptions tune StartMoto.
type MotoOptions struct {
	// RepoRoot is where a project-local .venv lives (or is created). Empty:
	// found by walking up from the working directory to go.mod.
	RepoRoot string
	// AllowInstall lets StartMoto create RepoRoot/.venv and pip install
	// moto[server] into it when moto_server is nowhere to be found.
	AllowInstall bool
	// Logger receives progress; nil means slog.Default().
	Logger *slog.Logger
	// Output receives moto's own log lines; nil discards them (they are one
	// line per AWS call).
	Output io.Writer
	// StartTimeout bounds the wait for moto to answer; 0 means 30 s.
	StartTimeout time.Duration
}

// Moto is a running moto_server child process.
type Moto struct {
	// URL is the endpoint, e.g. http://127.0.0.1:45123: a proxy in front of
	// moto that isolates DynamoDB transactions (see transactionIsolator).
	URL string
	// Direct is moto itself, without the proxy.
	Direct string

	isolator *transactionIsolator

	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	stopOnce sync.Once
	stderr   *tailBuffer
}

// StartMoto starts moto_server on a free loopback port and waits until it
// answers. Stop it with Stop; it also dies with this process on Linux.
func StartMoto(ctx context.Context, o MotoOptions) (*Moto, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.RepoRoot == "" {
		if root, err := FindRepoRoot("."); err == nil {
			o.RepoRoot = root
		}
	}
	bin, err := findMoto(ctx, o, log)
	if err != nil {
		return nil, err
	}
	// The port is picked by the kernel and released just before moto binds
	// it; another process can win that race, so retry a few times.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		m, err := startMotoOn(ctx, bin, port, o)
		if err == nil {
			log.Info("moto started", "url", m.URL, "pid", m.cmd.Process.Pid)
			return m, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func startMotoOn(ctx context.Context, bin string, port int, o MotoOptions) (*Moto, error) {
	// Not exec.CommandContext: the process must outlive a cancelled start
	// context only until Stop, which kills the whole group.
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.SysProcAttr = sysProcAttr()
	out := o.Output
	if out == nil {
		out = io.Discard
	}
	tail := &tailBuffer{max: 4 << 10}
	cmd.Stdout = out
	cmd.Stderr = io.MultiWriter(out, tail)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	m := &Moto{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, done: make(chan struct{}), stderr: tail}
	go func() {
		_ = cmd.Wait()
		close(m.done)
	}()
	if err := m.waitReady(ctx, o.StartTimeout); err != nil {
		_ = m.Stop()
		return nil, err
	}
	iso, err := startIsolator(m.URL)
	if err != nil {
		_ = m.Stop()
		return nil, err
	}
	m.isolator, m.Direct, m.URL = iso, m.URL, iso.URL
	return m, nil
}

func (m *Moto) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/moto-api/", nil)
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-m.done:
			return fmt.Errorf("moto_server exited before answering: %s", bytes.TrimSpace(m.stderr.Bytes()))
		case <-ctx.Done():
			return fmt.Errorf("moto_server did not answer on %s: %w", m.URL, ctx.Err())
		case <-tick.C:
		}
	}
}

// Stop kills moto and everything it spawned, and waits for it to exit.
func (m *Moto) Stop() error {
	m.stopOnce.Do(func() {
		if m.isolator != nil {
			m.isolator.Close()
		}
		pid := m.cmd.Process.Pid
		// The negative pid signals the whole process group: the pyenv shim
		// or venv wrapper and the Python process behind it.
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-m.done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-m.done
		}
	})
	return nil
}

// PID is the process id of moto (and of its process group).
func (m *Moto) PID() int { return m.cmd.Process.Pid }

// Done is closed when the moto process has exited.
func (m *Moto) Done() <-chan struct{} { return m.done }

func findMoto(ctx context.Context, o MotoOptions, log *slog.Logger) (string, error) {
	if p, err := exec.LookPath("moto_server"); err == nil {
		return p, nil
	}
	venv := ""
	if o.RepoRoot != "" {
		venv = filepath.Join(o.RepoRoot, ".venv")
		bin := filepath.Join(venv, "bin", "moto_server")
		if isExecutable(bin) {
			return bin, nil
		}
	}
	python, err := exec.LookPath("python3")
	if err != nil || venv == "" || !o.AllowInstall {
		where := "PATH"
		if venv != "" {
			where += " or " + filepath.Join(venv, "bin")
		}
		return "", fmt.Errorf("moto_server not found on %s: %s", where, MotoInstallHint)
	}
	log.Info("moto_server not found: installing moto[server] into a project-local virtualenv", "venv", venv)
	steps := [][]string{
		{python, "-m", "venv", venv},
		{filepath.Join(venv, "bin", "pip"), "install", "--quiet", "moto[server]"},
	}
	for _, s := range steps {
		cmd := exec.CommandContext(ctx, s[0], s[1:]...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("%s: %w: %s\n%s", filepath.Base(s[0]), err, bytes.TrimSpace(out.Bytes()), MotoInstallHint)
		}
	}
	bin := filepath.Join(venv, "bin", "moto_server")
	if !isExecutable(bin) {
		return "", fmt.Errorf("pip installed moto but %s is missing: %s", bin, MotoInstallHint)
	}
	return bin, nil
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FindRepoRoot walks up from dir to the directory holding go.mod.
func FindRepoRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("no go.mod above " + dir)
		}
		d = parent
	}
}

// tailBuffer keeps the last max bytes written, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.buf...)
}
