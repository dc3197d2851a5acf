package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Link is an object of ours that an event points to (a rendered video, a
// thumbnail). Events carry the reference, never a URL: whoever sends the
// event turns it into a presigned GET URL at that moment (the publisher for
// the events queue, the webhook worker at each attempt), so the link works
// when it arrives, on the eighth attempt as on the first.
type Link struct {
	// Field is the member of the event's data that gets the URL
	// ("downloadUrl"), ExpiresField the one that gets its expiry time.
	Field        string `json:"field"`
	ExpiresField string `json:"expiresField,omitempty"`
	// Key is the object's key in the renders bucket.
	Key string `json:"key"`
	// ContentType and Filename set the response's Content-Type and its
	// attachment name.
	ContentType string `json:"contentType,omitempty"`
	Filename    string `json:"filename,omitempty"`
}

// LinkTTL is how long a link works from the moment it is sent.
const LinkTTL = 15 * time.Minute

// Presigner signs GET URLs of objects (the S3 presign client).
type Presigner interface {
	PresignGetObject(context.Context, *s3.GetObjectInput, ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

// Linker turns an event's links into URLs of the renders bucket.
type Linker struct {
	Presigner Presigner
	Bucket    string
	Now       func() time.Time
}

// Render returns the event payload with each link's URL, valid LinkTTL
// from now, and its expiry written into the event's data. Without links it
// returns payload unchanged; with links and no linker it fails.
func (l *Linker) Render(ctx context.Context, payload []byte, links []Link) ([]byte, error) {
	if len(links) == 0 {
		return payload, nil
	}
	if l == nil || l.Presigner == nil || l.Bucket == "" {
		return nil, errors.New("render links: no presigner or bucket configured")
	}
	var ev Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("render links: decode event: %w", err)
	}
	data := map[string]json.RawMessage{}
	if len(ev.Data) > 0 {
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			return nil, fmt.Errorf("render links of %s: data is not an object: %w", ev.ID, err)
		}
	}
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	expires := now().Add(LinkTTL).UTC().Format(TimeFormat)
	for _, k := range links {
		if k.Field == "" || k.Key == "" {
			return nil, fmt.Errorf("render links of %s: a link needs a field and a key", ev.ID)
		}
		in := &s3.GetObjectInput{Bucket: aws.String(l.Bucket), Key: aws.String(k.Key)}
		if k.ContentType != "" {
			in.ResponseContentType = aws.String(k.ContentType)
		}
		if k.Filename != "" {
			in.ResponseContentDisposition = aws.String(`attachment; filename="` + k.Filename + `"`)
		}
		req, err := l.Presigner.PresignGetObject(ctx, in, s3.WithPresignExpires(LinkTTL))
		if err != nil {
			return nil, fmt.Errorf("render link %s of %s: %w", k.Field, ev.ID, err)
		}
		data[k.Field], _ = json.Marshal(req.URL)
		if k.ExpiresField != "" {
			data[k.ExpiresField], _ = json.Marshal(expires)
		}
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("render links of %s: %w", ev.ID, err)
	}
	ev.Data = raw
	return ev.Marshal()
}
