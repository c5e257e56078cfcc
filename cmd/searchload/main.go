// Command searchload measures a running server as the admin SPA uses it: it
// signs in, then sends the user search (users(first: 20, filter: {name:
// <fragment>}, orderBy: LAST_NAME) with totalCount, home clinic and license
// class, cycling through name fragments) or, with -query counts, the
// organization's license counts (or, with -clinic, one clinic's), from a
// number of concurrent clients for a while, and prints the requests per
// second and the p50 and p99 latency.
//
//	go run ./cmd/searchload -url http://localhost:8080/graphql -login seed.admin -password ... -c 8 -d 20s
//
// With -c 1,8 it runs each concurrency in turn. The password may also come
// from USERMANAGER_PASSWORD.
//
// To compare with another GraphQL server on the same database (the README's
// PostGraphile comparison), -query-file names a GraphQL document with a
// $name variable, sent for each fragment instead of the users query, and
// -login "" sends it without signing in.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clinicemr/usermanager/internal/loadgen"
)

const searchQuery = `query($name: String) {
  users(first: 20, filter: {name: $name}, orderBy: {field: LAST_NAME, direction: ASC}) {
    totalCount
    edges { node { id fullName homeClinic { name } licenseClass } }
  }
}`

const countsQuery = `query($clinicId: ID) {
  licenseCounts(clinicId: $clinicId) { class total inUse available pendingAdditions pendingReleases }
}`

func main() {
	url := flag.String("url", "http://localhost:8080/graphql", "the server's GraphQL endpoint")
	login := flag.String("login", "seed.admin", `username to sign in with (a holder of View Users); "" sends requests without signing in`)
	password := flag.String("password", os.Getenv("USERMANAGER_PASSWORD"), "password (default $USERMANAGER_PASSWORD)")
	conc := flag.String("c", "1,8", "concurrent clients, comma-separated to run several in turn")
	dur := flag.Duration("d", 15*time.Second, "how long to run each concurrency")
	frags := flag.String("fragments", "ann,son,mar,ell,Quig,yela,zubr,xqz", "name fragments to cycle through")
	query := flag.String("query", "search", "what to send: search, or counts (licenseCounts)")
	clinic := flag.String("clinic", "", "with -query counts: the clinic's ID (default: the whole organization)")
	queryFile := flag.String("query-file", "", "with -query search: a GraphQL document taking $name to send instead of the users query")
	flag.Parse()
	search := searchQuery
	if *queryFile != "" {
		doc, err := os.ReadFile(*queryFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "searchload:", err)
			os.Exit(2)
		}
		search = string(doc)
	}
	var bodies [][]byte
	switch *query {
	case "search":
		for _, f := range strings.Split(*frags, ",") {
			b, _ := json.Marshal(map[string]any{"query": search, "variables": map[string]any{"name": f}})
			bodies = append(bodies, b)
		}
	case "counts":
		vars := map[string]any{}
		if *clinic != "" {
			vars["clinicId"] = *clinic
		}
		b, _ := json.Marshal(map[string]any{"query": countsQuery, "variables": vars})
		bodies = append(bodies, b)
	default:
		fmt.Fprintln(os.Stderr, "searchload: -query is search or counts")
		os.Exit(2)
	}
	if err := run(*url, *login, *password, *conc, *dur, bodies); err != nil {
		fmt.Fprintln(os.Stderr, "searchload:", err)
		os.Exit(1)
	}
}

func run(url, login, password, conc string, dur time.Duration, bodies [][]byte) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: time.Minute}
	token := ""
	if login != "" {
		var err error
		if token, err = loadgen.SignIn(client, url, login, password); err != nil {
			return err
		}
	}
	for _, c := range strings.Split(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			return fmt.Errorf("-c: %q is not a number of clients", c)
		}
		lat, elapsed, err := load(client, url, token, bodies, n, dur)
		if err != nil {
			return err
		}
		fmt.Printf("concurrency %d: %d requests, %.1f req/s, p50 %.1f ms, p99 %.1f ms\n",
			n, len(lat), float64(len(lat))/elapsed.Seconds(), loadgen.Percentile(lat, 0.50), loadgen.Percentile(lat, 0.99))
	}
	return nil
}

// load sends searches from n clients for dur.
func load(client *http.Client, url, token string, bodies [][]byte, n int, dur time.Duration) ([]time.Duration, time.Duration, error) {
	var (
		mu       sync.Mutex
		all      []time.Duration
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(dur)
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := w; time.Now().Before(deadline); i++ {
				t0 := time.Now()
				if _, err := loadgen.Post(client, url, token, bodies[i%len(bodies)]); err != nil {
					mu.Lock()
					firstErr = cmpOr(firstErr, err)
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, time.Since(start), firstErr
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
