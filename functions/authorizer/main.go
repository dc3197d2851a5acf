// Command authorizer is the API's REQUEST authorizer (logic in pkg/authorizer).
package main

import (
	"time"

	"github.com/framegate/framegate/pkg/authorizer"
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
)

func main() {
	// Tight attempts: a stuck DynamoDB call is retried, not waited on.
	lambdas.Start(authorizer.Open, awsconf.Options{AttemptTimeout: 800 * time.Millisecond, MaxAttempts: 3})
}
