// Command render-dlq marks videos whose render messages exhausted their
// retries as failed (logic in pkg/videos).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/videos"
)

func main() { lambdas.Start(videos.NewDLQWorker, awsconf.Options{}) }
