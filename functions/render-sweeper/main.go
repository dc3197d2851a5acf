// Command render-sweeper deletes sandbox videos and their files when their
// 24 hours are up, on a schedule (logic in pkg/videos).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/videos"
)

func main() { lambdas.Start(videos.NewSweeper, awsconf.Options{}) }
