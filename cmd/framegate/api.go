package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/framegate/framegate/pkg/client"
)

// The users' commands talk to the API over HTTP with a key, exactly as any
// client would: they go through the authorizer, its limits and scopes,
// never around them.
const (
	apiKeyEnv = "FRAMEGATE_API_KEY"
	apiURLEnv = "FRAMEGATE_API_URL"
)

const apiEnvHelp = `

The key comes from FRAMEGATE_API_KEY. The API URL comes from FRAMEGATE_API_URL,
else the running local stack (` + "`framegate dev`" + `, found from any directory),
else ` + client.DefaultBaseURL + `.`

// operationAnnotation names the openapi operations a command calls
// (comma-separated); a test checks every operation has a command.
const operationAnnotation = "openapi-operations"

// apiURL picks the API: the environment, then the running local stack, then
// the local default.
func apiURL() (string, error) {
	if u := strings.TrimSpace(os.Getenv(apiURLEnv)); u != "" {
		return u, nil
	}
	s, found, err := localStack()
	if err != nil {
		return "", err
	}
	if found && s.APIURL != "" {
		return s.APIURL, nil
	}
	return client.DefaultBaseURL, nil
}

// apiClient is the client of the users' commands.
func apiClient() (*client.Client, error) {
	key := strings.TrimSpace(os.Getenv(apiKeyEnv))
	if key == "" {
		return nil, usageError{fmt.Errorf("set %s to an API key (`framegate dev` prints one for the local stack)", apiKeyEnv)}
	}
	u, err := apiURL()
	if err != nil {
		return nil, err
	}
	return client.New(u, key, client.WithUserAgent("framegate-cli")), nil
}

// apiCmd completes a users' command: its help says where the key and URL
// come from, it records the operations it calls, and run gets a client.
func apiCmd(c *cobra.Command, operations string, run func(cmd *cobra.Command, c *client.Client, args []string) error) *cobra.Command {
	if c.Long == "" {
		c.Long = c.Short + "."
	}
	c.Long += apiEnvHelp
	c.Annotations = map[string]string{operationAnnotation: operations}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		cl, err := apiClient()
		if err != nil {
			return err
		}
		return run(cmd, cl, args)
	}
	return c
}

// collect reads pages until it has max items (0: every page).
func collect[T any](max int, page func(client.ListParams) ([]T, client.Pagination, error)) ([]T, error) {
	var all []T
	p := client.ListParams{Limit: 100}
	for {
		if max > 0 {
			p.Limit = min(100, max-len(all))
		}
		data, pg, err := page(p)
		if err != nil {
			return nil, err
		}
		all = append(all, data...)
		if p.Cursor = pg.NextCursor(); p.Cursor == "" || (max > 0 && len(all) >= max) {
			return all, nil
		}
	}
}

// exactArgs is cobra.ExactArgs whose error is a usage error (exit 2).
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return usageError{err}
	}
	return nil
}

func deref(s *string, none string) string {
	if s == nil || *s == "" {
		return none
	}
	return *s
}
