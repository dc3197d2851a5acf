package keysapi

// Key events: what a key's owner learns without asking. key.revoked and
// key.rotated follow the changes made through /v1/keys, key.leaked (with
// key.revoked) a secret-scanning report, key.expiring a key's last week and
// last day. They go to the workspace's webhook endpoints and the events
// queue, after the change has committed; a failed send is logged, the
// change stands.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/webhooks"
)

// Publisher sends events (webhooks.Publisher).
type Publisher interface {
	Publish(ctx context.Context, ev webhooks.Event, r webhooks.Route) error
}

// Events publishes key events.
type Events struct {
	Publisher Publisher
	Now       func() time.Time
	Logger    *slog.Logger
}

// Why a key was revoked, in key.revoked.
const (
	RevokedByRequest = "revoked"       // DELETE /v1/keys/{id}
	RevokedByReset   = "primary_reset" // POST /v1/keys/primary/reset
	RevokedByLeak    = "leaked"        // a secret-scanning report
)

// KeyEvent is the data of every key event; fields that do not apply to a
// type are left out.
type KeyEvent struct {
	KeyID       string `json:"keyId"`
	Name        string `json:"name,omitempty"`
	Preview     string `json:"preview,omitempty"`
	Kind        string `json:"kind,omitempty"`
	Role        string `json:"role,omitempty"`
	Environment string `json:"environment"`
	// key.revoked
	Reason    string  `json:"reason,omitempty"`
	RevokedAt *string `json:"revokedAt,omitempty"`
	// key.rotated
	NewKeyID          string  `json:"newKeyId,omitempty"`
	NewPreview        string  `json:"newPreview,omitempty"`
	GracePeriodEndsAt *string `json:"gracePeriodEndsAt,omitempty"`
	// key.expiring
	ExpiresAt *string `json:"expiresAt,omitempty"`
	// key.leaked: where the key was found.
	Leak *Leak `json:"leak,omitempty"`
}

// Leak is where a leaked key was found, as the partner reported it.
type Leak struct {
	Reporter  string `json:"reporter"` // "github"
	URL       string `json:"url,omitempty"`
	Source    string `json:"source,omitempty"`
	TokenType string `json:"tokenType,omitempty"`
	Revoked   bool   `json:"revoked"`
}

func keyEvent(k keystore.Key) KeyEvent {
	return KeyEvent{KeyID: k.ID, Name: k.Name, Preview: k.Preview, Kind: k.Kind, Role: string(k.Role), Environment: string(k.Env)}
}

func (e Events) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// publish sends one event stamped at (zero: now); entropy makes its id
// with the time (nil: random). A failure is logged and returned.
func (e Events) publish(ctx context.Context, typ string, k keystore.Key, data KeyEvent, at time.Time, entropy io.Reader) error {
	if e.Publisher == nil {
		return errors.New("key events: no publisher")
	}
	if at.IsZero() {
		at = e.now()
	}
	log := e.Logger
	if log == nil {
		log = slog.Default()
	}
	ev, err := webhooks.NewEvent(typ, data, at, entropy)
	if err == nil {
		err = e.Publisher.Publish(ctx, ev, webhooks.Route{Workspace: k.Workspace, Environment: string(k.Env)})
	}
	if err != nil {
		log.ErrorContext(ctx, "key event not sent", "type", typ, "key_id", k.ID, "err", err)
	}
	return err
}

// Revoked announces that k was revoked, and why.
func (e Events) Revoked(ctx context.Context, k keystore.Key, reason string) {
	d := keyEvent(k)
	d.Reason = reason
	at := k.RevokedAt
	if at == nil {
		t := e.now()
		at = &t
	}
	d.RevokedAt = ts(at)
	_ = e.publish(ctx, webhooks.KeyRevoked, k, d, time.Time{}, nil)
}

// Rotated announces that old was replaced by nk; old works until graceEnd.
func (e Events) Rotated(ctx context.Context, old, nk keystore.Key, graceEnd time.Time) {
	d := keyEvent(old)
	d.NewKeyID, d.NewPreview = nk.ID, nk.Preview
	d.GracePeriodEndsAt = ts(&graceEnd)
	_ = e.publish(ctx, webhooks.KeyRotated, old, d, time.Time{}, nil)
}

// Leaked announces that k was found in public, and whether this report
// revoked it.
func (e Events) Leaked(ctx context.Context, k keystore.Key, l Leak) {
	d := keyEvent(k)
	d.Leak = &l
	_ = e.publish(ctx, webhooks.KeyLeaked, k, d, time.Time{}, nil)
}

// Expiring announces that r's key expires at its expiresAt. The event (its
// id and time) follows from the key and the reminder, so a reminder sent
// twice (a sweep that failed after sending) is one event to receivers,
// which deduplicate on its id.
func (e Events) Expiring(ctx context.Context, r keystore.Reminder) error {
	d := keyEvent(r.Key)
	d.ExpiresAt = ts(r.Key.ExpiresAt)
	seed := sha256.Sum256([]byte(r.Key.ID + "/" + r.Lead.String()))
	return e.publish(ctx, webhooks.KeyExpiring, r.Key, d, r.Due, bytes.NewReader(seed[:]))
}

// NewExpiryWorker is the constructor of functions/key-expiry: on its
// schedule it sends key.expiring for every key whose 7-day or 1-day
// reminder came due.
func NewExpiryWorker(ctx context.Context, d lambdas.Deps) (lambdas.ScheduleFunc, error) {
	d = d.WithDefaults()
	table := d.Getenv("KEYS_TABLE")
	if table == "" {
		return nil, errors.New("key expiry: KEYS_TABLE is not set")
	}
	rem, err := keystore.NewReminders(dynamodb.NewFromConfig(d.AWS), table, d.Now)
	if err != nil {
		return nil, err
	}
	pub, err := webhooks.OpenPublisher(d)
	if err != nil {
		return nil, err
	}
	ev := Events{Publisher: pub, Now: d.Now, Logger: d.Logger}
	return func(ctx context.Context, _ events.EventBridgeEvent) error {
		return rem.Sweep(ctx, ev.Expiring)
	}, nil
}
