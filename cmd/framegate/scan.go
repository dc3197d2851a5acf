package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/framegate/framegate/pkg/apikey"
)

// keysFound is the error (exit code exitKeysFound) of a scan that found keys.
type keysFound struct{ n int }

func (k keysFound) Error() string {
	return fmt.Sprintf("%d framegate key(s) found: revoke them and remove them from the files", k.n)
}

// finding is one key found by `keys scan`; the key itself is never printed.
type finding struct {
	Path    string `json:"path"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Env     string `json:"environment"`
	Preview string `json:"preview"`
}

func newKeysScanCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "scan [PATH...]",
		Short: "Find framegate keys in files, offline; exit 5 when one is found",
		Long: `scan looks for framegate API keys in the files given (directories are walked,
.git skipped; "-" or no path reads standard input): every fg_live_/fg_test_
string of a key's shape whose checksum holds, so typos and look-alikes are
not reported. It needs no key, no network and no AWS access, which makes it a
pre-commit hook or a CI step:

  framegate keys scan $(git diff --cached --name-only)   # pre-commit
  framegate keys scan .                                  # CI

Findings print as path:line:column with the key's preview, never the key.
The exit code is 0 when nothing was found and 5 when a key was.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"-"}
			}
			var found []finding
			for _, p := range args {
				fs, err := scanPath(cmd.InOrStdin(), p)
				if err != nil {
					return err
				}
				found = append(found, fs...)
			}
			out := cmd.OutOrStdout()
			if jsonOutput(cmd) {
				if found == nil {
					found = []finding{}
				}
				if err := printJSON(out, found); err != nil {
					return err
				}
			} else {
				for _, f := range found {
					fmt.Fprintf(out, "%s:%d:%d: framegate %s key %s\n", f.Path, f.Line, f.Column, f.Env, f.Preview)
				}
			}
			if len(found) > 0 {
				return keysFound{len(found)}
			}
			return nil
		},
	}
}

func scanPath(stdin io.Reader, p string) ([]finding, error) {
	if p == "-" {
		return scanReader("(stdin)", stdin)
	}
	var out []finding
	err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" && path != p {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fs, err := scanReader(path, f)
		out = append(out, fs...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", p, err)
	}
	return out, nil
}

// scanReader reports the keys of r line by line (a key never spans lines).
func scanReader(name string, r io.Reader) ([]finding, error) {
	var out []finding
	br := bufio.NewReader(r)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		from := 0
		for _, k := range apikey.Find(b) {
			env, _ := apikey.Parse(k)
			col := from + bytes.Index(b[from:], []byte(k))
			from = col + len(k)
			out = append(out, finding{Path: name, Line: line, Column: col + 1, Env: string(env), Preview: apikey.Preview(k)})
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("read %s: %w", name, err)
		}
	}
}
