// Command assets serves /v1/assets (logic in pkg/assets).
package main

import (
	"github.com/framegate/framegate/pkg/assets"
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
)

func main() { lambdas.Start(assets.New, awsconf.Options{}) }
