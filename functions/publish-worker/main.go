// Command publish-worker executes scheduled publications from the publish
// queue (logic in pkg/publish).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/publish"
)

func main() { lambdas.Start(publish.NewWorker, awsconf.Options{}) }
