package apitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/clinicemr/usermanager/internal/auth"
)

// Subscription protocols a client may speak.
const (
	// GraphQLTransportWS is graphql-ws's graphql-transport-ws protocol.
	GraphQLTransportWS = "graphql-transport-ws"
	// GraphQLWS is the legacy subscriptions-transport-ws protocol.
	GraphQLWS = "graphql-ws"
	// SSE is GraphQL over server-sent events.
	SSE = "sse"
)

// Subscription is a running GraphQL subscription of a test client.
type Subscription struct {
	t    testing.TB
	msgs chan Response
	// Ended is closed when the server ends the subscription or the
	// connection.
	Ended  chan struct{}
	cancel context.CancelFunc
}

// Subscribe starts a subscription over protocol (GraphQLTransportWS,
// GraphQLWS or SSE), authenticated as the client. It fails the test if the
// server refuses the connection.
func (c *Client) Subscribe(protocol, query string, vars map[string]any) *Subscription {
	t := c.env.T
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Subscription{t: t, msgs: make(chan Response, 100), Ended: make(chan struct{}), cancel: cancel}
	t.Cleanup(cancel)
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	if protocol == SSE {
		c.subscribeSSE(ctx, s, payload)
	} else {
		c.subscribeWS(ctx, s, protocol, payload)
	}
	return s
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func (c *Client) subscribeWS(ctx context.Context, s *Subscription, protocol string, payload []byte) {
	t := c.env.T
	t.Helper()
	url := "ws" + strings.TrimPrefix(c.env.Server.URL, "http") + "/graphql"
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dialCtx, url, &websocket.DialOptions{Subprotocols: []string{protocol}})
	if err != nil {
		t.Fatalf("dialing %s: %v", url, err)
	}
	init, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + c.Token, auth.ClinicHeader: c.Clinic})
	if err := wsjson.Write(dialCtx, conn, wsMessage{Type: "connection_init", Payload: init}); err != nil {
		t.Fatal(err)
	}
	var ack wsMessage
	if err := wsjson.Read(dialCtx, conn, &ack); err != nil || ack.Type != "connection_ack" {
		t.Fatalf("connection_ack: %+v %v", ack, err)
	}
	start := "subscribe"
	if protocol == GraphQLWS {
		start = "start"
	}
	if err := wsjson.Write(dialCtx, conn, wsMessage{ID: "1", Type: start, Payload: payload}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.Ended)
		defer conn.CloseNow()
		go func() { <-ctx.Done(); conn.CloseNow() }()
		for {
			var m wsMessage
			if err := wsjson.Read(ctx, conn, &m); err != nil {
				return
			}
			switch m.Type {
			case "next", "data":
				var r Response
				_ = json.Unmarshal(m.Payload, &r)
				r.Body = m.Payload
				s.msgs <- r
			case "error":
				var errs []GraphQLError
				_ = json.Unmarshal(m.Payload, &errs)
				s.msgs <- Response{Errors: errs, Body: m.Payload}
				return
			case "complete":
				return
			case "ping":
				_ = wsjson.Write(ctx, conn, wsMessage{Type: "pong"})
			}
		}
	}()
}

func (c *Client) subscribeSSE(ctx context.Context, s *Subscription, payload []byte) {
	t := c.env.T
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.env.Server.URL+"/graphql", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	c.authorize(req.Header)
	res, err := c.env.Server.Client().Do(req)
	if err != nil {
		t.Fatalf("SSE: %v", err)
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		t.Fatalf("SSE: status %d", res.StatusCode)
	}
	go func() {
		defer close(s.Ended)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event:"):
				event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
				if event == "complete" {
					return
				}
			case strings.HasPrefix(line, "data:") && event == "next":
				data := []byte(strings.TrimSpace(strings.TrimPrefix(line, "data:")))
				var r Response
				_ = json.Unmarshal(data, &r)
				r.Body = data
				s.msgs <- r
			}
		}
	}()
}

// Next waits for the next message and fails the test after timeout.
func (s *Subscription) Next(timeout time.Duration) Response {
	s.t.Helper()
	select {
	case r := <-s.msgs:
		return r
	case <-s.Ended:
		select {
		case r := <-s.msgs:
			return r
		default:
		}
		s.t.Fatal("the subscription ended while a message was expected")
	case <-time.After(timeout):
		s.t.Fatalf("no subscription message within %v", timeout)
	}
	return Response{}
}

// Until returns the first message for which ok holds, skipping others, and
// fails the test after timeout.
func (s *Subscription) Until(timeout time.Duration, ok func(Response) bool) Response {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			s.t.Fatalf("no matching subscription message within %v", timeout)
		}
		if r := s.Next(left); ok(r) {
			return r
		}
	}
}

// Buffered returns a message already received, if any.
func (s *Subscription) Buffered() (Response, bool) {
	select {
	case r := <-s.msgs:
		return r, true
	default:
		return Response{}, false
	}
}

// Quiet fails the test if a message arrives within d.
func (s *Subscription) Quiet(d time.Duration) {
	s.t.Helper()
	select {
	case r := <-s.msgs:
		s.t.Fatalf("unexpected subscription message: %s", r.Body)
	case <-time.After(d):
	}
}

// WaitEnded fails the test unless the server ends the subscription (or its
// connection) within timeout.
func (s *Subscription) WaitEnded(timeout time.Duration) {
	s.t.Helper()
	select {
	case <-s.Ended:
	case <-time.After(timeout):
		s.t.Fatalf("the subscription did not end within %v", timeout)
	}
}

// Close ends the subscription from the client side.
func (s *Subscription) Close() { s.cancel() }
