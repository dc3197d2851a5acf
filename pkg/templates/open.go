package templates

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/lambdas"
)

// templatesCodec connects the catalog to package templates.
type templatesCodec struct{}

func (templatesCodec) BuiltIn() []Definition {
	bs := BuiltIn()
	out := make([]Definition, len(bs))
	for i := range bs {
		out[i] = bs[i]
	}
	return out
}

// Decode reads a client's template strictly: unknown fields are a 400.
func (templatesCodec) Decode(doc []byte) (Definition, error) {
	var t Template
	if err := apierr.DecodeJSON(doc, &t); err != nil {
		return nil, err
	}
	if t.Variables == nil {
		t.Variables = []Variable{} // served as [], never null
	}
	return t, nil
}

// OpenCatalog builds the catalog from a function's environment (DATA_TABLE);
// the videos API and the intake use it to instantiate template calls.
func OpenCatalog(_ context.Context, d lambdas.Deps) (*Catalog, error) {
	d = d.WithDefaults()
	table := d.Getenv("DATA_TABLE")
	if table == "" {
		return nil, errors.New("templates catalog: DATA_TABLE is not set")
	}
	return NewCatalog(templatesCodec{}, dynamodb.NewFromConfig(d.AWS), table, d.Now)
}

// New is the constructor of functions/templates.
func New(ctx context.Context, d lambdas.Deps) (lambdas.HTTPFunc, error) {
	d = d.WithDefaults()
	c, err := OpenCatalog(ctx, d)
	if err != nil {
		return nil, err
	}
	log, err := audit.Open(d)
	if err != nil {
		return nil, err
	}
	return Handler(httpapi.NewServer(d), c, log, d.Now), nil
}
