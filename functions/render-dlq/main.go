// Command render-dlq marks videos whose render messages exhausted their
// retries as failed (logic in pkg/renderworker).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas/runtime"
	"github.com/framegate/framegate/pkg/renderworker"
)

func main() { runtime.Start(renderworker.NewDLQ, awsconf.Options{}) }
