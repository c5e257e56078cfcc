package apitest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func dialGraphQL(t *testing.T, env *apitest.Env, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(env.Server.URL, "http") + "/graphql"
	return websocket.Dial(ctx, url, &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"},
		HTTPHeader:   header,
	})
}

// wsSignIn opens a graphql-transport-ws socket, sends connection_init with
// the token and reads the server's first answer (err is how the socket
// closed, if it did).
func wsSignIn(ctx context.Context, t *testing.T, env *apitest.Env, token string) (*websocket.Conn, wsMessage, error) {
	t.Helper()
	conn, _, err := dialGraphQL(t, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	init, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + token})
	if err := wsjson.Write(ctx, conn, wsMessage{Type: "connection_init", Payload: init}); err != nil {
		t.Fatal(err)
	}
	var msg wsMessage
	err = wsjson.Read(ctx, conn, &msg)
	return conn, msg, err
}

// A WebSocket is authenticated by the token in connection_init, and
// operations on it run as that viewer.
func TestWebSocketAuthenticatesAtConnectionInit(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		admin := env.LoginDemo(demo.AdminUsername)

		conn, ack, err := wsSignIn(ctx, t, env, admin.Token)
		if err != nil || ack.Type != "connection_ack" {
			t.Fatalf("connection_ack: %+v %v", ack, err)
		}
		if strings.Contains(string(ack.Payload), admin.Token) {
			t.Fatal("connection_ack echoes the token")
		}
		query, _ := json.Marshal(map[string]string{"query": "{ viewer { username } }"})
		if err := wsjson.Write(ctx, conn, wsMessage{ID: "1", Type: "subscribe", Payload: query}); err != nil {
			t.Fatal(err)
		}
		var next wsMessage
		if err := wsjson.Read(ctx, conn, &next); err != nil || next.Type != "next" {
			t.Fatalf("next: %+v %v", next, err)
		}
		if !strings.Contains(string(next.Payload), `"username":"admin"`) {
			t.Fatalf("viewer over WebSocket: %s", next.Payload)
		}
	})
}

func TestWebSocketRefusesBadTokenAndForeignOrigin(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, msg, err := wsSignIn(ctx, t, env, "not-a-token")
		if status := websocket.CloseStatus(err); status != 4401 {
			t.Fatalf("bad token: close status %d (err %v, message %+v), want 4401", status, err, msg)
		}

		// A browser page of another origin cannot open a socket.
		_, res, err := dialGraphQL(t, env, http.Header{"Origin": []string{"https://evil.example"}})
		if err == nil {
			t.Fatal("WebSocket from a foreign origin accepted")
		}
		if res == nil || res.StatusCode != http.StatusForbidden {
			t.Fatalf("foreign origin: %v %v", res, err)
		}
		// An allowed origin is accepted.
		conn2, _, err := dialGraphQL(t, env, http.Header{"Origin": []string{"http://localhost:3000"}})
		if err != nil {
			t.Fatalf("allowed origin refused: %v", err)
		}
		conn2.CloseNow()
	})
}

// A client may send connection_init in the same packet as its handshake,
// before the server's 101, and its first operation with it: the server,
// which reads the request with a buffer that then holds the messages too,
// must still see them (and not wait for more bytes from the connection
// while they sit in its buffer).
func TestWebSocketReadsMessagesSentWithTheHandshake(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		conn, err := net.DialTimeout("tcp", env.Server.Listener.Addr().String(), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		init, _ := json.Marshal(wsMessage{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer ` + admin.Token + `"}`)})
		handshake := "GET /graphql HTTP/1.1\r\nHost: " + env.Server.Listener.Addr().String() + "\r\n" +
			"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
		query, _ := json.Marshal(wsMessage{ID: "1", Type: "subscribe", Payload: json.RawMessage(`{"query":"{ viewer { username } }"}`)})
		packet := append(append([]byte(handshake), maskedTextFrame(init)...), maskedTextFrame(query)...)
		if _, err := conn.Write(packet); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(conn)
		res, err := http.ReadResponse(r, nil)
		if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("handshake: %v %v", res, err)
		}
		// The server's frames: unmasked text, payloads under 126 bytes.
		readFrame := func(what string) wsMessage {
			header := make([]byte, 2)
			if _, err := io.ReadFull(r, header); err != nil {
				t.Fatalf("no %s: %v", what, err)
			}
			payload := make([]byte, header[1]&0x7f)
			if _, err := io.ReadFull(r, payload); err != nil {
				t.Fatal(err)
			}
			var m wsMessage
			if err := json.Unmarshal(payload, &m); err != nil {
				t.Fatalf("%s: %q (%v)", what, payload, err)
			}
			return m
		}
		if ack := readFrame("connection_ack"); ack.Type != "connection_ack" {
			t.Fatalf("first message %+v, want connection_ack", ack)
		}
		if next := readFrame("answer to the operation"); next.Type != "next" || !strings.Contains(string(next.Payload), `"username":"admin"`) {
			t.Fatalf("second message %+v, want the viewer", next)
		}
	})
}

// maskedTextFrame is a client's WebSocket text frame holding payload.
func maskedTextFrame(payload []byte) []byte {
	frame := []byte{0x81}
	switch n := len(payload); {
	case n < 126:
		frame = append(frame, 0x80|byte(n))
	default:
		frame = append(frame, 0x80|126, byte(n>>8), byte(n))
	}
	mask := []byte{1, 2, 3, 4}
	frame = append(frame, mask...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	return frame
}

// A connection_init the server cannot read ends the socket: it is closed,
// not left open.
func TestWebSocketClosedAfterUnreadableInit(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		conn, _, err := dialGraphQL(t, env, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseNow()
		if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_init","payload":"not an object"}`)); err != nil {
			t.Fatal(err)
		}
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				if ctx.Err() != nil {
					t.Fatal("the socket is still open")
				}
				return
			}
		}
	})
}
