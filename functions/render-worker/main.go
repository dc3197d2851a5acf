// Command render-worker renders queued videos with ffmpeg into S3 (logic in
// pkg/videos).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/videos"
)

func main() { lambdas.Start(videos.NewWorker, awsconf.Options{}) }
