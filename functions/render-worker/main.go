// Command render-worker renders queued videos with ffmpeg into S3 (logic in
// pkg/renderworker).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas/runtime"
	"github.com/framegate/framegate/pkg/renderworker"
)

func main() { runtime.Start(renderworker.New, awsconf.Options{}) }
