package connections

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/framegate/framegate/pkg/dynamo"
	"github.com/framegate/framegate/pkg/webhooks"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/webhooksig"
)

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store keeps connections in the data table, one partition per workspace
// and environment, so no id of another tenant can reach a record:
//
//	CONN#<ws>#<env>   C#<id>   a connection (a webhook secret sealed inside)
//	CONN#<ws>#<env>   COUNT    n: how many connections the partition holds
//
// A connection and the count change in one transaction whose condition is
// the cap (MaxPerEnvironment) or the connection's existence, so concurrent
// creates never overshoot and a repeated delete frees a place once.
type Store struct {
	db     DB
	table  string
	cipher *webhooks.Cipher
	now    func() time.Time
	rand   io.Reader
}

// StoreOptions are the store's optional dependencies.
type StoreOptions struct {
	// Cipher seals and opens webhook secrets. Readers that never touch a
	// secret (the publish API) leave it nil; Create and Secret then fail.
	Cipher *webhooks.Cipher
	Now    func() time.Time
	Rand   io.Reader // crypto/rand when nil
}

// NewStore returns a store over table.
func NewStore(db DB, table string, o StoreOptions) (*Store, error) {
	if db == nil || table == "" {
		return nil, errors.New("connections store: db and table are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	return &Store{db: db, table: table, cipher: o.Cipher, now: o.Now, rand: o.Rand}, nil
}

const (
	aPK, aSK                    = "pk", "sk"
	aID, aWS, aEnv, aType       = "id", "ws", "env", "type"
	aName, aCreated             = "name", "createdAt"
	aURL, aSecret, aPreview     = "url", "secret", "secretPreview"
	aBucket, aPrefix, aRegion   = "bucket", "prefix", "region"
	aRole, aExternal            = "roleArn", "externalId"
	aCount                      = "n"
	partitionPrefix, sortPrefix = "CONN#", "C#"
	countSort                   = "COUNT"
)

func key(ws, env, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{aPK: dynamo.S(partitionPrefix + ws + "#" + env), aSK: dynamo.S(sortPrefix + id)}
}

func countKey(ws, env string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{aPK: dynamo.S(partitionPrefix + ws + "#" + env), aSK: dynamo.S(countSort)}
}

// aad binds a sealed secret to its connection: copied onto another record
// it no longer opens.
func aad(ws, env, id string) string { return "connection/" + ws + "/" + env + "/" + id }

func item(c Connection) map[string]types.AttributeValue {
	it := key(c.Workspace, c.Env, c.ID)
	set := func(k, v string) {
		if v != "" {
			it[k] = dynamo.S(v)
		}
	}
	set(aID, c.ID)
	set(aWS, c.Workspace)
	set(aEnv, c.Env)
	set(aType, c.Type)
	set(aName, c.Name)
	set(aURL, c.URL)
	set(aSecret, c.secret)
	set(aPreview, c.SecretPreview)
	set(aBucket, c.Bucket)
	set(aPrefix, c.Prefix)
	set(aRegion, c.Region)
	set(aRole, c.RoleARN)
	set(aExternal, c.ExternalID)
	it[aCreated] = &types.AttributeValueMemberN{Value: strconv.FormatInt(c.CreatedAt.UnixMilli(), 10)}
	return it
}

func decode(it map[string]types.AttributeValue) Connection {
	c := Connection{
		ID: dynamo.Str(it, aID), Workspace: dynamo.Str(it, aWS), Env: dynamo.Str(it, aEnv), Type: dynamo.Str(it, aType), Name: dynamo.Str(it, aName),
		URL: dynamo.Str(it, aURL), secret: dynamo.Str(it, aSecret), SecretPreview: dynamo.Str(it, aPreview),
		Bucket: dynamo.Str(it, aBucket), Prefix: dynamo.Str(it, aPrefix), Region: dynamo.Str(it, aRegion),
		RoleARN: dynamo.Str(it, aRole), ExternalID: dynamo.Str(it, aExternal),
	}
	if v, ok := it[aCreated].(*types.AttributeValueMemberN); ok {
		if msec, err := strconv.ParseInt(v.Value, 10, 64); err == nil {
			c.CreatedAt = time.UnixMilli(msec).UTC()
		}
	}
	return c
}

func notFound() error { return apierr.New(apierr.NotFound, "No connection with this id.") }

// Create prepares a connection and inserts it: Prepare, then Insert.
func (st *Store) Create(ctx context.Context, ws, env string, n Spec, ch *audit.Change) (Connection, string, error) {
	c, plain, err := st.Prepare(ws, env, n)
	if err != nil {
		return Connection{}, "", err
	}
	if err := st.Insert(ctx, c, ch); err != nil {
		return Connection{}, "", err
	}
	return c, plain, nil
}

// Prepare builds a new connection without writing anything: its id, and a
// webhook connection's fresh signing secret (returned in plaintext this
// once) or an s3 connection's external id, which its role's trust policy
// must require.
func (st *Store) Prepare(ws, env string, n Spec) (Connection, string, error) {
	now := st.now().UTC().Truncate(time.Millisecond)
	id, err := ids.New(IDPrefix, now, st.rand)
	if err != nil {
		return Connection{}, "", err
	}
	c := Connection{ID: id, Workspace: ws, Env: env, Type: n.Type, Name: n.Name, CreatedAt: now}
	if st.cipher == nil {
		return Connection{}, "", errors.New("create connection: the store has no cipher")
	}
	plain := ""
	switch n.Type {
	case TypeWebhook:
		if plain, err = webhooksig.NewSecret(st.rand); err != nil {
			return Connection{}, "", err
		}
		if c.secret, err = st.cipher.Seal(plain, aad(ws, env, id)); err != nil {
			return Connection{}, "", fmt.Errorf("seal secret of %s: %w", id, err)
		}
		c.URL, c.SecretPreview = n.URL, webhooksig.Mask(plain)
	case TypeS3:
		c.Bucket, c.Prefix, c.Region, c.RoleARN = n.Bucket, n.Prefix, n.Region, n.RoleARN
		c.ExternalID = webhooks.ExternalID(st.cipher, ws, env, n.RoleARN)
	default:
		return Connection{}, "", fmt.Errorf("create connection: unknown type %q", n.Type)
	}
	return c, plain, nil
}

// Insert stores c and counts it, with its audit record, in one
// transaction conditioned on the cap: over it, nothing is written and the
// answer is 409 connection_limit_reached. The count shares the partition of
// the connections, so one consistent query reads it first (and, in an
// environment whose connections predate the count, how many there are,
// which the transaction then writes as the count): one read, one write.
func (st *Store) Insert(ctx context.Context, c Connection, ch *audit.Change) error {
	defer ch.Discard()
	details := map[string]string{"type": c.Type, "name": c.Name}
	if c.URL != "" {
		details["url"] = c.URL
	}
	if c.Bucket != "" {
		details["bucket"], details["roleArn"] = c.Bucket, c.RoleARN
	}
	for attempt := 0; ; attempt++ {
		n, stored, err := st.tally(ctx, c.Workspace, c.Env)
		if err != nil {
			return err
		}
		if n >= MaxPerEnvironment {
			return limitError(c.Env)
		}
		count := &types.Update{
			TableName: &st.table, Key: countKey(c.Workspace, c.Env),
			UpdateExpression:          aws.String("ADD #n :one"),
			ConditionExpression:       aws.String("#n < :max"),
			ExpressionAttributeNames:  map[string]string{"#n": aCount},
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": dynamo.N(1), ":max": dynamo.N(MaxPerEnvironment)},
		}
		if !stored {
			count.UpdateExpression = aws.String("SET #n = :n")
			count.ConditionExpression = aws.String("attribute_not_exists(#n)")
			count.ExpressionAttributeValues = map[string]types.AttributeValue{":n": dynamo.N(int64(n) + 1)}
		}
		rec, err := ch.Put(c.Env, audit.ConnectionCreated, audit.Target{Type: audit.TargetConnection, ID: c.ID}, details)
		if err != nil {
			return err
		}
		_, err = st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Update: count},
			{Put: &types.Put{TableName: &st.table, Item: item(c), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			rec,
		}})
		if err == nil {
			ch.Committed(ctx)
			return nil
		}
		ch.Discard()
		reasons := dynamo.CancelReasons(err)
		switch {
		case reasons == nil:
			return fmt.Errorf("create connection %s: %w", c.ID, err)
		case dynamo.Conflicted(reasons) && attempt < dynamo.Attempts:
			if err := dynamo.Backoff(ctx, attempt); err != nil {
				return err
			}
		case reasons[0] == "ConditionalCheckFailed" && stored:
			return limitError(c.Env) // the count reached the cap meanwhile
		case reasons[0] == "ConditionalCheckFailed" && attempt < dynamo.Attempts:
			// Another request stored the count meanwhile: read it.
		default:
			return fmt.Errorf("create connection %s: %v: %w", c.ID, reasons, err)
		}
	}
}

func limitError(env string) error {
	return apierr.New(apierr.ConnectionLimitReached,
		"This workspace already has %d %s connections, the maximum per environment. Delete one you no longer use "+
			"(DELETE /v1/connections/{id}), then create this one again.", MaxPerEnvironment, env)
}

// tally reads the count of ws/env, or when none is stored (connections
// older than the cap), how many connections the partition holds: one
// consistent query of the partition, which holds at most the cap.
func (st *Store) tally(ctx context.Context, ws, env string) (n int, stored bool, err error) {
	in := &dynamodb.QueryInput{
		TableName:                 &st.table,
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": dynamo.S(partitionPrefix + ws + "#" + env)},
		ProjectionExpression:      aws.String("sk, #n"),
		ExpressionAttributeNames:  map[string]string{"#n": aCount},
		ConsistentRead:            aws.Bool(true),
	}
	conns := 0
	for {
		page, err := st.db.Query(ctx, in)
		if err != nil {
			return 0, false, fmt.Errorf("count connections of %s/%s: %w", ws, env, err)
		}
		for _, it := range page.Items {
			if dynamo.Str(it, aSK) == countSort {
				v, _ := dynamo.Int(it, aCount)
				n, stored = int(v), true
			} else if strings.HasPrefix(dynamo.Str(it, aSK), sortPrefix) {
				conns++
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	if !stored {
		n = conns
	}
	return n, stored, nil
}

// ensureCount writes the count of ws/env if it is missing, from the
// connections the partition holds: those stored before the cap existed.
// While it is missing no delete can succeed (it requires it), so the
// number read is exact.
func (st *Store) ensureCount(ctx context.Context, ws, env string) error {
	n, stored, err := st.tally(ctx, ws, env)
	if err != nil || stored {
		return err
	}
	it := countKey(ws, env)
	it[aCount] = dynamo.N(int64(n))
	_, err = st.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &st.table, Item: it,
		ConditionExpression: aws.String("attribute_not_exists(#n)"), ExpressionAttributeNames: map[string]string{"#n": aCount}})
	if err != nil && !dynamo.IsConditionFailed(err) { // another request wrote it first: the same number
		return fmt.Errorf("write connection count of %s/%s: %w", ws, env, err)
	}
	return nil
}

// Get reads one connection of ws/env; another tenant's id is not found.
func (st *Store) Get(ctx context.Context, ws, env, id string) (Connection, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: key(ws, env, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Connection{}, fmt.Errorf("get connection %s: %w", id, err)
	}
	if out.Item == nil {
		return Connection{}, notFound()
	}
	return decode(out.Item), nil
}

// List pages through the connections of ws/env in id (creation) order,
// after the id given; next is the last id of a full page.
func (st *Store) List(ctx context.Context, ws, env, after string, limit int) ([]Connection, string, error) {
	in := &dynamodb.QueryInput{
		TableName:              &st.table,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :c)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": dynamo.S(partitionPrefix + ws + "#" + env), ":c": dynamo.S(sortPrefix)},
		Limit: aws.Int32(int32(limit)),
	}
	if after != "" {
		in.ExclusiveStartKey = key(ws, env, after)
	}
	out, err := st.db.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("list connections: %w", err)
	}
	cs := make([]Connection, 0, len(out.Items))
	for _, it := range out.Items {
		cs = append(cs, decode(it))
	}
	next := ""
	if len(out.LastEvaluatedKey) > 0 && len(cs) == limit {
		next = cs[len(cs)-1].ID
	}
	return cs, next, nil
}

// Delete removes a connection and frees its place under the cap, in one
// transaction conditioned on the connection's existence: a repeated delete
// is a 404 and frees nothing. Publications still scheduled against it fail
// when their time comes (their record says why).
func (st *Store) Delete(ctx context.Context, ws, env, id string, ch *audit.Change) error {
	defer ch.Discard()
	for attempt := 0; ; attempt++ {
		rec, err := ch.Put(env, audit.ConnectionDeleted, audit.Target{Type: audit.TargetConnection, ID: id}, nil)
		if err != nil {
			return err
		}
		_, err = st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Delete: &types.Delete{TableName: &st.table, Key: key(ws, env, id), ConditionExpression: aws.String("attribute_exists(pk)")}},
			{Update: &types.Update{
				TableName: &st.table, Key: countKey(ws, env),
				UpdateExpression:          aws.String("ADD #n :minus"),
				ConditionExpression:       aws.String("attribute_exists(#n)"),
				ExpressionAttributeNames:  map[string]string{"#n": aCount},
				ExpressionAttributeValues: map[string]types.AttributeValue{":minus": dynamo.N(-1)},
			}},
			rec,
		}})
		if err == nil {
			ch.Committed(ctx)
			return nil
		}
		ch.Discard() // this attempt's record: the next builds its own
		reasons := dynamo.CancelReasons(err)
		switch {
		case reasons == nil:
			return fmt.Errorf("delete connection %s: %w", id, err)
		case reasons[0] == "ConditionalCheckFailed":
			return notFound()
		case dynamo.Conflicted(reasons) && attempt < dynamo.Attempts:
			if err := dynamo.Backoff(ctx, attempt); err != nil {
				return err
			}
		case len(reasons) > 1 && reasons[1] == "ConditionalCheckFailed" && attempt < dynamo.Attempts:
			if err := st.ensureCount(ctx, ws, env); err != nil {
				return err
			}
		default:
			return fmt.Errorf("delete connection %s: %v: %w", id, reasons, err)
		}
	}
}

// Secret opens the signing secret of a webhook connection.
func (st *Store) Secret(c Connection) (string, error) {
	if st.cipher == nil {
		return "", errors.New("connection secret: the store has no cipher")
	}
	if c.secret == "" {
		return "", fmt.Errorf("connection %s has no secret", c.ID)
	}
	plain, err := st.cipher.Open(c.secret, aad(c.Workspace, c.Env, c.ID))
	if err != nil {
		return "", fmt.Errorf("secret of connection %s: %w", c.ID, err)
	}
	return plain, nil
}
