// Package requestinfo carries where a request comes from (client address,
// user agent) and its ID, for sessions, logs and the audit trail.
package requestinfo

import "context"

// Info describes a request.
type Info struct {
	ClientIP  string
	UserAgent string
	RequestID string
}

type key struct{}

// With returns ctx carrying info.
func With(ctx context.Context, info Info) context.Context {
	return context.WithValue(ctx, key{}, info)
}

// From returns the request's info (zero outside a request).
func From(ctx context.Context) Info {
	info, _ := ctx.Value(key{}).(Info)
	return info
}
