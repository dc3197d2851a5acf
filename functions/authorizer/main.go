// Command authorizer is the API's REQUEST authorizer (logic in
// pkg/authorizer).
package main

import (
	"github.com/framegate/framegate/pkg/authorizer"
	"github.com/framegate/framegate/pkg/lambdas"
)

func main() { lambdas.Start(authorizer.New, authorizer.AWSOptions()) }
