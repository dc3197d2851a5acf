// Package framegate holds what belongs to the repository as a whole: the
// OpenAPI document at its root, embedded here because //go:embed cannot
// reach up out of a package's directory. pkg/openapi serves and checks it.
package framegate

import _ "embed"

// OpenAPIYAML is openapi.yaml, the API contract, byte for byte.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte
