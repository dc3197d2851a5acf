package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/client"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
)

// TestExamplesRenderOnTheStack is the documented flow on a fresh local
// stack: the samples `framegate dev` uploads, then every file in examples/
// rendered with `framegate videos create --file F --wait`, the way the
// docs tell users to. It also uploads through `assets upload` as
// docs/assets.md shows: a clip and a PNG become ready with their metadata,
// a text file declared video/mp4 fails with a code.
func TestExamplesRenderOnTheStack(t *testing.T) {
	s := testenv.NewStack(t)
	// Six renders polled in a row: more than a business key's 100 requests a minute.
	_, keys := s.Workspace("examples", ratelimit.Plan{KeyRequestsPerMinute: 1000, WorkspaceRequestsPerMinute: 1000})
	t.Setenv(apiKeyEnv, keys[apikey.Test])
	t.Setenv(apiURLEnv, s.URL())
	ctx := context.Background()
	if err := seedSamples(ctx, s.URL(), []string{keys[apikey.Test]}, io.Discard); err != nil {
		t.Fatal(err)
	}

	// assets upload --wait: what arrived decides, not the name.
	out, err := run(t, "assets", "list", "--status", "ready", "--output", "json")
	var listed []client.Asset
	if err != nil || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 4 {
		t.Fatalf("assets list: %v %s", err, out)
	}
	for _, a := range listed {
		if a.Filename == "sample-clip.mp4" {
			if *a.Kind != "video" || *a.Width != 320 || *a.Height != 240 || math.Abs(*a.DurationSeconds-2) > 0.1 || a.Codecs.Audio == "" {
				t.Errorf("sample clip %+v %+v", a, a.Codecs)
			}
		}
	}
	notes := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notes, []byte("not a video at all\n"), 0o600)
	out, err = run(t, "assets", "upload", notes, "--content-type", "video/mp4", "--wait", "--output", "json")
	var failed client.Asset
	if exitCode(err) != exitError || json.Unmarshal([]byte(out), &failed) != nil || failed.Status != "failed" || failed.Error.Code != "unsupported_media" {
		t.Errorf("text as video: exit %d, %s", exitCode(err), out)
	}
	if out, err = run(t, "assets", "get", failed.ID); err != nil || !strings.Contains(out, "unsupported_media") {
		t.Errorf("assets get: %v %s", err, out)
	}

	files, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "examples", "*.json"))
	if len(files) < 6 {
		t.Fatalf("only %d examples", len(files))
	}
	// One after the other: on two cores, parallel renders starve the
	// emulator the stack runs on.
	for _, f := range files {
		out, err := run(t, "videos", "create", "--file", f, "--wait", "--poll-interval", "300ms", "--output", "json")
		var v client.Video
		if err != nil || json.Unmarshal([]byte(out), &v) != nil || v.Status != "succeeded" {
			t.Errorf("%s: %v\n%s", filepath.Base(f), err, out)
			continue
		}
		t.Logf("%s: %s %.2f s, %d bytes", filepath.Base(f), v.ID, v.DurationSeconds, *v.SizeBytes)
	}
}
