package keystore

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/lambdas"
)

// Open builds the store a function uses from its environment (KEYS_TABLE,
// PEPPER_SECRET_ARN), reading the pepper once.
func Open(ctx context.Context, d lambdas.Deps) (*Store, error) {
	d = d.WithDefaults()
	table := d.Getenv("KEYS_TABLE")
	if table == "" {
		return nil, errors.New("open key store: KEYS_TABLE is not set")
	}
	hasher, err := OpenHasher(ctx, d)
	if err != nil {
		return nil, err
	}
	return New(dynamodb.NewFromConfig(d.AWS), table, hasher, Options{Now: d.Now})
}

// OpenHasher reads the pepper named by PEPPER_SECRET_ARN.
func OpenHasher(ctx context.Context, d lambdas.Deps) (*apikey.Hasher, error) {
	pepper, err := apikey.LoadPepper(ctx, secretsmanager.NewFromConfig(d.AWS), d.Getenv("PEPPER_SECRET_ARN"))
	if err != nil {
		return nil, err
	}
	h, err := apikey.NewHasher(pepper)
	if err != nil {
		return nil, fmt.Errorf("open hasher: %w", err)
	}
	return h, nil
}
