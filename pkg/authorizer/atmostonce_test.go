package authorizer

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/awsconf"
)

// TestRejectedPathWritesAreSentOnce: the undo of a rejected request's
// count (an ADD, not idempotent) is never retried by the SDK, while the
// same client retries an ordinary call. A retried undo whose first attempt
// landed unanswered would take back two counts for one.
func TestRejectedPathWritesAreSentOnce(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"try again"}`)
	}))
	defer srv.Close()
	cfg := awsconf.Base(awsconf.Options{Endpoint: srv.URL, MaxAttempts: 3, Region: "us-east-1"})
	cfg.Credentials = aws.AnonymousCredentials{}
	db := dynamodb.NewFromConfig(cfg)
	key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k"}, "sk": &types.AttributeValueMemberS{Value: "k"}}

	_, _ = db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: key, UpdateExpression: undoExprP,
		ExpressionAttributeNames: map[string]string{"#c": "c"}, ExpressionAttributeValues: undoValues})
	if n := calls.Swap(0); n != 3 {
		t.Fatalf("an ordinary call was sent %d times, want the client's 3 (the control)", n)
	}
	a := &Authorizer{db: db, table: "t", log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	a.undo(context.Background(), key, &cellNames{undo: map[string]string{"#c": "c"}})
	if n := calls.Load(); n != 1 {
		t.Fatalf("the undo was sent %d times, want exactly once", n)
	}
}
