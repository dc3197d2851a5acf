package templates

// The catalog: the built-in templates and the workspace's own (per
// environment, like everything else) in the data table, with filters and
// pagination, and create, replace and delete for the workspace's own
// (built-ins are read-only).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/dynamo"
	"github.com/framegate/framegate/pkg/movie"
)

// Definition is what the catalog needs of a template (package templates'
// Definition): instantiation with variables under limits, and validation.
type Definition interface {
	Instantiate(vars map[string]any, l movie.Limits) (movie.Spec, error)
	Validate() error
}

// Codec connects the catalog to the template type: the built-ins, and the
// strict decoding of a template document a client sends or the table holds.
type Codec interface {
	BuiltIn() []Definition
	Decode(doc []byte) (Definition, error)
}

// Entry is a template with the facts listing filters on.
type Entry struct {
	Meta
	BuiltIn  bool
	Doc      json.RawMessage // the template as served
	Template Definition
}

// Meta are the fields of a template document the catalog reads.
type Meta struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Category    string `json:"category"`
	Orientation string `json:"orientation"`
}

func entry(t Definition, builtIn bool) (Entry, error) {
	doc, err := json.Marshal(t)
	if err != nil {
		return Entry{}, fmt.Errorf("encode template: %w", err)
	}
	var m Meta
	if err := json.Unmarshal(doc, &m); err != nil {
		return Entry{}, fmt.Errorf("read template fields: %w", err)
	}
	return Entry{Meta: m, BuiltIn: builtIn, Doc: doc, Template: t}, nil
}

// DB is the part of the DynamoDB client the catalog uses.
type DB interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Catalog is the built-ins plus each workspace's own templates in the data
// table (pk WS#<ws>#<env>, sk TEMPLATE#<id>).
type Catalog struct {
	codec   Codec
	builtIn map[string]Entry
	order   []string
	db      DB
	table   string
	now     func() time.Time
}

// MaxOwn caps a workspace environment's own templates.
const MaxOwn = 200

const skPrefix = "TEMPLATE#"

// NewCatalog checks every built-in (an invalid built-in is a bug that must
// stop the function from starting) and returns the catalog.
func NewCatalog(codec Codec, db DB, table string, now func() time.Time) (*Catalog, error) {
	if codec == nil || db == nil || table == "" || now == nil {
		return nil, errors.New("templates catalog: codec, db, table and clock are required")
	}
	c := &Catalog{codec: codec, builtIn: map[string]Entry{}, db: db, table: table, now: now}
	for _, t := range codec.BuiltIn() {
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("built-in template is invalid: %w", err)
		}
		e, err := entry(t, true)
		if err != nil {
			return nil, err
		}
		if e.ID == "" || c.builtIn[e.ID].ID != "" {
			return nil, fmt.Errorf("built-in template %q: missing or duplicate id", e.ID)
		}
		c.builtIn[e.ID] = e
		c.order = append(c.order, e.ID)
	}
	sort.Strings(c.order)
	return c, nil
}

func key(ws string, env apikey.Env, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: dynamo.WorkspacePartition(ws, string(env))},
		"sk": &types.AttributeValueMemberS{Value: skPrefix + id},
	}
}

func errNotFound(id string) error { return apierr.New(apierr.NotFound, "No template %s.", id) }

// Get returns a built-in or one of the workspace's own templates.
func (c *Catalog) Get(ctx context.Context, ws string, env apikey.Env, id string) (Entry, error) {
	if e, ok := c.builtIn[id]; ok {
		return e, nil
	}
	if id == "" || len(id) > 64 {
		return Entry{}, errNotFound(id)
	}
	out, err := c.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &c.table, Key: key(ws, env, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Entry{}, fmt.Errorf("get template %s: %w", id, err)
	}
	if out.Item == nil {
		return Entry{}, errNotFound(id)
	}
	return c.decodeItem(out.Item)
}

func (c *Catalog) decodeItem(it map[string]types.AttributeValue) (Entry, error) {
	doc, _ := it["doc"].(*types.AttributeValueMemberS)
	if doc == nil {
		return Entry{}, errors.New("template item without a document")
	}
	t, err := c.codec.Decode([]byte(doc.Value))
	if err != nil {
		return Entry{}, fmt.Errorf("stored template no longer decodes: %w", err)
	}
	return entry(t, false)
}

// Own lists the workspace's own templates.
func (c *Catalog) Own(ctx context.Context, ws string, env apikey.Env) ([]Entry, error) {
	in := &dynamodb.QueryInput{
		TableName:              &c.table,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: dynamo.WorkspacePartition(ws, string(env))},
			":p":  &types.AttributeValueMemberS{Value: skPrefix},
		},
	}
	var out []Entry
	for {
		page, err := c.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list templates: %w", err)
		}
		for _, it := range page.Items {
			e, err := c.decodeItem(it)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		if page.LastEvaluatedKey == nil {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// All lists built-ins (first) and the workspace's own, each by id.
func (c *Catalog) All(ctx context.Context, ws string, env apikey.Env) ([]Entry, error) {
	own, err := c.Own(ctx, ws, env)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(c.order)+len(own))
	for _, id := range c.order {
		out = append(out, c.builtIn[id])
	}
	sort.Slice(own, func(i, j int) bool { return own[i].ID < own[j].ID })
	return append(out, own...), nil
}

// Decode validates a client's template document.
func (c *Catalog) Decode(doc []byte) (Entry, error) {
	t, err := c.codec.Decode(doc)
	if err != nil {
		return Entry{}, err
	}
	if err := t.Validate(); err != nil {
		return Entry{}, err
	}
	return entry(t, false)
}

// Put stores one of the workspace's own templates, with its audit record;
// create fails when the id exists, replace when it does not. Built-in ids
// are read-only.
func (c *Catalog) Put(ctx context.Context, ws string, env apikey.Env, e Entry, create bool, ch *audit.Change) error {
	if _, ok := c.builtIn[e.ID]; ok {
		return apierr.New(apierr.Conflict, "Template %s is built in and read-only; create your own with another id.", e.ID)
	}
	if create {
		own, err := c.Own(ctx, ws, env)
		if err != nil {
			return err
		}
		if len(own) >= MaxOwn {
			return apierr.New(apierr.Conflict, "This environment already has %d templates, the most allowed.", MaxOwn)
		}
	}
	it := key(ws, env, e.ID)
	it["doc"] = &types.AttributeValueMemberS{Value: string(e.Doc)}
	it["updatedAt"] = &types.AttributeValueMemberN{Value: fmt.Sprint(c.now().UnixMilli())}
	cond, action := "attribute_exists(pk)", audit.TemplateReplaced
	if create {
		cond, action = "attribute_not_exists(pk)", audit.TemplateCreated
	}
	err := ch.Transact(ctx, c.db, string(env), action, audit.Target{Type: audit.TargetTemplate, ID: e.ID}, map[string]string{"name": e.Name},
		types.TransactWriteItem{Put: &types.Put{TableName: &c.table, Item: it, ConditionExpression: &cond}})
	failed := conditionFailed(err)
	switch {
	case failed && create:
		return apierr.New(apierr.Conflict, "A template with id %s exists; PUT /v1/templates/%s replaces it.", e.ID, e.ID)
	case failed:
		return errNotFound(e.ID)
	case err != nil:
		return fmt.Errorf("put template %s: %w", e.ID, err)
	}
	return nil
}

// conditionFailed reports whether a transaction failed on its first
// item's condition.
func conditionFailed(err error) bool {
	r := dynamo.CancelReasons(err)
	return len(r) > 0 && r[0] == "ConditionalCheckFailed"
}

// Delete removes one of the workspace's own templates, with its audit
// record.
func (c *Catalog) Delete(ctx context.Context, ws string, env apikey.Env, id string, ch *audit.Change) error {
	if _, ok := c.builtIn[id]; ok {
		return apierr.New(apierr.Conflict, "Template %s is built in and cannot be deleted.", id)
	}
	err := ch.Transact(ctx, c.db, string(env), audit.TemplateDeleted, audit.Target{Type: audit.TargetTemplate, ID: id}, nil,
		types.TransactWriteItem{Delete: &types.Delete{TableName: &c.table, Key: key(ws, env, id), ConditionExpression: aws.String("attribute_exists(pk)")}})
	if conditionFailed(err) {
		return errNotFound(id)
	}
	if err != nil {
		return fmt.Errorf("delete template %s: %w", id, err)
	}
	return nil
}

// Instantiate makes a spec from a template and its variables: the
// videos.Templates the videos service and the intake use.
func (c *Catalog) Instantiate(ctx context.Context, ws string, env apikey.Env, id string, vars map[string]any, l movie.Limits) (movie.Spec, error) {
	e, err := c.Get(ctx, ws, env, id)
	if err != nil {
		var ae *apierr.Error
		if errors.As(err, &ae) && ae.Code == apierr.NotFound {
			return movie.Spec{}, apierr.Invalid("/templateId", "No template %s.", id)
		}
		return movie.Spec{}, err
	}
	if vars == nil {
		vars = map[string]any{}
	}
	return e.Template.Instantiate(vars, l)
}

// matches applies the list filters.
func (e Entry) matches(category, orientation, q string) bool {
	if category != "" && !strings.EqualFold(e.Category, category) {
		return false
	}
	if orientation != "" && !strings.EqualFold(e.Orientation, orientation) {
		return false
	}
	if q != "" {
		q = strings.ToLower(q)
		return strings.Contains(strings.ToLower(e.Name), q) || strings.Contains(strings.ToLower(e.Description), q)
	}
	return true
}
