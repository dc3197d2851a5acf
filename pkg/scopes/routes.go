package scopes

import "strings"

// Requirement is what a route asks of the caller.
type Requirement struct {
	// Public routes need no key at all (their template event says Authorizer: NONE).
	Public bool
	// Scope is required unless empty, in which case any valid key will do.
	Scope Scope
}

// routes maps "METHOD /path" (the API Gateway resource, without the stage) to
// its requirement. Every route in template.yaml must have an entry: a test
// checks it, and the authorizer fails closed on a route it does not know.
var routes = func() map[routeKey]Requirement {
	out := map[routeKey]Requirement{}
	for k, v := range table {
		m, r, _ := strings.Cut(k, " ")
		out[routeKey{m, r}] = v
	}
	return out
}()

type routeKey struct{ method, resource string }

var table = map[string]Requirement{
	"GET /auth":         {},
	"GET /openapi.json": {Public: true},

	"POST /keys":               {Scope: KeysManage},
	"GET /keys":                {Scope: KeysManage},
	"GET /keys/{id}":           {Scope: KeysManage},
	"DELETE /keys/{id}":        {Scope: KeysManage},
	"POST /keys/{id}/rotate":   {Scope: KeysManage},
	"POST /keys/primary/reset": {Scope: KeysManage},

	"POST /console/sessions":        {Scope: KeysManage},
	"GET /console/sessions":         {Scope: KeysManage},
	"DELETE /console/sessions/{id}": {Scope: KeysManage},
	// The console page and its sign-in: the one-time link, then the
	// session cookie, are the authentication.
	"GET /console":         {Public: true},
	"GET /console/{asset}": {Public: true},
	"POST /console/signin": {Public: true},

	"POST /videos":                      {Scope: VideosWrite},
	"DELETE /videos/{id}":               {Scope: VideosWrite},
	"POST /videos/{id}/publish":         {Scope: VideosWrite},
	"GET /videos":                       {Scope: VideosRead},
	"GET /videos/{id}":                  {Scope: VideosRead},
	"GET /videos/{id}/status":           {Scope: VideosRead},
	"GET /videos/{id}/download":         {Scope: VideosRead},
	"GET /videos/{id}/thumbnail":        {Scope: VideosRead},
	"GET /videos/{id}/publications":     {Scope: VideosRead},
	"GET /templates":                    {Scope: TemplatesRead},
	"GET /templates/{id}":               {Scope: TemplatesRead},
	"POST /templates":                   {Scope: TemplatesWrite},
	"PUT /templates/{id}":               {Scope: TemplatesWrite},
	"DELETE /templates/{id}":            {Scope: TemplatesWrite},
	"POST /webhooks":                    {Scope: WebhooksManage},
	"GET /webhooks":                     {Scope: WebhooksManage},
	"GET /webhooks/{id}":                {Scope: WebhooksManage},
	"PATCH /webhooks/{id}":              {Scope: WebhooksManage},
	"DELETE /webhooks/{id}":             {Scope: WebhooksManage},
	"POST /webhooks/{id}/rotate-secret": {Scope: WebhooksManage},
	"POST /webhooks/{id}/test":          {Scope: WebhooksManage},
	"GET /webhooks/{id}/deliveries":     {Scope: WebhooksManage},
	"POST /webhooks/{id}/deliveries/{deliveryId}/redeliver": {Scope: WebhooksManage},
	"POST /webhooks/{id}/recover":                           {Scope: WebhooksManage},
	"POST /connections":                                     {Scope: ConnectionsManage},
	"GET /connections":                                      {Scope: ConnectionsManage},
	"GET /connections/{id}":                                 {Scope: ConnectionsManage},
	"DELETE /connections/{id}":                              {Scope: ConnectionsManage},

	"DELETE /videos/{id}/publications/{publicationId}": {Scope: VideosWrite},

	"POST /assets":                 {Scope: AssetsWrite},
	"DELETE /assets/{id}":          {Scope: AssetsWrite},
	"GET /assets":                  {Scope: AssetsRead},
	"GET /assets/{id}":             {Scope: AssetsRead},
	"GET /audit-events":            {Scope: AuditRead},
	"GET /usage":                   {Scope: UsageRead},
	"POST /secret-scanning/github": {Public: true},
}

// Route returns the requirement of method and resource ("GET", "/keys/{id}").
func Route(method, resource string) (Requirement, bool) {
	r, ok := routes[routeKey{method, resource}]
	return r, ok
}

// Routes returns a copy of the table, for tests and docs.
func Routes() map[string]Requirement {
	out := make(map[string]Requirement, len(table))
	for k, v := range table {
		out[k] = v
	}
	return out
}
