package apitest_test

// BenchmarkLiveCountsFanOut measures how one change of a clinic's license
// counts reaches many WebSocket subscribers of that clinic (R22, R27), on
// SQLite and on PostgreSQL:
//
//	go test ./internal/apitest/ -run '^$' -bench BenchmarkLiveCountsFanOut -benchtime=5x -timeout 30m
//
// USERMANAGER_BENCH_SUBSCRIBERS sets how many subscribers (default 1,000;
// "10000" for the target) and USERMANAGER_BENCH_IDLE how long the
// idle window lasts (default 10s). All subscribers sign in with one
// session and watch Sunrise Downtown's licenseCountsChanged over
// graphql-transport-ws; each iteration switches pt.jordan (a therapist of
// that clinic) off or on with setUserStatus and waits until every
// subscriber has the new counts. It reports:
//
//   - delay-p50-ms, delay-p99-ms: from the mutation's response to each
//     subscriber's receipt of the new counts (0 when it arrived first);
//   - KB/subscriber: runtime.MemStats HeapInuse+StackInuse after connecting
//     minus before, divided by the subscribers. Server and client run in
//     one process, so this includes the client's side of each connection;
//   - subscriptions/s: opening the subscriptions (WebSocket, connection_init
//     authenticating the token, subscribe, first counts) 64 at a time;
//   - idle-cpu-%: CPU time of the process (user+system, all threads; 100 is
//     one core) while the subscribers are connected and nothing changes.
//
// The server and its clients share one process (and, in CI, 2 cores). When
// the open-file limit is too low for two sockets per subscriber, the
// subscribers reach the server over in-memory connections (net.Pipe)
// instead of TCP; the log says which.

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/loadgen"
)

// fanoutSubscribers is how many subscribers to connect.
func fanoutSubscribers(b *testing.B) int {
	spec := os.Getenv("USERMANAGER_BENCH_SUBSCRIBERS")
	if spec == "" {
		return 1000
	}
	n, err := strconv.Atoi(spec)
	if err != nil || n < 1 {
		b.Fatalf("USERMANAGER_BENCH_SUBSCRIBERS: %q is not a number of subscribers", spec)
	}
	return n
}

// fanoutIdle is how long the idle CPU is measured.
func fanoutIdle(b *testing.B) time.Duration {
	spec := os.Getenv("USERMANAGER_BENCH_IDLE")
	if spec == "" {
		return 10 * time.Second
	}
	d, err := time.ParseDuration(spec)
	if err != nil {
		b.Fatalf("USERMANAGER_BENCH_IDLE: %v", err)
	}
	return d
}

// fanoutReceipt is a subscriber's message: who, the therapists in use at the
// clinic, and when it arrived.
type fanoutReceipt struct {
	subscriber, therapistsInUse int
	at                          time.Time
}

// fanoutClient is one subscriber's connection.
type fanoutClient struct {
	conn *websocket.Conn
	// first is the therapists in use of the first message (the current
	// counts).
	first int
}

func BenchmarkLiveCountsFanOut(b *testing.B) {
	n := fanoutSubscribers(b)
	for _, d := range apitest.Dialects {
		b.Run(fmt.Sprintf("%s/%d", d, n), func(b *testing.B) {
			benchFanOut(b, d, n)
		})
	}
}

func benchFanOut(b *testing.B, dialectName string, n int) {
	env := apitest.New(b, dialectName, apitest.Options{NoStatementCount: true, AccessTTL: time.Hour})
	admin := env.LoginDemo(demo.AdminUsername)
	downtown := fanoutClinicID(b, admin, "Sunrise Downtown")
	jordan := fanoutUserID(b, admin, "pt.jordan")
	dial, url, how := fanoutDialer(b, env, n)
	b.Logf("%d subscribers over %s; server and clients in one process, GOMAXPROCS=%d", n, how, runtime.GOMAXPROCS(0))

	receipts := make(chan fanoutReceipt, n)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	clients := make([]*fanoutClient, n)
	b.Cleanup(func() {
		for _, c := range clients {
			if c != nil {
				c.conn.CloseNow()
			}
		}
	})

	// Open the subscriptions, 64 at a time.
	before := fanoutMemory()
	started := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := fanoutConnect(ctx, dial, url, admin.Token, downtown)
				if err != nil {
					errs <- fmt.Errorf("subscriber %d: %w", i, err)
					return
				}
				clients[i] = c
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	openRate := float64(n) / time.Since(started).Seconds()
	for i, c := range clients {
		go fanoutRead(ctx, c.conn, i, receipts)
	}
	after := fanoutMemory()
	perSubscriber := float64(int64(after)-int64(before)) / float64(n) / 1024

	// Idle: connected, nothing changes.
	idle := fanoutIdle(b)
	cpuBefore, idleStart := fanoutCPU(), time.Now()
	time.Sleep(idle)
	idleCPU := float64(fanoutCPU()-cpuBefore) / float64(time.Since(idleStart)) * 100

	// Each iteration: one change, and every subscriber's receipt of it.
	inUse := clients[0].first
	status := map[bool]string{true: "ACTIVE", false: "INACTIVE"}
	active := true
	var fromResponse, fromSend []time.Duration
	round := 0
	for b.Loop() {
		round++
		active = !active
		want := inUse - 1
		if active {
			want = inUse + 1
		}
		sent := time.Now()
		var out stPayload
		admin.MustDo(stSetStatus, map[string]any{"id": jordan, "s": status[active]}, &out)
		responded := time.Now()
		if out.SetUserStatus.User == nil || out.SetUserStatus.User.Status != status[active] {
			b.Fatalf("round %d: setUserStatus: %+v", round, out.SetUserStatus)
		}
		got := make([]bool, n)
		deadline := time.After(5 * time.Minute)
		for waiting := n; waiting > 0; {
			select {
			case r := <-receipts:
				if r.therapistsInUse != want || got[r.subscriber] {
					continue // a repeat of counts already sent
				}
				got[r.subscriber] = true
				waiting--
				fromResponse = append(fromResponse, max(r.at.Sub(responded), 0))
				fromSend = append(fromSend, r.at.Sub(sent))
			case <-deadline:
				b.Fatalf("round %d: %d of %d subscribers had no new counts after 5 minutes", round, waiting, n)
			}
		}
		inUse = want
	}
	b.ReportMetric(fanoutPercentile(fromResponse, 0.50), "delay-p50-ms")
	b.ReportMetric(fanoutPercentile(fromResponse, 0.99), "delay-p99-ms")
	b.ReportMetric(fanoutPercentile(fromSend, 0.99), "send-p99-ms")
	b.ReportMetric(perSubscriber, "KB/subscriber")
	b.ReportMetric(openRate, "subscriptions/s")
	b.ReportMetric(idleCPU, "idle-cpu-%")
	b.ReportMetric(0, "ns/op")
}

// fanoutDialer returns how subscribers reach the server, and at what
// address: TCP to its test listener, or in-memory connections when the
// process may not open two sockets per subscriber.
func fanoutDialer(b *testing.B, env *apitest.Env, n int) (opts *websocket.DialOptions, url, how string) {
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err == nil && uint64(2*n+1000) <= limit.Cur {
		return &websocket.DialOptions{Subprotocols: []string{apitest.GraphQLTransportWS}},
			"ws" + strings.TrimPrefix(env.Server.URL, "http") + "/graphql", "TCP (loopback)"
	}
	ln := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	srv := &http.Server{Handler: env.Server.Config.Handler}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return ln.dial(ctx) },
	}}
	return &websocket.DialOptions{Subprotocols: []string{apitest.GraphQLTransportWS}, HTTPClient: client},
		"ws://usermanager.test/graphql", "in-memory connections (net.Pipe: the open-file limit is too low for TCP)"
}

// pipeListener is a net.Listener whose connections are in-memory pipes.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *pipeListener) dial(ctx context.Context) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// fanoutConnect opens one subscription and reads its first message.
func fanoutConnect(ctx context.Context, opts *websocket.DialOptions, url, token, clinicID string) (*fanoutClient, error) {
	conn, inUse, err := loadgen.SubscribeCounts(ctx, url, opts, token, clinicID)
	if err != nil {
		return nil, err
	}
	return &fanoutClient{conn: conn, first: inUse}, nil
}

// fanoutRead hands every counts message of a subscriber to receipts.
func fanoutRead(ctx context.Context, conn *websocket.Conn, i int, receipts chan<- fanoutReceipt) {
	_ = loadgen.ReadCounts(ctx, conn, func(inUse int, at time.Time) bool {
		select {
		case receipts <- fanoutReceipt{subscriber: i, therapistsInUse: inUse, at: at}:
			return true
		case <-ctx.Done():
			return false
		}
	})
}

// fanoutMemory is the heap and stack in use after a collection.
func fanoutMemory() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// fanoutCPU is the CPU time the process has used.
func fanoutCPU() time.Duration {
	var u syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// fanoutPercentile is the nearest-rank percentile of ds, in milliseconds.
func fanoutPercentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return math.NaN()
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p * float64(len(s))))
	return float64(s[min(max(i-1, 0), len(s)-1)]) / float64(time.Millisecond)
}

func fanoutClinicID(b *testing.B, c *apitest.Client, name string) string {
	var out struct {
		Clinics struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	c.MustDo(`query($n: String!) { clinics(where: {name: $n}) { edges { node { id } } } }`, map[string]any{"n": name}, &out)
	if len(out.Clinics.Edges) != 1 {
		b.Fatalf("clinic %s: %+v", name, out)
	}
	return out.Clinics.Edges[0].Node.ID
}

func fanoutUserID(b *testing.B, c *apitest.Client, username string) string {
	var out struct {
		Users struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	c.MustDo(`query($u: String!) { users(filter: {username: $u}) { edges { node { id } } } }`, map[string]any{"u": username}, &out)
	if len(out.Users.Edges) != 1 {
		b.Fatalf("user %s: %+v", username, out)
	}
	return out.Users.Edges[0].Node.ID
}
