// Command intake creates videos from render requests on the intake queue
// (logic in pkg/videos).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/videos"
)

func main() { lambdas.Start(videos.NewIntakeWorker, awsconf.Options{}) }
