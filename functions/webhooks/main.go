// Command webhooks serves /v1/webhooks (logic in pkg/webhooksapi).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas/runtime"
	"github.com/framegate/framegate/pkg/webhooksapi"
)

func main() { runtime.Start(webhooksapi.New, awsconf.Options{}) }
