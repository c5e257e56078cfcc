// Command fanoutload measures a running server's live license counts
// (licenseCountsChanged) with many subscribers, from another process: it
// signs in, opens -n WebSocket subscriptions (graphql-transport-ws) of one
// clinic's counts, 64 at a time, then switches a user of that clinic off and
// on with setUserStatus, -rounds times, and waits each time until every
// subscriber has the new counts. It prints:
//
//   - subscriptions/s: opening them (WebSocket, connection_init
//     authenticating the token, subscribe, first counts);
//   - delay p50 / p99: from the mutation's response to each subscriber's
//     receipt of the new counts (0 when it arrived first);
//   - with -pid (the server's process ID): the server's resident memory
//     per subscriber (its RSS after opening minus before, divided by -n: an
//     upper bound, as the RSS includes garbage not yet collected), and the
//     server's CPU while the subscribers are connected and nothing changes
//     (-idle; 100% is one core).
//
// For example, against the demo practice:
//
//	go run ./cmd/fanoutload -url http://localhost:8080/graphql -login admin -password ... \
//	    -clinic "Sunrise Downtown" -user pt.jordan -n 10000 -pid $(pgrep -n usermanager)
//
// Each subscriber needs a socket in this process and one in the server's:
// raise the open-file limit (ulimit -n) of both above -n. The password may
// also come from USERMANAGER_PASSWORD.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/clinicemr/usermanager/internal/loadgen"
)

const setStatus = `mutation($id: ID!, $s: UserStatus!) { setUserStatus(input: {userId: $id, status: $s}) {
	user { status } userErrors { message } } }`

func main() {
	url := flag.String("url", "http://localhost:8080/graphql", "the server's GraphQL endpoint")
	login := flag.String("login", "admin", "username to sign in with (a manager of the clinic; the demo practice's administrator by default)")
	password := flag.String("password", os.Getenv("USERMANAGER_PASSWORD"), "password (default $USERMANAGER_PASSWORD)")
	clinic := flag.String("clinic", "Sunrise Downtown", "the clinic watched, by name")
	user := flag.String("user", "pt.jordan", "username of an active therapist of the clinic, switched off and on")
	n := flag.Int("n", 1000, "subscribers")
	rounds := flag.Int("rounds", 5, "changes to time")
	idle := flag.Duration("idle", 10*time.Second, "how long to measure the server's idle CPU (with -pid)")
	pid := flag.Int("pid", 0, "the server's process ID, to read its memory and CPU from /proc")
	flag.Parse()
	if err := run(*url, *login, *password, *clinic, *user, *n, *rounds, *idle, *pid); err != nil {
		fmt.Fprintln(os.Stderr, "fanoutload:", err)
		os.Exit(1)
	}
}

func run(url, login, password, clinicName, username string, n, rounds int, idle time.Duration, pid int) error {
	client := &http.Client{Timeout: time.Minute}
	token, err := loadgen.SignIn(client, url, login, password)
	if err != nil {
		return err
	}
	clinicID, userID, active, err := lookUp(client, url, token, clinicName, username)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	receipts := make(chan receipt, n)
	rssBefore := serverRSS(pid)
	started := time.Now()
	conns, first, err := openAll(ctx, url, token, clinicID, n)
	defer func() {
		cancel() // first: the readers stop before their connections close
		for _, c := range conns {
			if c != nil {
				c.CloseNow()
			}
		}
	}()
	if err != nil {
		return err
	}
	fmt.Printf("%d subscriptions opened: %.0f a second\n", n, float64(n)/time.Since(started).Seconds())
	for i, c := range conns {
		go readCounts(ctx, c, i, receipts)
	}
	if pid != 0 {
		time.Sleep(2 * time.Second) // let the server settle
		rss := serverRSS(pid)
		fmt.Printf("server memory: RSS %d MiB before, %d MiB after: %.1f KB per subscriber (an upper bound)\n",
			rssBefore>>20, rss>>20, float64(int64(rss)-int64(rssBefore))/float64(n)/1024)
		cpu, at := serverCPU(pid), time.Now()
		time.Sleep(idle)
		fmt.Printf("server CPU while idle: %.1f%% of a core over %v\n",
			float64(serverCPU(pid)-cpu)/float64(time.Since(at))*100, idle)
	}

	var delays []time.Duration
	inUse := first
	status := map[bool]string{true: "ACTIVE", false: "INACTIVE"}
	for round := 1; round <= rounds; round++ {
		active = !active
		want := inUse - 1
		if active {
			want = inUse + 1
		}
		var out struct {
			SetUserStatus struct {
				User       *struct{ Status string }
				UserErrors []struct{ Message string }
			}
		}
		if err := loadgen.Query(client, url, token, setStatus, map[string]any{"id": userID, "s": status[active]}, &out); err != nil {
			return err
		}
		responded := time.Now()
		if out.SetUserStatus.User == nil || out.SetUserStatus.User.Status != status[active] {
			return fmt.Errorf("round %d: setUserStatus: %+v", round, out.SetUserStatus)
		}
		got := make([]bool, n)
		var mine []time.Duration
		timeout := time.After(5 * time.Minute)
		for waiting := n; waiting > 0; {
			select {
			case r := <-receipts:
				if r.therapistsInUse != want || got[r.subscriber] {
					continue // a repeat of counts already sent
				}
				got[r.subscriber] = true
				waiting--
				mine = append(mine, max(r.at.Sub(responded), 0))
			case <-timeout:
				return fmt.Errorf("round %d: %d of %d subscribers had no new counts after 5 minutes", round, waiting, n)
			}
		}
		fmt.Printf("round %d: delay p50 %.0f ms, p99 %.0f ms, last %.0f ms\n", round,
			loadgen.Percentile(mine, 0.50), loadgen.Percentile(mine, 0.99), loadgen.Percentile(mine, 1))
		delays = append(delays, mine...)
		inUse = want
	}
	if rounds > 0 {
		fmt.Printf("all rounds: delay p50 %.0f ms, p99 %.0f ms\n", loadgen.Percentile(delays, 0.50), loadgen.Percentile(delays, 0.99))
	}
	return nil
}

// lookUp finds the clinic's and the user's IDs, and whether the user is
// active now (the first round switches them the other way).
func lookUp(client *http.Client, url, token, clinicName, username string) (clinicID, userID string, active bool, err error) {
	var clinics struct {
		Clinics struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	if err := loadgen.Query(client, url, token, `query($n: String!) { clinics(where: {name: $n}) { edges { node { id } } } }`,
		map[string]any{"n": clinicName}, &clinics); err != nil {
		return "", "", false, err
	}
	if len(clinics.Clinics.Edges) != 1 {
		return "", "", false, fmt.Errorf("no clinic named %q", clinicName)
	}
	var users struct {
		Users struct {
			Edges []struct{ Node struct{ ID, Status string } }
		}
	}
	if err := loadgen.Query(client, url, token, `query($u: String!) { users(filter: {username: $u}) { edges { node { id status } } } }`,
		map[string]any{"u": username}, &users); err != nil {
		return "", "", false, err
	}
	if len(users.Users.Edges) != 1 {
		return "", "", false, fmt.Errorf("no user %q", username)
	}
	u := users.Users.Edges[0].Node
	return clinics.Clinics.Edges[0].Node.ID, u.ID, u.Status == "ACTIVE", nil
}

// openAll opens n subscriptions, 64 at a time; first is the therapists in
// use of the first counts.
func openAll(ctx context.Context, url, token, clinicID string, n int) ([]*websocket.Conn, int, error) {
	wsURL := "ws" + strings.TrimPrefix(url, "http")
	conns := make([]*websocket.Conn, n)
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		first    atomic.Int64
	)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, inUse, err := loadgen.SubscribeCounts(ctx, wsURL, nil, token, clinicID)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("subscriber %d: %w", i, err)
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
				conns[i] = c
				first.Store(int64(inUse))
			}
		}()
	}
	wg.Wait()
	return conns, int(first.Load()), firstErr
}

type receipt struct {
	subscriber, therapistsInUse int
	at                          time.Time
}

// readCounts hands every counts message of subscriber i to receipts.
func readCounts(ctx context.Context, conn *websocket.Conn, i int, receipts chan<- receipt) {
	err := loadgen.ReadCounts(ctx, conn, func(inUse int, at time.Time) bool {
		select {
		case receipts <- receipt{subscriber: i, therapistsInUse: inUse, at: at}:
			return true
		case <-ctx.Done():
			return false
		}
	})
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "fanoutload: subscriber %d: %v\n", i, err)
	}
}

// serverRSS is the server's resident memory in bytes (0 without -pid).
func serverRSS(pid int) uint64 {
	if pid == 0 {
		return 0
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(status) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(string(rest)), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// serverCPU is the CPU time the server has used (user and system).
func serverCPU(pid int) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces), in
	// parentheses; utime and stime are the 14th and 15th of the line.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}
