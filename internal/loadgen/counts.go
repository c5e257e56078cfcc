package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// CountsSubscription is the live counts subscription the fan-out
// measurements send (cmd/fanoutload, BenchmarkLiveCountsFanOut).
const CountsSubscription = `subscription($c: ID) { licenseCountsChanged(clinicId: $c) {
	class total inUse available pendingAdditions pendingReleases } }`

// SubscribeCounts opens a graphql-transport-ws subscription of a clinic's
// live license counts at url (ws://.../graphql), signed in with token, and
// reads its first message: it returns the connection and the therapists in
// use. opts may set the HTTP client; its subprotocols are set here.
func SubscribeCounts(ctx context.Context, url string, opts *websocket.DialOptions, token, clinicID string) (*websocket.Conn, int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	o := websocket.DialOptions{}
	if opts != nil {
		o = *opts
	}
	o.Subprotocols = []string{"graphql-transport-ws"}
	conn, _, err := websocket.Dial(ctx, url, &o)
	if err != nil {
		return nil, 0, err
	}
	init := map[string]any{"type": "connection_init", "payload": map[string]string{"Authorization": "Bearer " + token}}
	if err := wsjson.Write(ctx, conn, init); err != nil {
		return nil, 0, err
	}
	var ack countsMessage
	if err := wsjson.Read(ctx, conn, &ack); err != nil || ack.Type != "connection_ack" {
		return nil, 0, fmt.Errorf("connection_ack: %+v %v", ack, err)
	}
	sub := map[string]any{"id": "1", "type": "subscribe",
		"payload": map[string]any{"query": CountsSubscription, "variables": map[string]any{"c": clinicID}}}
	if err := wsjson.Write(ctx, conn, sub); err != nil {
		return nil, 0, err
	}
	for {
		var m countsMessage
		if err := wsjson.Read(ctx, conn, &m); err != nil {
			return nil, 0, err
		}
		switch m.Type {
		case "next":
			inUse, err := m.therapistsInUse()
			return conn, inUse, err
		case "ping", "pong":
		default:
			return nil, 0, fmt.Errorf("unexpected %s message: %s", m.Type, m.Payload)
		}
	}
}

// ReadCounts hands the therapists in use of every counts message on conn
// to got, with when it arrived, answering pings, until the connection or
// the subscription ends, ctx is done or got returns false. It returns why
// it stopped (nil when got did).
func ReadCounts(ctx context.Context, conn *websocket.Conn, got func(inUse int, at time.Time) bool) error {
	for {
		var m countsMessage
		if err := wsjson.Read(ctx, conn, &m); err != nil {
			return err
		}
		switch m.Type {
		case "next":
			at := time.Now()
			inUse, err := m.therapistsInUse()
			if err != nil {
				return err
			}
			if !got(inUse, at) {
				return nil
			}
		case "ping":
			_ = wsjson.Write(ctx, conn, map[string]string{"type": "pong"})
		case "error", "complete":
			return fmt.Errorf("subscription %s: %s", m.Type, m.Payload)
		}
	}
}

type countsMessage struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

func (m countsMessage) therapistsInUse() (int, error) {
	var out struct {
		Data struct {
			LicenseCountsChanged []struct {
				Class string
				InUse int
			}
		}
	}
	if err := json.Unmarshal(m.Payload, &out); err != nil {
		return 0, err
	}
	for _, c := range out.Data.LicenseCountsChanged {
		if c.Class == "THERAPIST" {
			return c.InUse, nil
		}
	}
	return 0, errors.New("no THERAPIST counts in " + string(m.Payload))
}
