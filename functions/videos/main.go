// Command videos serves /v1/videos (logic in pkg/videos).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/videos"
)

func main() { lambdas.Start(videos.New, awsconf.Options{}) }
