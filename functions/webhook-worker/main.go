// Command webhook-worker delivers events to webhook endpoints from the webhook
// queue (logic in pkg/webhooks).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/webhooks"
)

func main() { lambdas.Start(webhooks.NewWorker, awsconf.Options{}) }
