// Command keys serves /v1/keys (logic in pkg/keysapi).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/keysapi"
	"github.com/framegate/framegate/pkg/lambdas"
)

func main() { lambdas.Start(keysapi.New, awsconf.Options{}) }
