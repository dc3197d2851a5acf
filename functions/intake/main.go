// Command intake creates videos from render requests on the intake queue
// (logic in pkg/intake).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/intake"
	"github.com/framegate/framegate/pkg/lambdas/runtime"
)

func main() { runtime.Start(intake.New, awsconf.Options{}) }
