package connections

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/framegate/framegate/pkg/attr"
	"io"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/webhook"
)

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Store keeps connections in the data table, one partition per workspace
// and environment, so no id of another tenant can reach a record:
//
//	CONN#<ws>#<env>   C#<id>   a connection (a webhook secret sealed inside)
type Store struct {
	db     DB
	table  string
	cipher *webhook.Cipher
	now    func() time.Time
	rand   io.Reader
}

// StoreOptions are the store's optional dependencies.
type StoreOptions struct {
	// Cipher seals and opens webhook secrets. Readers that never touch a
	// secret (the publish API) leave it nil; Create and Secret then fail.
	Cipher *webhook.Cipher
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
	partitionPrefix, sortPrefix = "CONN#", "C#"
)

func key(ws, env, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{aPK: attr.S(partitionPrefix + ws + "#" + env), aSK: attr.S(sortPrefix + id)}
}

// aad binds a sealed secret to its connection: copied onto another record
// it no longer opens.
func aad(ws, env, id string) string { return "connection/" + ws + "/" + env + "/" + id }

func item(c Connection) map[string]types.AttributeValue {
	it := key(c.Workspace, c.Env, c.ID)
	set := func(k, v string) {
		if v != "" {
			it[k] = attr.S(v)
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
		ID: attr.Str(it, aID), Workspace: attr.Str(it, aWS), Env: attr.Str(it, aEnv), Type: attr.Str(it, aType), Name: attr.Str(it, aName),
		URL: attr.Str(it, aURL), secret: attr.Str(it, aSecret), SecretPreview: attr.Str(it, aPreview),
		Bucket: attr.Str(it, aBucket), Prefix: attr.Str(it, aPrefix), Region: attr.Str(it, aRegion),
		RoleARN: attr.Str(it, aRole), ExternalID: attr.Str(it, aExternal),
	}
	if v, ok := it[aCreated].(*types.AttributeValueMemberN); ok {
		if msec, err := strconv.ParseInt(v.Value, 10, 64); err == nil {
			c.CreatedAt = time.UnixMilli(msec).UTC()
		}
	}
	return c
}

func notFound() error { return apierr.New(apierr.NotFound, "No connection with this id.") }

// Create stores a new connection. A webhook connection gets a fresh
// signing secret, returned in plaintext this once; an s3 connection gets
// the external id its role's trust policy must require.
func (st *Store) Create(ctx context.Context, ws, env string, n Spec) (Connection, string, error) {
	now := st.now().UTC().Truncate(time.Millisecond)
	id, err := ids.New(IDPrefix, now, st.rand)
	if err != nil {
		return Connection{}, "", err
	}
	c := Connection{ID: id, Workspace: ws, Env: env, Type: n.Type, Name: n.Name, CreatedAt: now}
	plain := ""
	switch n.Type {
	case TypeWebhook:
		if st.cipher == nil {
			return Connection{}, "", errors.New("create connection: the store has no cipher")
		}
		if plain, err = webhook.NewSecret(st.rand); err != nil {
			return Connection{}, "", err
		}
		if c.secret, err = st.cipher.Seal(plain, aad(ws, env, id)); err != nil {
			return Connection{}, "", fmt.Errorf("seal secret of %s: %w", id, err)
		}
		c.URL, c.SecretPreview = n.URL, webhook.Mask(plain)
	case TypeS3:
		c.Bucket, c.Prefix, c.Region, c.RoleARN = n.Bucket, n.Prefix, n.Region, n.RoleARN
		if c.ExternalID, err = newExternalID(st.rand); err != nil {
			return Connection{}, "", err
		}
	default:
		return Connection{}, "", fmt.Errorf("create connection: unknown type %q", n.Type)
	}
	_, err = st.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &st.table, Item: item(c),
		ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if err != nil {
		return Connection{}, "", fmt.Errorf("create connection %s: %w", id, err)
	}
	return c, plain, nil
}

// newExternalID is 160 random bits: unguessable, so no other customer can
// name it in a request and make framegate assume a role that trusts it
// (the confused-deputy problem external ids exist to solve).
func newExternalID(r io.Reader) (string, error) {
	const crockford = "0123456789abcdefghjkmnpqrstvwxyz"
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("new external id: %w", err)
	}
	out := []byte(ExternalIDPrefix)
	for _, x := range b {
		out = append(out, crockford[x&31])
	}
	return string(out), nil
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
			":pk": attr.S(partitionPrefix + ws + "#" + env), ":c": attr.S(sortPrefix)},
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

// Delete removes a connection. Publications still scheduled against it
// fail when their time comes (their record says why).
func (st *Store) Delete(ctx context.Context, ws, env, id string) error {
	_, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &st.table, Key: key(ws, env, id),
		ConditionExpression: aws.String("attribute_exists(pk)")})
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		return notFound()
	}
	if err != nil {
		return fmt.Errorf("delete connection %s: %w", id, err)
	}
	return nil
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
