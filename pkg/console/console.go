// Package console serves the console: the page a workspace's people use to
// manage keys, watch renders, look after webhooks and read usage and the
// audit log, in the browser, from the same API as everything else.
//
// The page is plain ES modules and hand-written CSS embedded in the binary
// (no build step, no third-party code, no CDN): GET /v1/console and its
// assets need no key. Signing in exchanges a one-time link
// (POST /v1/console/sessions, or `framegate console`) for a session cookie
// at POST /v1/console/signin; from then on the page calls the API itself,
// and the authorizer takes the session from the cookie only when the page's
// X-Framegate-Console header comes with it (package authorizer). A strict
// Content-Security-Policy allows scripts, styles and API calls from the
// page's own origin only, and videos from the renders bucket.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/authorizer"
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/keysapi"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/lambdas"
)

//go:embed web
var web embed.FS

// SignIn is what the sign-in route needs from the key store.
type SignIn interface {
	SignInConsole(ctx context.Context, token string) (keystore.ConsoleSession, string, error)
}

// New is the constructor of functions/console.
func New(ctx context.Context, d lambdas.Deps) (lambdas.HTTPFunc, error) {
	d = d.WithDefaults()
	env, err := d.Require("RENDERS_BUCKET")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	st, err := keystore.Open(ctx, d)
	if err != nil {
		return nil, err
	}
	media, err := MediaOrigin(ctx, d.AWS, env["RENDERS_BUCKET"])
	if err != nil {
		return nil, err
	}
	return Handler(httpapi.NewServer(d), st, media, d.Now)
}

// MediaOrigin is the origin download links of the renders bucket point at
// (what the videos function presigns), the one place the page may play
// videos from. Presigning is local: no call is made.
func MediaOrigin(ctx context.Context, cfg aws.Config, bucket string) (string, error) {
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = awsconf.UsesEmulator(cfg) })
	req, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("renders/x.mp4")})
	if err != nil {
		return "", fmt.Errorf("console: presign a download link: %w", err)
	}
	u, err := url.Parse(req.URL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("console: presigned URL %q has no origin", req.URL)
	}
	return u.Scheme + "://" + u.Host, nil
}

// Handler serves the page, its assets and the sign-in. mediaOrigin is where
// videos may be played from (MediaOrigin).
func Handler(srv httpapi.Server, st SignIn, mediaOrigin string, now func() time.Time) (lambdas.HTTPFunc, error) {
	if st == nil || now == nil || !strings.Contains(mediaOrigin, "://") {
		return nil, errors.New("console: a store, a clock and a media origin are required")
	}
	assets, err := fs.Sub(web, "web")
	if err != nil {
		return nil, err
	}
	index, err := fs.ReadFile(assets, "index.html")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	p := &page{st: st, assets: assets, index: string(index), now: now, headers: SecurityHeaders(mediaOrigin)}
	return srv.Public(httpapi.Routes{
		"GET /console":         p.page,
		"GET /console/{asset}": p.asset,
		"POST /console/signin": p.signIn,
	}), nil
}

type page struct {
	st      SignIn
	assets  fs.FS
	index   string
	now     func() time.Time
	headers map[string]string
}

// SecurityHeaders go on every console response: scripts, styles, images and
// API calls from the page's own origin only, videos from the renders bucket,
// no framing, no referrer (links hold no secrets, but URLs of the API do).
func SecurityHeaders(mediaOrigin string) map[string]string {
	return map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; media-src " +
			mediaOrigin + "; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
	}
}

func (p *page) with(h map[string]string) map[string]string {
	out := make(map[string]string, len(p.headers)+len(h))
	for k, v := range p.headers {
		out[k] = v
	}
	for k, v := range h {
		out[k] = v
	}
	return out
}

// page is index.html with its asset URLs under the request's stage.
func (p *page) page(_ context.Context, r *httpapi.Request) (httpapi.Response, error) {
	base := "/" + r.Event.RequestContext.Stage + "/console/"
	return httpapi.Response{Raw: []byte(strings.ReplaceAll(p.index, "{{base}}", base)), Headers: p.with(map[string]string{
		"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache",
	})}, nil
}

var types = map[string]string{
	".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
}

func (p *page) asset(_ context.Context, r *httpapi.Request) (httpapi.Response, error) {
	name := r.PathParam("asset")
	ctype, known := types[path.Ext(name)]
	b, err := fs.ReadFile(p.assets, name)
	if !known || err != nil || strings.Contains(name, "/") {
		return httpapi.Response{}, apierr.New(apierr.NotFound, "No console file %q.", name)
	}
	return httpapi.Response{Raw: b, Headers: p.with(map[string]string{"Content-Type": ctype, "Cache-Control": "no-cache"})}, nil
}

// SignInRequest is the body of POST /v1/console/signin.
type SignInRequest struct {
	Token string `json:"token"`
}

// Session is the body of 200 POST /v1/console/signin.
type Session struct {
	Object      string        `json:"object"`
	ID          string        `json:"id"`
	Workspace   keysapi.IDRef `json:"workspace"`
	Environment string        `json:"environment"`
	ExpiresAt   string        `json:"expiresAt"`
}

// signIn uses a one-time link and sets the session's cookie. Like every
// cookie-carrying request of the console it needs the page's header: a
// page of another site cannot sign the browser in to someone else's
// workspace.
func (p *page) signIn(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	if r.Header(authorizer.ConsoleHeader) == "" {
		return httpapi.Response{}, apierr.Invalid(authorizer.ConsoleHeader, "Sign in from the console page; it sends the %s header.", authorizer.ConsoleHeader)
	}
	var in SignInRequest
	if err := r.Decode(&in, false); err != nil {
		return httpapi.Response{}, err
	}
	if in.Token == "" {
		return httpapi.Response{}, apierr.Invalid("/token", "token is required: the part of the link after #signin=.")
	}
	c, token, err := p.st.SignInConsole(ctx, in.Token)
	if err != nil {
		return httpapi.Response{}, err
	}
	exp := c.ExpiresAt.UTC()
	return httpapi.Response{
		Body: Session{Object: "console_session", ID: c.ID, Workspace: keysapi.IDRef{ID: c.Workspace}, Environment: string(c.Env),
			ExpiresAt: exp.Format("2006-01-02T15:04:05.000Z07:00")},
		Headers: p.with(map[string]string{"Set-Cookie": keysapi.ConsoleCookie(c.Env, r.Event.RequestContext.Stage, token, exp, p.now())}),
	}, nil
}
