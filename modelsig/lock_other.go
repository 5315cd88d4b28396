//go:build !unix

package modelsig

import "context"

// lockModel is a no-op where flock does not exist: concurrent signs of one
// model are then not serialized.
func lockModel(context.Context, string) (func(), error) { return func() {}, nil }
