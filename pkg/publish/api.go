package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/connections"
	"github.com/framegate/framegate/pkg/dynamo"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/idempotency"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/videos"
)

// ConnectionGetter reads a connection.
type ConnectionGetter interface {
	Get(ctx context.Context, ws, env, id string) (connections.Connection, error)
}

// API holds the handlers' dependencies.
type API struct {
	Store       *Store
	Videos      VideoReader
	Connections ConnectionGetter
	Queue       Queue
	// Idempotency remembers the Idempotency-Keys of POST …/publish.
	Idempotency *idempotency.Store
	Audit       *audit.Log
	Log         *slog.Logger
	Now         func() time.Time
}

// Handler returns the routes of functions/publish.
func Handler(srv httpapi.Server, a *API) lambdas.HTTPFunc {
	return srv.API(httpapi.Routes{
		"POST /videos/{id}/publish":                        a.publish,
		"GET /videos/{id}/publications":                    a.list,
		"DELETE /videos/{id}/publications/{publicationId}": a.cancel,
	})
}

// View is a publication as the API shows it.
type View struct {
	Object         string  `json:"object"`
	ID             string  `json:"id"`
	VideoID        string  `json:"videoId"`
	ConnectionID   string  `json:"connectionId"`
	ConnectionType string  `json:"connectionType"`
	Status         string  `json:"status"`
	PublishAt      string  `json:"publishAt"`
	ExecutedAt     *string `json:"executedAt"`
	CancelledAt    *string `json:"cancelledAt"`
	// NextAttemptAt is set while a failed webhook attempt waits for its retry.
	NextAttemptAt *string `json:"nextAttemptAt"`
	Attempts      int     `json:"attempts"`
	Destination   *string `json:"destination"`
	Error         *Error  `json:"error"`
	CreatedAt     string  `json:"createdAt"`
}

func ts(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(connections.TimeFormat)
	return &s
}

// ViewOf renders p.
func ViewOf(p Publication) View {
	v := View{Object: "publication", ID: p.ID, VideoID: p.VideoID, ConnectionID: p.ConnectionID, ConnectionType: p.ConnectionType,
		Status: p.Status, PublishAt: p.PublishAt.UTC().Format(connections.TimeFormat), ExecutedAt: ts(p.ExecutedAt),
		CancelledAt: ts(p.CancelledAt), NextAttemptAt: ts(p.NextAttemptAt), Attempts: p.Attempts, Error: p.Error,
		CreatedAt: p.CreatedAt.UTC().Format(connections.TimeFormat)}
	if p.Destination != "" {
		d := p.Destination
		v.Destination = &d
	}
	return v
}

// Request is the body of POST /v1/videos/{id}/publish.
type Request struct {
	ConnectionID *string `json:"connectionId"`
	// PublishAt is an RFC 3339 time; absent means now.
	PublishAt *string `json:"publishAt"`
}

// When checks publishAt against now: absent or up to Skew in the past is
// now; further in the past, or more than MaxAhead ahead, is a 400.
func (in Request) When(now time.Time) (time.Time, error) {
	if in.PublishAt == nil {
		return now, nil
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(*in.PublishAt))
	switch {
	case err != nil:
		return time.Time{}, apierr.Invalid("/publishAt", "publishAt must be an RFC 3339 time such as 2030-01-02T15:04:05Z.")
	case t.Before(now.Add(-Skew)):
		return time.Time{}, apierr.Invalid("/publishAt", "publishAt is in the past; omit it to publish now.")
	case t.After(now.Add(MaxAhead)):
		return time.Time{}, apierr.Invalid("/publishAt", "publishAt must be at most 30 days ahead.")
	case t.Before(now):
		return now, nil
	}
	return t, nil
}

// videoID reads the path's video id; malformed ids are 404 without a
// database call.
func videoID(r *httpapi.Request) (string, error) {
	id := r.PathParam("id")
	if !ids.Valid("vid", id) {
		return "", apierr.New(apierr.NotFound, "No video %s.", id)
	}
	return id, nil
}

// publish schedules a publication. With an Idempotency-Key it behaves
// like POST /v1/videos: the same key with the same video and body within
// 24 h gets the first answer again (Idempotent-Replayed: true) and
// schedules nothing; with another video or body it is 409
// idempotency_mismatch. The key is claimed before the checks that depend
// on the time or on stored state (publishAt, the video, the connection),
// so a retry of a publication whose publishAt has since passed, or whose
// video expired, is still a replay; a request that fails releases the key.
func (a *API) publish(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	vid, err := videoID(r)
	if err != nil {
		return httpapi.Response{}, err
	}
	key := r.Header(idempotency.Header)
	if key != "" {
		if err := idempotency.Check(key); err != nil {
			return httpapi.Response{}, err
		}
	}
	var in Request
	if err := r.Decode(&in, false); err != nil {
		return httpapi.Response{}, err
	}
	if in.ConnectionID == nil || !ids.Valid(connections.IDPrefix, *in.ConnectionID) {
		return httpapi.Response{}, apierr.Invalid("/connectionId", "connectionId must be the id of a connection (conn_…).")
	}
	now := a.Now().UTC().Truncate(time.Millisecond)
	id, err := ids.New(IDPrefix, now, nil)
	if err != nil {
		return httpapi.Response{}, err
	}
	ws, env := r.Workspace(), string(r.Env())
	out, replayed, err := a.Idempotency.Do(ctx, a.Log, idempotency.Request{Partition: partition(ws, env), Key: key,
		Hash: requestHash(vid, in), Attrs: map[string]types.AttributeValue{"publicationId": dynamo.S(id), aVideo: dynamo.S(vid)}},
		func(ctx context.Context) (idempotency.Response, error) {
			p, err := a.schedule(ctx, r, vid, id, in, now)
			if err != nil {
				return idempotency.Response{}, err
			}
			body, err := json.Marshal(ViewOf(p))
			if err != nil {
				return idempotency.Response{}, fmt.Errorf("encode publication %s: %w", id, err)
			}
			return idempotency.Response{Status: http.StatusAccepted, Body: body}, nil
		})
	if err != nil {
		return httpapi.Response{}, err
	}
	resp := httpapi.Response{Status: out.Status, Raw: out.Body}
	if replayed {
		resp.Headers = map[string]string{idempotency.ReplayedHeader: "true"}
	}
	return resp, nil
}

// requestHash identifies a publish request for its Idempotency-Key: the
// video in the path and the decoded body (so whitespace, key order and an
// explicit null do not count).
func requestHash(videoID string, in Request) string {
	b, _ := json.Marshal(struct {
		VideoID string `json:"videoId"`
		Request
	}{videoID, in})
	return idempotency.BodyHash(b)
}

// schedule checks the request against the time and the stored video and
// connection, stores the publication id and queues its first message.
func (a *API) schedule(ctx context.Context, r *httpapi.Request, vid, id string, in Request, now time.Time) (Publication, error) {
	at, err := in.When(now)
	if err != nil {
		return Publication{}, err
	}
	ws, env := r.Workspace(), string(r.Env())
	// The video and the connection are read together; the video's answer
	// comes first.
	var (
		v       videos.Video
		conn    connections.Connection
		connErr error
	)
	err = dynamo.Together(
		func() (err error) { v, err = a.Videos.Get(ctx, ws, r.Env(), vid); return err },
		func() error { conn, connErr = a.Connections.Get(ctx, ws, env, *in.ConnectionID); return nil })
	if err != nil {
		return Publication{}, err
	}
	if v.Status != videos.Succeeded {
		return Publication{}, apierr.New(apierr.Conflict, "Video %s is %s; only a succeeded video can be published.", vid, v.Status)
	}
	if v.ExpiresAt != nil && !at.Before(*v.ExpiresAt) {
		return Publication{}, apierr.Invalid("/publishAt", "This sandbox video expires at %s; publish it before then.", v.ExpiresAt.UTC().Format(connections.TimeFormat))
	}
	if apierr.From(connErr).Code == apierr.NotFound {
		return Publication{}, apierr.Invalid("/connectionId", "No connection %s in this environment.", *in.ConnectionID)
	}
	if connErr != nil {
		return Publication{}, connErr
	}
	p := Publication{ID: id, Workspace: ws, Env: env, VideoID: vid, ConnectionID: conn.ID, ConnectionType: conn.Type,
		Status: Scheduled, PublishAt: at.Truncate(time.Millisecond), CreatedAt: now}
	ch := a.Audit.For(audit.FromRequest(r))
	if err := a.Store.Create(ctx, p, ch); err != nil {
		return Publication{}, err
	}
	m := Message{PublicationID: id, Workspace: ws, Environment: env, VideoID: vid, DueAt: p.PublishAt.UnixMilli()}
	if err := a.Queue.Send(ctx, m, now); err != nil {
		// No message will ever wake this record: take it back, so that
		// nothing is half-written, and let the client retry.
		if _, cerr := a.Store.Cancel(ctx, ws, env, vid, id, ch); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return Publication{}, err
	}
	return p, nil
}

// List is a page of publications.
type List struct {
	Object     string             `json:"object"`
	Data       []View             `json:"data"`
	Pagination httpapi.Pagination `json:"pagination"`
}

func (a *API) list(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	vid, err := videoID(r)
	if err != nil {
		return httpapi.Response{}, err
	}
	limit, err := r.IntQuery("limit", 20, 1, 100)
	if err != nil {
		return httpapi.Response{}, err
	}
	cursor := r.Query("cursor")
	if cursor != "" && !ids.Valid(IDPrefix, cursor) {
		return httpapi.Response{}, apierr.Invalid("cursor", "cursor must come from a previous page's next link.")
	}
	// The video must be the caller's: another tenant's id is a 404, not
	// an empty list that confirms nothing but costs nothing either.
	// Both reads are keyed by workspace and environment: run them together.
	var (
		ps   []Publication
		next string
	)
	err = dynamo.Together(
		func() error { _, err := a.Videos.Get(ctx, r.Workspace(), r.Env(), vid); return err },
		func() (err error) {
			ps, next, err = a.Store.List(ctx, r.Workspace(), string(r.Env()), vid, cursor, limit)
			return err
		})
	if err != nil {
		return httpapi.Response{}, err
	}
	out := List{Object: "list", Data: make([]View, 0, len(ps)),
		Pagination: httpapi.Paginate(limit, cursor, next, httpapi.PageLink("/v1/videos/"+vid+"/publications", limit, nil))}
	for _, p := range ps {
		out.Data = append(out.Data, ViewOf(p))
	}
	return httpapi.Response{Body: out}, nil
}

func (a *API) cancel(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	vid, err := videoID(r)
	if err != nil {
		return httpapi.Response{}, err
	}
	pid := r.PathParam("publicationId")
	if !ids.Valid(IDPrefix, pid) {
		return httpapi.Response{}, apierr.New(apierr.NotFound, "No publication with this id for this video.")
	}
	p, err := a.Store.Cancel(ctx, r.Workspace(), string(r.Env()), vid, pid, a.Audit.For(audit.FromRequest(r)))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Body: ViewOf(p)}, nil
}
