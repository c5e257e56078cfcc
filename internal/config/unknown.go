package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Prefix starts the names of the product's own variables that are not
// settings (USERMANAGER_PASSWORD); an unknown name with it is a mistake.
const Prefix = "USERMANAGER_"

// otherVariables are read outside Config: by commands (the password) and
// by the benchmarks (USERMANAGER_BENCH_*).
var otherVariables = []string{"USERMANAGER_PASSWORD"}

const benchPrefix = "USERMANAGER_BENCH_"

// unrelatedPrefixes start variables of other programs, never reported.
var unrelatedPrefixes = []string{"OTEL_", "PG", "GO", "LC_", "XDG_", "SSH_", "SSL_", "GIT_", "npm_", "KUBERNETES_", "DOCKER_"}

// Variables lists every variable the server reads.
func Variables() []string {
	t := reflect.TypeOf(Config{})
	var out []string
	for i := range t.NumField() {
		out = append(out, t.Field(i).Tag.Get("env"))
	}
	return append(out, otherVariables...)
}

// unknownVariables warns about variables in vars that look meant for the
// server but that it does not read.
func unknownVariables(vars map[string]string) []string {
	known := Variables()
	isKnown := map[string]bool{}
	for _, k := range known {
		isKnown[k] = true
	}
	var warnings []string
	for name := range vars {
		if isKnown[name] || strings.HasPrefix(name, benchPrefix) {
			continue
		}
		if w := unknownVariable(name, known); w != "" {
			warnings = append(warnings, w)
		}
	}
	sort.Strings(warnings)
	return warnings
}

func unknownVariable(name string, known []string) string {
	upper := strings.ToUpper(name)
	if strings.HasPrefix(upper, Prefix) {
		rest := upper[len(Prefix):]
		for _, k := range known {
			if k == rest {
				return fmt.Sprintf("%s is set but not read: did you mean %s? (settings have no %s prefix)", name, k, Prefix)
			}
		}
		if k := nearest(upper, known); k != "" {
			return fmt.Sprintf("%s is set but not read: did you mean %s?", name, k)
		}
		return fmt.Sprintf("%s is set but not read: User Manager has no such variable (see usermanager --help)", name)
	}
	for _, p := range unrelatedPrefixes {
		if strings.HasPrefix(name, p) {
			return ""
		}
	}
	if k := nearest(upper, known); k != "" {
		return fmt.Sprintf("%s is set but not read: did you mean %s?", name, k)
	}
	return ""
}

// nearest is the known name within Damerau-Levenshtein distance 2 of
// name (names of at least 6 characters), or "".
func nearest(name string, known []string) string {
	if len(name) < 6 {
		return ""
	}
	best, bestD := "", 3
	for _, k := range known {
		if len(k) < 6 {
			continue
		}
		if d := distance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the (optimal string alignment) Damerau-Levenshtein distance:
// insertions, deletions, substitutions and transpositions of neighbours.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
