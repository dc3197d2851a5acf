// Command auth serves GET /v1/auth (logic in pkg/authapi).
package main

import (
	"github.com/framegate/framegate/pkg/authapi"
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas/runtime"
)

func main() { runtime.Start(authapi.New, awsconf.Options{}) }
