// Command console serves the console page, its assets and its sign-in at
// GET /v1/console… and POST /v1/console/signin, without a key (logic in
// pkg/console).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/console"
	"github.com/framegate/framegate/pkg/lambdas"
)

func main() { lambdas.Start(console.New, awsconf.Options{}) }
