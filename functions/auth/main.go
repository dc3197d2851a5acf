// Command auth serves GET /v1/auth (logic in pkg/keysapi).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/keysapi"
	"github.com/framegate/framegate/pkg/lambdas"
)

func main() { lambdas.Start(keysapi.NewAuth, awsconf.Options{}) }
