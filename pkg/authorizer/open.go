package authorizer

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/lambdas"
)

// AWSOptions are the authorizer's client settings: tight attempts, so a
// stuck DynamoDB call is retried, not waited on.
func AWSOptions() awsconf.Options {
	return awsconf.Options{AttemptTimeout: 800 * time.Millisecond, MaxAttempts: 3}
}

// New is the constructor of functions/authorizer: it reads the pepper,
// builds the DynamoDB client and primes its connection, all during init.
func New(ctx context.Context, d lambdas.Deps) (lambdas.AuthorizerFunc, error) {
	d = d.WithDefaults()
	table := d.Getenv("KEYS_TABLE")
	if table == "" {
		return nil, errors.New("authorizer: KEYS_TABLE is not set")
	}
	db := dynamodb.NewFromConfig(d.AWS)
	// The pepper read and the connection priming are independent: overlap them.
	primed := make(chan error, 1)
	go func() { primed <- Prime(ctx, db, table) }()
	hasher, err := keystore.OpenHasher(ctx, d)
	if err != nil {
		return nil, err
	}
	a, err := NewAuthorizer(Config{DB: db, Table: table, Hasher: hasher, Now: d.Now, Logger: d.Logger})
	if err != nil {
		return nil, err
	}
	if err := <-primed; err != nil {
		d.Logger.WarnContext(ctx, "could not prime the DynamoDB connection", "err", err)
	}
	return lambdas.AuthorizerFunc(a.Handle), nil
}
