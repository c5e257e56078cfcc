// Package model holds GraphQL types gqlgen generates that no internal/ package owns.
package model
