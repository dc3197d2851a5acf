// Command webhooks serves /v1/webhooks (logic in pkg/webhooks).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/webhooks"
)

func main() { lambdas.Start(webhooks.New, awsconf.Options{}) }
