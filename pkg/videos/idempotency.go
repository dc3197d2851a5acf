package videos

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/dynamo"
	"github.com/framegate/framegate/pkg/idempotency"
)

// Idempotent runs create under an Idempotency-Key of ws/env (package
// idempotency): the record lives in the environment's partition and names
// the video the request creates.
func (st *Store) Idempotent(ctx context.Context, log *slog.Logger, ws string, env apikey.Env, k, hash, videoID string,
	create func(context.Context) (idempotency.Response, error)) (idempotency.Response, bool, error) {
	return st.idem.Do(ctx, log, idempotency.Request{Partition: Partition(ws, env), Key: k, Hash: hash,
		Attrs: map[string]types.AttributeValue{aVideo: dynamo.S(videoID)}}, create)
}
