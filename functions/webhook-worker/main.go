// Command webhook-worker delivers events to webhook endpoints from the
// webhook queue (logic in pkg/delivery).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/delivery"
	"github.com/framegate/framegate/pkg/lambdas/runtime"
)

func main() { runtime.Start(delivery.New, awsconf.Options{}) }
