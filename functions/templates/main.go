// Command templates serves /v1/templates (logic in pkg/templatesapi).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas/runtime"
	"github.com/framegate/framegate/pkg/templatesapi"
)

func main() { runtime.Start(templatesapi.New, awsconf.Options{}) }
