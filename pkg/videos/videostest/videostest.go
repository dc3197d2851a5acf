// Package videostest holds what tests of the video packages share.
package videostest

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/framegate/framegate/pkg/videos"
)

// Serialized wraps db so that no two of its calls overlap.
//
// moto_server serves requests on threads and evaluates a conditional write
// and applies it in two steps with no lock in between, so two concurrent
// conditional writes to one item can both succeed there. DynamoDB never
// lets that happen, and the render-slot leases and idempotency claims rely
// on it. Tests that race writers against each other run the store through
// this wrapper, which restores the guarantee the emulator lacks.
func Serialized(db videos.DB) videos.DB { return &serial{db: db} }

type serial struct {
	mu sync.Mutex
	db videos.DB
}

func (s *serial) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.GetItem(ctx, in, o...)
}

func (s *serial) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.PutItem(ctx, in, o...)
}

func (s *serial) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.UpdateItem(ctx, in, o...)
}

func (s *serial) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.DeleteItem(ctx, in, o...)
}

func (s *serial) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Query(ctx, in, o...)
}

func (s *serial) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.TransactWriteItems(ctx, in, o...)
}
