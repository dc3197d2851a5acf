package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// The local stacks: each running `framegate dev` records itself in a file
// of its own under the user's config directory, named after the address it
// serves, so that the other commands find it from any directory and two
// stacks never share (or delete) one file. A file holds names and URLs,
// never keys.

// devState is one running local stack.
type devState struct {
	target
	PID int `json:"pid"`
}

// devStateDir is $XDG_CONFIG_HOME/framegate/dev (~/.config/framegate/dev;
// ~/Library/Application Support/framegate/dev on macOS).
func devStateDir() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the config directory for the local stack's state: %w", err)
	}
	return filepath.Join(d, "framegate", "dev"), nil
}

// devStateFile names the file of the stack serving apiURL.
func devStateFile(dir, apiURL string) (string, error) {
	u, err := url.Parse(apiURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("record the local stack: API URL %q has no host", apiURL)
	}
	name := strings.NewReplacer(":", "_", "[", "", "]", "").Replace(u.Host)
	return filepath.Join(dir, name+".json"), nil
}

// recordDevStack writes s's file; remove deletes it, if it is still s's.
func recordDevStack(s devState) (remove func(), err error) {
	dir, err := devStateDir()
	if err != nil {
		return nil, err
	}
	path, err := devStateFile(dir, s.APIURL)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("record the local stack: %w", err)
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	tmp, err := os.CreateTemp(dir, ".state-*")
	if err != nil {
		return nil, fmt.Errorf("record the local stack: %w", err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("record the local stack: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("record the local stack: %w", err)
	}
	return func() {
		if cur, err := readDevState(path); err == nil && cur.PID == s.PID && cur.APIURL == s.APIURL {
			os.Remove(path)
		}
	}, nil
}

func readDevState(path string) (devState, error) {
	var s devState
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("read %s: %w", path, err)
	}
	return s, nil
}

// runningDevStacks lists the recorded stacks whose process is alive,
// ordered by API URL. A file left by a stack that died is ignored.
func runningDevStacks() ([]devState, error) {
	dir, err := devStateDir()
	if err != nil {
		return nil, err
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var out []devState
	for _, f := range files {
		s, err := readDevState(f)
		if err != nil || !alive(s.PID) {
			continue
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b devState) int { return strings.Compare(a.APIURL, b.APIURL) })
	return out, nil
}

// alive reports whether a process with this id runs (signal 0 checks
// without sending anything; EPERM: it runs as another user).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// localStack is the running local stack the commands act on: the one
// serving FRAMEGATE_API_URL when it is set, else the only one running.
// found is false when none runs (or none serves FRAMEGATE_API_URL).
func localStack() (s devState, found bool, err error) {
	stacks, err := runningDevStacks()
	if err != nil {
		return s, false, err
	}
	if want := strings.TrimRight(strings.TrimSpace(os.Getenv(apiURLEnv)), "/"); want != "" {
		for _, s := range stacks {
			if strings.TrimRight(s.APIURL, "/") == want {
				return s, true, nil
			}
		}
		return s, false, nil
	}
	switch len(stacks) {
	case 0:
		return s, false, nil
	case 1:
		return stacks[0], true, nil
	}
	urls := make([]string, len(stacks))
	for i, s := range stacks {
		urls[i] = s.APIURL
	}
	return s, false, usageError{fmt.Errorf("%d local stacks are running (%s): set %s to the one to use",
		len(stacks), strings.Join(urls, ", "), apiURLEnv)}
}
