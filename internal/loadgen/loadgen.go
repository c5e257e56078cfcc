// Package loadgen holds what the load commands (cmd/searchload,
// cmd/fanoutload) share: signing in to a running server, sending GraphQL
// over HTTP, and percentiles of the latencies measured.
package loadgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"time"
)

// Post sends a GraphQL request body and returns the response body; an HTTP
// status other than 200, or errors in the response, is an error.
func Post(client *http.Client, url, token string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"errors"`)) {
		return nil, fmt.Errorf("status %d: %.300s", res.StatusCode, out)
	}
	return out, nil
}

// Query sends query with variables and decodes the response's data into out.
func Query(client *http.Client, url, token, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	res, err := Post(client, url, token, body)
	if err != nil {
		return err
	}
	var envelope struct{ Data json.RawMessage }
	if err := json.Unmarshal(res, &envelope); err != nil {
		return err
	}
	return json.Unmarshal(envelope.Data, out)
}

// SignIn signs in and returns the access token.
func SignIn(client *http.Client, url, login, password string) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"query":     `mutation($l: String!, $p: String!) { login(input: {login: $l, password: $p}) { accessToken userErrors { message } } }`,
		"variables": map[string]any{"l": login, "p": password},
	})
	res, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var out struct {
		Data struct {
			Login struct {
				AccessToken *string
				UserErrors  []struct{ Message string }
			}
		}
		Errors []struct{ Message string }
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return "", fmt.Errorf("signing in: %w", err)
	}
	if out.Data.Login.AccessToken == nil {
		return "", fmt.Errorf("signing in as %s failed: %+v %+v", login, out.Data.Login.UserErrors, out.Errors)
	}
	return *out.Data.Login.AccessToken, nil
}

// Percentile is the nearest-rank percentile p (0.99 for p99) of ds, in
// milliseconds; ds is sorted in place.
func Percentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return math.NaN()
	}
	slices.Sort(ds)
	i := max(0, min(len(ds)-1, int(math.Ceil(p*float64(len(ds))))-1))
	return float64(ds[i]) / float64(time.Millisecond)
}
