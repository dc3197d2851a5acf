// Command videos serves /v1/videos (logic in pkg/videosapi).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas/runtime"
	"github.com/framegate/framegate/pkg/videosapi"
)

func main() { runtime.Start(videosapi.New, awsconf.Options{}) }
