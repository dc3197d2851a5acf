// Command usage-sweep moves the keys' completed minutes of usage into the
// usage history, on an EventBridge schedule (logic in pkg/usage).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/usage"
)

func main() { lambdas.Start(usage.NewWorker, awsconf.Options{}) }
