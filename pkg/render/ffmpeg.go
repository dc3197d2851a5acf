package render

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// LayerBin is where the ffmpeg Lambda layer puts its binaries.
const LayerBin = "/opt/bin"

// FindFFmpeg returns the ffmpeg and ffprobe to use: the Lambda layer's in
// /opt/bin first, so a deployed function never picks up something else,
// then PATH.
func FindFFmpeg() (ffmpeg, ffprobe string, err error) {
	return findTools([]string{LayerBin}, exec.LookPath)
}

func findTools(dirs []string, lookPath func(string) (string, error)) (ffmpeg, ffprobe string, err error) {
	find := func(name string) (string, error) {
		for _, d := range dirs {
			p := filepath.Join(d, name)
			if isExecutable(p) {
				return p, nil
			}
		}
		p, err := lookPath(name)
		if err != nil {
			return "", fmt.Errorf("%s not found in %s or on PATH: install ffmpeg (apt-get install ffmpeg, brew install ffmpeg) or, on Lambda, attach the ffmpeg layer (template parameter FFmpegLayerArn): %w",
				name, strings.Join(dirs, ", "), err)
		}
		return p, nil
	}
	if ffmpeg, err = find("ffmpeg"); err != nil {
		return "", "", err
	}
	if ffprobe, err = find("ffprobe"); err != nil {
		return "", "", err
	}
	return ffmpeg, ffprobe, nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// fontCandidates are tried in order: a font shipped in a Lambda layer,
// then Debian's DejaVu, then other common distribution paths.
var fontCandidates = []string{
	"/opt/fonts/DejaVuSans.ttf",
	"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
	"/usr/share/fonts/dejavu/DejaVuSans.ttf",            // Fedora, Amazon Linux
	"/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf", // newer Fedora
	"/usr/share/fonts/TTF/DejaVuSans.ttf",               // Arch
	"/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
	"/Library/Fonts/Arial Unicode.ttf", // macOS
	"/System/Library/Fonts/Supplemental/Arial.ttf",
}

// FindFont returns a TrueType font for drawtext: a known path, any font
// in /opt/fonts, or what fontconfig picks for "sans".
func FindFont() (string, error) {
	for _, p := range fontCandidates {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	for _, pat := range []string{"/opt/fonts/*.ttf", "/opt/fonts/*.otf"} {
		if m, _ := filepath.Glob(pat); len(m) > 0 {
			return m[0], nil
		}
	}
	if fc, err := exec.LookPath("fc-match"); err == nil {
		out, err := exec.Command(fc, "-f", "%{file}", "sans").Output()
		if p := strings.TrimSpace(string(out)); err == nil && p != "" {
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", errors.New("no font found: install fonts-dejavu-core (or put a .ttf in /opt/fonts via a Lambda layer)")
}
