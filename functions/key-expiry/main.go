// Command key-expiry sends key.expiring 7 days and 1 day before a key
// expires, on an EventBridge schedule (logic in pkg/keysapi).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/keysapi"
	"github.com/framegate/framegate/pkg/lambdas"
)

func main() { lambdas.Start(keysapi.NewExpiryWorker, awsconf.Options{}) }
