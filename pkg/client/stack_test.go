package client_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/client"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// stackKeys runs the local stack and returns it with a fresh workspace's
// primary keys.
func stackKeys(t *testing.T) (*testenv.Stack, map[apikey.Env]string) {
	t.Helper()
	reg := devstack.Registry()
	s := testenv.NewStack(t, testenv.WithRegistry(reg), func(c *devstack.Config) {
		c.Parameters = map[string]string{"WebhookAllowLoopback": "true"}
	})
	_, keys := s.Workspace("client-test", ratelimit.Plan{})
	return s, keys
}

// TestAgainstTheStack drives the client through the real gateway,
// authorizer and handlers: the shapes it decodes are the shapes they send.
func TestAgainstTheStack(t *testing.T) {
	s, keys := stackKeys(t)
	ctx := context.Background()
	c := client.New(s.URL(), keys[apikey.Test])

	id, err := c.Auth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id.Environment != "test" || id.Key.Kind != "primary" || id.RateLimits.Key.Limit == 0 {
		t.Errorf("auth: %+v", id)
	}

	k, err := c.CreateKey(ctx, client.CreateKeyRequest{Name: "ci", Role: "render"})
	if err != nil {
		t.Fatal(err)
	}
	if k.Key == "" || k.Role != "render" || k.Status != "active" {
		t.Fatalf("created key %+v", k)
	}
	list, err := c.ListKeys(ctx, client.ListKeysParams{ListParams: client.ListParams{Limit: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Data) != 1 || list.Pagination.NextCursor() == "" {
		t.Errorf("first page of 1: %+v", list)
	}
	rot, err := c.RotateKey(ctx, k.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rot.Key == "" || rot.ID == k.ID {
		t.Errorf("rotated %+v", rot)
	}
	if _, err := c.RevokeKey(ctx, rot.ID); err != nil {
		t.Fatal(err)
	}
	// The revoked key is refused at the edge, in the same envelope.
	_, err = client.New(s.URL(), rot.Key).Auth(ctx)
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || e.Code != "invalid_api_key" || e.RequestID == "" {
		t.Errorf("revoked key: %v", err)
	}
	_, err = c.GetKey(ctx, "key_doesnotexist")
	if !errors.As(err, &e) || e.Code != "not_found" {
		t.Errorf("missing key: %v", err)
	}

	// Console links: create, list, revoke.
	link, err := c.CreateConsoleSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link.URL, s.URL()+"/console#signin="+link.ID+".") || link.ExpiresAt == "" {
		t.Errorf("console link %+v", link)
	}
	sessions, err := c.ListConsoleSessions(ctx)
	if err != nil || len(sessions) != 1 || sessions[0].ID != link.ID || sessions[0].Status != "pending" {
		t.Fatalf("console sessions %+v %v", sessions, err)
	}
	if rv, err := c.RevokeConsoleSession(ctx, link.ID); err != nil || rv.Status != "revoked" || rv.RevokedAt == nil {
		t.Fatalf("revoke console session: %+v %v", rv, err)
	}

	w, err := c.CreateWebhook(ctx, client.CreateWebhookRequest{URL: "http://127.0.0.1:9/hook", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	if w.Secret == "" || w.ID == "" {
		t.Fatalf("webhook %+v", w)
	}
	off := false
	if w, err = c.UpdateWebhook(ctx, w.ID, client.UpdateWebhookRequest{Enabled: &off}); err != nil || w.Enabled {
		t.Fatalf("disable: %+v %v", w, err)
	}
	if err := c.DeleteWebhook(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetWebhook(ctx, w.ID); !errors.As(err, &e) || e.Code != "not_found" {
		t.Errorf("deleted webhook: %v", err)
	}

	v1a, err := c.CreateWebhook(ctx, client.CreateWebhookRequest{URL: "http://127.0.0.1:9/v1a", Events: []string{"*"}, SignatureScheme: client.SchemeV1a})
	if err != nil || v1a.Secret != "" || v1a.SecretPreview != nil || !strings.HasPrefix(v1a.PublicKey, "whpk_") || v1a.VerificationKey() != v1a.PublicKey {
		t.Fatalf("v1a webhook %+v %v", v1a, err)
	}
	rec, err := c.RecoverWebhook(ctx, v1a.ID, time.Now().Add(-time.Hour))
	if err != nil || !strings.HasPrefix(rec.ID, "rcv_") || rec.EndpointID != v1a.ID || rec.Object != "webhook_recovery" {
		t.Errorf("recover %+v %v", rec, err)
	}
	q, err := c.CreateWebhook(ctx, client.CreateWebhookRequest{Type: client.WebhookSQS, Events: []string{"*"},
		QueueURL: "https://sqs.us-east-1.amazonaws.com/111122223333/events", RoleARN: "arn:aws:iam::111122223333:role/framegate"})
	if err != nil || q.Type != client.WebhookSQS || q.URL != nil || !strings.HasPrefix(q.ExternalID, "fgx_") || q.VerificationKey() != q.Secret {
		t.Errorf("sqs webhook %+v %v", q, err)
	}
	conn, err := c.CreateConnection(ctx, client.CreateConnectionRequest{Type: "webhook", Name: "zap", URL: "http://127.0.0.1:9/catch"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(conn.Secret, "whsec_") || conn.Type != "webhook" {
		t.Fatalf("connection %+v", conn)
	}
	conns, err := c.ListConnections(ctx, client.ListParams{})
	if err != nil || len(conns.Data) != 1 || conns.Data[0].ID != conn.ID || conns.Data[0].Secret != "" {
		t.Fatalf("connections %+v %v", conns, err)
	}
	if got, err := c.GetConnection(ctx, conn.ID); err != nil || got.SecretPreview == "" {
		t.Fatalf("connection %+v %v", got, err)
	}
	// Publishing needs a succeeded video: here the routes answer for an
	// unknown one, in the envelope the client parses.
	missing := "vid_00000000000000000000000000"
	if _, err := c.PublishVideo(ctx, missing, client.PublishRequest{ConnectionID: conn.ID}); !errors.As(err, &e) || e.Code != "not_found" {
		t.Errorf("publish an unknown video: %v", err)
	}
	if _, err := c.ListPublications(ctx, missing, client.ListParams{}); !errors.As(err, &e) || e.Code != "not_found" {
		t.Errorf("publications of an unknown video: %v", err)
	}
	if _, err := c.CancelPublication(ctx, missing, "pub_x"); !errors.As(err, &e) || e.Code != "not_found" {
		t.Errorf("cancel an unknown publication: %v", err)
	}
	if err := c.DeleteConnection(ctx, conn.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetConnection(ctx, conn.ID); !errors.As(err, &e) || e.Code != "not_found" {
		t.Errorf("deleted connection: %v", err)
	}
	doc, err := client.New(s.URL(), "").OpenAPI(ctx)
	if err != nil || !strings.Contains(string(doc), `"operationId"`) {
		t.Errorf("openapi.json without a key: %.80s %v", doc, err)
	}

	_, err = c.CreateVideo(ctx, client.CreateVideoRequest{Spec: []byte(`{"resolution":"nope","scenes":[]}`)})
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Field == "" {
		t.Errorf("invalid spec: %v", err)
	}

	// The changes above are in the audit log, newest first, filterable.
	events, err := c.ListAuditEvents(ctx, client.ListAuditEventsParams{ListParams: client.ListParams{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range events.Data {
		actions = append(actions, ev.Action)
	}
	if want := []string{"connection.deleted", "connection.created", "webhook_endpoint.created", "webhook_endpoint.created", "webhook_endpoint.deleted", "webhook_endpoint.updated",
		"webhook_endpoint.created", "console_session.revoked", "console_session.created", "key.revoked", "key.rotated", "key.created"}; !slices.Equal(actions, want) {
		t.Errorf("audit actions %v, want %v", actions, want)
	}
	revoked, err := c.ListAuditEvents(ctx, client.ListAuditEventsParams{Action: "key.revoked", Target: rot.ID})
	if err != nil || len(revoked.Data) != 1 || revoked.Data[0].Actor.ID != id.Key.ID || revoked.Data[0].Actor.Type != "api_key" {
		t.Errorf("filtered audit: %+v %v", revoked, err)
	}
	u, err := c.GetUsage(ctx, client.UsageParams{Granularity: "minute"})
	if err != nil {
		t.Fatal(err)
	}
	if u.Granularity != "minute" || u.StepSeconds != 60 || u.Requests.Admitted == 0 || len(u.Keys) == 0 || u.Keys[0].LastUsedAt == nil {
		t.Errorf("usage: %+v", u)
	}
}
